//! The whole chain on the real stack: a record encoded with schema_registry_converter against
//! Apicurio (Confluent wire format), produced with rdkafka, consumed in a consumer group and
//! decoded; the subject is then listed by the registry.

use orderflow_tests::{unique, Env};
use rdkafka::{
    consumer::{Consumer, StreamConsumer},
    producer::{FutureProducer, FutureRecord},
    Message,
};
use schema_registry_converter::{
    async_impl::{
        avro::{AvroDecoder, AvroEncoder},
        schema_registry::SrSettings,
    },
    schema_registry_common::{SchemaType, SubjectNameStrategy, SuppliedSchema},
};
use schemas::{codec, EventHeader, EventType, OrderItem, OrderPlaced};
use std::time::Duration;

#[tokio::test]
async fn avro_record_travels_through_registry_and_kafka() {
    let env = Env::from_env();
    let topic = unique("chain");
    env.create_topic(&topic, 3).await;

    let event = OrderPlaced {
        header: EventHeader::new(uuid::Uuid::new_v4()),
        customer_id: "alice".into(),
        currency: "EUR".into(),
        items: vec![OrderItem {
            sku: "book-1".into(),
            quantity: 2,
            unit_price_cents: 1999,
        }],
        total_cents: 3998,
        sales_channel: "api".into(),
    };
    let strategy = SubjectNameStrategy::TopicRecordNameStrategyWithSchema(
        topic.clone(),
        SuppliedSchema::new(
            Some(EventType::OrderPlaced.full_name().into()),
            SchemaType::Avro,
            EventType::OrderPlaced.schema_json().into(),
        ),
    );
    let encoder = AvroEncoder::new(SrSettings::new(env.registry.clone()));
    let bytes = encoder
        .encode_struct(&event, &strategy)
        .await
        .expect("encoded and registered with the registry");
    assert_eq!(bytes[0], 0, "Confluent magic byte");

    let producer: FutureProducer = env.client_config().create().unwrap();
    let key = event.header.order_id.to_string();
    producer
        .send(
            FutureRecord::to(&topic).key(&key).payload(&bytes),
            Duration::from_secs(10),
        )
        .await
        .expect("acknowledged by the broker");

    let consumer: StreamConsumer = env
        .client_config()
        .set("group.id", unique("chain-group"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
        .await
        .expect("a message within 30 s")
        .expect("no consumer error");
    assert_eq!(message.key(), Some(key.as_bytes()));

    let decoder = AvroDecoder::new(SrSettings::new(env.registry.clone()));
    let decoded = decoder.decode(message.payload()).await.expect("decodes");
    let name = decoded.name.expect("a named record").fullname(None);
    assert_eq!(name, "orderflow.orders.OrderPlaced");
    let back = codec::from_writer_value(&name, decoded.value).expect("a known event");
    assert_eq!(back, event.into());

    // The subject is registered (looked up directly: `GET /subjects` lists at most a page).
    let subject = format!("{topic}-orderflow.orders.OrderPlaced");
    let versions: Vec<u32> = reqwest::get(format!("{}/subjects/{subject}/versions", env.registry))
        .await
        .unwrap()
        .json()
        .await
        .expect("the subject exists");
    assert_eq!(versions, vec![1]);
    env.delete_topics(&topic).await;
}
