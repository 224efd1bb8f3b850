//! Kafka clients configured the one way orderflow uses them.

use crate::config::KafkaSettings;
use rdkafka::{config::ClientConfig, error::KafkaError, producer::FutureProducer};

/// The settings shared by every client: bootstrap servers, then the operator's extra properties,
/// which win.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.bootstrap_servers);
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config
}

/// The idempotent producer used by the relay and the dead-letter path.
///
/// `acks=all` with idempotence: the broker acknowledges only what the in-sync replicas have, and
/// librdkafka's retries neither duplicate nor reorder within a partition. Messages never time
/// out (`message.timeout.ms=0`): while the cluster is away they wait in the queue and go out in
/// their original order when it returns, instead of failing some and letting later ones pass.
pub fn producer(settings: &KafkaSettings) -> Result<FutureProducer, KafkaError> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.bootstrap_servers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // Named although it is librdkafka's default: `partition_for_key` must agree with it.
        .set("partitioner", "consistent_random")
        .set("message.timeout.ms", "0")
        // No waiting for more messages: an event is on the hot path of a saga (three relays
        // from POST to SHIPMENT_SCHEDULED), and librdkafka's default 5 ms was paid at every
        // hop. Throughput does not need it: the relay enqueues a whole batch before awaiting
        // it, so what is queued while a request is in flight goes out together in the next.
        .set("linger.ms", "0")
        .set("compression.type", "lz4");
    // Operator properties last, so they can tune any of the above.
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config.create()
}

/// The partition the producer puts a message with `key` in, on a topic of `partitions`
/// partitions: librdkafka's `consistent_random` partitioner (CRC-32 of the key). Tools use it
/// to read one order's events from the one partition that holds them instead of whole topics.
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    (crc32fast::hash(key) % partitions.max(1) as u32) as i32
}
