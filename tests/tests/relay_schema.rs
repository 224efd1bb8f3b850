//! The relay frames every outbox row with the schema version that wrote it (rolling upgrades
//! that add a version), and a row it cannot frame holds back its own key only.

use orderflow_tests::{
    fixtures::{in_outbox, insert_outbox_row as insert_row, Isolated},
    read_topic, wait_until, Env,
};
use platform::app::Platform;
use rdkafka::Message;
use schemas::{codec, DomainEvent, EventHeader, EventType, OrderItem, OrderPlaced, Topic};
use serde_json::Value;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(60);

fn order_placed(order_id: Uuid, sales_channel: &str) -> DomainEvent {
    OrderPlaced {
        header: EventHeader::new(order_id),
        customer_id: "c-1".into(),
        currency: "EUR".into(),
        items: vec![OrderItem {
            sku: "sku-1".into(),
            quantity: 2,
            unit_price_cents: 500,
        }],
        total_cents: 1_000,
        sales_channel: sales_channel.into(),
    }
    .into()
}

fn schema(event_type: EventType, version: u32) -> apache_avro::Schema {
    apache_avro::Schema::parse_str(event_type.schema_json_of(version).expect("known version"))
        .expect("schema parses")
}

/// `event` as an older build wrote it: its datum under `version` of its schema.
fn datum_of_version(event: &DomainEvent, version: u32) -> Vec<u8> {
    let event_type = event.event_type();
    let newest = codec::encode_datum(event).expect("encodes");
    let old = schema(event_type, version);
    let value = codec::read_value(event_type.schema(), Some(&old), &newest).expect("resolves");
    codec::write_value(&old, value).expect("writes")
}

/// The writer schema the registry holds under `id`, as a consumer that knows nothing of
/// orderflow would fetch it.
async fn writer_schema(registry: &str, id: u32) -> apache_avro::Schema {
    let body: Value = reqwest::get(format!("{registry}/schemas/ids/{id}"))
        .await
        .expect("registry answers")
        .json()
        .await
        .expect("JSON");
    apache_avro::Schema::parse_str(body["schema"].as_str().expect("schema text"))
        .expect("writer schema parses")
}

fn field(value: &apache_avro::types::Value, name: &str) -> Option<apache_avro::types::Value> {
    match value {
        apache_avro::types::Value::Record(fields) => fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn run_relay(platform: &Platform) -> CancellationToken {
    let stop = CancellationToken::new();
    tokio::spawn(platform.relay().run(stop.clone()));
    stop
}

#[tokio::test]
async fn rows_of_old_and_new_writers_are_framed_each_with_its_own_schema() {
    let iso = Isolated::new(Env::from_env(), &[]).await;
    let platform = Platform::build(iso.settings(), &[]).await.unwrap();
    let db = iso.client().await;
    // A v1 replica's row and a v2 replica's row.
    let v1 = order_placed(Uuid::new_v4(), "api");
    let v2 = order_placed(Uuid::new_v4(), "web");
    insert_row(&db, &v1, &datum_of_version(&v1, 1), 1).await;
    insert_row(&db, &v2, &datum_of_version(&v2, 2), 2).await;
    let stop = run_relay(&platform);

    let messages = read_topic(&iso.env, &iso.topic(Topic::Orders), 2, WAIT).await;
    assert_eq!(messages.len(), 2);
    let mut seen = Vec::new();
    for message in &messages {
        let payload = message.payload().expect("value");
        assert_eq!(payload[0], 0, "magic byte");
        let id = u32::from_be_bytes(payload[1..5].try_into().unwrap());
        // An independent consumer: the writer schema by id, nothing else.
        let writer = writer_schema(&iso.env.registry, id).await;
        let value = codec::read_value(&writer, None, &payload[5..])
            .unwrap_or_else(|e| panic!("a message does not decode with its writer schema: {e}"));
        let key = String::from_utf8(message.key().unwrap().to_vec()).unwrap();
        seen.push((key, id, field(&value, "sales_channel")));
    }
    let of = |event: &DomainEvent| {
        seen.iter()
            .find(|(key, ..)| *key == event.header().order_id.to_string())
            .cloned()
            .expect("published")
    };
    let (_, v1_id, v1_channel) = of(&v1);
    let (_, v2_id, v2_channel) = of(&v2);
    assert_eq!(
        v1_channel, None,
        "framed with v1, which has no sales_channel"
    );
    assert_eq!(
        v2_channel,
        Some(apache_avro::types::Value::String("web".into()))
    );
    assert_ne!(v1_id, v2_id);
    stop.cancel();
}

#[tokio::test]
async fn a_row_of_an_unknown_schema_version_holds_back_only_its_key() {
    let iso = Isolated::new(Env::from_env(), &[]).await;
    let platform = Platform::build(iso.settings(), &[]).await.unwrap();
    let db = iso.client().await;
    // Key A: a row of a version this build does not know (a newer replica's), then a good one.
    let newer = order_placed(Uuid::new_v4(), "api");
    let after = order_placed(newer.header().order_id, "api");
    // Key B: a good row.
    let other = order_placed(Uuid::new_v4(), "api");
    insert_row(&db, &newer, &codec::encode_datum(&newer).unwrap(), 99).await;
    insert_row(&db, &after, &codec::encode_datum(&after).unwrap(), 2).await;
    insert_row(&db, &other, &codec::encode_datum(&other).unwrap(), 2).await;
    let stop = run_relay(&platform);

    wait_until(WAIT, "the other key's row to be published", || async {
        (!in_outbox(&db, other.header().event_id).await).then_some(())
    })
    .await;
    // The pass that published B's row saw A's rows too: both stay.
    assert!(in_outbox(&db, newer.header().event_id).await);
    assert!(in_outbox(&db, after.header().event_id).await);
    let on_topic = read_topic(&iso.env, &iso.topic(Topic::Orders), 1, WAIT).await;
    assert_eq!(on_topic.len(), 1);
    assert_eq!(
        on_topic[0].key(),
        Some(other.header().order_id.to_string().as_bytes())
    );
    stop.cancel();
}

#[tokio::test]
async fn a_schema_the_registry_refuses_holds_back_only_its_rows() {
    let iso = Isolated::new(Env::from_env(), &[]).await;
    let platform = Platform::build(iso.settings(), &[]).await.unwrap();
    let db = iso.client().await;
    // The subject of OrderCancelled already holds a schema ours cannot read: registering
    // ours is refused (409) under the registry's BACKWARD rule.
    let topic = iso.topic(Topic::Orders);
    let subject = format!("{topic}-{}", EventType::OrderCancelled.full_name());
    let incompatible = serde_json::json!({
        "type": "record", "name": "OrderCancelled", "namespace": "orderflow.orders",
        "fields": [{"name": "unrelated", "type": "string"}],
    });
    let registered = reqwest::Client::new()
        .post(format!("{}/subjects/{subject}/versions", iso.env.registry))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .json(&serde_json::json!({"schema": incompatible.to_string()}))
        .send()
        .await
        .expect("registry answers");
    assert!(registered.status().is_success(), "{registered:?}");
    let refused = orderflow_tests::fixtures::event(Uuid::new_v4(), "CUSTOMER_REQUEST");
    let other = order_placed(Uuid::new_v4(), "api");
    for event in [&refused, &other] {
        let version = event.event_type().newest_version() as i32;
        insert_row(&db, event, &codec::encode_datum(event).unwrap(), version).await;
    }
    let stop = run_relay(&platform);

    wait_until(WAIT, "the other event's row to be published", || async {
        (!in_outbox(&db, other.header().event_id).await).then_some(())
    })
    .await;
    assert!(in_outbox(&db, refused.header().event_id).await);
    let on_topic = read_topic(&iso.env, &topic, 1, WAIT).await;
    assert_eq!(on_topic.len(), 1);
    assert_eq!(
        on_topic[0].key(),
        Some(other.header().order_id.to_string().as_bytes())
    );
    stop.cancel();
}
