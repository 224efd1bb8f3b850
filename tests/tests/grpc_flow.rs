//! The order flow through the gRPC API: one `WatchOrder` stream follows an order from PENDING
//! to DELIVERED (shipping driven through its REST API), a stream on a second order-service
//! instance sees what was done through the first, a cancellation after shipping is refused
//! with FAILED_PRECONDITION, a stream held while its instance stops ends with UNAVAILABLE, and
//! an order placed over gRPC carries the caller's trace into the events of all three services.

use orderflow_proto::v1::{
    orders_client::OrdersClient, CancelOrderRequest, Order, OrderStatus, WatchOrderRequest,
};
use orderflow_tests::services::{
    customer, expect_json, new_trace, place_request, Service, Services,
};
use reqwest::StatusCode;
use std::time::Duration;
use tonic::{transport::Channel, Code, Request, Streaming};
use tonic_types::StatusExt;

/// How long a flow may take on a loaded machine.
const FLOW_TIMEOUT: Duration = Duration::from_secs(120);

async fn watch(client: &mut OrdersClient<Channel>, order_id: &str) -> Streaming<Order> {
    client
        .watch_order(WatchOrderRequest {
            order_id: order_id.into(),
        })
        .await
        .expect("WatchOrder opens")
        .into_inner()
}

/// The next view on `stream`, within [`FLOW_TIMEOUT`]; `None` when the stream ended (OK).
async fn next(stream: &mut Streaming<Order>, seen: &[Order]) -> Option<Order> {
    let statuses: Vec<_> = seen.iter().map(Order::status).collect();
    tokio::time::timeout(FLOW_TIMEOUT, stream.message())
        .await
        .unwrap_or_else(|_| panic!("no change within {FLOW_TIMEOUT:?}; seen so far: {statuses:?}"))
        .unwrap_or_else(|e| panic!("the stream failed: {e:?}; seen so far: {statuses:?}"))
}

/// Reads `stream` to its end, dispatching the shipment once it is scheduled and delivering it
/// once it is shipped (through shipping's REST API). Returns every view the stream sent.
async fn follow_to_the_end(services: &Services, mut stream: Streaming<Order>) -> Vec<Order> {
    let mut seen: Vec<Order> = Vec::new();
    let mut dispatched = false;
    let mut delivered = false;
    while let Some(order) = next(&mut stream, &seen).await {
        let shipment_id = order.shipment.as_ref().map(|s| s.shipment_id.clone());
        match (order.status(), shipment_id) {
            (OrderStatus::ShipmentScheduled, Some(id)) if !dispatched => {
                let response = services.shipment_action(&id, "dispatch").await;
                expect_json(response, StatusCode::ACCEPTED).await;
                dispatched = true;
            }
            (OrderStatus::Shipped, Some(id)) if !delivered => {
                let response = services.shipment_action(&id, "deliver").await;
                expect_json(response, StatusCode::ACCEPTED).await;
                delivered = true;
            }
            _ => {}
        }
        seen.push(order);
    }
    seen
}

/// The stream showed the order's life in order, one change per message, and ended after the
/// final view.
fn assert_forward_to_delivered(seen: &[Order]) {
    let statuses: Vec<OrderStatus> = seen.iter().map(Order::status).collect();
    assert_eq!(
        statuses.last(),
        Some(&OrderStatus::Delivered),
        "{statuses:?}"
    );
    for pair in seen.windows(2) {
        assert!(
            pair[1].version > pair[0].version,
            "versions go up: {statuses:?}"
        );
        assert!(
            pair[1].status >= pair[0].status,
            "statuses go forward: {statuses:?}"
        );
    }
    for status in [OrderStatus::ShipmentScheduled, OrderStatus::Shipped] {
        assert!(statuses.contains(&status), "{status:?} in {statuses:?}");
    }
}

#[tokio::test]
async fn one_stream_follows_an_order_from_pending_to_delivered() {
    let services = Services::start().await;
    let mut client = services.grpc().await;
    let order = client
        .place_order(place_request(&customer(), 4_200))
        .await
        .expect("PlaceOrder")
        .into_inner();

    let stream = watch(&mut client, &order.order_id).await;
    let seen = follow_to_the_end(&services, stream).await;
    assert_eq!(seen[0].status(), OrderStatus::Pending, "{seen:?}");
    assert_forward_to_delivered(&seen);
    let last = seen.last().expect("views");
    assert_eq!(
        last.shipment.as_ref().expect("shipment").status,
        "DELIVERED"
    );

    // REST agrees, and the parcel has left: too late to cancel.
    services.wait_for_status(&order.order_id, "DELIVERED").await;
    let status = client
        .cancel_order(CancelOrderRequest {
            order_id: order.order_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let failure = status
        .get_details_precondition_failure()
        .expect("PreconditionFailure details");
    assert_eq!(failure.violations[0].r#type, "SHIPPED");

    // Watching a final order: its view, then the end.
    let mut again = watch(&mut client, &order.order_id).await;
    let now = next(&mut again, &[]).await.expect("the current view");
    assert_eq!(now.status(), OrderStatus::Delivered);
    assert!(next(&mut again, &[now]).await.is_none());
}

#[tokio::test]
async fn a_stream_on_a_second_instance_sees_what_the_first_did() {
    let mut services = Services::start().await;
    let second = services.start_replica(Service::Order).await;
    let mut first_client = services.grpc().await;
    let mut second_client = services.grpc_of(second).await;

    // Placed on the first, followed on the second to DELIVERED.
    let order = first_client
        .place_order(place_request(&customer(), 1_000))
        .await
        .expect("PlaceOrder")
        .into_inner();
    let stream = watch(&mut second_client, &order.order_id).await;
    let seen = follow_to_the_end(&services, stream).await;
    assert_forward_to_delivered(&seen);

    // Cancelled through the first instance while the second watches.
    let order = first_client
        .place_order(place_request(&customer(), 2_000))
        .await
        .expect("PlaceOrder")
        .into_inner();
    let mut stream = watch(&mut second_client, &order.order_id).await;
    let mut seen = vec![next(&mut stream, &[]).await.expect("the current view")];
    first_client
        .cancel_order(CancelOrderRequest {
            order_id: order.order_id.clone(),
        })
        .await
        .expect("CancelOrder");
    while let Some(order) = next(&mut stream, &seen).await {
        seen.push(order);
    }
    let last = seen.last().expect("views");
    assert_eq!(last.status(), OrderStatus::Cancelled, "{seen:?}");
    assert_eq!(
        last.cancellation_reason.as_deref(),
        Some("CUSTOMER_REQUEST")
    );
}

#[tokio::test]
async fn the_trace_of_an_order_placed_over_grpc_spans_all_three_services() {
    // At the harness's quiet log level: the trace must not depend on it.
    let services = Services::start().await;
    let mut client = services.grpc().await;
    let (traceparent, trace) = new_trace();
    let mut request = Request::new(place_request(&customer(), 990));
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().expect("ASCII"));
    let order = client
        .place_order(request)
        .await
        .expect("PlaceOrder")
        .into_inner();
    services.wait_until_scheduled(&order.order_id).await;

    // OrderPlaced (order-service), PaymentAuthorized (payment), ShipmentScheduled (shipping).
    let seen = services.trace_ids_by_event(&order.order_id).await;
    let mut types: Vec<&str> = seen.iter().map(|(t, _)| t.as_str()).collect();
    types.sort_unstable();
    assert_eq!(
        types,
        ["OrderPlaced", "PaymentAuthorized", "ShipmentScheduled"]
    );
    for (event_type, trace_id) in &seen {
        assert_eq!(
            trace_id.as_ref(),
            Some(&trace),
            "{event_type} does not continue the gRPC caller's trace"
        );
    }
}

#[tokio::test]
async fn a_stream_ends_unavailable_when_its_instance_stops() {
    let mut services = Services::start().await;
    let mut client = services.grpc().await;
    let order = client
        .place_order(place_request(&customer(), 3_000))
        .await
        .expect("PlaceOrder")
        .into_inner();
    services.wait_until_scheduled(&order.order_id).await;
    let mut stream = watch(&mut client, &order.order_id).await;
    let now = next(&mut stream, &[]).await.expect("the current view");
    assert_eq!(now.status(), OrderStatus::ShipmentScheduled);

    // The held stream does not hold up the graceful stop, and tells the client to go elsewhere.
    services.stop(Service::Order).await;
    let status = tokio::time::timeout(FLOW_TIMEOUT, stream.message())
        .await
        .expect("the stream ended")
        .expect_err("no view after the stop");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    // Said by the server, not a connection lost halfway.
    assert!(status.message().contains("watch again"), "{status:?}");
}
