//! Kafka stopped while outbox rows are written: nothing is lost, and each order's events reach
//! the topic in the order they were written. Runs on a private Kafka (second stack).

use orderflow_tests::{
    fixtures::Isolated,
    read_topic,
    stack::{Private, SecondStack},
    wait_until, Env,
};
use platform::{app::Platform, consumer::header_map, outbox};
use rdkafka::Message;
use schemas::{DomainEvent, EventHeader, OrderCancellationRequested, Topic};
use std::{collections::HashMap, time::Duration};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn write_round(platform: &Platform, orders: &[Uuid], round: usize) -> Vec<DomainEvent> {
    let mut written = Vec::new();
    for order_id in orders {
        let event: DomainEvent = OrderCancellationRequested {
            header: EventHeader::new(*order_id),
            reason: format!("round-{round}"),
        }
        .into();
        let mut client = platform.pool.get().await.unwrap();
        let tx = outbox::Transaction::begin(&mut client).await.unwrap();
        outbox::enqueue(&tx, &event).await.unwrap();
        outbox::commit(tx).await.unwrap();
        written.push(event);
    }
    written
}

async fn pending(db: &tokio_postgres::Client) -> i64 {
    db.query_one("SELECT count(*) FROM outbox", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn rows_written_while_kafka_is_down_are_all_published_in_key_order() {
    let stack = SecondStack::up(Private::RelayOutage);
    let env = Env {
        kafka: stack.kafka_address(),
        ..Env::from_env()
    };
    let iso = Isolated::new(env, &[]).await;
    let platform = Platform::build(iso.settings(), &[]).await.unwrap();
    let db = iso.client().await;
    let stop = CancellationToken::new();
    tokio::spawn(platform.relay().run(stop.clone()));

    let orders: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let mut written = Vec::new();
    for round in 0..3 {
        written.extend(write_round(&platform, &orders, round).await);
    }
    wait_until(
        Duration::from_secs(60),
        "the first rows to be published",
        || async { (pending(&db).await == 0).then_some(()) },
    )
    .await;

    stack.stop("kafka");
    for round in 3..8 {
        written.extend(write_round(&platform, &orders, round).await);
    }
    assert!(
        pending(&db).await > 0,
        "nothing can be published while Kafka is down"
    );
    stack.start("kafka");
    wait_until(
        Duration::from_secs(120),
        "every row to be published after Kafka returned",
        || async { (pending(&db).await == 0).then_some(()) },
    )
    .await;

    let messages = read_topic(
        &iso.env,
        &iso.topic(Topic::Orders),
        written.len(),
        Duration::from_secs(60),
    )
    .await;
    // Per key: the order of first arrival is the order of writing, and nothing is missing.
    let mut seen: HashMap<Vec<u8>, Vec<String>> = HashMap::new();
    for m in &messages {
        let ids = seen.entry(m.key().unwrap().to_vec()).or_default();
        let id = header_map(m).remove("event_id").unwrap();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for order_id in &orders {
        let expected: Vec<String> = written
            .iter()
            .filter(|e| e.header().order_id == *order_id)
            .map(|e| e.header().event_id.to_string())
            .collect();
        assert_eq!(
            seen[order_id.to_string().as_bytes()],
            expected,
            "order {order_id}"
        );
    }
    stop.cancel();
}
