//! librdkafka's callbacks for a consumer group: stored offsets committed before partitions are
//! taken away, the lag gauge from statistics, the rebalance counter.

use crate::metrics::METRICS;
use rdkafka::{
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance},
    error::KafkaError,
    ClientContext, Statistics,
};

/// Commits stored offsets before partitions are taken away, and turns librdkafka statistics
/// into the lag gauge.
pub(super) struct GroupContext {
    pub(super) group: String,
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
