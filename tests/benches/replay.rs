//! Rebuild throughput of `orderflow replay read-model` beside raw consume + decode of the same
//! topics in the same run (issue 7's benchmark; target: the rebuild at ≥ 50 % of raw decode).
//!
//! With the infra up: `cargo bench -p orderflow-tests --bench replay`. Knobs: `BENCH_ORDERS`
//! (default 3000) orders per run, three events each (placed, authorized, scheduled, on the
//! three topics), `BENCH_REPS` (default 3) runs.
//!
//! # One run
//! A fresh database with order-service's tables and a fresh Kafka namespace. The events are
//! written to the outbox and published by the relay, as the services would. Not timed. Then,
//! in alternating order:
//! - **Raw consume + decode**: the tool's reader (by assignment, all partitions of the three
//!   topics from the beginning) and [`Registry::decode`] of every record, nothing else.
//! - **Rebuild**: [`replay::rebuild`] into fresh shadow tables: the same reading and decoding,
//!   plus order-service's projector applying every event and the positions, one transaction
//!   per batch.
//!
//! Both are timed from the start of their read to their last record.

#[allow(dead_code)] // The charts are the api and scale benches'.
mod common;

use common::{knob, report::Report, Comparison};
use orderflow_cli::{
    cmd::replay::{self, Source},
    kafka::{Kafka, Start},
    settings::{Db, ServiceDb},
};
use orderflow_tests::{fixtures::Isolated, Env};
use platform::{app::Platform, outbox, registry::Registry};
use schemas::{DomainEvent, EventHeader, PaymentAuthorized, ShipmentScheduled, Topic};
use tokio::time::Instant;

#[tokio::main]
async fn main() {
    let orders = knob("BENCH_ORDERS", 3_000) as usize;
    let reps = knob("BENCH_REPS", 3) as usize;
    let env = Env::from_env();
    println!(
        "replay bench: {orders} orders ({} events) per run, {reps} runs (Kafka {})",
        3 * orders,
        env.kafka
    );
    let mut report = Report::start(
        "replay",
        serde_json::json!({"orders": orders, "reps": reps}),
    );
    let mut comparison = Comparison::new("rebuild", "raw consume+decode", "ev/s");
    for rep in 0..reps {
        let iso = Isolated::new(env.clone(), &[]).await;
        let (rebuild, raw) = run(&iso, orders, rep % 2 == 0).await;
        comparison.measured.push(rebuild);
        comparison.baseline.push(raw);
        common::delete_namespace(&env, &iso.namespace).await;
    }
    comparison.print();
    report.add_all(&[&comparison]);
    report.finish();
}

/// One run: `(rebuild, raw)` in events per second.
async fn run(iso: &Isolated, orders: usize, raw_first: bool) -> (f64, f64) {
    let settings = iso.settings();
    let platform = Platform::build(settings.clone(), order_service::startup::MIGRATIONS)
        .await
        .expect("database migrated");
    publish(&platform, orders).await;

    let kafka = Kafka::connect(&settings.kafka).expect("Kafka");
    let registry = std::sync::Arc::new(Registry::new(&settings.registry).expect("registry client"));
    let db = Db::connect(&ServiceDb {
        service: "order-service",
        url: settings.database.url.clone(),
    })
    .await
    .expect("database");
    let source = Source {
        kafka: &kafka,
        registry: registry.clone(),
        registry_url: &settings.registry.url,
    };
    let expected = 3 * orders as u64;

    let raw = || async {
        let start = Instant::now();
        let mut ranges = Vec::new();
        for topic in Topic::ALL {
            ranges.extend(
                kafka
                    .ranges(&settings.kafka.topic(topic.name()), Start::Earliest, None)
                    .expect("ranges"),
            );
        }
        let mut reader = kafka.reader(&ranges, false).expect("reader");
        let mut decoded = 0;
        while let Some(message) = reader.next().await.expect("read") {
            let payload = rdkafka::Message::payload(&message).expect("a value");
            registry.decode(payload).await.expect("decodes");
            decoded += 1;
        }
        assert_eq!(decoded, expected);
        expected as f64 / start.elapsed().as_secs_f64()
    };
    let rebuild = || async {
        let shadow = replay::prepare_shadow(&db, replay::shadow_tables(), true)
            .await
            .expect("shadow tables");
        let rebuilt = replay::rebuild(
            &source,
            &platform.pool,
            &db,
            &shadow,
            Start::Earliest,
            false,
        )
        .await
        .expect("rebuilt");
        assert_eq!(rebuilt.applied, expected);
        rebuilt.events_per_sec
    };
    if raw_first {
        let raw = raw().await;
        (rebuild().await, raw)
    } else {
        let rebuild = rebuild().await;
        (rebuild, raw().await)
    }
}

/// Writes `orders` orders' three events to the outbox and lets the relay publish them all.
async fn publish(platform: &Platform, orders: usize) {
    let mut client = platform.pool.get().await.expect("pooled connection");
    for chunk in (0..orders).collect::<Vec<_>>().chunks(500) {
        let tx = outbox::Transaction::begin(&mut client)
            .await
            .expect("transaction");
        for _ in chunk {
            let placed = common::sample_order("bench".into());
            let order_id = placed.header.order_id;
            let events: [DomainEvent; 3] = [
                placed.into(),
                PaymentAuthorized {
                    header: EventHeader::new(order_id),
                    payment_id: uuid::Uuid::new_v4(),
                    amount_cents: 8548,
                    currency: "EUR".into(),
                }
                .into(),
                ShipmentScheduled {
                    header: EventHeader::new(order_id),
                    shipment_id: uuid::Uuid::new_v4(),
                }
                .into(),
            ];
            for event in &events {
                outbox::enqueue(&tx, event).await.expect("outbox row");
            }
        }
        outbox::commit(tx).await.expect("commit");
    }
    let relay = platform.relay();
    let (relay_db, _notifications) = relay.connect().await.expect("relay connection");
    let mut published = 0;
    while published < 3 * orders {
        published += relay.publish_pending(&relay_db).await.expect("published");
    }
}
