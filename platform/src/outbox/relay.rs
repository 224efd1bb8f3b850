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
//! 1. Fetch up to `batch_size` unpublished rows in id order. Unpublished, not "above the last
//!    id": a transaction that took a smaller id but committed later is found on the next pass.
//! 2. Enqueue the whole batch in the producer, then await all delivery reports.
//! 3. Mark exactly the acknowledged rows published. A row of a key that comes after a failed
//!    row of the same key stays unmarked even if it was acknowledged, so it is sent again after
//!    the earlier one: consumers deduplicate by `event_id`, and the order per key holds.
//!
//! The relay is woken by `NOTIFY outbox` (a trigger on insert), with a periodic poll as the
//! fallback when a notification is lost. Published rows are deleted after `retention_secs`.

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

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("outbox query failed")]
    Query(#[from] tokio_postgres::Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("outbox row {id} has unknown event type {event_type:?}")]
    UnknownEventType { id: i64, event_type: String },
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
}

pub struct Relay {
    database_url: Secret<String>,
    producer: FutureProducer,
    registry: Arc<Registry>,
    settings: RelaySettings,
    kafka: KafkaSettings,
    /// Registry ids by event type; a relay only ever publishes the newest schema of each.
    schema_ids: tokio::sync::Mutex<HashMap<EventType, u32>>,
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

    async fn lead(&self, shutdown: &CancellationToken) -> Result<(), RelayError> {
        let (client, mut notifications) = db::dedicated(&self.database_url).await?;
        let retry = Duration::from_millis(self.settings.leader_retry_ms);
        loop {
            let leader: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])
                .await?
                .get(0);
            if leader {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(retry) => {}
            }
        }
        client.batch_execute("LISTEN outbox").await?;
        tracing::info!("outbox relay is the leader");

        let poll = Duration::from_millis(self.settings.poll_interval_ms);
        let mut next_cleanup = Instant::now();
        let mut backoff = Backoff::new(self.settings.backoff_max_ms);
        loop {
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
                // Kafka or the registry refused part of the batch: back off, the unmarked rows
                // go again. Database errors end leadership (the lock may be gone).
                Err(e @ (RelayError::Delivery { .. } | RelayError::Registry(_))) => {
                    tracing::warn!(error = %crate::error_chain(&e), "outbox batch not fully published");
                    backoff.wait(shutdown).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            if Instant::now() >= next_cleanup {
                self.delete_expired(&client).await?;
                next_cleanup = Instant::now() + Duration::from_secs(60);
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = notifications.recv() => {
                    // Several commits may have notified; one pass serves them all.
                    while notifications.try_recv().is_ok() {}
                }
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// One pass: fetch, publish, mark. Returns how many rows were published.
    pub async fn publish_pending(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<usize, RelayError> {
        let rows = self.fetch_pending(client).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let outcome = self.publish(&rows).await?;
        mark_published(client, &outcome.acknowledged).await?;
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

    /// The oldest unpublished rows, at most `batch_size`, in id order.
    pub async fn fetch_pending(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<Vec<PendingRow>, RelayError> {
        // One statement per batch of up to `batch_size` rows: not worth a cached plan on the
        // dedicated connection.
        let rows = client
            .query(
                "SELECT id, event_id, topic, message_key, event_type, payload, traceparent
                 FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
                &[&self.settings.batch_size],
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
            })
            .collect())
    }

    /// Sends `rows` and waits for every delivery report. Does not touch the database: the
    /// caller marks what was acknowledged.
    pub async fn publish(&self, rows: &[PendingRow]) -> Result<PublishOutcome, RelayError> {
        let mut frames = Vec::with_capacity(rows.len());
        let topics: Vec<String> = rows.iter().map(|r| self.kafka.topic(&r.topic)).collect();
        for (row, topic) in rows.iter().zip(&topics) {
            let event_type = EventType::from_full_name(&row.event_type).ok_or_else(|| {
                RelayError::UnknownEventType {
                    id: row.id,
                    event_type: row.event_type.clone(),
                }
            })?;
            let schema_id = self.schema_id(event_type, topic).await?;
            let mut value = Vec::with_capacity(5 + row.payload.len());
            value.push(0u8);
            value.extend_from_slice(&schema_id.to_be_bytes());
            value.extend_from_slice(&row.payload);
            frames.push(value);
        }

        // Enqueue everything first, then await: the producer batches per partition, and a full
        // local queue is waited out rather than failed.
        let mut deliveries = Vec::with_capacity(rows.len());
        for ((row, value), topic) in rows.iter().zip(&frames).zip(&topics) {
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

    async fn schema_id(&self, event_type: EventType, topic: &str) -> Result<u32, RelayError> {
        let mut ids = self.schema_ids.lock().await;
        if let Some(id) = ids.get(&event_type) {
            return Ok(*id);
        }
        let id = self.registry.schema_id(event_type, topic).await?;
        ids.insert(event_type, id);
        Ok(id)
    }

    async fn delete_expired(&self, client: &tokio_postgres::Client) -> Result<(), RelayError> {
        let deleted = client
            .execute(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)",
                &[&(self.settings.retention_secs as f64)],
            )
            .await?;
        if deleted > 0 {
            tracing::debug!(deleted, "expired published outbox rows deleted");
        }
        Ok(())
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

/// Marks rows published.
pub async fn mark_published(
    client: &tokio_postgres::Client,
    ids: &[i64],
) -> Result<(), tokio_postgres::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    client
        .execute(
            "UPDATE outbox SET published_at = now() WHERE id = ANY($1)",
            &[&ids],
        )
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
             FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await?;
    METRICS.outbox_pending.set(row.get(0));
    METRICS.outbox_oldest_pending_age_seconds.set(row.get(1));
    Ok(())
}
