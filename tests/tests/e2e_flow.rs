//! The order flow end to end, through the three service processes: the happy path, a declined
//! payment, cancellations (right after placing, and racing a dispatch), and the trace context
//! that follows a command across all of them.

use futures::{stream, StreamExt};
use orderflow_tests::{
    services::{customer, expect_json, new_trace, order_body, Options, Service, Services},
    Env,
};
use reqwest::StatusCode;
use schemas::Topic;
use serde_json::Value;
use std::{collections::HashMap, time::Duration};

#[tokio::test]
async fn an_order_goes_from_placed_to_delivered() {
    let services = Services::start().await;
    let placed = services.place(&order_body(&customer(), 4_200)).await;
    assert_eq!(placed["status"], "PENDING");
    let order_id = placed["order_id"].as_str().unwrap().to_owned();

    let scheduled = services.wait_until_scheduled(&order_id).await;
    assert_eq!(scheduled["payment"]["status"], "AUTHORIZED");
    assert_eq!(scheduled["payment"]["amount_cents"], 4_200);
    assert_eq!(scheduled["shipment"]["status"], "SCHEDULED");
    let shipment_id = scheduled["shipment"]["shipment_id"].as_str().unwrap();

    let dispatched = expect_json(
        services.shipment_action(shipment_id, "dispatch").await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(dispatched["status"], "DISPATCHED");
    services.wait_for_status(&order_id, "SHIPPED").await;
    let delivered = expect_json(
        services.shipment_action(shipment_id, "deliver").await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(delivered["status"], "DELIVERED");

    // Placed, authorized, scheduled, dispatched, delivered: one version per event.
    let order = services.wait_for_settled(&order_id, "DELIVERED", 5).await;
    assert_eq!(order["shipment"]["status"], "DELIVERED");
    assert_eq!(order["payment"]["status"], "AUTHORIZED");
    assert_eq!(order["cancellation_reason"], Value::Null);

    let payments = services.payments_of(&order_id).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "AUTHORIZED");
    assert_eq!(payments[0]["amount_cents"], 4_200);
    assert_eq!(payments[0]["currency"], "EUR");
    assert_eq!(payments[0]["order_id"], order_id.as_str());
    let payment_id = order["payment"]["payment_id"].as_str().unwrap();
    let path = format!("/payments/{payment_id}");
    let response = services
        .http
        .get(services.url(Service::Payment, &path))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_json(response, StatusCode::OK).await, payments[0]);

    let path = format!("/shipments/{shipment_id}");
    let response = services
        .http
        .get(services.url(Service::Shipping, &path))
        .send()
        .await
        .unwrap();
    let shipment = expect_json(response, StatusCode::OK).await;
    assert_eq!(shipment["status"], "DELIVERED");
    assert_eq!(shipment["order_id"], order_id.as_str());
    assert_eq!(services.shipments_of(&order_id).await, [shipment]);
}

/// A projector that catches up (behind, restarted, a fresh stack) reads the three topics side by
/// side and may apply a shipment before the placement it follows. The timeline reads in the
/// order the events happened all the same. The catch-up is planted: the applied order of one
/// order's events is reversed in the read model's table.
#[tokio::test]
async fn the_timeline_is_in_the_order_events_happened_not_applied() {
    let services = Services::start().await;
    let placed = services.place(&order_body(&customer(), 1_500)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    services.wait_until_scheduled(&order_id).await;
    let happened = [
        "orderflow.orders.OrderPlaced",
        "orderflow.payments.PaymentAuthorized",
        "orderflow.shipments.ShipmentScheduled",
    ];
    let types = |events: &[Value]| -> Vec<String> {
        events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(types(&services.order_events(&order_id).await), happened);

    let (db, connection) =
        tokio_postgres::connect(&services.iso.database_url, tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let order_uuid: uuid::Uuid = order_id.parse().unwrap();
    let reversed = db
        .execute(
            "UPDATE order_view_events SET seq = -seq WHERE order_id = $1",
            &[&order_uuid],
        )
        .await
        .unwrap();
    assert_eq!(reversed, 3);
    let events = services.order_events(&order_id).await;
    assert_eq!(types(&events), happened, "{events:#?}");
    let times: Vec<chrono::DateTime<chrono::Utc>> = events
        .iter()
        .map(|e| e["occurred_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "occurred_at ascending: {times:?}"
    );
}

#[tokio::test]
async fn a_payment_above_the_limit_is_declined_and_the_order_cancelled() {
    let services = Services::start_with(
        Env::from_env(),
        Options {
            payment_limit_cents: Some(10_000),
            ..Options::default()
        },
    )
    .await;
    let placed = services.place(&order_body(&customer(), 10_001)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();

    let order = services
        .wait_for_order(
            &order_id,
            Duration::from_secs(120),
            "cancelled with the decline applied",
            |o| o["status"] == "CANCELLED" && o["payment"]["status"] == "DECLINED",
        )
        .await;
    assert_eq!(order["cancellation_reason"], "PAYMENT_DECLINED");
    assert_eq!(order["payment"]["decline_reason"], "LIMIT_EXCEEDED");

    let payments = services.payments_of(&order_id).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "DECLINED");
    assert_eq!(payments[0]["decline_reason"], "LIMIT_EXCEEDED");
    assert_eq!(payments[0]["amount_cents"], 10_001);

    // Shipping has applied the cancellation (the shipping events reach the order's view only
    // through the topic, so ask shipping itself): no shipment, ever.
    assert_eq!(order["shipment"], Value::Null);
    assert!(services.shipments_of(&order_id).await.is_empty());
}

/// Places an order and at once asks twice to cancel it; checks the consistent end state.
async fn place_and_cancel(services: &Services, total_cents: i64) -> String {
    let placed = services.place(&order_body(&customer(), total_cents)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let (first, second) = tokio::join!(services.cancel(&order_id), services.cancel(&order_id));
    for accepted in [first, second] {
        let accepted = expect_json(accepted, StatusCode::ACCEPTED).await;
        assert_eq!(accepted["order_id"], order_id.as_str());
    }

    // The payment was authorized (OrderPlaced comes first on its partition), so the consistent
    // end is: cancelled by the customer, payment refunded.
    services
        .wait_for_order(
            &order_id,
            Duration::from_secs(120),
            "cancelled and refunded",
            |o| o["status"] == "CANCELLED" && o["payment"]["status"] == "REFUNDED",
        )
        .await;
    let payments = services.payments_of(&order_id).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "REFUNDED");

    // Shipping accepted the cancellation before the refund existed, so nothing can be
    // scheduled any more: no shipment, or a cancelled one.
    let shipments = services.shipments_of(&order_id).await;
    assert!(
        shipments.len() <= 1 && shipments.iter().all(|s| s["status"] == "CANCELLED"),
        "{shipments:?}"
    );
    // The view, once it has every event: placed, authorized, cancellation requested and
    // accepted, cancelled, refunded; plus scheduled and shipment cancelled if there was one.
    let events = if shipments.is_empty() { 6 } else { 8 };
    let order = services
        .wait_for_settled(&order_id, "CANCELLED", events)
        .await;
    assert_eq!(order["cancellation_reason"], "CUSTOMER_REQUEST");
    assert_eq!(order["payment"]["status"], "REFUNDED");
    match shipments.first() {
        None => assert_eq!(order["shipment"], Value::Null, "{order:#}"),
        Some(shipment) => {
            assert_eq!(order["shipment"]["shipment_id"], shipment["shipment_id"]);
            assert_eq!(order["shipment"]["status"], "CANCELLED", "{order:#}");
        }
    }

    // Cancelling again is idempotent.
    let again = services.cancel(&order_id).await;
    let status = again.status();
    assert!(
        matches!(status, StatusCode::OK | StatusCode::ACCEPTED),
        "second cancel answered {status}"
    );
    assert_eq!(expect_json(again, status).await["status"], "CANCELLED");
    order_id
}

#[tokio::test]
async fn orders_cancelled_right_after_placing_end_refunded_and_never_shipped() {
    let services = Services::start().await;
    // Several at once, so the cancellations meet the payments and shipments at different
    // points of their way.
    let ids: Vec<String> = stream::iter(0..10)
        .map(|i| place_and_cancel(&services, 2_500 + i))
        .buffer_unordered(10)
        .collect()
        .await;
    assert_eq!(ids.len(), 10);
    services.assert_no_dead_letters().await;

    // Each request, repeated or not, had its effect once.
    let orders = services.event_counts(Topic::Orders).await;
    let payments = services.event_counts(Topic::Payments).await;
    for order_id in &ids {
        let count = |counts: &HashMap<(String, String), usize>, event: &str| {
            counts
                .get(&(order_id.clone(), event.to_owned()))
                .copied()
                .unwrap_or(0)
        };
        for event in [
            "OrderPlaced",
            "OrderCancellationRequested",
            "OrderCancelled",
        ] {
            assert_eq!(count(&orders, event), 1, "{event} of {order_id}");
        }
        for event in ["PaymentAuthorized", "PaymentRefunded"] {
            assert_eq!(count(&payments, event), 1, "{event} of {order_id}");
        }
    }
}

#[tokio::test]
async fn a_cancellation_racing_a_dispatch_ends_one_way_or_the_other() {
    let services = Services::start().await;
    let customer = customer();
    stream::iter(0..16)
        .for_each_concurrent(16, |i| {
            let services = &services;
            let body = order_body(&customer, 500 + i);
            async move {
                let placed = services.place(&body).await;
                let order_id = placed["order_id"].as_str().unwrap().to_owned();
                let order = services.wait_until_scheduled(&order_id).await;
                let shipment_id = order["shipment"]["shipment_id"].as_str().unwrap();
                let (cancel, dispatch) = if i % 2 == 0 {
                    // Both requests at once: the dispatch usually reaches shipping first.
                    tokio::join!(
                        services.cancel(&order_id),
                        services.shipment_action(shipment_id, "dispatch")
                    )
                } else {
                    // The dispatch when the projector sees the cancellation request, i.e.
                    // about when shipping decides on it.
                    let cancel = services.cancel(&order_id).await;
                    services
                        .wait_for_order(&order_id, Duration::from_secs(120), "requested", |o| {
                            o["version"].as_i64() >= Some(4)
                        })
                        .await;
                    (
                        cancel,
                        services.shipment_action(shipment_id, "dispatch").await,
                    )
                };
                let dispatched = match dispatch.status() {
                    StatusCode::ACCEPTED => true,
                    StatusCode::CONFLICT => false,
                    other => panic!("dispatch answered {other}"),
                };
                // The cancellation is normally taken (the view does not show the dispatch yet)
                // and shipping decides; it is refused at once only if the view was quicker.
                let requested = match cancel.status() {
                    StatusCode::ACCEPTED => true,
                    StatusCode::CONFLICT => false,
                    other => panic!("cancel answered {other}"),
                };
                assert!(requested || dispatched, "cancel refused, dispatch refused");
                // Settled one way or the other: placed, authorized, scheduled, then dispatched
                // (+ cancellation requested and rejected), or cancellation requested, shipment
                // cancelled, accepted, order cancelled, refunded.
                let order = services
                    .wait_for_order(&order_id, Duration::from_secs(120), "settled", |o| {
                        let version = o["version"].as_i64().unwrap_or(0);
                        (o["status"] == "SHIPPED" && version >= 5 + i64::from(requested))
                            || (o["status"] == "CANCELLED" && version >= 8)
                    })
                    .await;
                let shipments = services.shipments_of(&order_id).await;
                let payments = services.payments_of(&order_id).await;
                assert_eq!((shipments.len(), payments.len()), (1, 1), "{order:#}");
                if dispatched {
                    // The parcel left: the cancellation must have been refused entirely.
                    assert_eq!(order["status"], "SHIPPED", "dispatched, yet {order:#}");
                    assert_eq!(order["version"], 5 + i64::from(requested));
                    assert_eq!(order["cancellation_reason"], Value::Null);
                    if requested {
                        assert_eq!(order["cancellation"]["status"], "REJECTED", "{order:#}");
                    } else {
                        assert_eq!(order["cancellation"], Value::Null, "{order:#}");
                    }
                    assert_eq!(order["payment"]["status"], "AUTHORIZED");
                    assert_eq!(shipments[0]["status"], "DISPATCHED");
                    assert_eq!(payments[0]["status"], "AUTHORIZED");
                } else {
                    assert_eq!(order["status"], "CANCELLED", "{order:#}");
                    assert_eq!(order["version"], 8);
                    assert_eq!(order["cancellation_reason"], "CUSTOMER_REQUEST");
                    assert_eq!(order["cancellation"]["status"], "ACCEPTED", "{order:#}");
                    assert_eq!(order["payment"]["status"], "REFUNDED");
                    assert_eq!(order["shipment"]["status"], "CANCELLED");
                    assert_eq!(shipments[0]["status"], "CANCELLED");
                    assert_eq!(payments[0]["status"], "REFUNDED");
                }
            }
        })
        .await;
    services.assert_no_dead_letters().await;
}

#[tokio::test]
async fn a_cancellation_shipping_rejects_shows_in_the_view_and_its_timeline() {
    let services = Services::start().await;
    let placed = services.place(&order_body(&customer(), 700)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let scheduled = services.wait_until_scheduled(&order_id).await;
    let shipment_id = scheduled["shipment"]["shipment_id"].as_str().unwrap();

    // Hold the read model still (its writes wait; reads go on), so order-service does not know
    // of the dispatch yet and takes the request: only shipping can refuse it.
    let (mut db, connection) =
        tokio_postgres::connect(&services.iso.database_url, tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let hold = db.transaction().await.unwrap();
    hold.batch_execute("LOCK TABLE order_views IN EXCLUSIVE MODE")
        .await
        .unwrap();
    let dispatched = services.shipment_action(shipment_id, "dispatch").await;
    assert_eq!(dispatched.status(), StatusCode::ACCEPTED);
    let cancel = services.cancel(&order_id).await;
    assert_eq!(cancel.status(), StatusCode::ACCEPTED);
    hold.commit().await.unwrap();

    let order = services
        .wait_for_order(&order_id, Duration::from_secs(120), "rejected", |o| {
            o["cancellation"]["status"] == "REJECTED" && o["status"] == "SHIPPED"
        })
        .await;
    assert!(order["cancellation"]["reason"].is_string(), "{order:#}");
    assert_eq!(order["cancellation_reason"], Value::Null);
    let timeline = services.order_events(&order_id).await;
    let types: Vec<&str> = timeline
        .iter()
        .filter_map(|e| e["event_type"].as_str())
        .collect();
    for expected in [
        "orderflow.orders.OrderCancellationRequested",
        "orderflow.shipments.CancellationRejected",
    ] {
        assert!(types.contains(&expected), "{expected} not in {types:?}");
    }
}

#[tokio::test]
async fn the_trace_of_a_command_reaches_every_event_it_causes() {
    // At the deployment's default log level (the quiet one has its own test below).
    let services = Services::start_with(
        Env::from_env(),
        Options {
            rust_log: "info".into(),
            ..Options::default()
        },
    )
    .await;
    let (place_parent, place_trace) = new_trace();
    let response = services
        .post_order(
            &order_body(&customer(), 990),
            &[("traceparent", place_parent.as_str())],
        )
        .await;
    let placed = expect_json(response, StatusCode::ACCEPTED).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    services.wait_until_scheduled(&order_id).await;

    // A second command, in a trace of its own, that runs through all three services:
    // order-service asks, shipping accepts, order-service cancels, payment refunds.
    let (cancel_parent, cancel_trace) = new_trace();
    let response = services
        .http
        .post(services.url(Service::Order, &format!("/orders/{order_id}/cancel")))
        .header("traceparent", &cancel_parent)
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::ACCEPTED).await;
    let placing = ["OrderPlaced", "PaymentAuthorized", "ShipmentScheduled"];
    let cancelling = [
        "OrderCancellationRequested",
        "ShipmentCancelled",
        "CancellationAccepted",
        "OrderCancelled",
        "PaymentRefunded",
    ];
    let order = services
        .wait_for_order(
            &order_id,
            Duration::from_secs(120),
            "cancelled with every event applied",
            |o| o["version"] == placing.len() + cancelling.len(),
        )
        .await;
    assert_eq!(order["status"], "CANCELLED", "{order:#}");

    let seen = services.trace_ids_by_event(&order_id).await;
    let mut types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    types.sort_unstable();
    let mut expected: Vec<&str> = placing.iter().chain(&cancelling).copied().collect();
    expected.sort_unstable();
    assert_eq!(types, expected, "one event of each kind");
    for (event_type, trace_id) in &seen {
        let trace = if placing.contains(&event_type.as_str()) {
            &place_trace
        } else {
            &cancel_trace
        };
        assert_eq!(
            trace_id.as_ref(),
            Some(trace),
            "{event_type} does not continue its command's trace"
        );
    }

    // The read model records the trace id of each event it applied.
    let events = services.order_events(&order_id).await;
    assert_eq!(events.len(), expected.len(), "{events:?}");
    for event in events {
        let short = event["event_type"]
            .as_str()
            .unwrap()
            .rsplit('.')
            .next()
            .unwrap();
        let trace = if placing.contains(&short) {
            &place_trace
        } else {
            &cancel_trace
        };
        assert_eq!(event["trace_id"], trace.as_str(), "{event}");
    }
}

/// The trace must not depend on how much the services log: the harness runs them at
/// `RUST_LOG=warn`, which filters log output only, not the spans that carry the trace.
#[tokio::test]
async fn the_trace_survives_a_quiet_log_level() {
    let services = Services::start().await;
    let (parent, trace) = new_trace();
    let response = services
        .post_order(
            &order_body(&customer(), 990),
            &[("traceparent", parent.as_str())],
        )
        .await;
    let order_id = expect_json(response, StatusCode::ACCEPTED).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    services.wait_until_scheduled(&order_id).await;
    let seen = services.trace_ids_by_event(&order_id).await;
    let mut types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        ["OrderPlaced", "PaymentAuthorized", "ShipmentScheduled"],
        "every event of the placement"
    );
    for (event_type, trace_id) in &seen {
        assert_eq!(trace_id.as_ref(), Some(&trace), "{event_type}");
    }
}
