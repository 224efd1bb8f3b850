//! `orderflow events` on the real stack: it decodes every event of the flows a test placed,
//! filters by key, type and time, and shows a poison record with the reason it is one.

use orderflow_tests::{
    cli::Orderflow,
    fixtures::produce,
    services::{customer, order_body, Options, Services},
    wait_until,
};
use reqwest::StatusCode;
use schemas::Topic;
use serde_json::Value;
use std::{collections::BTreeSet, time::Duration};

/// The short event types of `records`.
fn types(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r["event_type"].as_str())
        .map(|t| t.rsplit('.').next().unwrap_or_default().to_owned())
        .collect()
}

fn keys(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r["key"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn events_decodes_every_event_of_a_flow_and_filters_by_key_type_and_time() {
    let options = Options {
        payment_limit_cents: Some(5_000),
        ..Options::default()
    };
    let services = Services::start_with(orderflow_tests::Env::from_env(), options).await;
    let cli = Orderflow::for_services(&services);

    let delivered = services.place_and_deliver(1_500).await;
    let after_delivered = chrono::Utc::now();

    // Cancelled by the customer after scheduling: the refund path.
    let cancelled = services.place(&order_body(&customer(), 2_000)).await;
    let cancelled = cancelled["order_id"].as_str().unwrap().to_owned();
    services.wait_until_scheduled(&cancelled).await;
    assert_eq!(
        services.cancel(&cancelled).await.status(),
        StatusCode::ACCEPTED
    );
    // Declined above the limit.
    let declined = services.place(&order_body(&customer(), 9_000)).await;
    let declined = declined["order_id"].as_str().unwrap().to_owned();
    services.wait_for_status(&declined, "CANCELLED").await;

    let expected: BTreeSet<String> = [
        "OrderPlaced",
        "PaymentAuthorized",
        "ShipmentScheduled",
        "ShipmentDispatched",
        "ShipmentDelivered",
        "OrderCancellationRequested",
        "CancellationAccepted",
        "ShipmentCancelled",
        "OrderCancelled",
        "PaymentRefunded",
        "PaymentDeclined",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let all = wait_until(
        Duration::from_secs(120),
        "every event type of the three flows on the topics",
        || async {
            let records = cli.json(&["events"]).await;
            (types(&records) == expected).then_some(records)
        },
    )
    .await;
    for record in &all {
        assert!(record["error"].is_null(), "undecodable: {record}");
        let topic = record["topic"].as_str().unwrap();
        let event_type = record["event_type"].as_str().unwrap();
        assert_eq!(
            record["subject"],
            format!("{topic}-{event_type}"),
            "TopicRecordNameStrategy subject"
        );
        assert!(record["schema_id"].as_u64().is_some(), "{record}");
        assert_eq!(record["headers"]["event_type"], event_type);
        assert_eq!(record["value"]["order_id"], record["key"]);
        assert_eq!(record["value"]["event_id"], record["headers"]["event_id"]);
    }
    assert_eq!(
        keys(&all),
        [&delivered, &cancelled, &declined]
            .map(|k| k.clone())
            .into()
    );

    // By key: exactly the delivered order's five events.
    let by_key = cli.json(&["events", "--key", &delivered]).await;
    assert_eq!(keys(&by_key), [delivered.clone()].into());
    assert_eq!(by_key.len(), 5, "{by_key:#?}");

    // By type, and by type with a limit.
    let declines = cli.json(&["events", "--type", "PaymentDeclined"]).await;
    assert_eq!(declines.len(), 1);
    assert_eq!(declines[0]["key"], declined.as_str());
    let placed = cli
        .json(&[
            "events",
            "--type",
            "orderflow.orders.OrderPlaced",
            "--limit",
            "2",
        ])
        .await;
    assert_eq!(placed.len(), 2);
    assert_eq!(types(&placed), ["OrderPlaced".to_owned()].into());

    // By time: nothing of the delivered order, everything of the later two.
    let since = after_delivered.to_rfc3339();
    let later = cli.json(&["events", "--from", &since]).await;
    assert_eq!(keys(&later), [cancelled.clone(), declined.clone()].into());

    // A poison record is shown with its reason, and the records after it still decode.
    let poison_key = uuid::Uuid::new_v4().to_string();
    let orders = services.topic(Topic::Orders);
    produce(&services.iso.env, &orders, Some(&poison_key), b"not avro").await;
    let after = services.place(&order_body(&customer(), 100)).await;
    let after = after["order_id"].as_str().unwrap().to_owned();
    let records = wait_until(
        Duration::from_secs(60),
        "the order placed after the poison record",
        || async {
            let records = cli.json(&["events", "--topic", "orders"]).await;
            keys(&records).contains(&after).then_some(records)
        },
    )
    .await;
    let poison: Vec<&Value> = records
        .iter()
        .filter(|r| r["key"] == poison_key.as_str())
        .collect();
    assert_eq!(poison.len(), 1, "{records:#?}");
    assert!(poison[0]["value"].is_null());
    let reason = poison[0]["error"].as_str().unwrap();
    assert!(reason.starts_with("InvalidWireFormat"), "{reason}");
    assert!(records
        .iter()
        .filter(|r| r["key"] != poison_key.as_str())
        .all(|r| r["error"].is_null()));

    // The payment service dead-lettered it; the DLQ shows it with its dlq.* headers.
    let dead = wait_until(Duration::from_secs(60), "the dead letter", || async {
        let records = cli
            .json(&[
                "events",
                "--topic",
                "payment-service.dlq",
                "--key",
                &poison_key,
            ])
            .await;
        (!records.is_empty()).then_some(records)
    })
    .await;
    assert_eq!(dead[0]["headers"]["dlq.error.class"], "InvalidWireFormat");
    assert_eq!(dead[0]["headers"]["dlq.original.topic"], orders.as_str());
    assert!(dead[0]["error"]
        .as_str()
        .unwrap()
        .starts_with("InvalidWireFormat"));
}

#[tokio::test]
async fn malformed_flags_are_refused_by_clap_with_exit_2() {
    let iso = orderflow_tests::fixtures::Isolated::new(orderflow_tests::Env::from_env(), &[]).await;
    let cli = Orderflow::for_isolated(&iso);
    for args in [
        &["events", "--from", "yesterday"][..],
        &["events", "--type", "NoSuchEvent"],
        &["events", "--limit", "many"],
        &["order", "not-a-uuid"],
        &["offsets", "reset", "--group", "g"],
        &["dlq", "redrive", "--group", "g"],
        &["no-such-command"],
    ] {
        let run = cli.run(args).await;
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        // clap's message: what is wrong, and the usage or the pointer to --help.
        assert!(
            run.stderr.starts_with("error: "),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("--help"), "{args:?}: {}", run.stderr);
    }
}

#[tokio::test]
async fn unreachable_kafka_registry_or_database_is_an_error_naming_the_address() {
    let iso = orderflow_tests::fixtures::Isolated::new(orderflow_tests::Env::from_env(), &[]).await;
    let cli = Orderflow::for_isolated(&iso);
    // Nothing listens on port 1.
    for (args, address) in [
        (
            &["--bootstrap-servers", "127.0.0.1:1", "events"][..],
            "127.0.0.1:1",
        ),
        (
            &[
                "--registry-url",
                "http://127.0.0.1:1/apis/ccompat/v7",
                "events",
            ],
            "http://127.0.0.1:1",
        ),
        (
            &[
                "--orders-db",
                "postgres://orderflow:orderflow@127.0.0.1:1/orders",
                "order",
                "00000000-0000-0000-0000-000000000001",
            ],
            "127.0.0.1:1/orders",
        ),
    ] {
        let started = std::time::Instant::now();
        let run = cli.run(args).await;
        assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
        assert!(run.stderr.contains(address), "{args:?}: {}", run.stderr);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn follow_prints_records_as_they_arrive() {
    let iso = orderflow_tests::fixtures::Isolated::new(orderflow_tests::Env::from_env(), &[]).await;
    let cli = Orderflow::for_isolated(&iso);
    let topic = iso.topic(Topic::Orders);
    let order = uuid::Uuid::new_v4();
    let value = iso
        .framed(
            &orderflow_tests::fixtures::event(order, "CUSTOMER_REQUEST"),
            &topic,
        )
        .await;
    let key = order.to_string();
    let follow = cli.run(&[
        "events", "--topic", "orders", "--from", "latest", "--follow", "--limit", "1",
    ]);
    tokio::pin!(follow);
    // Nothing says when the follower has its partitions, so a record goes out every half
    // second until it prints one; it started at the end, so only these can show.
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let run = loop {
        tokio::select! {
            run = &mut follow => break run,
            _ = tick.tick() => produce(&iso.env, &topic, Some(&key), &value).await,
        }
    };
    let records = run.success();
    assert_eq!(records.len(), 1, "--limit 1 ends the follow");
    assert_eq!(records[0]["key"], key.as_str());
    assert_eq!(records[0]["value"]["reason"], "CUSTOMER_REQUEST");
}
