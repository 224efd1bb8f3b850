//! Schema evolution: every version of every schema is BACKWARD compatible with all earlier
//! ones, and readers of either generation read the other's events.

mod samples;

use apache_avro::{schema_compatibility::SchemaCompatibility, Schema};
use schemas::{codec, DomainEvent, EventType};

fn versions(event_type: EventType) -> Vec<Schema> {
    event_type
        .history()
        .iter()
        .map(|text| Schema::parse_str(text).expect("every kept version parses"))
        .collect()
}

#[test]
fn every_new_version_reads_every_earlier_one() {
    for event_type in EventType::ALL.iter().copied() {
        let history = versions(event_type);
        for (newer_index, newer) in history.iter().enumerate() {
            for (older_index, older) in history[..newer_index].iter().enumerate() {
                // BACKWARD: a reader on the new schema reads data written with the old one.
                SchemaCompatibility::can_read(older, newer).unwrap_or_else(|e| {
                    panic!(
                        "{event_type} v{} cannot read v{}: {e}",
                        newer_index + 1,
                        older_index + 1
                    )
                });
            }
        }
    }
}

#[test]
fn the_compatibility_check_rejects_a_breaking_change() {
    // Guards the test above against passing vacuously: a required field without a default is
    // the classic breaking change and must be reported.
    let v1 = Schema::parse_str(EventType::OrderPlaced.history()[0]).unwrap();
    let broken = EventType::OrderPlaced.history()[0].replacen(
        r#""fields": ["#,
        r#""fields": [{"name": "coupon", "type": "string"},"#,
        1,
    );
    let broken = Schema::parse_str(&broken).unwrap();
    assert!(SchemaCompatibility::can_read(&v1, &broken).is_err());
}

#[test]
fn a_v2_consumer_reads_v1_events_with_defaults() {
    let v1 = &versions(EventType::OrderPlaced)[0];
    let v1_event = apache_avro::types::Value::Record(vec![
        (
            "event_id".into(),
            apache_avro::types::Value::Uuid(uuid::Uuid::new_v4()),
        ),
        (
            "occurred_at".into(),
            apache_avro::types::Value::TimestampMillis(1_700_000_000_000),
        ),
        (
            "order_id".into(),
            apache_avro::types::Value::Uuid(uuid::Uuid::new_v4()),
        ),
        ("customer_id".into(), "c-9".into()),
        ("currency".into(), "USD".into()),
        ("items".into(), apache_avro::types::Value::Array(vec![])),
        ("total_cents".into(), apache_avro::types::Value::Long(0)),
    ]);
    let datum = codec::write_value(v1, v1_event).expect("a valid v1 event");
    let DomainEvent::OrderPlaced(read) =
        codec::decode_datum(EventType::OrderPlaced, v1, &datum).expect("v2 reads v1")
    else {
        panic!("wrong event type")
    };
    assert_eq!(read.customer_id, "c-9");
    assert_eq!(
        read.sales_channel, "api",
        "the v2 default fills the missing field"
    );
}

#[test]
fn a_v1_consumer_reads_v2_events_ignoring_new_fields() {
    let [v1, v2] = &versions(EventType::OrderPlaced)[..] else {
        panic!("OrderPlaced has two versions")
    };
    let event = samples::order_placed();
    let datum = codec::encode_datum(&event.clone().into()).unwrap();
    let read = codec::read_value(v2, Some(v1), &datum).expect("v1 reads v2");
    let apache_avro::types::Value::Record(fields) = read else {
        panic!("record expected")
    };
    let names: Vec<_> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        !names.contains(&"sales_channel"),
        "v1 has no sales_channel: {names:?}"
    );
    assert!(fields.contains(&("customer_id".into(), event.customer_id.as_str().into())));
}
