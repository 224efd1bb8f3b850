//! Dependencies that go away while orders come in: orders keep being accepted, and every one
//! completes once the dependency is back.

use futures::{stream, StreamExt};
use orderflow_tests::{
    group_progress_now,
    proxy::Proxy,
    services::{customer, order_body, Options, Service, Services},
    stack::{Private, SecondStack},
    Env,
};
use schemas::{Group, Topic};
use std::time::Duration;

/// Places `n` orders of one customer, each answered 202 and readable as PENDING at once.
async fn place_orders(services: &Services, n: usize) -> Vec<String> {
    let customer = customer();
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let placed = services
            .place(&order_body(&customer, 1_000 + i as i64))
            .await;
        assert_eq!(placed["status"], "PENDING");
        let order_id = placed["order_id"].as_str().unwrap().to_owned();
        assert_eq!(
            services.order(&order_id).await["order_id"],
            order_id.as_str()
        );
        ids.push(order_id);
    }
    ids
}

/// Waits until every order is SHIPMENT_SCHEDULED with exactly one authorized payment.
/// How many of the orders' events order-service's outbox holds, not yet published.
async fn held_in_outbox(services: &Services, ids: &[String]) -> i64 {
    let (db, connection) =
        tokio_postgres::connect(&services.iso.database_url, tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    db.query_one(
        "SELECT count(*) FROM outbox WHERE message_key = ANY($1)",
        &[&ids],
    )
    .await
    .unwrap()
    .get(0)
}

async fn expect_all_scheduled(services: &Services, ids: &[String]) {
    stream::iter(ids)
        .for_each_concurrent(10, |order_id| async move {
            let order = services.wait_until_scheduled(order_id).await;
            assert_eq!(order["payment"]["status"], "AUTHORIZED", "{order:#}");
            let payments = services.payments_of(order_id).await;
            assert_eq!(payments.len(), 1, "order {order_id}: {payments:?}");
            assert_eq!(payments[0]["status"], "AUTHORIZED");
        })
        .await;
}

#[tokio::test]
async fn orders_placed_while_kafka_is_down_all_complete_after_it_returns() {
    // A private Kafka (offset 120: 110 belongs to the relay's outage test), so stopping it
    // disturbs no other test.
    let stack = SecondStack::up(Private::KafkaOutage);
    let env = Env {
        kafka: stack.kafka_address(),
        ..Env::from_env()
    };
    let services = Services::start_with(env, Options::default()).await;
    // The whole flow works before the outage.
    let before = place_orders(&services, 1).await;
    expect_all_scheduled(&services, &before).await;

    stack.stop("kafka");
    let during = place_orders(&services, 10).await;
    // Accepted, and their events wait in order-service's outbox while readiness says why.
    assert_eq!(held_in_outbox(&services, &during).await, 10);
    let ready = services
        .http
        .get(services.url(Service::Order, "/health/ready"))
        .send()
        .await
        .unwrap();
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(ready["checks"]["kafka"]["status"], "down", "{ready}");
    stack.start("kafka");

    expect_all_scheduled(&services, &during).await;
    // The flow still works for new orders.
    let after = place_orders(&services, 2).await;
    expect_all_scheduled(&services, &after).await;
    services.assert_no_dead_letters().await;
}

#[tokio::test]
async fn orders_placed_while_payment_service_is_down_complete_after_its_restart() {
    let mut services = Services::start().await;
    let before = place_orders(&services, 1).await;
    expect_all_scheduled(&services, &before).await;

    services.stop(Service::Payment).await;
    let during = place_orders(&services, 10).await;
    // The orders are published and projected, and wait on the topic for payment-service.
    for order_id in &during {
        let order = services
            .wait_for_order(order_id, Duration::from_secs(120), "projected", |o| {
                o["version"].as_i64() >= Some(1)
            })
            .await;
        assert_eq!(order["status"], "PENDING", "{order:#}");
    }
    let group = format!("{}{}", services.iso.namespace, Group::PaymentService);
    let orders = services.iso.topic(Topic::Orders);
    let (committed, end) = group_progress_now(&services.iso.env, &group, &orders).await;
    assert_eq!(
        end - committed,
        10,
        "payment-service's lag while it is down"
    );
    services.restart(Service::Payment).await;

    expect_all_scheduled(&services, &during).await;
    let after = place_orders(&services, 2).await;
    expect_all_scheduled(&services, &after).await;
    services.assert_no_dead_letters().await;
}

#[tokio::test]
async fn orders_placed_while_the_registry_is_unreachable_complete_once_it_is_back() {
    // The services reach the shared registry through a proxy this test can cut.
    let registry: reqwest::Url = Env::from_env().registry.parse().unwrap();
    let target = registry
        .socket_addrs(|| None)
        .unwrap()
        .into_iter()
        .next()
        .expect("registry address");
    let proxy = Proxy::start(target).await;
    let mut through_proxy = registry.clone();
    through_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let options = Options {
        env: vec![("ORDERFLOW__REGISTRY__URL".into(), through_proxy.to_string())],
        ..Options::default()
    };
    let services = Services::start_with(Env::from_env(), options).await;

    // Cut before the namespace's first event: no schema is registered or cached yet, so
    // nothing can be published or decoded until the registry is back.
    proxy.cut();
    let during = place_orders(&services, 5).await;
    // Nothing can be framed without the registry: the events wait in the outbox.
    assert_eq!(held_in_outbox(&services, &during).await, 5);
    proxy.restore();
    expect_all_scheduled(&services, &during).await;
    services.assert_no_dead_letters().await;
}
