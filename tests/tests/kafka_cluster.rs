//! The platform on a secured Kafka cluster, as `KAFKA_BROKERS=3 KAFKA_SECURITY=sasl_ssl` runs it:
//! three KRaft brokers, replication factor 3 and `min.insync.replicas` 2 on the contract and
//! dead-letter topics, SASL/SCRAM-SHA-512 over TLS with a user per service and ACLs.
//!
//! One stack serves both concerns (cluster and security), and one test walks through them in
//! order, because each would otherwise start its own three brokers: orders flow end to end with
//! every service logged in as itself, the `orderflow` tool reads them as its own user, a
//! plaintext client and a wrong password are refused (the latter visibly in readiness), a user
//! cannot read a topic its ACLs do not grant, and with one broker killed orders still flow.

use orderflow_tests::{
    cli::Orderflow,
    fixtures::fresh_namespace,
    services::{customer, order_body, Options, Service, Services, GROUPS},
    stack::{Private, SecondStack},
    wait_until, Env,
};
use rdkafka::{
    admin::{AdminClient, AdminOptions, ResourceSpecifier},
    client::DefaultClientContext,
    consumer::{BaseConsumer, Consumer},
    types::RDKafkaRespErr,
    ClientConfig,
};
use schemas::Topic;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_secured_three_broker_cluster_carries_orders_and_keeps_them_flowing_without_one_broker() {
    // The stack grants its services' ACLs in this namespace and makes its topics there.
    let namespace = fresh_namespace();
    let stack = SecondStack::up_with(
        Private::KafkaCluster,
        &[
            ("KAFKA_SECURITY", "sasl_ssl"),
            ("KAFKA_NAMESPACE", &namespace),
            ("KAFKA_SKIP_TOPICS", "0"),
        ],
    );
    let env = Env {
        kafka: stack.kafka_address(),
        kafka_login: Some(stack.login("admin")),
        replication_factor: 3,
        ..Env::from_env()
    };

    // The stack made every contract and dead-letter topic with 3 replicas and min ISR 2.
    let dlqs = GROUPS.map(|group| format!("{namespace}{}", schemas::dead_letter_topic(group)));
    let topics: Vec<String> = Topic::ALL
        .iter()
        .map(|topic| format!("{namespace}{topic}"))
        .chain(dlqs)
        .collect();
    assert_replicated(&env, &topics).await;

    // Every service logs in as its own user.
    let logins = Service::ALL
        .iter()
        .flat_map(|s| stack.login(s.kafka_user()).env(s.prefix()))
        .collect();
    let options = Options {
        env: logins,
        namespace: Some(namespace.clone()),
        ..Options::default()
    };
    let mut services = Services::start_with(env.clone(), options).await;
    let delivered = services.place_and_deliver(2_500).await;

    // The orderflow tool reads the order's story as its own user.
    let cli = Orderflow::for_services(&services).with_kafka_login(&stack.login("orderflow"));
    let story = cli.json(&["order", &delivered]).await;
    assert_eq!(
        story[0]["events"].as_array().map(Vec::len),
        Some(5),
        "{story:#?}"
    );

    // A plaintext client gets nowhere.
    let plaintext: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &env.kafka)
        .create()
        .expect("plaintext client");
    assert!(
        plaintext.fetch_metadata(None, TIMEOUT).is_err(),
        "a plaintext client read the cluster's metadata"
    );

    // A user sees the topics its ACLs grant, and not the others: payment-service reads
    // orders, never shipments.
    let payment = Env {
        kafka_login: Some(stack.login("payment")),
        ..env.clone()
    };
    assert_eq!(topic_error(&payment, &format!("{namespace}orders")), None);
    assert_eq!(
        topic_error(&payment, &format!("{namespace}shipments")),
        Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
    );

    // A wrong password: the instance runs, and its readiness says why Kafka is down.
    let wrong = std::env::temp_dir().join(format!("{}wrong.password", namespace));
    std::fs::write(&wrong, "not-the-password\n").expect("password file written");
    let database = services.iso.extra_database().await;
    let impostor = services.spawn_replica_with(
        Service::Payment,
        &[
            (
                "PAYMENT__KAFKA__SASL_PASSWORD_FILE".into(),
                wrong.display().to_string(),
            ),
            ("PAYMENT__DATABASE__URL".into(), database),
        ],
    );
    let ready_url = services.replica_url(impostor, "/health/ready");
    let error = wait_until(
        Duration::from_secs(60),
        "readiness to name the refused login",
        || async {
            let response = services.http.get(&ready_url).send().await.ok()?;
            let status = response.status();
            let body: serde_json::Value = response.json().await.ok()?;
            let error = body["checks"]["kafka"]["error"].as_str()?.to_owned();
            (status == 503 && error.contains("authentication failed")).then_some(error)
        },
    )
    .await;
    assert!(
        error.contains("user 'payment' (SCRAM-SHA-512)") && error.contains("invalid credentials"),
        "{error}"
    );
    std::fs::remove_file(&wrong).expect("password file removed");

    // One broker of three goes away: two in-sync replicas remain, so writes with acks=all go
    // on, and orders complete.
    stack.kill("kafka-2");
    let order_id = services.place(&order_body(&customer(), 1_200)).await["order_id"]
        .as_str()
        .expect("an order id")
        .to_owned();
    let order = services.wait_until_scheduled(&order_id).await;
    assert_eq!(order["payment"]["status"], "AUTHORIZED", "{order:#}");
    services.assert_no_dead_letters().await;
}

/// Asserts that every partition of `topics` has 3 replicas and each topic min ISR 2.
async fn assert_replicated(env: &Env, topics: &[String]) {
    let admin: AdminClient<DefaultClientContext> =
        env.client_config().create().expect("admin client");
    let specifiers: Vec<_> = topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let configs = admin
        .describe_configs(
            &specifiers,
            &AdminOptions::new().request_timeout(Some(TIMEOUT)),
        )
        .await
        .expect("topic configs");
    for (topic, config) in topics.iter().zip(configs) {
        let config = config.unwrap_or_else(|e| panic!("{topic}: {e}"));
        let min_isr = config
            .get("min.insync.replicas")
            .and_then(|e| e.value.clone());
        assert_eq!(min_isr.as_deref(), Some("2"), "{topic}");
    }
    let consumer: BaseConsumer = env.client_config().create().expect("client");
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), TIMEOUT)
            .expect("metadata");
        let partitions = metadata.topics()[0].partitions();
        assert!(!partitions.is_empty(), "{topic} has no partitions");
        for partition in partitions {
            assert_eq!(partition.replicas().len(), 3, "{topic}[{}]", partition.id());
        }
    }
}

/// The error the cluster answers `env`'s user with when it asks for `topic`'s metadata.
fn topic_error(env: &Env, topic: &str) -> Option<RDKafkaRespErr> {
    let consumer: BaseConsumer = env.client_config().create().expect("client");
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .unwrap_or_else(|e| panic!("metadata of {topic}: {e}"));
    metadata.topics()[0].error()
}
