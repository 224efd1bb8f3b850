//! The REST contract as a client sees it: every bad input answered with problem+json,
//! idempotent placing, the 409s of the shipment and order state machines, reading one's own
//! writes, and the long poll.

use futures::{stream, StreamExt};
use orderflow_tests::services::{
    customer, etag, expect_json, expect_problem, order_body, Service, Services,
};
use reqwest::{header, StatusCode};
use schemas::{EventType, Group, Topic};
use serde_json::{json, Value};
use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};
use tokio::time::Instant;

/// The `field`s of a 422 problem.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("422 without errors: {problem}"))
        .iter()
        .map(|e| {
            assert!(e["message"].is_string(), "error without message: {e}");
            e["field"].as_str().expect("error with a field").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_bad_input_is_answered_with_a_problem() {
    let services = Services::start().await;
    let http = &services.http;
    let orders = services.url(Service::Order, "/orders");

    // Malformed JSON: 400.
    for malformed in [
        r#"{"customer_id": "c-1", "currency": "#,
        r#"{"customer_id": "c-1",}"#,
        r#"{"customer_id": "c-1"} trailing"#,
        "",
    ] {
        let response = http
            .post(&orders)
            .header(header::CONTENT_TYPE, "application/json")
            .body(malformed)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }

    // Any media type but application/json, or none: 415.
    let valid = order_body("c-1", 100).to_string();
    for content_type in [Some("text/plain"), Some("application/xml"), None] {
        let mut request = http.post(&orders).body(valid.clone());
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = request.send().await.unwrap();
        expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    // ...while parameters of application/json are fine.
    let response = http
        .post(&orders)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(valid.clone())
        .send()
        .await
        .unwrap();
    expect_json(response, StatusCode::ACCEPTED).await;

    // A body over 64 KiB, otherwise valid JSON: 413.
    let mut large = order_body("c-1", 100);
    large["padding"] = json!("x".repeat(64 * 1024));
    let response = http
        .post(&orders)
        .header(header::CONTENT_TYPE, "application/json")
        .body(large.to_string())
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;

    // Each invalid field alone: 422 naming it.
    let item = |sku: Value, quantity: Value, price: Value| json!([{"sku": sku, "quantity": quantity, "unit_price_cents": price}]);
    let ok_items = item(json!("sku-1"), json!(1), json!(100));
    let cases: Vec<(&str, Value)> = vec![
        ("customer_id", json!({"currency": "EUR", "items": ok_items})),
        (
            "customer_id",
            json!({"customer_id": "", "currency": "EUR", "items": ok_items}),
        ),
        (
            "customer_id",
            json!({"customer_id": "c 1", "currency": "EUR", "items": ok_items}),
        ),
        (
            "customer_id",
            json!({"customer_id": "c/1", "currency": "EUR", "items": ok_items}),
        ),
        (
            "customer_id",
            json!({"customer_id": "é", "currency": "EUR", "items": ok_items}),
        ),
        (
            "customer_id",
            json!({"customer_id": "c".repeat(65), "currency": "EUR", "items": ok_items}),
        ),
        ("currency", json!({"customer_id": "c-1", "items": ok_items})),
        (
            "currency",
            json!({"customer_id": "c-1", "currency": "eur", "items": ok_items}),
        ),
        (
            "currency",
            json!({"customer_id": "c-1", "currency": "EURO", "items": ok_items}),
        ),
        (
            "currency",
            json!({"customer_id": "c-1", "currency": "E1R", "items": ok_items}),
        ),
        ("items", json!({"customer_id": "c-1", "currency": "EUR"})),
        (
            "items",
            json!({"customer_id": "c-1", "currency": "EUR", "items": []}),
        ),
        (
            "items",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": vec![ok_items[0].clone(); 101]}),
        ),
        (
            "items[0].sku",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!(""), json!(1), json!(100))}),
        ),
        (
            "items[0].sku",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku 1"), json!(1), json!(100))}),
        ),
        (
            "items[0].sku",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("s".repeat(65)), json!(1), json!(100))}),
        ),
        (
            "items[0].quantity",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku-1"), json!(0), json!(100))}),
        ),
        (
            "items[0].quantity",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku-1"), json!(1001), json!(100))}),
        ),
        (
            "items[0].unit_price_cents",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku-1"), json!(1), json!(-1))}),
        ),
        (
            "items[0].unit_price_cents",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku-1"), json!(1), json!(100_000_001))}),
        ),
        (
            "items[1].quantity",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": [ok_items[0].clone(), {"sku": "b", "unit_price_cents": 1}]}),
        ),
        // Well-formed JSON, wrong types.
        (
            "customer_id",
            json!({"customer_id": 17, "currency": "EUR", "items": ok_items}),
        ),
        (
            "currency",
            json!({"customer_id": "c-1", "currency": ["EUR"], "items": ok_items}),
        ),
        (
            "items",
            json!({"customer_id": "c-1", "currency": "EUR", "items": "many"}),
        ),
        (
            "items[0]",
            json!({"customer_id": "c-1", "currency": "EUR", "items": [3]}),
        ),
        (
            "items[0].sku",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!(5), json!(1), json!(100))}),
        ),
        (
            "items[0].quantity",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku-1"), json!("two"), json!(100))}),
        ),
        (
            "items[0].quantity",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku-1"), json!(1.5), json!(100))}),
        ),
        (
            "items[0].unit_price_cents",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": item(json!("sku-1"), json!(1), json!(1e30))}),
        ),
        (
            "unexpected",
            json!({"customer_id": "c-1", "currency": "EUR", "items": ok_items,
            "unexpected": true}),
        ),
        (
            "items[0].colour",
            json!({"customer_id": "c-1", "currency": "EUR",
            "items": [{"sku": "a", "quantity": 1, "unit_price_cents": 1, "colour": "red"}]}),
        ),
        ("body", json!(["not", "an", "object"])),
    ];
    let mut wrong = Vec::new();
    for (field, body) in &cases {
        let problem = expect_problem(
            services.post_order(body, &[]).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        if fields(&problem) != [*field] {
            wrong.push(format!("for {body}: {problem}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Several at once: each named.
    let problem = expect_problem(
        services
            .post_order(
                &json!({"customer_id": "bad id", "currency": "eur",
                    "items": item(json!(""), json!(0), json!(-5))}),
                &[],
            )
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        fields(&problem),
        [
            "customer_id",
            "currency",
            "items[0].sku",
            "items[0].quantity",
            "items[0].unit_price_cents"
        ]
    );
    // The boundaries themselves are valid.
    services
        .place(
            &json!({"customer_id": "A.z_0-9".to_owned() + &"c".repeat(57), "currency": "USD",
            "items": item(json!("s".repeat(64)), json!(1000), json!(100_000_000))}),
        )
        .await;
    // An invalid Idempotency-Key: 422 naming the header.
    for key in ["", "has space", &"k".repeat(256), "tab\there"] {
        let response = http
            .post(&orders)
            .header("Idempotency-Key", key)
            .json(&order_body("c-1", 100))
            .send()
            .await;
        // Some keys are refused by the client itself as invalid header values.
        let Ok(response) = response else { continue };
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(fields(&problem), ["Idempotency-Key"], "key {key:?}");
    }

    // Ids: malformed 400, unknown 404, on every endpoint that takes one.
    let unknown = uuid::Uuid::new_v4();
    let paths = [
        (Service::Order, "GET", "/orders/{}"),
        (Service::Order, "GET", "/orders/{}/events"),
        (Service::Order, "POST", "/orders/{}/cancel"),
        (Service::Payment, "GET", "/payments/{}"),
        (Service::Shipping, "GET", "/shipments/{}"),
        (Service::Shipping, "POST", "/shipments/{}/dispatch"),
        (Service::Shipping, "POST", "/shipments/{}/deliver"),
    ];
    for (service, method, path) in paths {
        for (id, status) in [
            ("not-a-uuid".to_owned(), StatusCode::BAD_REQUEST),
            ("1234".to_owned(), StatusCode::BAD_REQUEST),
            (unknown.to_string(), StatusCode::NOT_FOUND),
        ] {
            let url = services.url(service, &path.replace("{}", &id));
            let request = match method {
                "GET" => http.get(&url),
                _ => http.post(&url),
            };
            let response = request.send().await.unwrap();
            expect_problem(response, status).await;
        }
    }

    // Query parameters.
    for query in [
        "limit=0",
        "limit=201",
        "limit=x",
        "limit=true",
        "limit=1.5",
        "status=LOST",
        "customer_id=no%20spaces",
        "cursor=nonsense",
        "cursor=1_0191f0a46d3e7c1a9a4e1f2d3c4b5a6",
    ] {
        let response = http
            .get(services.url(Service::Order, &format!("/orders?{query}")))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert!(
            matches!(
                status,
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
            ),
            "GET /orders?{query} answered {status}"
        );
        expect_problem(response, status).await;
    }
    for (service, path) in [
        (Service::Payment, "/payments"),
        (Service::Payment, "/payments?order_id=x"),
        (Service::Shipping, "/shipments"),
        (Service::Shipping, "/shipments?order_id=x"),
    ] {
        let response = http.get(services.url(service, path)).send().await.unwrap();
        expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    }

    // Unknown routes.
    for service in Service::ALL {
        let response = http
            .get(services.url(service, "/no/such/thing"))
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn an_idempotency_key_places_one_order_per_request_body() {
    let services = Services::start().await;
    let customer = customer();
    let body = order_body(&customer, 1_500);
    let key = [("Idempotency-Key", "order-2024-0001")];

    let first = expect_json(services.post_order(&body, &key).await, StatusCode::ACCEPTED).await;
    let order_id = first["order_id"].as_str().unwrap().to_owned();
    // The same request again, even with its members reordered: the same order.
    let reordered = json!({"items": body["items"], "currency": "EUR", "customer_id": customer});
    for again in [&body, &reordered] {
        let repeat =
            expect_json(services.post_order(again, &key).await, StatusCode::ACCEPTED).await;
        assert_eq!(repeat["order_id"], order_id.as_str());
    }
    // The same key with another body: 422.
    let other = order_body(&customer, 1_501);
    let problem = expect_problem(
        services.post_order(&other, &key).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(fields(&problem), ["Idempotency-Key"]);

    // Concurrent first uses of one key: still one order.
    let key = [("Idempotency-Key", "concurrent-key")];
    let ids: Vec<String> = stream::iter(0..8)
        .map(|_| async {
            let response = services.post_order(&body, &key).await;
            expect_json(response, StatusCode::ACCEPTED).await["order_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_ne!(ids[0], order_id);

    // Both orders went all the way (so their OrderPlaced is long published): each exactly once.
    for id in [&order_id, &ids[0]] {
        services.wait_until_scheduled(id).await;
        assert_eq!(services.payments_of(id).await.len(), 1);
    }
    let listed = services
        .orders_page(&format!("customer_id={customer}"))
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed:#}");
    // The whole orders topic of this test: one OrderPlaced for each of the two orders.
    let mut events = services.event_counts(Topic::Orders).await;
    events.retain(|(_, event), _| event == "OrderPlaced");
    let expected = HashMap::from([
        ((order_id.clone(), "OrderPlaced".to_owned()), 1),
        ((ids[0].clone(), "OrderPlaced".to_owned()), 1),
    ]);
    assert_eq!(events, expected);
}

#[tokio::test]
async fn transitions_out_of_order_are_conflicts() {
    let services = Services::start().await;
    let placed = services.place(&order_body(&customer(), 700)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let order = services.wait_until_scheduled(&order_id).await;
    let shipment_id = order["shipment"]["shipment_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Deliver before dispatch.
    expect_problem(
        services.shipment_action(&shipment_id, "deliver").await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_json(
        services.shipment_action(&shipment_id, "dispatch").await,
        StatusCode::ACCEPTED,
    )
    .await;
    // Dispatch twice.
    expect_problem(
        services.shipment_action(&shipment_id, "dispatch").await,
        StatusCode::CONFLICT,
    )
    .await;
    // Cancel after dispatch, once the client sees it shipped.
    services.wait_for_status(&order_id, "SHIPPED").await;
    expect_problem(services.cancel(&order_id).await, StatusCode::CONFLICT).await;

    expect_json(
        services.shipment_action(&shipment_id, "deliver").await,
        StatusCode::ACCEPTED,
    )
    .await;
    expect_problem(
        services.shipment_action(&shipment_id, "deliver").await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        services.shipment_action(&shipment_id, "dispatch").await,
        StatusCode::CONFLICT,
    )
    .await;
    // Placed, authorized, scheduled, dispatched, delivered: the refused requests added none.
    let order = services.wait_for_settled(&order_id, "DELIVERED", 5).await;
    expect_problem(services.cancel(&order_id).await, StatusCode::CONFLICT).await;

    // Nothing of the refused requests shows: delivered, paid, never cancelled.
    assert_eq!(order["cancellation_reason"], Value::Null);
    assert_eq!(order["payment"]["status"], "AUTHORIZED");
    let shipments = services.shipments_of(&order_id).await;
    assert_eq!(shipments.len(), 1);
    assert_eq!(shipments[0]["status"], "DELIVERED");
}

#[tokio::test]
async fn an_accepted_order_is_readable_at_once() {
    let services = Services::start().await;
    let customer = customer();
    let ids: Vec<String> = stream::iter(0..40)
        .map(|i| {
            let services = &services;
            let body = order_body(&customer, 100 + i);
            async move {
                let response = services.post_order(&body, &[]).await;
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .expect("202 with a Location")
                    .to_str()
                    .unwrap()
                    .to_owned();
                let placed = expect_json(response, StatusCode::ACCEPTED).await;
                let order_id = placed["order_id"].as_str().unwrap().to_owned();
                assert_eq!(placed["status"], "PENDING");
                assert_eq!(location, format!("/orders/{order_id}"));
                // Right away, before any consumer could have seen the order.
                let read = services
                    .http
                    .get(services.url(Service::Order, &location))
                    .send()
                    .await
                    .unwrap();
                let read = expect_json(read, StatusCode::OK).await;
                assert_eq!(read["order_id"], order_id.as_str());
                assert_eq!(read["total_cents"], 100 + i);
                assert_eq!(read["items"], body["items"]);
                services.order_events(&order_id).await;
                order_id
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    // And in the list, newest first, right away too.
    let listed: Vec<(String, String)> = services
        .list_orders(&customer, 15)
        .await
        .iter()
        .map(|item| {
            let created_at = sortable_timestamp(item["created_at"].as_str().unwrap());
            (created_at, item["order_id"].as_str().unwrap().to_owned())
        })
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    let mut sorted: Vec<String> = listed.iter().map(|(_, id)| id.clone()).collect();
    sorted.sort();
    assert_eq!(sorted, expected, "every order listed once");
    let mut newest_first = listed.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, newest_first, "newest first");
}

/// An RFC 3339 UTC timestamp as the service writes it, reduced to something that sorts like
/// the instant: the text with the fraction padded to 9 digits.
fn sortable_timestamp(timestamp: &str) -> String {
    let (seconds, rest) = timestamp
        .trim_end_matches('Z')
        .split_once('.')
        .unwrap_or((timestamp.trim_end_matches('Z'), ""));
    format!("{seconds}.{rest:0<9}")
}

#[tokio::test]
async fn a_long_poll_answers_when_the_order_changes_or_when_the_wait_is_over() {
    let services = Services::start().await;
    let placed = services.place(&order_body(&customer(), 300)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    // SHIPMENT_SCHEDULED is a resting state: nothing changes until the warehouse acts.
    let order = services.wait_until_scheduled(&order_id).await;
    let url = services.url(Service::Order, &format!("/orders/{order_id}"));
    let response = services.http.get(&url).send().await.unwrap();
    let current = etag(&response);
    assert_eq!(current, format!("\"{}\"", order["version"]));

    // The current ETag without waiting: 304 at once.
    let response = services
        .http
        .get(&url)
        .header(header::IF_NONE_MATCH, &current)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag(&response), current);

    // Nothing changes: 304 after the wait.
    let started = Instant::now();
    let response = services
        .http
        .get(&url)
        .header(header::IF_NONE_MATCH, &current)
        .header("Prefer", "wait=2")
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag(&response), current);
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(30),
        "a 2 s wait took {waited:?}"
    );

    // A change while waiting: 200 with the new representation and ETag, as soon as it is
    // applied (well before the 60 s asked for).
    let started = Instant::now();
    let poll = services
        .http
        .get(&url)
        .header(header::IF_NONE_MATCH, &current)
        .header("Prefer", "wait=60")
        .send();
    let shipment_id = order["shipment"]["shipment_id"].as_str().unwrap();
    let dispatch = async {
        expect_json(
            services.shipment_action(shipment_id, "dispatch").await,
            StatusCode::ACCEPTED,
        )
        .await
    };
    let (response, _) = tokio::join!(poll, dispatch);
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let changed = etag(&response);
    let body: Value = response.json().await.unwrap();
    assert_ne!(changed, current);
    assert_eq!(changed, format!("\"{}\"", body["version"]));
    assert_eq!(body["status"], "SHIPPED");
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the change was answered only after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn every_service_serves_health_metrics_and_its_openapi_document() {
    let services = Services::start().await;
    for service in Service::ALL {
        let get = |path: &str| services.http.get(services.url(service, path)).send();
        let live = expect_json(get("/health/live").await.unwrap(), StatusCode::OK).await;
        assert_eq!(live["status"], "live");
        let ready = expect_json(get("/health/ready").await.unwrap(), StatusCode::OK).await;
        for dependency in ["postgres", "kafka", "registry"] {
            assert_eq!(ready["checks"][dependency]["status"], "up", "{ready}");
        }
        let metrics = get("/metrics").await.unwrap();
        assert_eq!(metrics.status(), StatusCode::OK);
        let metrics = metrics.text().await.unwrap();
        assert!(metrics.contains("# TYPE"));
        // No event was placed: every counter of the service's groups is there, at zero.
        let groups: &[Group] = match service {
            Service::Order => &[Group::OrderService, Group::OrderStatusProjector],
            Service::Payment => &[Group::PaymentService],
            Service::Shipping => &[Group::ShippingService],
        };
        let mut expected = BTreeSet::new();
        for group in groups {
            for topic in group.reads() {
                for event_type in EventType::ALL.iter().filter(|t| t.topic() == *topic) {
                    expected.insert(format!(
                        "{}|{}|{}",
                        group.name(),
                        topic.name(),
                        event_type.full_name()
                    ));
                }
            }
        }
        let zeroed: BTreeSet<String> = metrics
            .lines()
            .filter_map(|line| line.strip_prefix("orderflow_events_processed_total{"))
            .filter(|line| line.ends_with("} 0"))
            .map(|line| {
                let label = |name: &str| {
                    let value = line.split(&format!("{name}=\"")).nth(1).unwrap_or_default();
                    let value = value.split('"').next().unwrap_or_default();
                    // Group and topic carry the test's namespace: `<ns><name>`.
                    value.rsplit('.').next().unwrap_or_default().to_owned()
                };
                let event_type = line.split("event_type=\"").nth(1).unwrap_or_default();
                let event_type = event_type.split('"').next().unwrap_or_default();
                format!("{}|{}|{}", label("group"), label("topic"), event_type)
            })
            .collect();
        assert_eq!(
            zeroed,
            expected,
            "{}: events_processed_total",
            service.binary()
        );
        let openapi = expect_json(get("/openapi.json").await.unwrap(), StatusCode::OK).await;
        assert!(openapi["openapi"].is_string(), "{}", service.binary());
        assert_eq!(openapi["info"]["title"], service.binary());
        // Generated from the routes: the shared ones and the service's own, with their errors
        // as problems.
        let (path, method) = match service {
            Service::Order => ("/orders/{order_id}/cancel", "post"),
            Service::Payment => ("/payments/{payment_id}", "get"),
            Service::Shipping => ("/shipments/{shipment_id}/dispatch", "post"),
        };
        let operation = &openapi["paths"][path][method];
        for status in ["400", "404", "503"] {
            assert_eq!(
                operation["responses"][status]["content"]["application/problem+json"]["schema"]
                    ["$ref"],
                "#/components/schemas/Problem",
                "{path} {status}"
            );
        }
        for shared in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] {
            assert!(openapi["paths"][shared]["get"].is_object(), "{shared}");
        }
    }
}

#[tokio::test]
async fn an_unsupported_method_on_a_known_path_is_405_with_allow() {
    let services = Services::start().await;
    let trace = reqwest::Method::from_bytes(b"TRACE").unwrap();
    for (service, path, allow) in [
        (Service::Order, "/orders", "GET, POST"),
        (
            Service::Order,
            "/orders/0191f0a4-6d3e-7c1a-9a4e-1f2d3c4b5a69",
            "GET",
        ),
        (Service::Payment, "/payments", "GET"),
        (Service::Shipping, "/shipments/x/deliver", "POST"),
    ] {
        for method in [reqwest::Method::DELETE, reqwest::Method::PUT, trace.clone()] {
            let response = services
                .http
                .request(method.clone(), services.url(service, path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response
                    .headers()
                    .get(header::ALLOW)
                    .map(|v| v.to_str().unwrap()),
                Some(allow),
                "{method} {path}"
            );
            expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
        }
    }
    // Elsewhere it stays 404.
    let response = services
        .http
        .delete(services.url(Service::Order, "/orders/x/nothing"))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_long_poll_wakes_whichever_instance_applied_the_change() {
    let mut services = Services::start().await;
    // Two order-service instances behind "one address": they share the database and the
    // projector's consumer group, so each applies the events of its own partitions.
    let second = services.start_replica(Service::Order).await;
    let placed = services.place(&order_body(&customer(), 300)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let order = services.wait_until_scheduled(&order_id).await;
    let current = format!("\"{}\"", order["version"]);
    let path = format!("/orders/{order_id}");

    // One waiter on each instance. Only one projector applies the dispatch; the other
    // instance's waiter must be woken all the same. (The change travels through the relay,
    // Kafka and a projector, so both waiters are normally held before it lands.)
    let poll = |url: String| {
        services
            .http
            .get(url)
            .header(header::IF_NONE_MATCH, &current)
            .header("Prefer", "wait=60")
            .send()
    };
    let started = Instant::now();
    let shipment_id = order["shipment"]["shipment_id"].as_str().unwrap();
    let (first, second, dispatch) = tokio::join!(
        poll(services.url(Service::Order, &path)),
        poll(services.replica_url(second, &path)),
        services.shipment_action(shipment_id, "dispatch"),
    );
    assert_eq!(dispatch.status(), StatusCode::ACCEPTED);
    for response in [first.unwrap(), second.unwrap()] {
        assert_eq!(response.status(), StatusCode::OK);
        assert_ne!(etag(&response), current);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "SHIPPED");
    }
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "a waiter was woken only by its deadline"
    );
}

/// Sends a raw HTTP/1.1 GET on a new connection (the caller reads the answer), so the test
/// knows the connection was made before whatever it does next.
async fn raw_get(port: u16, path: &str, headers: &[(&str, &str)]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("service accepts connections");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

async fn read_answer(mut stream: tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn a_held_long_poll_is_answered_when_the_service_stops() {
    // A shutdown timeout far above the wait this test allows, so only an answer given because
    // the service stopped (not one forced by the timeout) passes.
    let mut services = Services::start_with(
        orderflow_tests::Env::from_env(),
        orderflow_tests::services::Options {
            env: vec![("ORDER__HTTP__SHUTDOWN_TIMEOUT_SECS".into(), "40".into())],
            ..Default::default()
        },
    )
    .await;
    let placed = services.place(&order_body(&customer(), 300)).await;
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let order = services.wait_until_scheduled(&order_id).await;
    let current = format!("\"{}\"", order["version"]);
    let port: u16 = services
        .url(Service::Order, "")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let poll = raw_get(
        port,
        &format!("/orders/{order_id}"),
        &[("If-None-Match", &current), ("Prefer", "wait=60")],
    )
    .await;
    let poll = tokio::spawn(read_answer(poll));
    // The same long poll for 1 s on a later connection: once it is answered, the server took
    // the first poll's connection before it, and that poll is held too (reading the order
    // takes milliseconds, not a second).
    let witness = raw_get(
        port,
        &format!("/orders/{order_id}"),
        &[("If-None-Match", &current), ("Prefer", "wait=1")],
    )
    .await;
    let witness = read_answer(witness).await;
    assert!(witness.starts_with("HTTP/1.1 304"), "{witness}");

    let started = Instant::now();
    services.stop(Service::Order).await;
    let answer = poll.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopping took {:?}: the held request kept the server up",
        started.elapsed()
    );
    assert!(
        answer.starts_with("HTTP/1.1 304"),
        "the held poll got: {answer:?}"
    );
    assert!(
        answer
            .to_ascii_lowercase()
            .contains(&format!("etag: {current}")),
        "{answer}"
    );
}
