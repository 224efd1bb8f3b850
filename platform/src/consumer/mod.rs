//! Reliable consumers: at-least-once delivery made effectively-once by an inbox.
//!
//! # The loop
//! Each turn gathers a batch (the first message, then whatever has arrived meanwhile, up to
//! `batch_size`; `batch_wait_ms` can make it wait for more), decodes it, then runs the handler in
//! **one** database transaction that also records each `(group, event_id)` in the inbox. A
//! handler that can apply many events in a few statements ([`Handler::BATCHES`]) is handed the
//! whole batch; others are called once per event. After the commit, offsets are stored
//! (`enable.auto.offset.store=false`) and auto-commit sends them to Kafka. A crash anywhere
//! before the store redelivers the batch; the inbox turns the repeats into no-ops.
//!
//! Taking what has arrived instead of waiting for a fuller batch keeps each hop's pickup
//! latency at the fetch itself when the load is low; when it is high, messages pile up during
//! a batch's transaction and the next batch is full anyway.
//!
//! # Shutdown
//! The loop ends when shutdown is signalled while it waits for a batch's first message, or
//! after the batch in hand: that batch is finished and its offsets stored, unless it is waiting
//! out a failure, whose backoff then ends at once and leaves the batch unacknowledged (its
//! offsets are not stored, so the partitions' next owner gets it again). A dead letter still
//! unsent `drain_timeout_ms` after shutdown abandons its batch the same way. Then the stored
//! offsets are committed synchronously and the dead-letter producer is flushed for at most
//! `drain_timeout_ms`. Before partitions are revoked in a rebalance the stored offsets are
//! committed too, so the next owner starts after what was processed.
//!
//! # Failures
//! Permanent ([`dlq`] lists them): the message goes to `<group>.dlq` unchanged with
//! `dlq.*` headers and its offset moves on; the rest of the batch is redone without it.
//! Persistent (a handler's database statement fails the same way each time: a constraint, a
//! refused value, by SQLSTATE): retried with the batch up to `max_attempts` times, then
//! dead-lettered like a permanent one, so one bad event cannot stop its partitions for good.
//! Transient (connection, registry, broker): the whole batch is retried with backoff, never
//! skipped.
//!
//! # Staying in the group while retrying
//! A member that does not poll for `max.poll.interval.ms` is thrown out of its group, and the
//! rebalance hands its partitions to members that would fail the same way. So while a batch
//! waits out a failure, the member pauses its partitions and keeps polling: it stays in the
//! group (heartbeats and rebalances go on), fetches nothing new, and resumes after the batch
//! went through. A message that still arrives meanwhile (a partition assigned during the
//! pause) is kept for the next batch.

pub mod dlq;

use crate::{
    backoff::Backoff,
    config::{ConsumerSettings, KafkaSettings},
    db::DbError,
    kafka,
    metrics::METRICS,
    outbox::{self, Transaction},
    registry::{DecodeError, Registry},
    telemetry,
};
use deadpool_postgres::Pool;
use dlq::DeadLetter;
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer},
    error::KafkaError,
    message::{Headers, Message, OwnedMessage},
    producer::FutureProducer,
    ClientContext, Offset, Statistics, TopicPartitionList,
};
use schemas::DomainEvent;
use std::{collections::HashMap, future::Future, sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A decoded event with where it came from.
#[derive(Clone, Debug)]
pub struct InboundEvent {
    pub event: DomainEvent,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub traceparent: Option<String>,
}

/// How a handler failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event breaks a rule that will never pass (e.g. refers to an order this service can
    /// never know): dead-letter it.
    #[error("{0}")]
    Rejected(String),
    /// A failure that repeats the same way (the database refuses a statement by a
    /// constraint or a value): tried `max_attempts` times, then dead-lettered.
    #[error("persistent failure")]
    Persistent(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything that may pass on retry.
    #[error("transient failure")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Classified by SQLSTATE ([`crate::db::is_transient`]).
impl From<tokio_postgres::Error> for HandlerError {
    fn from(e: tokio_postgres::Error) -> Self {
        if crate::db::is_transient(&e) {
            HandlerError::Transient(Box::new(e))
        } else {
            HandlerError::Persistent(Box::new(e))
        }
    }
}

impl From<crate::db::DbError> for HandlerError {
    fn from(e: crate::db::DbError) -> Self {
        match e {
            crate::db::DbError::Postgres(e) => e.into(),
            other if other.is_unavailable() => HandlerError::Transient(Box::new(other)),
            other => HandlerError::Persistent(Box::new(other)),
        }
    }
}

impl From<crate::outbox::OutboxError> for HandlerError {
    fn from(e: crate::outbox::OutboxError) -> Self {
        match e {
            crate::outbox::OutboxError::Encode(e) => HandlerError::Rejected(e.to_string()),
            crate::outbox::OutboxError::Write(e) => e.into(),
        }
    }
}

/// A service's reaction to events: state changes and outbox rows, all in `tx` (which the
/// consumer commits with [`outbox::commit`], waking the relay only if the batch enqueued rows).
pub trait Handler: Send + Sync + 'static {
    /// Whether [`Handler::handle_batch`] applies several events in fewer statements than one
    /// [`Handler::handle`] each; the consumer then hands it every batch of more than one event.
    const BATCHES: bool = false;

    fn handle<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        event: &'a InboundEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Applies `events`, in their order, as [`Handler::handle`] on each would. A batch that
    /// fails with anything but a transient error is rolled back and redone one event at a
    /// time, so the event at fault is found and dead-lettered alone.
    fn handle_batch<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [&'a InboundEvent],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        async move {
            for event in events {
                self.handle(tx, event).await?;
            }
            Ok(())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error("kafka consumer could not be created")]
    Create(#[source] KafkaError),
    #[error("could not subscribe to {topics:?}")]
    Subscribe {
        topics: Vec<String>,
        #[source]
        source: KafkaError,
    },
}

/// Everything a consumer group needs.
pub struct ConsumerGroup<H> {
    pub group: String,
    pub topics: Vec<String>,
    pub handler: Arc<H>,
    pub pool: Pool,
    pub registry: Arc<Registry>,
    pub producer: FutureProducer,
    pub kafka: KafkaSettings,
    pub settings: ConsumerSettings,
}

/// Commits stored offsets before partitions are taken away, and turns librdkafka statistics
/// into the lag gauge.
struct GroupContext {
    group: String,
}

impl ClientContext for GroupContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // -1 is librdkafka's internal unassigned partition; negative lag means unknown.
                if *partition >= 0 && p.consumer_lag >= 0 {
                    METRICS
                        .consumer_lag
                        .with_label_values(&[&self.group, topic, &partition.to_string()])
                        .set(p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for GroupContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) = rebalance {
            METRICS
                .consumer_rebalances_total
                .with_label_values(&[&self.group])
                .inc();
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(_) = rebalance {
            match consumer.commit_consumer_state(CommitMode::Sync) {
                Ok(())
                | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
                Err(e) => {
                    tracing::warn!(group = %self.group, error = %e, "commit before revoke failed")
                }
            }
        }
    }
}

struct Pending<'m> {
    message: &'m OwnedMessage,
    outcome: Decoded,
}

enum Decoded {
    Event(InboundEvent),
    Dead(DeadLetter),
}

/// What one transaction over a batch came to.
enum Applied {
    Committed,
    /// Event `index` was rejected (nothing was committed).
    Rejected(usize, String),
    /// Event `index` failed persistently (nothing was committed).
    Failed(usize, Box<dyn std::error::Error + Send + Sync>),
}

type GroupConsumer = StreamConsumer<GroupContext>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<H: Handler> ConsumerGroup<H> {
    /// Consumes until `shutdown`, then drains. Returns early only if the consumer cannot be
    /// created or subscribed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), ConsumerError> {
        let consumer: GroupConsumer = kafka::client_config(&self.kafka)
            .set("group.id", &self.group)
            .set("enable.auto.commit", "true")
            .set(
                "auto.commit.interval.ms",
                self.settings.commit_interval_ms.to_string(),
            )
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("statistics.interval.ms", "5000")
            .create_with_context(GroupContext {
                group: self.group.clone(),
            })
            .map_err(ConsumerError::Create)?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|source| ConsumerError::Subscribe {
                topics: self.topics.clone(),
                source,
            })?;
        tracing::info!(group = %self.group, topics = ?self.topics, "consuming");

        let wait = Duration::from_millis(self.settings.batch_wait_ms);
        let mut next_cleanup = tokio::time::Instant::now();
        // Messages polled while the partitions were paused: the next batch starts with them.
        let mut carried: Vec<OwnedMessage> = Vec::new();
        loop {
            let mut batch = std::mem::take(&mut carried);
            if batch.is_empty() {
                let first = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    m = consumer.recv() => m,
                };
                match first {
                    Ok(m) => batch.push(m.detach()),
                    Err(e) => {
                        tracing::warn!(group = %self.group, error = %e, "kafka consumer error");
                        continue;
                    }
                }
            }
            while batch.len() < self.settings.batch_size {
                match tokio::time::timeout(wait, consumer.recv()).await {
                    Ok(Ok(m)) => batch.push(m.detach()),
                    _ => break,
                }
            }
            if !self
                .process(batch.as_slice(), &consumer, &mut carried, &shutdown)
                .await
            {
                break;
            }
            store_offsets(&consumer, &batch);
            if tokio::time::Instant::now() >= next_cleanup {
                self.forget_old_events().await;
                next_cleanup = tokio::time::Instant::now() + Duration::from_secs(60);
            }
        }

        tracing::info!(group = %self.group, "draining consumer");
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(group = %self.group, error = %e, "final offset commit failed"),
        }
        if let Err(e) = rdkafka::producer::Producer::flush(&self.producer, self.drain_timeout()) {
            tracing::warn!(error = %e, "dead-letter producer not flushed");
        }
        Ok(())
    }

    /// Deletes inbox rows past their retention; a failure only delays it to the next round.
    async fn forget_old_events(&self) {
        let deleted = async {
            let client = self.pool.get().await.map_err(DbError::from)?;
            client
                .execute(
                    "DELETE FROM inbox WHERE consumer_group = $1
                     AND processed_at < now() - make_interval(secs => $2)",
                    &[&self.group, &(self.settings.inbox_retention_secs as f64)],
                )
                .await
                .map_err(DbError::from)
        };
        match deleted.await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(group = %self.group, deleted = n, "old inbox rows deleted"),
            Err(e) => {
                tracing::warn!(group = %self.group, error = %crate::error_chain(&e), "inbox cleanup failed")
            }
        }
    }

    fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.settings.drain_timeout_ms)
    }

    /// Processes one batch until it is done. Returns false when shutdown interrupted it, in
    /// which case nothing of it may be acknowledged. While it waits out a failure the
    /// partitions are paused and polled (module doc); what arrives goes to `carried`.
    async fn process(
        &self,
        batch: &[OwnedMessage],
        consumer: &GroupConsumer,
        carried: &mut Vec<OwnedMessage>,
        shutdown: &CancellationToken,
    ) -> bool {
        let mut backoff = Backoff::new(self.settings.backoff_max_ms);
        // Persistent failures so far, by the failing message's position in the batch.
        let mut attempts: HashMap<usize, u32> = HashMap::new();
        let mut paused = false;
        let done = loop {
            match self.try_process(batch, &mut attempts, shutdown).await {
                Ok(()) => break true,
                Err(e) => {
                    tracing::warn!(group = %self.group, error = %crate::error_chain(&*e), "batch failed; retrying");
                    paused = self.pause(consumer);
                    let wait = backoff.wait(shutdown);
                    tokio::pin!(wait);
                    loop {
                        tokio::select! {
                            () = &mut wait => break,
                            m = consumer.recv() => match m {
                                Ok(m) => {
                                    carried.push(m.detach());
                                    // From a partition assigned during the pause.
                                    paused = self.pause(consumer);
                                }
                                Err(e) => tracing::debug!(group = %self.group, error = %e, "kafka consumer error while paused"),
                            },
                        }
                    }
                    if shutdown.is_cancelled() {
                        break false;
                    }
                }
            }
        };
        if paused {
            match consumer.assignment() {
                Ok(assigned) => {
                    if let Err(e) = consumer.resume(&assigned) {
                        tracing::warn!(group = %self.group, error = %e, "partitions not resumed");
                    }
                }
                Err(e) => {
                    tracing::warn!(group = %self.group, error = %e, "assignment unknown; partitions not resumed")
                }
            }
        }
        done
    }

    /// Pauses every assigned partition; whether it did.
    fn pause(&self, consumer: &GroupConsumer) -> bool {
        match consumer.assignment().and_then(|a| consumer.pause(&a)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(group = %self.group, error = %e, "partitions not paused");
                false
            }
        }
    }

    async fn try_process(
        &self,
        batch: &[OwnedMessage],
        attempts: &mut HashMap<usize, u32>,
        shutdown: &CancellationToken,
    ) -> Result<(), BoxError> {
        let mut pending = Vec::with_capacity(batch.len());
        for message in batch {
            let outcome = match self.decode(message).await {
                Ok(event) => Decoded::Event(event),
                Err(DecodeError::Transient(e)) => return Err(Box::new(e)),
                Err(DecodeError::Permanent {
                    class,
                    message: text,
                }) => Decoded::Dead(DeadLetter::new(class, text)),
            };
            pending.push(Pending { message, outcome });
        }

        // Handlers that reject an event are taken out and the transaction redone without
        // them, so one bad event never undoes its neighbours' effects.
        loop {
            match self.apply(&pending).await? {
                Applied::Committed => break,
                Applied::Rejected(index, reason) => {
                    pending[index].outcome =
                        Decoded::Dead(DeadLetter::new("DomainRuleViolation", reason));
                }
                Applied::Failed(index, error) => {
                    let tries = attempts.entry(index).or_default();
                    *tries += 1;
                    if *tries < self.settings.max_attempts {
                        return Err(error);
                    }
                    pending[index].outcome = Decoded::Dead(DeadLetter::new(
                        "PersistentFailure",
                        format!(
                            "failed the same way {tries} times: {}",
                            crate::error_chain(&*error)
                        ),
                    ));
                }
            }
        }

        for p in &pending {
            if let Decoded::Dead(dead) = &p.outcome {
                // Bounded, so that a broker that is gone cannot hold up a shutdown.
                let sent = dead.send(&self.producer, &self.group, p.message);
                tokio::select! {
                    sent = sent => sent?,
                    () = async {
                        shutdown.cancelled().await;
                        tokio::time::sleep(self.drain_timeout()).await;
                    } => return Err("dead-letter send abandoned at shutdown".into()),
                }
                METRICS
                    .events_dlq_total
                    .with_label_values(&[&self.group, p.message.topic()])
                    .inc();
            }
        }
        Ok(())
    }

    /// Runs the handler over all decodable events in one transaction, committed only when
    /// every event went through: as one batch when the handler batches and there are several,
    /// else (and to find the event at fault when a batch fails) one event at a time.
    async fn apply(&self, pending: &[Pending<'_>]) -> Result<Applied, BoxError> {
        let decodable = pending
            .iter()
            .filter(|p| matches!(p.outcome, Decoded::Event(_)))
            .count();
        if H::BATCHES && decodable > 1 && self.apply_batch(pending).await? {
            return Ok(Applied::Committed);
        }
        self.apply_each(pending).await
    }

    /// The batch path: whether it committed. A batch refused for any reason but a transient
    /// one is rolled back (the transaction dropped), for [`Self::apply_each`] to redo.
    async fn apply_batch(&self, pending: &[Pending<'_>]) -> Result<bool, BoxError> {
        let mut client = self.pool.get().await.map_err(DbError::from)?;
        let tx = Transaction::begin(&mut client).await?;
        let events: Vec<&InboundEvent> = self
            .remember(&tx, pending)
            .await?
            .into_iter()
            .map(|(_, event)| event)
            .collect();
        // Every event keeps its own consumer span, each lasting as long as the batch's work.
        let spans: Vec<tracing::Span> = events.iter().map(|e| self.span(e)).collect();
        let handled = self.handler.handle_batch(&tx, &events).await;
        drop(spans);
        match handled {
            Ok(()) => {
                outbox::commit(tx).await?;
                self.count(&events);
                Ok(true)
            }
            Err(HandlerError::Transient(e)) => Err(e),
            Err(HandlerError::Rejected(_) | HandlerError::Persistent(_)) => Ok(false),
        }
    }

    /// The event-by-event path, which knows which event failed.
    async fn apply_each(&self, pending: &[Pending<'_>]) -> Result<Applied, BoxError> {
        let mut client = self.pool.get().await.map_err(DbError::from)?;
        let tx = Transaction::begin(&mut client).await?;
        let mut applied = Vec::new();
        for (index, event) in self.remember(&tx, pending).await? {
            match self
                .handler
                .handle(&tx, event)
                .instrument(self.span(event))
                .await
            {
                Ok(()) => applied.push(event),
                Err(HandlerError::Rejected(reason)) => return Ok(Applied::Rejected(index, reason)),
                Err(HandlerError::Persistent(e)) => return Ok(Applied::Failed(index, e)),
                Err(HandlerError::Transient(e)) => return Err(e),
            }
        }
        outbox::commit(tx).await?;
        self.count(&applied);
        Ok(Applied::Committed)
    }

    /// Enters the batch's decodable events into the inbox in one statement and returns those
    /// that are new, with their position in the batch: the rest were applied before (a
    /// redelivery) and are skipped, and an event twice in one batch is returned once.
    async fn remember<'p>(
        &self,
        tx: &Transaction<'_>,
        pending: &'p [Pending<'_>],
    ) -> Result<Vec<(usize, &'p InboundEvent)>, tokio_postgres::Error> {
        let remember = tx
            .prepare_cached(
                "INSERT INTO inbox (consumer_group, event_id)
                 SELECT $1, unnest($2::uuid[])
                 ON CONFLICT DO NOTHING
                 RETURNING event_id",
            )
            .await?;
        let events: Vec<(usize, &InboundEvent)> = pending
            .iter()
            .enumerate()
            .filter_map(|(index, p)| match &p.outcome {
                Decoded::Event(e) => Some((index, e)),
                Decoded::Dead(_) => None,
            })
            .collect();
        let ids: Vec<uuid::Uuid> = events
            .iter()
            .map(|(_, e)| e.event.header().event_id)
            .collect();
        let mut new: std::collections::HashSet<uuid::Uuid> = tx
            .query(&remember, &[&self.group, &ids])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(events
            .into_iter()
            .filter(|(_, e)| {
                let event_id = e.event.header().event_id;
                // `remove`: an event twice in one batch is applied once.
                let fresh = new.remove(&event_id);
                if !fresh {
                    tracing::debug!(%event_id, "duplicate event skipped");
                }
                fresh
            })
            .collect())
    }

    /// The consumer span of OpenTelemetry's messaging conventions: a child of the relay's
    /// producer span, whose context the event carries.
    fn span(&self, event: &InboundEvent) -> tracing::Span {
        let header = event.event.header();
        let span = tracing::info_span!(
            "handle_event",
            otel.name = %format_args!("process {}", event.topic),
            otel.kind = "consumer",
            group = %self.group,
            topic = %event.topic,
            partition = event.partition,
            offset = event.offset,
            order_id = %header.order_id,
            event_type = %event.event.event_type(),
        );
        // Without a subscriber that wants it (tracing off), the attributes below would only
        // format ids that nobody reads, for every event.
        if span.is_disabled() {
            return span;
        }
        telemetry::continue_trace(&span, event.traceparent.as_deref());
        telemetry::kafka_hop(
            &span,
            "process",
            Some(&self.group),
            &event.topic,
            &header.order_id.to_string(),
            &header.event_id.to_string(),
        );
        telemetry::kafka_position(&span, event.partition, event.offset);
        span
    }

    /// Counts committed events: one counter update per topic and event type in the batch, as
    /// a label lookup costs more than the increment.
    fn count(&self, events: &[&InboundEvent]) {
        let mut counts: HashMap<(&str, &'static str), u64> = HashMap::new();
        for event in events {
            *counts
                .entry((&event.topic, event.event.event_type().full_name()))
                .or_default() += 1;
        }
        for ((topic, event_type), n) in counts {
            METRICS
                .events_processed_total
                .with_label_values(&[&self.group, topic, event_type])
                .inc_by(n);
        }
    }

    async fn decode(&self, message: &OwnedMessage) -> Result<InboundEvent, DecodeError> {
        let permanent = |class: &'static str, text: &str| DecodeError::Permanent {
            class,
            message: text.to_owned(),
        };
        let key = message
            .key()
            .ok_or_else(|| permanent("MissingKey", "message has no key"))?;
        let payload = message
            .payload()
            .ok_or_else(|| permanent("InvalidWireFormat", "message has no value"))?;
        let event = self.registry.decode(payload).await?;
        if key != event.header().order_id.to_string().as_bytes() {
            return Err(permanent(
                "KeyMismatch",
                "message key is not the event's order_id",
            ));
        }
        Ok(InboundEvent {
            event,
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            traceparent: header(message, "traceparent"),
        })
    }
}

/// Stores, for each partition of `batch`, the offset after its last message: one call per batch,
/// not one per message, as each call looks its topic up in librdkafka.
fn store_offsets(consumer: &GroupConsumer, batch: &[OwnedMessage]) {
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for m in batch {
        let offset = next.entry((m.topic(), m.partition())).or_default();
        *offset = (*offset).max(m.offset() + 1);
    }
    let mut offsets = TopicPartitionList::with_capacity(next.len());
    for ((topic, partition), offset) in next {
        if let Err(e) = offsets.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            tracing::warn!(topic, partition, error = %e, "offset not stored");
        }
    }
    // Fails for partitions revoked meanwhile; their new owner redelivers.
    match consumer.store_offsets(&offsets) {
        Ok(()) => {
            for element in offsets.elements() {
                if let Err(e) = element.error() {
                    tracing::debug!(topic = element.topic(), partition = element.partition(), error = %e, "offset not stored");
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "offsets not stored"),
    }
}

/// The header `name` of a message, if it has a UTF-8 one: one header without building the map
/// of all of them ([`header_map`]).
pub fn header(message: &impl Message, name: &str) -> Option<String> {
    message.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_owned)
    })
}

/// Headers of a message as owned strings (non-UTF-8 values skipped); used by tests and tools.
pub fn header_map(message: &impl Message) -> HashMap<String, String> {
    message
        .headers()
        .map(|h| {
            h.iter()
                .filter_map(|h| {
                    Some((
                        h.key.to_owned(),
                        std::str::from_utf8(h.value?).ok()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}
