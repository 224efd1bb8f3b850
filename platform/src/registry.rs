//! The schema registry, through `schema_registry_converter` (Confluent wire format).
//!
//! Both directions cache: the encoder caches the id of each subject it registered, the decoder
//! each writer schema by id, so nothing is fetched or parsed per message once warm.

use crate::config::RegistrySettings;
use schema_registry_converter::{
    async_impl::{
        avro::{AvroDecoder, AvroEncoder},
        schema_registry::SrSettings,
    },
    error::SRCError,
    schema_registry_common::{SchemaType, SubjectNameStrategy, SuppliedSchema},
};
use schemas::{codec, CodecError, DomainEvent, EventType};
use std::time::Duration;

/// Why a payload could not be turned into an event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The bytes themselves are wrong; retrying cannot help. `class` names the kind for the
    /// dead-letter headers.
    #[error("{message}")]
    Permanent {
        class: &'static str,
        message: String,
    },
    /// The registry could not be asked; the same bytes may decode later.
    #[error("schema registry unavailable")]
    Transient(#[source] SRCError),
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry client could not be built: {0}")]
    Client(SRCError),
    #[error("this build does not know version {version} of {event_type}'s schema")]
    UnknownVersion { event_type: EventType, version: u32 },
    #[error("schema for subject {subject} could not be registered or looked up")]
    Register {
        subject: String,
        #[source]
        source: SRCError,
    },
}

impl RegistryError {
    /// Whether asking again may succeed (the registry unreachable or overloaded), as opposed to
    /// a refusal (an incompatible schema) that stays until someone changes something.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Client(_) | RegistryError::UnknownVersion { .. } => false,
            RegistryError::Register { source, .. } => is_transient(source),
        }
    }
}

pub struct Registry {
    encoder: AvroEncoder,
    decoder: AvroDecoder,
}

impl Registry {
    pub fn new(settings: &RegistrySettings) -> Result<Self, RegistryError> {
        let build = || {
            SrSettings::new_builder(settings.url.clone())
                .set_timeout(Duration::from_secs(5))
                .build()
                .map_err(RegistryError::Client)
        };
        Ok(Registry {
            encoder: AvroEncoder::new(build()?),
            decoder: AvroDecoder::new(build()?),
        })
    }

    /// The registry id of `event_type`'s newest schema under the TopicRecordNameStrategy
    /// subject `<topic>-<full name>`, registering it on first use. The registry's compatibility
    /// rule decides whether a new version is accepted.
    pub async fn schema_id(
        &self,
        event_type: EventType,
        topic: &str,
    ) -> Result<u32, RegistryError> {
        self.schema_id_of(event_type, event_type.newest_version(), topic)
            .await
    }

    /// The registry id of `version` of `event_type`'s schema (which this build must know),
    /// registering it under the same subject on first use.
    pub async fn schema_id_of(
        &self,
        event_type: EventType,
        version: u32,
        topic: &str,
    ) -> Result<u32, RegistryError> {
        let subject = format!("{topic}-{}", event_type.full_name());
        let schema = event_type
            .schema_json_of(version)
            .ok_or(RegistryError::UnknownVersion {
                event_type,
                version,
            })?;
        let strategy = SubjectNameStrategy::TopicRecordNameStrategyWithSchema(
            topic.to_owned(),
            SuppliedSchema::new(
                Some(event_type.full_name().to_owned()),
                SchemaType::Avro,
                schema.to_owned(),
            ),
        );
        // The converter caches by this key: one entry per version, not per subject.
        let key = format!("{subject}#v{version}");
        match self.encoder.get_schema_and_id(&key, strategy).await {
            Ok(schema) => Ok(schema.id),
            Err(source) => {
                // Failed lookups are cached by the encoder; clear them so a retry asks again.
                self.encoder.remove_errors_from_cache();
                Err(RegistryError::Register { subject, source })
            }
        }
    }

    /// Decodes a Confluent-framed Avro value into the event this build knows, resolving the
    /// writer's schema against the compiled-in reader schema.
    pub async fn decode(&self, payload: &[u8]) -> Result<DomainEvent, DecodeError> {
        if payload.len() < 5 {
            return Err(permanent(
                "InvalidWireFormat",
                format!(
                    "payload of {} bytes is shorter than the 5-byte header",
                    payload.len()
                ),
            ));
        }
        if payload[0] != 0 {
            return Err(permanent(
                "InvalidWireFormat",
                format!("magic byte is {:#04x}, expected 0x00", payload[0]),
            ));
        }
        let decoded = match self.decoder.decode(Some(payload)).await {
            Ok(decoded) => decoded,
            Err(e) if is_transient(&e) => {
                self.decoder.remove_errors_from_cache();
                return Err(DecodeError::Transient(e));
            }
            Err(e) => {
                let class = if e.error.contains("404") {
                    "UnknownSchemaId"
                } else {
                    "UndecodableBody"
                };
                return Err(permanent(class, e.to_string()));
            }
        };
        let name = decoded
            .name
            .map(|n| n.fullname(None))
            .ok_or_else(|| permanent("UndecodableBody", "writer schema is not a named record"))?;
        codec::from_writer_value(&name, decoded.value).map_err(|e| match e {
            CodecError::UnknownEventType(_) => permanent("UnknownEventType", e.to_string()),
            CodecError::Schema { .. } => permanent("SchemaMismatch", crate::error_chain(&e)),
        })
    }
}

/// Asks the registry for its subjects: `Ok` when it answers with success, else why not.
pub async fn ping(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let url = format!("{}/subjects", url.trim_end_matches('/'));
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

fn permanent(class: &'static str, message: impl Into<String>) -> DecodeError {
    DecodeError::Permanent {
        class,
        message: message.into(),
    }
}

/// The converter marks network failures and 502/503 as retriable; any other HTTP failure is the
/// registry misbehaving, which is transient for us too, except for its answers: 404 (the id
/// really is unknown), 409 (the schema is incompatible with the subject's) and 422 (the schema
/// is invalid).
fn is_transient(e: &SRCError) -> bool {
    let answered = ["status 404", "status 409", "status 422"]
        .iter()
        .any(|status| e.error.contains(status));
    e.retriable || (e.error.contains("HTTP request to schema registry failed") && !answered)
}
