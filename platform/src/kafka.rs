//! Kafka clients configured the one way orderflow uses them.

use crate::config::KafkaSettings;
use rdkafka::{
    client::{ClientContext, DefaultClientContext},
    config::ClientConfig,
    error::KafkaError,
    producer::{DeliveryResult, FutureProducer, Producer, ProducerContext, ThreadedProducer},
    types::RDKafkaErrorCode,
};
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// The settings shared by every client: bootstrap servers and security, then the operator's
/// extra properties, which win.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = connection(settings);
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    config
}

/// Where the cluster is and how to log in to it.
fn connection(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &settings.bootstrap_servers);
    for (key, value) in settings.security_properties() {
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
    let mut config = connection(settings);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // Named although it is librdkafka's default: `partition_for_key` must agree with it.
        .set("partitioner", "consistent_random")
        .set("message.timeout.ms", "0")
        // No waiting for more messages: an event is on the hot path of a saga (three relays
        // from POST to SHIPMENT_SCHEDULED), and librdkafka's default linger would be paid at
        // every hop. Throughput does not need it: the relay enqueues a whole batch before awaiting
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

/// The client readiness asks the cluster through, which can say why it is not let in.
///
/// A client whose login the brokers refuse (wrong password, unknown user, a certificate its CA
/// does not trust) hears it only through librdkafka's error callback; its requests just time
/// out. This client keeps the last such refusal, so readiness answers "authentication failed
/// as user 'order' (SCRAM-SHA-512): ..." instead of "timed out".
#[derive(Clone)]
pub struct Probe {
    /// Threaded: librdkafka calls the error callback only while someone polls the client.
    producer: Arc<ThreadedProducer<LoginContext>>,
    /// Who the client logs in as, for the message.
    login: Option<String>,
}

impl Probe {
    pub fn new(settings: &KafkaSettings) -> Result<Self, KafkaError> {
        let producer = client_config(settings).create_with_context(LoginContext::default())?;
        Ok(Probe {
            producer: Arc::new(producer),
            login: settings.describe_login(),
        })
    }

    /// Asks for the cluster's metadata within `timeout` (blocking). The error names a refused
    /// login when there was one.
    pub fn check(&self, timeout: Duration) -> Result<(), String> {
        match self.producer.client().fetch_metadata(None, timeout) {
            Ok(_) => {
                *self.producer.context().refused.lock().expect("probe lock") = None;
                Ok(())
            }
            Err(e) => Err(self.explain(e.to_string())),
        }
    }

    /// Why the cluster could not be asked: the last refused login if there was one (a wrong
    /// password shows as a timeout otherwise), else `error`.
    pub fn explain(&self, error: String) -> String {
        let refused = self.producer.context().refused.lock().expect("probe lock");
        match (refused.as_deref(), &self.login) {
            (Some(reason), Some(login)) => format!("authentication failed as {login}: {reason}"),
            (Some(reason), None) => format!("the brokers refused the connection: {reason}"),
            (None, _) => error,
        }
    }
}

/// Keeps the last authentication or TLS error the client heard, and logs every error as
/// librdkafka's default context does.
#[derive(Default)]
struct LoginContext {
    refused: Mutex<Option<String>>,
}

impl ClientContext for LoginContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)
        ) {
            *self.refused.lock().expect("probe lock") = Some(reason.to_owned());
        }
        DefaultClientContext.error(error, reason);
    }
}

/// The probe sends nothing, so there are no deliveries to hear of.
impl ProducerContext for LoginContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}
