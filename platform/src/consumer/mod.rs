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
//!
//! # Layout
//! - this module: [`ConsumerGroup`] and its loop ([`ConsumerGroup::run`]): gather, process,
//!   store offsets, drain at shutdown.
//! - [`handler`]: what a service implements ([`Handler`]) and how it fails ([`HandlerError`]).
//! - `batch` (private): one batch through decoding, the inbox, the handler's transaction,
//!   retries with the partitions paused, and dead letters.
//! - `context` (private): librdkafka callbacks: offsets committed before a revoke, the lag
//!   gauge, the rebalance counter.
//! - `offsets` (private): the offsets a processed batch stores.
//! - [`headers`]: reading message headers.
//! - [`dlq`]: the dead-letter record and the failures that lead to it.

mod batch;
mod context;
pub mod dlq;
pub mod handler;
pub mod headers;
mod offsets;

pub use handler::{Handler, HandlerError};
pub use headers::{header, header_map};

use crate::{
    config::{ConsumerSettings, KafkaSettings},
    db::DbError,
    kafka,
    registry::Registry,
};
use context::GroupContext;
use deadpool_postgres::Pool;
use rdkafka::{
    consumer::{CommitMode, Consumer, StreamConsumer},
    error::KafkaError,
    message::OwnedMessage,
    producer::FutureProducer,
};
use schemas::DomainEvent;
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// A decoded event with where it came from.
#[derive(Clone, Debug)]
pub struct InboundEvent {
    pub event: DomainEvent,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub traceparent: Option<String>,
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

type GroupConsumer = StreamConsumer<GroupContext>;

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
            offsets::store(&consumer, &batch);
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
}
