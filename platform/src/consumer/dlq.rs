//! The dead-letter topic `<consumer-group>.dlq`: where a message goes that can never be
//! processed, with its key and value unchanged and headers saying where it came from and why.

use chrono::Utc;
use rdkafka::{
    error::KafkaError,
    message::{Header, Headers, Message, OwnedHeaders, OwnedMessage},
    producer::{FutureProducer, FutureRecord},
};

/// Why a message is dead: a short class (`InvalidWireFormat`, `UnknownSchemaId`,
/// `UndecodableBody`, `MissingKey`, `DomainRuleViolation`, ...) and a human message.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub class: &'static str,
    pub message: String,
}

impl DeadLetter {
    pub fn new(class: &'static str, message: impl Into<String>) -> Self {
        DeadLetter {
            class,
            message: message.into(),
        }
    }

    /// Publishes `original` to the group's dead-letter topic and waits for the acknowledgement.
    pub async fn send(
        &self,
        producer: &FutureProducer,
        group: &str,
        original: &OwnedMessage,
    ) -> Result<(), KafkaError> {
        tracing::warn!(
            group,
            topic = original.topic(),
            partition = original.partition(),
            offset = original.offset(),
            class = self.class,
            reason = %self.message,
            "message sent to the dead-letter topic"
        );
        let partition = original.partition().to_string();
        let offset = original.offset().to_string();
        let failed_at = Utc::now().to_rfc3339();
        let mut headers = OwnedHeaders::new();
        // Keep the original headers (event_id, traceparent, ...) first.
        if let Some(original_headers) = original.headers() {
            for h in original_headers.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        for (key, value) in [
            ("dlq.original.topic", original.topic()),
            ("dlq.original.partition", partition.as_str()),
            ("dlq.original.offset", offset.as_str()),
            ("dlq.error.class", self.class),
            ("dlq.error.message", self.message.as_str()),
            ("dlq.consumer.group", group),
            ("dlq.failed_at", failed_at.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let topic = schemas::dead_letter_topic(group);
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&topic).headers(headers);
        if let Some(key) = original.key() {
            record = record.key(key);
        }
        if let Some(payload) = original.payload() {
            record = record.payload(payload);
        }
        producer
            .send(record, rdkafka::util::Timeout::Never)
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}
