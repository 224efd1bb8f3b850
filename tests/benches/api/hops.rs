//! Where an order's end-to-end latency goes, from what the stack shows: the events applied to
//! the order's view (`GET /orders/{id}/events`) carry the `occurred_at` stamped by the service
//! that wrote them (in its handler, before its transaction commits) and where they are in
//! Kafka; the message there carries the time the relay produced it (`CreateTime`); the view's
//! `updated_at` is when the projector's transaction that applied the last event began. One
//! machine, one clock, so the stamps compare.

use crate::load::Journey;
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    ClientConfig, Message, Offset, TopicPartitionList,
};
use std::time::{Duration, UNIX_EPOCH};

/// The stages, in order; [`Reader::hops`] returns milliseconds for each.
pub const STAGES: [&str; 8] = [
    "POST sent -> OrderPlaced stamped (order-service transaction)",
    "-> produced (order-service commit, relay wake-up and fetch)",
    "-> PaymentAuthorized stamped (Kafka, payment-service consumer)",
    "-> produced (payment-service commit and relay)",
    "-> ShipmentScheduled stamped (Kafka, shipping-service consumer)",
    "-> produced (shipping-service commit and relay)",
    "-> projector transaction began (Kafka, projector consumer)",
    "-> long poll answered (rest of the projector batch, commit, NOTIFY, the waiting GET)",
];
const EVENTS: [&str; 3] = ["OrderPlaced", "PaymentAuthorized", "ShipmentScheduled"];

/// Reads single messages of the stack's topics by position.
pub struct Reader {
    kafka: StreamConsumer,
}

impl Reader {
    pub fn new(bootstrap: &str) -> Self {
        let kafka = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", orderflow_tests::unique("bench-hops"))
            .set("enable.auto.commit", "false")
            .create()
            .expect("hops reader");
        Reader { kafka }
    }

    /// Milliseconds spent in each of [`STAGES`] by the order of `journey`.
    pub async fn hops(
        &self,
        http: &reqwest::Client,
        base: &str,
        journey: &Journey,
    ) -> Result<[f64; 8], String> {
        let applied: Vec<serde_json::Value> = http
            .get(format!("{base}/orders/{}/events", journey.order_id))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let sent = millis(
            journey
                .sent_at
                .duration_since(UNIX_EPOCH)
                .expect("after 1970"),
        );
        let mut marks = vec![sent];
        for name in EVENTS {
            let event = applied
                .iter()
                .find(|e| e["event_type"].as_str().is_some_and(|t| t.ends_with(name)))
                .ok_or_else(|| format!("order {} has no {name}", journey.order_id))?;
            marks.push(parse_millis(event["occurred_at"].as_str())?);
            marks.push(self.produced_at(event).await?);
        }
        marks.push(parse_millis(Some(&journey.view_updated_at))?);
        marks.push(sent + millis(journey.scheduled));
        let mut hops = [0.0; 8];
        for (i, hop) in hops.iter_mut().enumerate() {
            *hop = marks[i + 1] - marks[i];
        }
        Ok(hops)
    }

    /// The `CreateTime` of the message an applied event came from.
    async fn produced_at(&self, event: &serde_json::Value) -> Result<f64, String> {
        let topic = event["topic"].as_str().ok_or("no topic")?;
        let partition = event["partition"].as_i64().ok_or("no partition")? as i32;
        let offset = event["offset"].as_i64().ok_or("no offset")?;
        let mut position = TopicPartitionList::new();
        position
            .add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| e.to_string())?;
        self.kafka.assign(&position).map_err(|e| e.to_string())?;
        // Messages of the previous assignment may still be queued: skip them (bounded).
        for _ in 0..100 {
            let message = tokio::time::timeout(Duration::from_secs(5), self.kafka.recv())
                .await
                .map_err(|_| format!("{topic}/{partition}@{offset} not read within 5 s"))?
                .map_err(|e| e.to_string())?;
            if message.topic() == topic
                && message.partition() == partition
                && message.offset() == offset
            {
                return message
                    .timestamp()
                    .to_millis()
                    .map(|ms| ms as f64)
                    .ok_or_else(|| "message without timestamp".into());
            }
        }
        Err(format!("{topic}/{partition}@{offset} not found"))
    }
}

/// An RFC 3339 time of the API as milliseconds since the epoch.
fn parse_millis(text: Option<&str>) -> Result<f64, String> {
    let text = text.ok_or("no time")?;
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros() as f64 / 1000.0)
        .map_err(|e| format!("time {text:?}: {e}"))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
