//! Traces reach a real backend: the services export over OTLP/HTTP to a Jaeger all-in-one
//! (the stack's optional `jaeger` component, on a private stack), and one order's trace, read
//! back through Jaeger's query API, holds spans of all three services with a producer span
//! for every relay hop and a consumer span for every Kafka hop.

use orderflow_tests::{
    services::{customer, order_body, Options, Services},
    stack::SecondStack,
    wait_until, Env,
};
use serde_json::Value;
use std::{collections::HashMap, time::Duration};

/// One span as Jaeger's query API returns it, with its service and tags flattened.
#[derive(Debug)]
struct Span {
    id: String,
    parent: Option<String>,
    service: String,
    tags: HashMap<String, String>,
}

impl Span {
    fn tag(&self, key: &str) -> Option<&str> {
        self.tags.get(key).map(String::as_str)
    }
}

fn spans_of(trace: &Value) -> Vec<Span> {
    let processes = &trace["processes"];
    trace["spans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|span| Span {
            id: span["spanID"].as_str().unwrap_or_default().to_owned(),
            parent: span["references"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["refType"] == "CHILD_OF")
                .and_then(|r| r["spanID"].as_str())
                .map(str::to_owned),
            service: processes[span["processID"].as_str().unwrap_or_default()]["serviceName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            tags: span["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| {
                    let value = match &t["value"] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (t["key"].as_str().unwrap_or_default().to_owned(), value)
                })
                .collect(),
        })
        .collect()
}

/// The span of `consumer` processing the event it read from `topic` (of the test's namespace).
fn consumer_span<'a>(spans: &'a [Span], topic: &str, consumer: &str) -> Option<&'a Span> {
    spans.iter().find(|c| {
        c.service == consumer
            && c.tag("span.kind") == Some("consumer")
            && c.tag("messaging.destination.name")
                .is_some_and(|t| t.ends_with(&format!(".{topic}")))
    })
}

#[tokio::test]
async fn one_order_is_one_trace_in_jaeger_across_all_services_and_kafka_hops() {
    // Port offset 130: 110 and 120 belong to the Kafka outage tests.
    let jaeger = SecondStack::up("e2e-jaeger", 130, &["jaeger"]);
    let services = Services::start_with(
        Env::from_env(),
        Options {
            rust_log: "info".into(),
            env: vec![
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                    jaeger.jaeger_otlp_endpoint(),
                ),
                // Export within a fraction of a second instead of the default 5 s.
                ("OTEL_BSP_SCHEDULE_DELAY".into(), "200".into()),
            ],
            ..Options::default()
        },
    )
    .await;
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let response = services
        .post_order(
            &order_body(&customer(), 1_250),
            &[(
                "traceparent",
                format!("00-{trace_id}-00f067aa0ba902b7-01").as_str(),
            )],
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let placed: Value = response.json().await.expect("JSON body");
    let order_id = placed["order_id"].as_str().expect("order_id").to_owned();
    services.wait_until_scheduled(&order_id).await;

    // Every hop of the flow: the relay of each service publishes (producer span) and a
    // consumer group of another service processes it (consumer span, child of the producer's).
    let hops = [
        ("orders", "payment-service"),
        ("orders", "order-service"), // the read-model projector
        ("payments", "shipping-service"),
        ("payments", "order-service"),
        ("shipments", "order-service"),
    ];
    let http = reqwest::Client::new();
    let url = format!("{}/api/traces/{trace_id}", jaeger.jaeger_query_url());
    let spans = wait_until(
        Duration::from_secs(60),
        "Jaeger to hold the order's trace with every hop",
        || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let body: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
                let spans = spans_of(body["data"].get(0)?);
                // Spans arrive in separate exports: wait for each hop's consumer span and
                // the producer span it names as parent.
                let complete = hops.iter().all(|(topic, consumer)| {
                    consumer_span(&spans, topic, consumer)
                        .is_some_and(|c| spans.iter().any(|p| Some(&p.id) == c.parent.as_ref()))
                });
                complete.then_some(spans)
            }
        },
    )
    .await;

    let services_seen: std::collections::BTreeSet<&str> =
        spans.iter().map(|s| s.service.as_str()).collect();
    for service in ["order-service", "payment-service", "shipping-service"] {
        assert!(services_seen.contains(service), "no span of {service}");
    }
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    for (topic, consumer) in hops {
        let consumed = consumer_span(&spans, topic, consumer).expect("consumer span");
        assert_eq!(consumed.tag("messaging.system"), Some("kafka"));
        assert_eq!(consumed.tag("messaging.operation.type"), Some("process"));
        assert!(consumed.tag("messaging.consumer.group.name").is_some());
        assert!(consumed.tag("messaging.kafka.offset").is_some());
        // The Kafka hop: the consumer span's parent is the relay's producer span of that topic.
        let producer = consumed
            .parent
            .as_deref()
            .and_then(|id| by_id.get(id))
            .unwrap_or_else(|| {
                panic!("the consumer span of {topic} in {consumer} has no parent in the trace")
            });
        assert_eq!(producer.tag("span.kind"), Some("producer"), "{producer:?}");
        assert_eq!(producer.tag("messaging.system"), Some("kafka"));
        assert_eq!(producer.tag("messaging.operation.type"), Some("send"));
        assert_eq!(
            producer.tag("messaging.destination.name"),
            consumed.tag("messaging.destination.name")
        );
        assert_eq!(
            producer.tag("messaging.message.id"),
            consumed.tag("messaging.message.id")
        );
        assert!(
            producer.tag("messaging.kafka.offset").is_some(),
            "{producer:?}"
        );
    }
    drop(services);
}
