//! The offsets a processed batch stores: for each partition, the offset after its last message.

use super::GroupConsumer;
use rdkafka::{
    consumer::Consumer,
    message::{Message, OwnedMessage},
    Offset, TopicPartitionList,
};
use std::collections::HashMap;

/// Stores the offsets after `batch` ([`next_offsets`]): one call per batch, not one per
/// message, as each call looks its topic up in librdkafka.
pub(super) fn store(consumer: &GroupConsumer, batch: &[OwnedMessage]) {
    let next = next_offsets(batch.iter().map(|m| (m.topic(), m.partition(), m.offset())));
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

/// For each partition among `positions` (topic, partition, offset), the offset after the
/// highest: what the consumer resumes from. A batch may hold a partition's messages out of
/// order (messages carried over a pause come first), so the highest, not the last, counts.
fn next_offsets<'t>(
    positions: impl Iterator<Item = (&'t str, i32, i64)>,
) -> HashMap<(&'t str, i32), i64> {
    let mut next: HashMap<(&str, i32), i64> = HashMap::new();
    for (topic, partition, offset) in positions {
        let after = next.entry((topic, partition)).or_default();
        *after = (*after).max(offset + 1);
    }
    next
}

#[cfg(test)]
mod tests {
    use super::next_offsets;

    #[test]
    fn each_partition_resumes_after_its_highest_offset_in_the_batch() {
        let next = next_offsets(
            [
                ("orders", 0, 7),
                ("payments", 0, 3),
                ("orders", 0, 5),
                ("orders", 1, 0),
                ("orders", 0, 9),
            ]
            .into_iter(),
        );
        assert_eq!(next.len(), 3);
        assert_eq!(next[&("orders", 0)], 10);
        assert_eq!(next[&("orders", 1)], 1, "offset 0 resumes at 1, not 0");
        assert_eq!(next[&("payments", 0)], 4);
    }

    #[test]
    fn an_empty_batch_stores_nothing() {
        assert!(next_offsets(std::iter::empty()).is_empty());
    }
}
