//! The Helm chart's topic Job (`helm/orderflow/files/create-topics.sh`) against the real Kafka:
//! it creates the topics with the partitions, replication factor and configs it is given, and
//! runs again, as it does before every upgrade, without an error and without changing them.

use orderflow_tests::{chart, unique, Env};
use rdkafka::{
    admin::{AdminClient, AdminOptions, ResourceSpecifier},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    ClientConfig,
};
use std::{os::unix::fs::PermissionsExt, path::Path, time::Duration};

/// Runs the Job's script as the Job does (bash, settings in the environment), with
/// `kafka_topics` in place of the image's `kafka-topics.sh`.
async fn run_job(env: &Env, kafka_topics: &Path, topics: &str) {
    let kafka_topics = kafka_topics.to_str().expect("a UTF-8 path");
    let settings = [
        ("BOOTSTRAP", env.kafka.as_str()),
        ("REPLICATION_FACTOR", "1"),
        ("TOPICS", topics),
        ("TOPIC_CONFIGS", "cleanup.policy=delete segment.ms=3600000"),
        ("KAFKA_TOPICS", kafka_topics),
    ];
    chart::run_script("bash", "create-topics.sh", &settings).await;
}

#[tokio::test]
async fn the_topic_job_creates_the_topics_and_reruns_without_changing_them() {
    let env = Env::from_env();
    // The stack's own Kafka tools stand in for the apache/kafka image's.
    let stack = std::env::var("ORDERFLOW_STACK_SCRIPT")
        .expect("ORDERFLOW_STACK_SCRIPT is set (make test exports it)");
    let dir = std::env::temp_dir().join(unique("topics-job"));
    std::fs::create_dir_all(&dir).expect("temp folder");
    let shim = dir.join("kafka-topics.sh");
    std::fs::write(
        &shim,
        format!("#!/bin/sh\nexec '{stack}' kafka-topics \"$@\"\n"),
    )
    .expect("shim written");
    std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let namespace = unique("job");
    // name, partitions, retention.ms: as the chart renders them (unlimited contract topics,
    // dead letters kept 90 days).
    let topics = [
        (format!("{namespace}.orders"), 3, "-1"),
        (format!("{namespace}.order-service.dlq"), 1, "7776000000"),
    ];
    let list: Vec<String> = topics
        .iter()
        .map(|(t, p, r)| format!("{t} {p} {r}"))
        .collect();
    run_job(&env, &shim, &list.join("\n")).await;
    // An upgrade runs the Job again over existing topics.
    run_job(&env, &shim, &list.join("\n")).await;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &env.kafka)
        .create()
        .expect("metadata client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("cluster metadata");
    for (topic, partitions, _) in &topics {
        let found = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .unwrap_or_else(|| panic!("{topic} was not created"));
        assert_eq!(found.partitions().len(), *partitions, "{topic}");
        assert!(found.partitions().iter().all(|p| p.replicas().len() == 1));
    }

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &env.kafka)
        .create()
        .expect("admin client");
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let specs: Vec<_> = topics
        .iter()
        .map(|(t, _, _)| ResourceSpecifier::Topic(t))
        .collect();
    let described = admin
        .describe_configs(&specs, &options)
        .await
        .expect("topic configs");
    for ((topic, _, retention), resource) in topics.iter().zip(described) {
        let resource = resource.expect("a topic's configs");
        let value = |name: &str| resource.get(name).and_then(|e| e.value.clone());
        assert_eq!(
            value("retention.ms").as_deref(),
            Some(*retention),
            "{topic}"
        );
        assert_eq!(value("segment.ms").as_deref(), Some("3600000"), "{topic}");
    }

    let names: Vec<&str> = topics.iter().map(|(t, _, _)| t.as_str()).collect();
    let _ = admin.delete_topics(&names, &options).await;
    let _ = std::fs::remove_dir_all(dir);
}
