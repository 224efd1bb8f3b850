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
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        .set("compression.type", "lz4");
    // Operator properties last, so they can tune any of the above.
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config.create()
}
