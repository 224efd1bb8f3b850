//! Shared fixtures for orderflow's integration and end-to-end tests.
//!
//! # Layout
//! - [`Env`]: where the real stack is (Kafka, registry, PostgreSQL), from `ORDERFLOW_TEST_*`
//!   variables that `make test` exports, defaulting to the local stack's addresses; with a
//!   [`KafkaLogin`] on a secured stack. Every Kafka client of the tests comes from
//!   [`Env::client_config`].
//! - [`Env::fresh_database`]: a new database named with a UUID, per test.
//! - [`Env::create_topic`] / [`unique`]: topics and consumer groups no other test uses.
//! - [`wait_until`]: polling with a deadline and a message, instead of sleeping.
//! - [`fixtures`]: a per-test namespace and database ([`fixtures::Isolated`], cleaned up on
//!   drop) and a handler that records its effects.
//! - [`services`]: the three service binaries as processes, for end-to-end tests.
//! - [`cli`]: the `orderflow` tool as a process, pointed at a test's namespace and databases.
//! - [`stack`]: a second, private stack for tests that stop Kafka (or run a secured cluster).
//! - [`proxy`]: a TCP forwarder a test can cut, to make the registry unreachable.
//! - [`chart`]: the Helm chart's scripts (helm test, topic Job), run on the host.
//!
//! Tests live in `tests/` beside this file, one scenario per file.

use platform::config::KafkaSettings;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    ClientConfig,
};
use std::{future::Future, path::PathBuf, time::Duration};
use tokio::time::Instant;

/// The stack the tests run against.
#[derive(Clone, Debug)]
pub struct Env {
    /// Bootstrap servers: one broker, or several of a cluster.
    pub kafka: String,
    /// How the tests' own Kafka clients log in; `None`: plaintext.
    pub kafka_login: Option<KafkaLogin>,
    /// Of the topics the tests create (`ORDERFLOW_TEST_KAFKA_REPLICATION_FACTOR`, default 1);
    /// from 3 on with `min.insync.replicas` 2, as the stack makes its own.
    pub replication_factor: i32,
    pub registry: String,
    /// A URL of the server's maintenance database, used to create per-test databases.
    pub admin_database_url: String,
}

/// A user of a secured Kafka: SASL/SCRAM-SHA-512 over TLS, as a secured stack makes them.
#[derive(Clone, Debug)]
pub struct KafkaLogin {
    pub username: String,
    pub password_file: PathBuf,
    /// The CA of the brokers' certificates.
    pub ca_location: PathBuf,
}

impl KafkaLogin {
    /// The settings of a service (or the orderflow tool) logging in as this user, as
    /// environment variables under `prefix` (`ORDERFLOW`, or a service's `ORDER`, ...).
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        [
            ("SECURITY_PROTOCOL", "SASL_SSL".to_owned()),
            ("SASL_MECHANISM", "SCRAM-SHA-512".to_owned()),
            ("SASL_USERNAME", self.username.clone()),
            (
                "SASL_PASSWORD_FILE",
                self.password_file.display().to_string(),
            ),
            ("SSL_CA_LOCATION", self.ca_location.display().to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (format!("{prefix}__KAFKA__{key}"), value))
        .collect()
    }
}

impl Env {
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Env {
            kafka: var("ORDERFLOW_TEST_KAFKA", "127.0.0.1:9092"),
            kafka_login: None,
            replication_factor: var("ORDERFLOW_TEST_KAFKA_REPLICATION_FACTOR", "1")
                .parse()
                .expect("ORDERFLOW_TEST_KAFKA_REPLICATION_FACTOR is a number"),
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

    /// Kafka settings as a service would load them, for [`Env::kafka_login`]'s user.
    pub fn kafka_settings(&self) -> KafkaSettings {
        let mut settings = KafkaSettings {
            bootstrap_servers: self.kafka.clone(),
            ..KafkaSettings::default()
        };
        if let Some(login) = &self.kafka_login {
            settings.security_protocol = Some("SASL_SSL".into());
            settings.sasl_username = Some(login.username.clone());
            settings.sasl_password_file = Some(login.password_file.clone());
            settings.ssl_ca_location = Some(login.ca_location.clone());
            settings
                .read_password_file()
                .expect("the login's password file is readable");
        }
        settings
    }

    /// A Kafka client's configuration: the bootstrap servers and the login, as the platform
    /// makes it.
    pub fn client_config(&self) -> ClientConfig {
        platform::kafka::client_config(&self.kafka_settings())
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

    /// Creates `name` with `partitions` partitions ([`Env::replication_factor`]) and the
    /// broker's default retention.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        self.create_topic_retained(name, partitions, None).await
    }

    /// [`Env::create_topic`] with `retention.ms` set (`-1`: forever), as the stack sets it on
    /// the contract and dead-letter topics.
    pub async fn create_topic_retained(
        &self,
        name: &str,
        partitions: i32,
        retention_ms: Option<i64>,
    ) {
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().expect("admin client");
        let retention = retention_ms.map(|ms| ms.to_string());
        let mut topic = NewTopic::new(
            name,
            partitions,
            TopicReplication::Fixed(self.replication_factor),
        );
        if let Some(ms) = &retention {
            topic = topic.set("retention.ms", ms);
        }
        // As the stack makes them: a write needs two copies once there are three.
        if self.replication_factor >= 3 {
            topic = topic.set("min.insync.replicas", "2");
        }
        let results = admin
            .create_topics(
                &[topic],
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

    /// Deletes every topic whose name starts with `prefix` (a test's namespace or its own
    /// topic); what is already gone is no error. Best effort: a failure only leaves topics.
    pub async fn delete_topics(&self, prefix: &str) {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let (config, prefix) = (self.client_config(), prefix.to_owned());
        let listed = tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.create().ok()?;
            let metadata = consumer
                .fetch_metadata(None, Duration::from_secs(10))
                .ok()?;
            Some(
                metadata
                    .topics()
                    .iter()
                    .map(|t| t.name().to_owned())
                    .filter(|name| name.starts_with(&prefix))
                    .collect::<Vec<_>>(),
            )
        })
        .await;
        let Ok(Some(names)) = listed else { return };
        if names.is_empty() {
            return;
        }
        let Ok(admin) = self
            .client_config()
            .create::<AdminClient<DefaultClientContext>>()
        else {
            return;
        };
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let _ = admin
            .delete_topics(
                &names,
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await;
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

pub mod chart;
pub mod cli;
pub mod fixtures;
pub mod proxy;
pub mod services;
pub mod stack;

/// The sum of `group`'s committed offsets on `topic` and the sum of the partitions' ends. The
/// group has processed everything when the two are equal. `None` while the cluster cannot say
/// (a coordinator moving, a broker just restarted) or the topic does not exist: ask again.
pub fn group_progress(env: &Env, group: &str, topic: &str) -> Option<(i64, i64)> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = env
        .client_config()
        .set("group.id", group)
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer.fetch_metadata(Some(topic), timeout).ok()?;
    // A topic that does not exist has no offsets (it is not an empty one): None, so that a
    // wrong topic name fails the caller instead of reading as "nothing there".
    let found = metadata.topics().first()?;
    if found.error().is_some() || found.partitions().is_empty() {
        return None;
    }
    let mut list = rdkafka::TopicPartitionList::new();
    let mut end = 0;
    for partition in found.partitions() {
        list.add_partition(topic, partition.id());
        end += consumer
            .fetch_watermarks(topic, partition.id(), timeout)
            .ok()?
            .1;
    }
    let committed = consumer
        .committed_offsets(list, timeout)
        .ok()?
        .elements()
        .iter()
        .map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => o,
            _ => 0,
        })
        .sum();
    Some((committed, end))
}

/// [`group_progress`], asked until the cluster answers (within a minute).
pub async fn group_progress_now(env: &Env, group: &str, topic: &str) -> (i64, i64) {
    let what = format!("the offsets of {group} on {topic} (does the topic exist?)");
    wait_until(Duration::from_secs(60), &what, || {
        let (env, group, topic) = (env.clone(), group.to_owned(), topic.to_owned());
        async move {
            tokio::task::spawn_blocking(move || group_progress(&env, &group, &topic))
                .await
                .expect("offsets task")
        }
    })
    .await
}

/// Every message of `topic` from the beginning, read until `expected` arrived or `timeout`.
pub async fn read_topic(
    env: &Env,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = env
        .client_config()
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    consumer.subscribe(&[topic]).expect("subscribed");
    let deadline = Instant::now() + timeout;
    let mut messages = Vec::new();
    while messages.len() < expected {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => messages.push(m.detach()),
            Ok(Err(e)) => panic!("reading {topic}: {e}"),
            Err(_) => break,
        }
    }
    messages
}
