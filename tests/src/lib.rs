//! Shared fixtures for orderflow's integration and end-to-end tests.
//!
//! # Layout
//! - [`Env`]: where the real stack is (Kafka, registry, PostgreSQL), from `ORDERFLOW_TEST_*`
//!   variables that `make test` exports, defaulting to the local stack's addresses.
//! - [`Env::fresh_database`]: a new database named with a UUID, per test.
//! - [`Env::create_topic`] / [`unique`]: topics and consumer groups no other test uses.
//! - [`wait_until`]: polling with a deadline and a message, instead of sleeping.
//!
//! Tests live in `tests/` beside this file, one scenario per file.

use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    ClientConfig,
};
use std::{future::Future, time::Duration};
use tokio::time::Instant;

/// The stack the tests run against.
#[derive(Clone, Debug)]
pub struct Env {
    pub kafka: String,
    pub registry: String,
    /// A URL of the server's maintenance database, used to create per-test databases.
    pub admin_database_url: String,
}

impl Env {
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Env {
            kafka: var("ORDERFLOW_TEST_KAFKA", "127.0.0.1:9092"),
            registry: var(
                "ORDERFLOW_TEST_REGISTRY",
                "http://127.0.0.1:8090/apis/ccompat/v7",
            ),
            admin_database_url: var(
                "ORDERFLOW_TEST_DATABASE_URL",
                "postgres://orderflow:orderflow@127.0.0.1:5432/postgres",
            ),
        }
    }

    /// Creates an empty database with a fresh name and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let (client, connection) =
            tokio_postgres::connect(&self.admin_database_url, tokio_postgres::NoTls)
                .await
                .expect("the test PostgreSQL is reachable (run `make infra`)");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("test database created");
        let (base, _) = self
            .admin_database_url
            .rsplit_once('/')
            .expect("database URL ends in /<name>");
        format!("{base}/{name}")
    }

    /// Creates `name` with `partitions` partitions (replication factor 1, the local stack's).
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.kafka)
            .create()
            .expect("admin client");
        let results = admin
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("the test Kafka is reachable (run `make infra`)");
        for result in results {
            if let Err((topic, code)) = result {
                assert_eq!(
                    code,
                    rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                    "topic {topic} not created"
                );
            }
        }
    }
}

/// `prefix` with a fresh UUID: a topic or consumer group name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls `check` until it returns `Some`, or fails the test after `timeout` with `what`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub mod fixtures;
pub mod proxy;
