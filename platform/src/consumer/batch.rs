//! One batch through the consumer: decoded, entered into the inbox, applied by the handler in
//! one transaction, retried with the partitions paused while it fails transiently, and its
//! permanent failures dead-lettered (see the module docs of [`super`]).

use super::{dlq::DeadLetter, ConsumerGroup, GroupConsumer, Handler, HandlerError, InboundEvent};
use crate::{
    backoff::Backoff,
    db::DbError,
    metrics::METRICS,
    outbox::{self, Transaction},
    registry::DecodeError,
    telemetry,
};
use rdkafka::{
    consumer::Consumer,
    message::{Message, OwnedMessage},
};
use std::collections::HashMap;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

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

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<H: Handler> ConsumerGroup<H> {
    /// Processes one batch until it is done. Returns false when shutdown interrupted it, in
    /// which case nothing of it may be acknowledged. While it waits out a failure the
    /// partitions are paused and polled (module doc); what arrives goes to `carried`.
    pub(super) async fn process(
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
            traceparent: super::header(message, "traceparent"),
        })
    }
}
