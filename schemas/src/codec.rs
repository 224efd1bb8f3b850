//! Avro binary datums without any registry: the outbox stores these, and the relay only
//! prefixes the Confluent header (magic byte 0 and the schema id) when it publishes.

use crate::{DomainEvent, EventType};
use apache_avro::{
    reader::datum::GenericDatumReader, types::Value, writer::datum::GenericDatumWriter, Schema,
};

/// Why an event could not be encoded or decoded. Every variant is permanent: retrying the same
/// bytes gives the same answer.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    #[error("{event_type} does not match its schema")]
    Schema {
        event_type: EventType,
        #[source]
        source: apache_avro::Error,
    },
}

/// Encodes `event` as an Avro binary datum of its newest schema.
pub fn encode_datum(event: &DomainEvent) -> Result<Vec<u8>, CodecError> {
    let event_type = event.event_type();
    let schema_err = |source| CodecError::Schema { event_type, source };
    let value = event
        .to_avro_value()
        .and_then(|v| v.resolve_with_names(event_type.schema(), event_type.resolved().get_names()))
        .map_err(schema_err)?;
    write_value(event_type.schema(), value).map_err(schema_err)
}

/// Turns a value read with the writer's schema into the event this build knows, by Avro schema
/// resolution against the compiled-in reader schema: fields the reader lacks are dropped, fields
/// the writer lacks take their defaults.
pub fn from_writer_value(full_name: &str, value: Value) -> Result<DomainEvent, CodecError> {
    let event_type = EventType::from_full_name(full_name)
        .ok_or_else(|| CodecError::UnknownEventType(full_name.to_owned()))?;
    let schema_err = |source| CodecError::Schema { event_type, source };
    let resolved = value
        .resolve_with_names(event_type.schema(), event_type.resolved().get_names())
        .map_err(schema_err)?;
    DomainEvent::from_avro_value(event_type, &resolved).map_err(schema_err)
}

/// Decodes a datum written with `writer` (any version of `event_type`'s schema) into the event.
pub fn decode_datum(
    event_type: EventType,
    writer: &apache_avro::Schema,
    datum: &[u8],
) -> Result<DomainEvent, CodecError> {
    let schema_err = |source| CodecError::Schema { event_type, source };
    let value = read_value(writer, Some(event_type.schema()), datum).map_err(schema_err)?;
    DomainEvent::from_avro_value(event_type, &value).map_err(schema_err)
}

/// Writes `value` as a binary datum of `schema` (validated against it).
pub fn write_value(schema: &Schema, value: Value) -> Result<Vec<u8>, apache_avro::Error> {
    let mut datum = Vec::with_capacity(128);
    GenericDatumWriter::builder(schema)
        .build()?
        .write_value(&mut datum, value)?;
    Ok(datum)
}

/// Reads a binary datum written with `writer`, resolved against `reader` when given.
pub fn read_value(
    writer: &Schema,
    reader: Option<&Schema>,
    mut datum: &[u8],
) -> Result<Value, apache_avro::Error> {
    let builder = GenericDatumReader::builder(writer);
    match reader {
        Some(reader) => builder.reader_schema(reader).build()?,
        None => builder.build()?,
    }
    .read_value(&mut datum)
}
