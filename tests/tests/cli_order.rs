//! `orderflow order <id>` on the real stack: the whole story of a delivered and of a declined
//! order, an injected divergence flagged, and an unknown order refused.

use orderflow_tests::{
    cli::Orderflow,
    services::{customer, expect_json, order_body, Options, Service, Services},
    wait_until,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

/// The short event types of a story's events, in the order shown.
fn types(story: &Value) -> Vec<String> {
    story["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let t = e["event_type"].as_str().unwrap_or("UNDECODABLE");
            t.rsplit('.').next().unwrap().to_owned()
        })
        .collect()
}

async fn story(cli: &Orderflow, order_id: &str) -> Value {
    let mut lines = cli.json(&["order", order_id]).await;
    assert_eq!(lines.len(), 1, "one JSON object per order: {lines:#?}");
    lines.remove(0)
}

#[tokio::test]
async fn order_tells_the_story_of_a_delivered_and_a_declined_order_and_flags_divergences() {
    let options = Options {
        payment_limit_cents: Some(5_000),
        // Trace ids travel only at info and above (see the trace tests).
        rust_log: "info".into(),
        ..Options::default()
    };
    let mut services = Services::start_with(orderflow_tests::Env::from_env(), options).await;
    let cli = Orderflow::for_services(&services);

    let delivered = services.place_and_deliver(1_500).await;

    let story_of_delivered = story(&cli, &delivered).await;
    assert_eq!(
        types(&story_of_delivered),
        [
            "OrderPlaced",
            "PaymentAuthorized",
            "ShipmentScheduled",
            "ShipmentDispatched",
            "ShipmentDelivered"
        ]
    );
    for event in story_of_delivered["events"].as_array().unwrap() {
        assert_eq!(event["applied"], true, "{event}");
        assert_eq!(event["key"], delivered.as_str());
        assert!(
            event["trace_id"].as_str().is_some_and(|t| t.len() == 32),
            "{event}"
        );
    }
    assert_eq!(story_of_delivered["read_model"]["status"], "DELIVERED");
    assert_eq!(story_of_delivered["read_model"]["version"], 5);
    assert_eq!(story_of_delivered["outbox"], serde_json::json!([]));
    assert_eq!(story_of_delivered["dead_letters"], serde_json::json!([]));
    assert_eq!(story_of_delivered["divergences"], serde_json::json!([]));
    assert!(story_of_delivered["verdict"]
        .as_str()
        .unwrap()
        .starts_with("consistent"));

    let declined = services.place(&order_body(&customer(), 9_000)).await;
    let declined = declined["order_id"].as_str().unwrap().to_owned();
    services.wait_for_settled(&declined, "CANCELLED", 3).await;
    let story_of_declined = story(&cli, &declined).await;
    let mut declined_types = types(&story_of_declined);
    assert_eq!(declined_types.remove(0), "OrderPlaced");
    declined_types.sort();
    assert_eq!(declined_types, ["OrderCancelled", "PaymentDeclined"]);
    assert_eq!(story_of_declined["read_model"]["status"], "CANCELLED");
    assert_eq!(story_of_declined["read_model"]["version"], 3);
    assert_eq!(story_of_declined["divergences"], serde_json::json!([]));

    // The projector stops (with its service) while an event of the order still arrives.
    let stuck = services.place(&order_body(&customer(), 1_000)).await;
    let stuck = stuck["order_id"].as_str().unwrap().to_owned();
    let scheduled = services.wait_until_scheduled(&stuck).await;
    let shipment = scheduled["shipment"]["shipment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    services.stop(Service::Order).await;
    expect_json(
        services.shipment_action(&shipment, "dispatch").await,
        StatusCode::ACCEPTED,
    )
    .await;
    let diverged = wait_until(Duration::from_secs(60), "the dispatch on Kafka", || async {
        let s = story(&cli, &stuck).await;
        types(&s)
            .contains(&"ShipmentDispatched".to_owned())
            .then_some(s)
    })
    .await;
    let dispatched = diverged["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "orderflow.shipments.ShipmentDispatched")
        .unwrap();
    assert_eq!(dispatched["applied"], false);
    assert_eq!(diverged["read_model"]["status"], "SHIPMENT_SCHEDULED");
    let divergences = diverged["divergences"].as_array().unwrap();
    assert_eq!(divergences.len(), 1, "{divergences:?}");
    assert!(
        divergences[0]
            .as_str()
            .unwrap()
            .contains("ShipmentDispatched")
            && divergences[0].as_str().unwrap().contains("not applied"),
        "{divergences:?}"
    );
    assert_eq!(diverged["verdict"], "1 divergence(s)");

    // A row left unpublished in the outbox (its relay stopped with the service) an hour ago.
    let db = services.iso.client().await;
    let stale_event = uuid::Uuid::new_v4();
    db.execute(
        "INSERT INTO outbox (event_id, topic, message_key, event_type, payload, schema_version,
                             created_at)
         VALUES ($1, 'orders', $2, 'orderflow.orders.OrderCancelled', '\\x00', 1,
                 now() - interval '1 hour')",
        &[&stale_event, &stuck],
    )
    .await
    .unwrap();
    let stale = story(&cli, &stuck).await;
    assert_eq!(stale["outbox"][0]["service"], "order-service", "{stale}");
    assert_eq!(stale["outbox"][0]["event_id"], stale_event.to_string());
    assert!(stale["outbox"][0]["age_secs"].as_f64().unwrap() >= 3600.0);
    let divergences = stale["divergences"].as_array().unwrap();
    assert_eq!(divergences.len(), 2, "{divergences:?}");
    assert!(
        divergences[1].as_str().unwrap().contains("unpublished for"),
        "{divergences:?}"
    );

    // An order nobody placed.
    let unknown = uuid::Uuid::new_v4().to_string();
    let run = cli.run(&["order", &unknown]).await;
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains(&format!("no such order {unknown}")),
        "{}",
        run.stderr
    );
}
