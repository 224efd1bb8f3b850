//! The gRPC contract of order-service as a tonic client sees it: placing, reading, listing and
//! cancelling; the idempotency key shared with REST; every REST validation rule answered with
//! INVALID_ARGUMENT naming the same field; unknown ids, oversize messages, deadlines, and the
//! database going away.

use orderflow_proto::v1::{
    orders_client::OrdersClient, CancelOrderRequest, GetOrderRequest, Item, ListOrdersRequest,
    Order, OrderStatus, PlaceOrderRequest, WatchOrderRequest,
};
use orderflow_tests::{
    services::{customer, expect_json, expect_problem, place_request, Services},
    wait_until,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tonic::{transport::Channel, Code, Request, Status};
use tonic_health::pb::{
    health_check_response::ServingStatus, health_client::HealthClient, HealthCheckRequest,
};
use tonic_types::StatusExt;

fn item(sku: &str, quantity: i32, unit_price_cents: i64) -> Item {
    Item {
        sku: sku.into(),
        quantity,
        unit_price_cents,
    }
}

/// The same order as REST's JSON body.
fn rest_body(request: &PlaceOrderRequest) -> Value {
    let items: Vec<Value> = request
        .items
        .iter()
        .map(|i| json!({"sku": i.sku, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents}))
        .collect();
    json!({"customer_id": request.customer_id, "currency": request.currency, "items": items})
}

fn with_key<T>(message: T, key: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("idempotency-key", key.parse().expect("ASCII key"));
    request
}

/// The fields an INVALID_ARGUMENT names in its `google.rpc.BadRequest`, in order.
fn violated_fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad_request = status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("INVALID_ARGUMENT without BadRequest details: {status:?}"));
    bad_request
        .field_violations
        .iter()
        .map(|v| {
            assert!(!v.description.is_empty(), "violation without description");
            v.field.clone()
        })
        .collect()
}

/// The fields of REST's 422 for the same body.
async fn rest_fields(services: &Services, body: &Value) -> Vec<String> {
    let problem = expect_problem(
        services.post_order(body, &[]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    problem["errors"]
        .as_array()
        .expect("422 with errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field").to_owned())
        .collect()
}

async fn list(
    client: &mut OrdersClient<Channel>,
    request: ListOrdersRequest,
) -> Result<(Vec<Order>, Option<String>), Status> {
    let page = client.list_orders(request).await?.into_inner();
    Ok((page.items, page.next_cursor))
}

#[tokio::test]
async fn a_client_places_gets_lists_and_cancels_orders() {
    let services = Services::start().await;
    let mut client = services.grpc().await;
    let customer = customer();

    let mut placed = Vec::new();
    for total in [1_000, 2_000, 3_000] {
        let order = client
            .place_order(place_request(&customer, total))
            .await
            .expect("PlaceOrder")
            .into_inner();
        assert_eq!(order.status(), OrderStatus::Pending);
        assert_eq!(order.customer_id, customer);
        assert_eq!(order.total_cents, total);
        assert_eq!(order.items, [item("sku-1", 1, total)]);
        assert!(order.created_at.is_some() && order.updated_at.is_some());
        placed.push(order);
    }

    // GetOrder reads what REST reads.
    let got = client
        .get_order(GetOrderRequest {
            order_id: placed[0].order_id.clone(),
        })
        .await
        .expect("GetOrder")
        .into_inner();
    assert_eq!(got.order_id, placed[0].order_id);
    assert_eq!(got.total_cents, 1_000);
    let rest = services.order(&got.order_id).await;
    assert_eq!(rest["customer_id"], got.customer_id.as_str());
    assert_eq!(rest["total_cents"], got.total_cents);

    // ListOrders pages newest first, with the same cursor as REST.
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (items, next) = list(
            &mut client,
            ListOrdersRequest {
                customer_id: Some(customer.clone()),
                limit: Some(2),
                cursor: cursor.clone(),
                ..Default::default()
            },
        )
        .await
        .expect("ListOrders");
        seen.extend(items.into_iter().map(|o| o.order_id));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<String> = placed.iter().rev().map(|o| o.order_id.clone()).collect();
    assert_eq!(seen, newest_first);
    let rest_ids: Vec<Value> = services
        .list_orders(&customer, 2)
        .await
        .iter()
        .map(|o| o["order_id"].clone())
        .collect();
    assert_eq!(rest_ids, newest_first);
    let (pending, _) = list(
        &mut client,
        ListOrdersRequest {
            customer_id: Some(customer.clone()),
            status: OrderStatus::Delivered.into(),
            ..Default::default()
        },
    )
    .await
    .expect("ListOrders by status");
    assert!(pending.is_empty(), "{pending:?}");

    // CancelOrder asks shipping; the order ends CANCELLED, which a watch shows.
    let cancelled = client
        .cancel_order(CancelOrderRequest {
            order_id: placed[1].order_id.clone(),
        })
        .await
        .expect("CancelOrder")
        .into_inner();
    assert!(!cancelled.already_cancelled);
    assert_eq!(
        cancelled.order.expect("the order").order_id,
        placed[1].order_id
    );
    let mut stream = client
        .watch_order(WatchOrderRequest {
            order_id: placed[1].order_id.clone(),
        })
        .await
        .expect("WatchOrder")
        .into_inner();
    let last = tokio::time::timeout(Duration::from_secs(120), async {
        let mut last = None;
        while let Some(order) = stream.message().await.expect("a stream without error") {
            last = Some(order);
        }
        last
    })
    .await
    .expect("the stream ended within 2 minutes")
    .expect("at least the current view");
    assert_eq!(last.status(), OrderStatus::Cancelled);
    assert_eq!(
        last.cancellation_reason.as_deref(),
        Some("CUSTOMER_REQUEST")
    );
    // The request's outcome, as REST shows it.
    let cancellation = last
        .cancellation
        .expect("the cancellation request's outcome");
    assert_eq!(cancellation.status, "ACCEPTED");
    assert_eq!(cancellation.reason, None);
    let again = client
        .cancel_order(CancelOrderRequest {
            order_id: placed[1].order_id.clone(),
        })
        .await
        .expect("CancelOrder again")
        .into_inner();
    assert!(again.already_cancelled);

    // A watch with a deadline: the view now, then DEADLINE_EXCEEDED when it passes (the order,
    // scheduled, waits for a dispatch that does not come).
    services.wait_until_scheduled(&placed[2].order_id).await;
    let mut request = Request::new(WatchOrderRequest {
        order_id: placed[2].order_id.clone(),
    });
    request.set_timeout(Duration::from_secs(2));
    let started = Instant::now();
    let mut stream = client
        .watch_order(request)
        .await
        .expect("WatchOrder")
        .into_inner();
    let now = stream.message().await.expect("the view").expect("a view");
    assert_eq!(now.status(), OrderStatus::ShipmentScheduled);
    let expired = tokio::time::timeout(Duration::from_secs(60), stream.message())
        .await
        .expect("the stream ends soon after its deadline")
        .expect_err("no further view");
    assert_eq!(expired.code(), Code::DeadlineExceeded, "{expired:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));

    // Unknown ids: NOT_FOUND on every call that takes one.
    let unknown = uuid::Uuid::now_v7().to_string();
    let get = client
        .get_order(GetOrderRequest {
            order_id: unknown.clone(),
        })
        .await
        .unwrap_err();
    let cancel = client
        .cancel_order(CancelOrderRequest {
            order_id: unknown.clone(),
        })
        .await
        .unwrap_err();
    let watch = client
        .watch_order(WatchOrderRequest { order_id: unknown })
        .await
        .expect_err("no stream for an unknown order");
    for status in [get, cancel, watch] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
    }
}

#[tokio::test]
async fn one_idempotency_key_over_grpc_twice_and_rest_once_gives_one_order() {
    let services = Services::start().await;
    let mut client = services.grpc().await;
    let customer = customer();
    let key = format!("key-{}", uuid::Uuid::new_v4());
    let request = place_request(&customer, 4_200);

    let first = client
        .place_order(with_key(request.clone(), &key))
        .await
        .expect("first PlaceOrder")
        .into_inner();
    let second = client
        .place_order(with_key(request.clone(), &key))
        .await
        .expect("second PlaceOrder")
        .into_inner();
    let rest = expect_json(
        services
            .post_order(&rest_body(&request), &[("Idempotency-Key", &key)])
            .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(second.order_id, first.order_id);
    assert_eq!(rest["order_id"], first.order_id.as_str());
    assert_eq!(services.list_orders(&customer, 50).await.len(), 1);

    // The key with another request: ALREADY_EXISTS over gRPC, as REST refuses it too.
    let other = place_request(&customer, 4_201);
    let status = client
        .place_order(with_key(other.clone(), &key))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    expect_problem(
        services
            .post_order(&rest_body(&other), &[("Idempotency-Key", &key)])
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;

    // A malformed key is an invalid argument named like the metadata.
    let long = "k".repeat(256);
    for bad in [long.as_str(), "two words"] {
        let status = client
            .place_order(with_key(request.clone(), bad))
            .await
            .unwrap_err();
        assert_eq!(violated_fields(&status), ["idempotency-key"]);
    }
    assert_eq!(services.list_orders(&customer, 50).await.len(), 1);
}

#[tokio::test]
async fn every_rest_validation_rule_gives_invalid_argument_naming_the_field() {
    let services = Services::start().await;
    let mut client = services.grpc().await;
    let customer = customer();
    let valid = place_request(&customer, 100);
    let with = |change: &dyn Fn(&mut PlaceOrderRequest)| {
        let mut request = valid.clone();
        change(&mut request);
        request
    };
    let cases: Vec<(PlaceOrderRequest, &[&str])> = vec![
        (with(&|r| r.customer_id.clear()), &["customer_id"]),
        (
            with(&|r| r.customer_id = "bad id!".into()),
            &["customer_id"],
        ),
        (with(&|r| r.customer_id = "c".repeat(65)), &["customer_id"]),
        (with(&|r| r.currency.clear()), &["currency"]),
        (with(&|r| r.currency = "eur".into()), &["currency"]),
        (with(&|r| r.currency = "EURO".into()), &["currency"]),
        (with(&|r| r.items.clear()), &["items"]),
        (with(&|r| r.items = vec![item("a", 1, 1); 101]), &["items"]),
        (with(&|r| r.items[0].sku.clear()), &["items[0].sku"]),
        (with(&|r| r.items[0].sku = "a b".into()), &["items[0].sku"]),
        (with(&|r| r.items[0].quantity = 0), &["items[0].quantity"]),
        (
            with(&|r| r.items[0].quantity = 1001),
            &["items[0].quantity"],
        ),
        (
            with(&|r| r.items[0].unit_price_cents = -1),
            &["items[0].unit_price_cents"],
        ),
        (
            with(&|r| r.items[0].unit_price_cents = 100_000_001),
            &["items[0].unit_price_cents"],
        ),
        (
            PlaceOrderRequest {
                customer_id: "bad id!".into(),
                currency: "eur".into(),
                items: vec![item("ok", 1, 1), item("", 0, -1)],
            },
            &[
                "customer_id",
                "currency",
                "items[1].sku",
                "items[1].quantity",
                "items[1].unit_price_cents",
            ],
        ),
    ];
    for (request, expected) in cases {
        let status = client.place_order(request.clone()).await.unwrap_err();
        let fields = violated_fields(&status);
        assert_eq!(fields, expected, "{request:?}");
        for field in expected {
            assert!(status.message().contains(field), "{status:?}");
        }
        // The same rule, the same field names as REST's 422.
        assert_eq!(fields, rest_fields(&services, &rest_body(&request)).await);
    }

    // The list filters: the same rules as REST's query.
    let list_cases: Vec<(ListOrdersRequest, &str, &str)> = vec![
        (
            ListOrdersRequest {
                status: 99,
                ..Default::default()
            },
            "status",
            "status=LOST",
        ),
        (
            ListOrdersRequest {
                limit: Some(0),
                ..Default::default()
            },
            "limit",
            "limit=0",
        ),
        (
            ListOrdersRequest {
                limit: Some(201),
                ..Default::default()
            },
            "limit",
            "limit=201",
        ),
        (
            ListOrdersRequest {
                cursor: Some("not-a-cursor".into()),
                ..Default::default()
            },
            "cursor",
            "cursor=not-a-cursor",
        ),
    ];
    for (request, field, query) in list_cases {
        let status = list(&mut client, request).await.unwrap_err();
        assert_eq!(violated_fields(&status), [field]);
        let response = services
            .http
            .get(services.url(
                orderflow_tests::services::Service::Order,
                &format!("/orders?{query}"),
            ))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field);
    }

    // A malformed order id is an invalid `order_id`, not a missing order.
    let get = client
        .get_order(GetOrderRequest {
            order_id: "42".into(),
        })
        .await
        .unwrap_err();
    let cancel = client
        .cancel_order(CancelOrderRequest {
            order_id: "42".into(),
        })
        .await
        .unwrap_err();
    let watch = client
        .watch_order(WatchOrderRequest {
            order_id: String::new(),
        })
        .await
        .expect_err("no stream for a malformed id");
    for status in [get, cancel, watch] {
        assert_eq!(violated_fields(&status), ["order_id"]);
    }

    // A message over the size limit (64 KiB) is refused before it is decoded.
    let huge = with(&|r| r.items[0].sku = "s".repeat(70 * 1024));
    let status = client.place_order(huge).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );

    // Nothing of all this was written.
    assert!(services.list_orders(&customer, 50).await.is_empty());
}

/// Waits until order-service's gRPC health for `orderflow.v1.Orders` is `expected`.
async fn wait_for_health(services: &Services, expected: ServingStatus) {
    let endpoint = format!(
        "http://{}",
        services.grpc_address(services.first_order_service())
    );
    let channel = Channel::from_shared(endpoint)
        .expect("a valid endpoint")
        .connect()
        .await
        .expect("gRPC reachable");
    let health = HealthClient::new(channel);
    wait_until(
        Duration::from_secs(30),
        &format!("gRPC health {expected:?}"),
        || {
            let mut health = health.clone();
            async move {
                let response = health
                    .check(HealthCheckRequest {
                        service: "orderflow.v1.Orders".into(),
                    })
                    .await
                    .ok()?;
                (response.into_inner().status() == expected).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn calls_while_the_database_is_down_are_unavailable_and_recover() {
    let services = Services::start().await;
    let mut client = services.grpc().await;
    let order = client
        .place_order(place_request(&customer(), 500))
        .await
        .expect("PlaceOrder")
        .into_inner();
    let get = GetOrderRequest {
        order_id: order.order_id.clone(),
    };

    // order-service's own database refuses connections and drops the ones it has; the
    // server and every other test's database stay up.
    let database = services
        .iso
        .database_url
        .rsplit('/')
        .next()
        .expect("a database name")
        .to_owned();
    let (admin, connection) =
        tokio_postgres::connect(&services.iso.env.admin_database_url, tokio_postgres::NoTls)
            .await
            .expect("admin connection");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {database} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ))
        .await
        .expect("database closed");
    // A pooled connection may fail the first call before the pool sees it is gone.
    let status = wait_until(
        Duration::from_secs(30),
        "GetOrder to be UNAVAILABLE",
        || {
            let (mut client, get) = (client.clone(), get.clone());
            async move {
                match client.get_order(get).await {
                    Err(status) if status.code() == Code::Unavailable => Some(status),
                    _ => None,
                }
            }
        },
    )
    .await;
    assert!(!status.message().contains("postgres"), "{status:?}");
    let place = client
        .place_order(place_request(&customer(), 600))
        .await
        .unwrap_err();
    assert_eq!(place.code(), Code::Unavailable, "{place:?}");
    // The health service follows the readiness checks: a client or balancer can tell.
    wait_for_health(&services, ServingStatus::NotServing).await;

    admin
        .batch_execute(&format!("ALTER DATABASE {database} ALLOW_CONNECTIONS true"))
        .await
        .expect("database reopened");
    let back = wait_until(Duration::from_secs(30), "GetOrder to answer again", || {
        let (mut client, get) = (client.clone(), get.clone());
        async move { client.get_order(get).await.ok() }
    })
    .await
    .into_inner();
    assert_eq!(back.order_id, order.order_id);
    wait_for_health(&services, ServingStatus::Serving).await;
}
