//! A burst of orders from concurrent clients: each is placed once, paid once, and ends where
//! the flow says.

use futures::{stream, StreamExt};
use orderflow_tests::{
    services::{customer, order_body, Services},
    wait_until,
};
use schemas::Topic;
use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

const ORDERS: usize = 1000;
const CLIENTS: usize = 20;
/// Above payment-service's default limit (1000000): declined, hence cancelled.
const OVER_LIMIT: i64 = 2_000_000;

/// Every tenth order is over the limit.
fn total_of(i: usize) -> i64 {
    if i.is_multiple_of(10) {
        OVER_LIMIT
    } else {
        1_000 + i as i64
    }
}

#[tokio::test]
async fn a_burst_of_orders_is_placed_paid_and_settled_exactly_once_each() {
    let services = Services::start().await;
    let customer = customer();

    let placed: Vec<(String, i64)> = stream::iter(0..ORDERS)
        .map(|i| {
            let body = order_body(&customer, total_of(i));
            let services = &services;
            async move {
                let order = services.place(&body).await;
                (order["order_id"].as_str().unwrap().to_owned(), total_of(i))
            }
        })
        .buffer_unordered(CLIENTS)
        .collect()
        .await;
    let expected: HashMap<&str, i64> = placed.iter().map(|(id, t)| (id.as_str(), *t)).collect();
    assert_eq!(expected.len(), ORDERS, "every POST placed a new order");

    // Settled: nothing left pending or merely paid, and every view has all three events of its
    // way (placed, authorized, scheduled / placed, declined, cancelled), which the projector
    // may apply in any order.
    let orders = wait_until(
        Duration::from_secs(300),
        "every order to reach its final status",
        || async {
            for status in ["PENDING", "PAID"] {
                let page = services
                    .orders_page(&format!("customer_id={customer}&status={status}&limit=1"))
                    .await;
                if !page["items"].as_array().unwrap().is_empty() {
                    return None;
                }
            }
            let orders = services.list_orders(&customer, 200).await;
            orders.iter().all(|o| o["version"] == 3).then_some(orders)
        },
    )
    .await;

    // The read model: each order where the flow says.
    assert_eq!(orders.len(), ORDERS);
    for order in &orders {
        let id = order["order_id"].as_str().unwrap();
        let total = expected[id];
        if total > 1_000_000 {
            assert_eq!(order["status"], "CANCELLED", "{order:#}");
            assert_eq!(order["cancellation_reason"], "PAYMENT_DECLINED");
            assert_eq!(order["payment"]["status"], "DECLINED");
        } else {
            assert_eq!(order["status"], "SHIPMENT_SCHEDULED", "{order:#}");
            assert_eq!(order["payment"]["status"], "AUTHORIZED");
            assert_eq!(order["shipment"]["status"], "SCHEDULED");
        }
        assert_eq!(order["total_cents"], total);
    }

    // The topics: exactly one OrderPlaced and exactly one payment decision per order.
    let orders_topic = services.event_counts(Topic::Orders).await;
    let payments_topic = services.event_counts(Topic::Payments).await;
    let shipments_topic = services.event_counts(Topic::Shipments).await;
    for (id, total) in &expected {
        let count = |counts: &HashMap<(String, String), usize>, event: &str| {
            counts
                .get(&(id.to_string(), event.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        assert_eq!(count(&orders_topic, "OrderPlaced"), 1, "order {id}");
        let (decided, other) = if *total > 1_000_000 {
            ("PaymentDeclined", "PaymentAuthorized")
        } else {
            ("PaymentAuthorized", "PaymentDeclined")
        };
        assert_eq!(count(&payments_topic, decided), 1, "order {id}");
        assert_eq!(count(&payments_topic, other), 0, "order {id}");
        let scheduled = usize::from(*total <= 1_000_000);
        assert_eq!(
            count(&shipments_topic, "ShipmentScheduled"),
            scheduled,
            "order {id}"
        );
    }
    let keys: HashSet<&String> = orders_topic.keys().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), ORDERS, "no events of orders nobody placed");

    // payment-service: one payment per order.
    stream::iter(&expected)
        .for_each_concurrent(CLIENTS, |(id, total)| {
            let services = &services;
            async move {
                let payments = services.payments_of(id).await;
                assert_eq!(payments.len(), 1, "order {id}: {payments:?}");
                assert_eq!(payments[0]["amount_cents"], *total);
            }
        })
        .await;
    services.assert_no_dead_letters().await;
}
