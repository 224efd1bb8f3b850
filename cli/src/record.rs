//! One Kafka record as the tool shows it: where it is, its headers, its schema and the decoded
//! value, or why it could not be decoded (the tool shows it and goes on).

use platform::{
    consumer::header_map,
    registry::{DecodeError, Registry},
};
use rdkafka::message::{Message, OwnedMessage};
use schemas::DomainEvent;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Serialize)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The record's Kafka timestamp, RFC 3339.
    pub timestamp: Option<String>,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// The registry id in the Confluent header, when the value has one.
    pub schema_id: Option<u32>,
    /// `<topic>-<record full name>` (TopicRecordNameStrategy) of the writer schema.
    pub subject: Option<String>,
    pub event_type: Option<String>,
    pub trace_id: Option<String>,
    pub value: Option<serde_json::Value>,
    /// Why the value could not be decoded: the dead-letter class and message.
    pub error: Option<String>,
    #[serde(skip)]
    pub event: Option<DomainEvent>,
    /// Kafka timestamp in milliseconds, for sorting.
    #[serde(skip)]
    pub millis: i64,
}

impl Record {
    /// Decodes `message` with the platform's registry client.
    pub async fn decode(registry: &Registry, message: &OwnedMessage) -> Record {
        let headers: BTreeMap<String, String> = header_map(message).into_iter().collect();
        let millis = message.timestamp().to_millis().unwrap_or_default();
        let payload = message.payload().unwrap_or_default();
        let schema_id = (payload.len() >= 5 && payload[0] == 0)
            .then(|| u32::from_be_bytes([payload[1], payload[2], payload[3], payload[4]]));
        let (event, error) = match message.payload() {
            None => (
                None,
                Some("InvalidWireFormat: message has no value".to_owned()),
            ),
            Some(payload) => match registry.decode(payload).await {
                Ok(event) => (Some(event), None),
                Err(DecodeError::Permanent { class, message }) => {
                    (None, Some(format!("{class}: {message}")))
                }
                Err(e @ DecodeError::Transient(_)) => (None, Some(platform::error_chain(&e))),
            },
        };
        // A dead letter was written under the subject of the topic it came from.
        let subject_topic = headers
            .get("dlq.original.topic")
            .cloned()
            .unwrap_or_else(|| message.topic().to_owned());
        let trace_id = headers
            .get("traceparent")
            .and_then(|t| platform::telemetry::trace_id(t))
            .map(str::to_owned);
        Record {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            timestamp: chrono::DateTime::from_timestamp_millis(millis)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            headers,
            schema_id,
            subject: event
                .as_ref()
                .map(|e| format!("{subject_topic}-{}", e.event_type().full_name())),
            event_type: event
                .as_ref()
                .map(|e| e.event_type().full_name().to_owned()),
            trace_id,
            value: event.as_ref().and_then(|e| serde_json::to_value(e).ok()),
            error,
            event,
            millis,
        }
    }

    /// `topic[partition]@offset`.
    pub fn position(&self) -> String {
        format!("{}[{}]@{}", self.topic, self.partition, self.offset)
    }

    /// The event type's short name (`OrderPlaced`), or `UNDECODABLE`.
    pub fn short_type(&self) -> &str {
        match &self.event_type {
            Some(t) => t.rsplit('.').next().unwrap_or(t),
            None => "UNDECODABLE",
        }
    }

    /// The decoded value as compact JSON, or the reason it could not be decoded.
    pub fn detail(&self) -> String {
        match (&self.value, &self.error) {
            (Some(v), _) => v.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        }
    }
}
