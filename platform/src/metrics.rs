//! Prometheus metrics, served at `/metrics` by [`crate::http`].
//!
//! One process-wide registry: counters are labelled by consumer group and topic, so several
//! components in one process (tests) stay distinguishable.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};
use std::sync::LazyLock;

pub struct Metrics {
    registry: Registry,
    pub outbox_pending: IntGauge,
    pub outbox_oldest_pending_age_seconds: IntGauge,
    pub outbox_published_total: IntCounter,
    pub outbox_blocked_keys: IntGauge,
    pub events_processed_total: IntCounterVec,
    pub events_dlq_total: IntCounterVec,
    pub consumer_lag: IntGaugeVec,
    pub consumer_rebalances_total: IntCounterVec,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let outbox_pending = gauge("orderflow_outbox_pending", "Outbox rows not yet published.");
        let outbox_oldest_pending_age_seconds = gauge(
            "orderflow_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox row.",
        );
        let outbox_blocked_keys = gauge(
            "orderflow_outbox_blocked_keys",
            "Keys whose outbox rows are held back because a row could not be framed.",
        );
        let outbox_published_total = IntCounter::new(
            "orderflow_outbox_published_total",
            "Outbox rows the broker acknowledged.",
        )
        .expect("valid metric");
        let events_processed_total = IntCounterVec::new(
            Opts::new(
                "orderflow_events_processed_total",
                "Events a handler applied.",
            ),
            &["group", "topic", "event_type"],
        )
        .expect("valid metric");
        let events_dlq_total = IntCounterVec::new(
            Opts::new(
                "orderflow_events_dlq_total",
                "Messages sent to a dead-letter topic.",
            ),
            &["group", "topic"],
        )
        .expect("valid metric");
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "orderflow_consumer_lag",
                "Messages behind the partition's end.",
            ),
            &["group", "topic", "partition"],
        )
        .expect("valid metric");
        let consumer_rebalances_total = IntCounterVec::new(
            Opts::new(
                "orderflow_consumer_rebalances_total",
                "Partition assignments a consumer group member received (one per rebalance).",
            ),
            &["group"],
        )
        .expect("valid metric");
        for c in [
            Box::new(outbox_published_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(events_processed_total.clone()),
            Box::new(events_dlq_total.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(consumer_rebalances_total.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Metrics {
            registry,
            outbox_pending,
            outbox_oldest_pending_age_seconds,
            outbox_published_total,
            outbox_blocked_keys,
            events_processed_total,
            events_dlq_total,
            consumer_lag,
            consumer_rebalances_total,
        }
    }

    /// A consumer group's counters at zero for every label set it can raise (each topic it
    /// reads, each event type of those topics), so dashboards and alerts see the series from
    /// the start rather than from the first event (the Prometheus convention for known labels).
    /// `topics` pairs each topic's name as the group reads it with the contract topic.
    pub fn zero_consumer(&self, group: &str, topics: &[(String, schemas::Topic)]) {
        self.consumer_rebalances_total.with_label_values(&[group]);
        for (name, topic) in topics {
            self.events_dlq_total.with_label_values(&[group, name]);
            for event_type in schemas::EventType::ALL
                .iter()
                .filter(|t| t.topic() == *topic)
            {
                self.events_processed_total.with_label_values(&[
                    group,
                    name,
                    event_type.full_name(),
                ]);
            }
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("exposition is UTF-8")
    }
}
