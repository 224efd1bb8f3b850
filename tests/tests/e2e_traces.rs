//! Traces reach a real backend: the services export over OTLP/HTTP to a Jaeger all-in-one
//! (the stack's optional `jaeger` component, on a private stack), and one order's trace, read
//! back through Jaeger's query API, holds spans of all three services with a producer span
//! for every relay hop and a consumer span for every Kafka hop.

use orderflow_tests::{
    services::{customer, order_body, Options, Service, Services},
    stack::{Private, SecondStack},
    wait_until, Env,
};
use schemas::{Group, Topic};
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

/// The span of consumer group `group` processing the event it read from `topic` (both of the
/// test's namespace, `<ns>.<name>`).
fn consumer_span(spans: &[Span], topic: Topic, group: Group) -> Option<&Span> {
    spans.iter().find(|c| {
        c.tag("span.kind") == Some("consumer")
            && c.tag("messaging.destination.name")
                .is_some_and(|t| t.ends_with(&format!(".{topic}")))
            && c.tag("messaging.consumer.group.name")
                .is_some_and(|g| g.ends_with(&format!(".{group}")))
    })
}

#[tokio::test]
async fn one_order_is_one_trace_in_jaeger_across_all_services_and_kafka_hops() {
    // Port offset 130: 110 and 120 belong to the Kafka outage tests.
    let jaeger = SecondStack::up(Private::Jaeger);
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
    let client_span = "00f067aa0ba902b7";
    let response = services
        .post_order(
            &order_body(&customer(), 1_250),
            &[(
                "traceparent",
                format!("00-{trace_id}-{client_span}-01").as_str(),
            )],
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let placed: Value = response.json().await.expect("JSON body");
    let order_id = placed["order_id"].as_str().expect("order_id").to_owned();
    services.wait_until_scheduled(&order_id).await;

    // Every hop of the flow: the relay of each service publishes (producer span) and each
    // consumer group that reads the topic processes it (consumer span, child of the producer's).
    let hops: Vec<(Topic, Group)> = Group::ALL
        .iter()
        .flat_map(|g| g.reads().iter().map(move |t| (*t, *g)))
        .collect();
    assert_eq!(hops.len(), 8, "{hops:?}");
    let hops = hops.as_slice();
    let service_of = |group: Group| match group {
        Group::OrderService | Group::OrderStatusProjector => Service::Order,
        Group::PaymentService => Service::Payment,
        Group::ShippingService => Service::Shipping,
    };
    let publisher_of = |topic: Topic| match topic {
        Topic::Orders => Service::Order,
        Topic::Payments => Service::Payment,
        Topic::Shipments => Service::Shipping,
    };
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
                let complete = hops.iter().all(|(topic, group)| {
                    consumer_span(&spans, *topic, *group)
                        .is_some_and(|c| spans.iter().any(|p| Some(&p.id) == c.parent.as_ref()))
                });
                complete.then_some(spans)
            }
        },
    )
    .await;

    // The trace continues the client's: order-service's server span is its child.
    let roots: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent.as_deref() == Some(client_span))
        .collect();
    assert_eq!(roots.len(), 1, "one span continues the client's: {roots:?}");
    assert_eq!(roots[0].service, Service::Order.binary());
    assert_eq!(roots[0].tag("span.kind"), Some("server"), "{:?}", roots[0]);
    let by_id: HashMap<&str, &Span> = spans.iter().map(|s| (s.id.as_str(), s)).collect();
    for &(topic, group) in hops {
        let consumer = service_of(group).binary();
        let consumed = consumer_span(&spans, topic, group).expect("consumer span");
        assert_eq!(consumed.service, consumer, "{consumed:?}");
        assert_eq!(consumed.tag("messaging.system"), Some("kafka"));
        assert_eq!(consumed.tag("messaging.operation.type"), Some("process"));
        // The Kafka hop: the consumer span's parent is the relay's producer span of that topic.
        let producer = consumed
            .parent
            .as_deref()
            .and_then(|id| by_id.get(id))
            .unwrap_or_else(|| {
                panic!("the consumer span of {topic} in {consumer} has no parent in the trace")
            });
        assert_eq!(producer.tag("span.kind"), Some("producer"), "{producer:?}");
        assert_eq!(
            producer.service,
            publisher_of(topic).binary(),
            "{producer:?}"
        );
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
        // Where the relay's record landed is where the consumer read it.
        for position in [
            "messaging.destination.partition.id",
            "messaging.kafka.offset",
        ] {
            assert!(producer.tag(position).is_some(), "{position}: {producer:?}");
            assert_eq!(producer.tag(position), consumed.tag(position), "{position}");
        }
    }
    drop(services);
}
