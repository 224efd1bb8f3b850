//! The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.
//!
//! # Leadership
//! One relay publishes per service database. Each replica opens a dedicated connection and
//! tries `pg_try_advisory_lock`; the holder is the leader. The lock lives as long as that
//! connection, so when the leader's process dies PostgreSQL releases it and a standby, retrying
//! every `leader_retry_ms`, takes over. The leader runs all its queries on that same connection:
//! if the connection is lost, so is the lock, and the next query fails instead of publishing
//! beside a new leader.
//!
//! # One pass
//! 1. Fetch up to `batch_size` rows in id order. Every row in the table is unpublished (step
//!    3), so the fetch takes the oldest, not those "above the last id": a transaction that took
//!    a smaller id but committed later is found on the next pass. The fetch reads the primary
//!    key in order and stops at `batch_size`, whatever the statistics say ([`Relay::connect`]).
//! 2. Enqueue the whole batch in the producer, then await all delivery reports.
//! 3. Delete exactly the acknowledged rows ([`delete_published`]): a `DELETE` only stamps the
//!    heap tuples, where marking a row with an `UPDATE` would write a new version of it and
//!    entries in every index of the table. A row of a key that comes after a failed row of the
//!    same key stays even if it was acknowledged, so it is sent again after the earlier one:
//!    consumers deduplicate by `event_id`, and the order per key holds.
//!
//! # Waking up
//! The leader runs a pass after every commit of outbox rows by its own process
//! ([`super::commit`]), after every `NOTIFY outbox` (sent by standby relays of other replicas
//! when their process committed such rows), and every `poll_interval_ms` as the fallback for a
//! lost notification or a row written some other way. A standby, while it waits for the lock,
//! turns those commits of its process into one `NOTIFY outbox` per wake-up: off the commit
//! path, so the notifying transactions PostgreSQL serializes are the relay's, not the business
//! transactions.
//!
//! # Framing with the writer's schema
//! A row records the version of its event type's schema that wrote it, and is framed with the
//! registry id of exactly that version: during a rolling upgrade that adds a version, rows of
//! old and new replicas stay decodable whichever relay publishes them. A row this build cannot
//! frame (an event type or version it does not know, a schema the registry refuses) holds back
//! its key only: it and every later row of that key stay unpublished, so the order per key
//! holds, while other keys go on. Such keys are logged, counted in
//! `orderflow_outbox_blocked_keys`, left out of the fetch, and tried again every
//! `BLOCKED_RETRY` (a registry rule may have been changed) and by every new leader (a newer
//! build may know the schema).

use crate::{
    backoff::Backoff,
    config::{KafkaSettings, RelaySettings},
    db::{self, DbError},
    metrics::METRICS,
    registry::{Registry, RegistryError},
    secret::Secret,
    telemetry,
};
use rdkafka::{
    error::KafkaError,
    message::{Header, OwnedHeaders},
    producer::{FutureProducer, FutureRecord},
};
use schemas::EventType;
use std::{collections::HashMap, collections::HashSet, sync::Arc, time::Duration};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Advisory lock key of the relay leadership, the same in every service database.
const LEADER_LOCK: i64 = 0x6f72_6465_7266_6c77; // "orderflw"

/// How long a key whose row could not be framed is left out before it is tried again.
const BLOCKED_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("outbox query failed")]
    Query(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("{failed} of {total} events were not acknowledged by Kafka")]
    Delivery {
        failed: usize,
        total: usize,
        #[source]
        first: KafkaError,
    },
}

/// One unpublished outbox row.
#[derive(Clone, Debug)]
pub struct PendingRow {
    pub id: i64,
    pub event_id: Uuid,
    pub topic: String,
    pub key: String,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
    /// The version of the event type's schema that wrote `payload`.
    pub schema_version: i32,
}

pub struct Relay {
    database_url: Secret<String>,
    producer: FutureProducer,
    registry: Arc<Registry>,
    settings: RelaySettings,
    kafka: KafkaSettings,
    /// Registry ids by event type and schema version.
    schema_ids: tokio::sync::Mutex<HashMap<(EventType, u32), u32>>,
    /// Keys held back because a row of theirs could not be framed, with when it was seen.
    blocked: std::sync::Mutex<Blocked>,
}

/// Keys whose next row could not be framed. Cleared every [`BLOCKED_RETRY`].
#[derive(Default)]
struct Blocked {
    keys: HashSet<String>,
    since: Option<Instant>,
}

impl Blocked {
    /// The keys held back at `now`: none once [`BLOCKED_RETRY`] has passed since the first was
    /// held (they are then tried again, and held anew if they still fail).
    fn at(&mut self, now: Instant) -> Vec<String> {
        if self
            .since
            .is_some_and(|t| now.saturating_duration_since(t) >= BLOCKED_RETRY)
        {
            *self = Blocked::default();
        }
        self.keys.iter().cloned().collect()
    }

    /// Holds `keys` back from `now` (or from when the ones held already were).
    fn hold<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>, now: Instant) {
        self.since.get_or_insert(now);
        self.keys.extend(keys.into_iter().map(str::to_owned));
    }
}

/// A row ready to send, or why it cannot be.
enum Frame {
    Ready(Vec<u8>),
    Held(String),
}

impl Relay {
    pub fn new(
        database_url: Secret<String>,
        producer: FutureProducer,
        registry: Arc<Registry>,
        settings: RelaySettings,
        kafka: KafkaSettings,
    ) -> Self {
        Relay {
            database_url,
            producer,
            registry,
            settings,
            kafka,
            schema_ids: Default::default(),
            blocked: Default::default(),
        }
    }

    /// Competes for leadership and publishes while leader, until `shutdown`. Every failure is
    /// logged and retried with backoff; it never gives up.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.settings.backoff_max_ms);
        while !shutdown.is_cancelled() {
            match self.lead(&shutdown).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "outbox relay failed; retrying");
                    backoff.wait(&shutdown).await;
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// The relay's dedicated connection, on which it takes the lock and runs every query.
    ///
    /// Sorting is turned off on it (only on it): the fetch must walk the primary key in id
    /// order and stop after `batch_size` rows. Without fresh statistics (a table just filled by
    /// an outage's backlog, before autovacuum analyzed it) the planner estimates a handful of
    /// pending rows and reads all of them to sort them instead, so a pass costs time in
    /// proportion to the whole backlog rather than to `batch_size`. The relay's other
    /// statements (delete by id, the lock) sort nothing.
    pub async fn connect(&self) -> Result<(tokio_postgres::Client, db::Notifications), RelayError> {
        let (client, notifications) = db::dedicated(&self.database_url).await?;
        client.batch_execute("SET enable_sort = off").await?;
        Ok((client, notifications))
    }

    async fn lead(&self, shutdown: &CancellationToken) -> Result<(), RelayError> {
        let (client, mut notifications) = self.connect().await?;
        let mut commits = super::commits();
        let mut retry = tokio::time::interval(Duration::from_millis(self.settings.leader_retry_ms));
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = retry.tick() => {
                    let leader: bool = client
                        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                        .await?
                        .get(0);
                    if leader {
                        break;
                    }
                }
                // This process committed rows while another replica leads: wake that leader.
                // Commits during the NOTIFY are seen by the next `changed`, so one NOTIFY
                // covers however many commits came meanwhile.
                Ok(()) = commits.changed() => client.batch_execute("NOTIFY outbox").await?,
            }
        }
        client.batch_execute("LISTEN outbox").await?;
        tracing::info!("outbox relay is the leader");

        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let mut backoff = Backoff::new(self.settings.backoff_max_ms);
        loop {
            // Commits from here on wake the next wait; earlier ones are visible to this pass.
            commits.borrow_and_update();
            let published = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                published = self.publish_pending(&client) => published,
            };
            match published {
                // A full batch: more is probably waiting.
                Ok(n) if n as i64 >= self.settings.batch_size => {
                    backoff.reset();
                    continue;
                }
                Ok(_) => backoff.reset(),
                // Kafka failed part of the batch or the registry is unreachable: back off, the
                // unmarked rows go again. Database errors end leadership (the lock may be gone).
                Err(e @ (RelayError::Delivery { .. } | RelayError::Registry(_))) => {
                    tracing::warn!(error = %crate::error_chain(&e), "outbox batch not fully published");
                    backoff.wait(shutdown).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                Ok(()) = commits.changed() => {}
                _ = notifications.recv() => {
                    // Several commits may have notified; one pass serves them all.
                    notifications.drain();
                }
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One pass: fetch, publish, delete. Returns how many rows were published.
    pub async fn publish_pending(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<usize, RelayError> {
        let rows = self.fetch_pending(client).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let outcome = self.publish(&rows).await?;
        delete_published(client, &outcome.acknowledged).await?;
        METRICS
            .outbox_published_total
            .inc_by(outcome.acknowledged.len() as u64);
        match outcome.first_error {
            None => Ok(outcome.acknowledged.len()),
            Some(first) => Err(RelayError::Delivery {
                failed: rows.len() - outcome.acknowledged.len(),
                total: rows.len(),
                first,
            }),
        }
    }

    /// The oldest rows, at most `batch_size`, in id order, of keys not held back.
    pub async fn fetch_pending(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<Vec<PendingRow>, RelayError> {
        // One statement per batch of up to `batch_size` rows: not worth a cached plan on the
        // dedicated connection.
        let blocked = self.blocked_keys();
        let rows = client
            .query(
                "SELECT id, event_id, topic, message_key, event_type, payload, traceparent,
                        schema_version
                 FROM outbox WHERE message_key <> ALL($2)
                 ORDER BY id LIMIT $1",
                &[&self.settings.batch_size, &blocked],
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| PendingRow {
                id: r.get(0),
                event_id: r.get(1),
                topic: r.get(2),
                key: r.get(3),
                event_type: r.get(4),
                payload: r.get(5),
                traceparent: r.get(6),
                schema_version: r.get(7),
            })
            .collect())
    }

    /// Sends `rows` and waits for every delivery report. Does not touch the database: the
    /// caller marks what was acknowledged.
    pub async fn publish(&self, rows: &[PendingRow]) -> Result<PublishOutcome, RelayError> {
        let topics: Vec<String> = rows.iter().map(|r| self.kafka.topic(&r.topic)).collect();
        let mut held: HashSet<&str> = HashSet::new();
        let mut sendable = Vec::with_capacity(rows.len());
        for (row, topic) in rows.iter().zip(&topics) {
            // After a held row, its key's later rows wait too: the order per key holds.
            if held.contains(row.key.as_str()) {
                continue;
            }
            match self.frame(row, topic).await? {
                Frame::Ready(value) => sendable.push((row, topic, value)),
                Frame::Held(reason) => {
                    tracing::error!(
                        row = row.id,
                        key = %row.key,
                        event_type = %row.event_type,
                        schema_version = row.schema_version,
                        %reason,
                        "outbox row cannot be framed; its key is held back"
                    );
                    held.insert(&row.key);
                }
            }
        }
        if !held.is_empty() {
            self.hold(held);
        }

        // Enqueue everything first, then await: the producer batches per partition, and a full
        // local queue is waited out rather than failed.
        let mut deliveries = Vec::with_capacity(rows.len());
        for (row, topic, value) in &sendable {
            let span = send_span(row, topic);
            // The event carries the producer span's context, so the consumer's span is its
            // child: the trace shows the Kafka hop, and the row's original context is its parent.
            let traceparent = telemetry::traceparent(&span);
            let event_id = row.event_id.to_string();
            let mut headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: "event_id",
                    value: Some(event_id.as_str()),
                })
                .insert(Header {
                    key: "event_type",
                    value: Some(row.event_type.as_str()),
                });
            if let Some(traceparent) = &traceparent {
                headers = headers.insert(Header {
                    key: "traceparent",
                    value: Some(traceparent.as_str()),
                });
            }
            let mut record = FutureRecord::to(topic)
                .key(&row.key)
                .payload(value)
                .headers(headers);
            let delivery = loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break delivery,
                    Err((
                        KafkaError::MessageProduction(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        r,
                    )) => {
                        record = r;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        span.record("otel.status_code", "ERROR");
                        return Ok(PublishOutcome::failed_from(
                            deliveries_acks(deliveries).await,
                            row,
                            e,
                        ));
                    }
                }
            };
            deliveries.push((row, delivery, span));
        }
        let results = deliveries_acks(deliveries).await;
        Ok(PublishOutcome::from_results(results))
    }

    /// The Confluent-framed value of `row`: magic byte, the registry id of the schema version
    /// that wrote it, the datum. An unreachable registry fails the pass; what can never work
    /// for this build holds the row back.
    async fn frame(&self, row: &PendingRow, topic: &str) -> Result<Frame, RelayError> {
        let Some(event_type) = EventType::from_full_name(&row.event_type) else {
            return Ok(Frame::Held(format!(
                "unknown event type {:?}",
                row.event_type
            )));
        };
        let version = u32::try_from(row.schema_version).unwrap_or(0);
        let mut ids = self.schema_ids.lock().await;
        let id = match ids.get(&(event_type, version)) {
            Some(id) => *id,
            None => match self.registry.schema_id_of(event_type, version, topic).await {
                Ok(id) => *ids.entry((event_type, version)).or_insert(id),
                Err(e) if e.is_transient() => return Err(e.into()),
                // A version this build does not know, or a schema the registry refuses.
                Err(e) => return Ok(Frame::Held(crate::error_chain(&e))),
            },
        };
        let mut value = Vec::with_capacity(5 + row.payload.len());
        value.push(0u8);
        value.extend_from_slice(&id.to_be_bytes());
        value.extend_from_slice(&row.payload);
        Ok(Frame::Ready(value))
    }

    /// The keys left out of the fetch, after clearing them once [`BLOCKED_RETRY`] has passed.
    fn blocked_keys(&self) -> Vec<String> {
        let mut blocked = self.blocked.lock().expect("blocked keys lock");
        let keys = blocked.at(Instant::now());
        METRICS.outbox_blocked_keys.set(keys.len() as i64);
        keys
    }

    fn hold(&self, keys: HashSet<&str>) {
        let mut blocked = self.blocked.lock().expect("blocked keys lock");
        blocked.hold(keys, Instant::now());
        METRICS.outbox_blocked_keys.set(blocked.keys.len() as i64);
    }
}

type Delivered<'a> = (&'a PendingRow, Result<(), KafkaError>);

/// The producer span of one event (OpenTelemetry messaging conventions), a child of the trace
/// stored with its row. It ends when the broker's acknowledgement (or refusal) arrives.
fn send_span(row: &PendingRow, topic: &str) -> tracing::Span {
    let span = tracing::info_span!(
        "send",
        otel.name = %format_args!("send {topic}"),
        otel.kind = "producer",
        otel.status_code = tracing::field::Empty,
        topic = %topic,
        order_id = %row.key,
        event_type = %row.event_type,
    );
    // Tracing off: the attributes would only format ids nobody reads, for every row.
    if span.is_disabled() {
        return span;
    }
    telemetry::continue_trace(&span, row.traceparent.as_deref());
    telemetry::kafka_hop(
        &span,
        "send",
        None,
        topic,
        &row.key,
        &row.event_id.to_string(),
    );
    span
}

async fn deliveries_acks(
    deliveries: Vec<(
        &PendingRow,
        rdkafka::producer::DeliveryFuture,
        tracing::Span,
    )>,
) -> Vec<Delivered<'_>> {
    let mut results = Vec::with_capacity(deliveries.len());
    for (row, delivery, span) in deliveries {
        let result = match delivery.await {
            Ok(Ok(delivery)) => {
                telemetry::kafka_position(&span, delivery.partition, delivery.offset);
                Ok(())
            }
            Ok(Err((e, _))) => Err(e),
            Err(_canceled) => Err(KafkaError::Canceled),
        };
        if result.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        results.push((row, result));
    }
    results
}

/// What one publish achieved.
#[derive(Debug)]
pub struct PublishOutcome {
    /// Rows that may be marked published: acknowledged, and no earlier row of their key failed.
    pub acknowledged: Vec<i64>,
    pub first_error: Option<KafkaError>,
}

impl PublishOutcome {
    fn from_results(results: Vec<Delivered<'_>>) -> Self {
        let mut blocked_keys = HashSet::new();
        let mut acknowledged = Vec::with_capacity(results.len());
        let mut first_error = None;
        for (row, result) in results {
            match result {
                Ok(()) if !blocked_keys.contains(row.key.as_str()) => acknowledged.push(row.id),
                Ok(()) => {}
                Err(e) => {
                    blocked_keys.insert(row.key.as_str());
                    first_error.get_or_insert(e);
                }
            }
        }
        PublishOutcome {
            acknowledged,
            first_error,
        }
    }

    /// Enqueueing `failed` was refused: what was enqueued before it counts as usual, it and
    /// everything after it were not sent.
    fn failed_from<'a>(
        mut results: Vec<Delivered<'a>>,
        failed: &'a PendingRow,
        error: KafkaError,
    ) -> Self {
        results.push((failed, Err(error)));
        Self::from_results(results)
    }
}

/// Deletes the rows the broker acknowledged: the outbox holds only what is still to publish.
pub async fn delete_published(
    client: &tokio_postgres::Client,
    ids: &[i64],
) -> Result<(), tokio_postgres::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    client
        .execute("DELETE FROM outbox WHERE id = ANY($1)", &[&ids])
        .await?;
    Ok(())
}

/// Refreshes the outbox gauges; called when `/metrics` is scraped, so every replica reports the
/// shared table, leader or not.
pub async fn refresh_gauges(
    client: &deadpool_postgres::Client,
) -> Result<(), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::bigint
             FROM outbox",
            &[],
        )
        .await?;
    METRICS.outbox_pending.set(row.get(0));
    METRICS.outbox_oldest_pending_age_seconds.set(row.get(1));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Blocked, BLOCKED_RETRY};
    use std::time::Duration;
    use tokio::time::Instant;

    #[test]
    fn held_keys_stay_out_of_the_fetch_until_the_retry_interval_passes() {
        let start = Instant::now();
        let mut blocked = Blocked::default();
        assert!(blocked.at(start).is_empty());
        blocked.hold(["order-a"], start);
        blocked.hold(["order-b"], start + Duration::from_secs(30));
        let mut held = blocked.at(start + BLOCKED_RETRY - Duration::from_millis(1));
        held.sort();
        assert_eq!(held, ["order-a", "order-b"]);
        // Counted from the first key held: both are tried again together.
        assert!(blocked.at(start + BLOCKED_RETRY).is_empty());
        blocked.hold(["order-a"], start + BLOCKED_RETRY);
        assert_eq!(
            blocked.at(start + BLOCKED_RETRY * 2 - Duration::from_millis(1)),
            ["order-a"]
        );
    }
}
