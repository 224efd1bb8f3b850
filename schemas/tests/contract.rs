//! Each Rust record agrees with its newest `.avsc`, field for field, and survives a round trip
//! through the Avro binary encoding.

mod samples;

use apache_avro::{schema::Schema, types::Value};
use schemas::{codec, EventType};
use std::collections::{BTreeSet, HashSet};

fn schema_fields(event_type: EventType) -> BTreeSet<String> {
    match event_type.schema() {
        Schema::Record(record) => record.fields.iter().map(|f| f.name.clone()).collect(),
        other => panic!("{event_type} is not a record schema: {other:?}"),
    }
}

fn value_fields(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Record(fields) => fields.iter().map(|(name, _)| name.clone()).collect(),
        Value::Map(fields) => fields.keys().cloned().collect(),
        other => panic!("an event serializes to a record, got {other:?}"),
    }
}

#[test]
fn every_event_type_has_a_sample() {
    let covered: HashSet<_> = samples::all().iter().map(|e| e.event_type()).collect();
    for event_type in EventType::ALL {
        assert!(covered.contains(event_type), "no sample for {event_type}");
    }
}

#[test]
fn rust_records_have_exactly_the_schema_fields() {
    for event in samples::all() {
        let event_type = event.event_type();
        let value = to_value(&event).expect("serializes");
        assert_eq!(
            value_fields(&value),
            schema_fields(event_type),
            "{event_type}: Rust record and .avsc disagree"
        );
    }
}

fn to_value(event: &schemas::DomainEvent) -> Result<Value, apache_avro::Error> {
    use schemas::DomainEvent::*;
    match event {
        OrderPlaced(e) => apache_avro::to_value(e),
        OrderCancellationRequested(e) => apache_avro::to_value(e),
        OrderCancelled(e) => apache_avro::to_value(e),
        PaymentAuthorized(e) => apache_avro::to_value(e),
        PaymentDeclined(e) => apache_avro::to_value(e),
        PaymentRefunded(e) => apache_avro::to_value(e),
        ShipmentScheduled(e) => apache_avro::to_value(e),
        ShipmentDispatched(e) => apache_avro::to_value(e),
        ShipmentDelivered(e) => apache_avro::to_value(e),
        ShipmentCancelled(e) => apache_avro::to_value(e),
        CancellationAccepted(e) => apache_avro::to_value(e),
        CancellationRejected(e) => apache_avro::to_value(e),
    }
}

#[test]
fn every_event_round_trips_through_its_schema() {
    for event in samples::all() {
        let datum = codec::encode_datum(&event).expect("encodes");
        let back = codec::decode_datum(event.event_type(), event.event_type().schema(), &datum)
            .expect("decodes");
        assert_eq!(back, event);
    }
}

#[test]
fn uuid_and_timestamp_fields_carry_their_logical_types() {
    let event = samples::all().remove(0);
    let datum = codec::encode_datum(&event).unwrap();
    let value = codec::read_value(event.event_type().schema(), None, &datum).unwrap();
    let Value::Record(fields) = value else {
        panic!("record expected")
    };
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).unwrap().1.clone();
    assert!(
        matches!(get("event_id"), Value::Uuid(_)),
        "{:?}",
        get("event_id")
    );
    assert!(matches!(get("order_id"), Value::Uuid(_)));
    assert!(matches!(get("occurred_at"), Value::TimestampMillis(_)));
}
