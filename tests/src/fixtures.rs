//! Platform fixtures: settings for a per-test database and Kafka namespace, the topics that
//! namespace needs, and a handler that records its effects where a test can count them.

use crate::Env;
use platform::{
    config::{CommonSettings, KafkaSettings},
    consumer::{Handler, HandlerError, InboundEvent},
    outbox::Transaction,
};
use schemas::{DomainEvent, EventHeader, OrderCancelled, Topic};

/// The contract topics' retention, as `make up` creates them: forever, so that a replay can
/// rebuild the read model from the first event.
pub const CONTRACT_RETENTION_MS: i64 = -1;
/// The dead-letter topics' retention: 90 days, longer than any redrive window.
pub const DLQ_RETENTION_MS: i64 = 90 * 24 * 3600 * 1000;

/// A namespace no other test run uses: `t-<uuid>.`.
pub fn fresh_namespace() -> String {
    format!("{}.", crate::unique("t"))
}

/// A Kafka namespace of its own (topics and groups prefixed), and the settings to use it.
///
/// Dropped, it removes what the test left outside its process: the registry subjects of its
/// namespace (the registry lists at most 1000), and, unless the test failed (they stay for
/// inspection), its databases and the topics of a namespace it made ([`Isolated::new`]).
pub struct Isolated {
    pub env: Env,
    pub namespace: String,
    pub database_url: String,
    /// Further databases of the test ([`Isolated::extra_database`]), dropped with it.
    extra_databases: std::sync::Mutex<Vec<String>>,
    /// Whether the namespace's topics are this isolation's to delete.
    owns_topics: bool,
}

impl Isolated {
    /// A fresh database and a fresh namespace whose contract topics and the dead-letter topics
    /// of `groups` exist.
    pub async fn new(env: Env, groups: &[&str]) -> Self {
        let mut iso = Self::in_namespace(env, fresh_namespace(), groups).await;
        iso.owns_topics = true;
        iso
    }

    /// [`Isolated::new`] in a namespace the test chose (e.g. one a secured stack granted ACLs
    /// in); topics that exist already are kept as they are, and all stay: the namespace is the
    /// caller's.
    pub async fn in_namespace(env: Env, namespace: String, groups: &[&str]) -> Self {
        for topic in Topic::ALL {
            env.create_topic_retained(
                &format!("{namespace}{topic}"),
                3,
                Some(CONTRACT_RETENTION_MS),
            )
            .await;
        }
        for group in groups {
            env.create_topic_retained(
                &format!("{namespace}{}", schemas::dead_letter_topic(group)),
                1,
                Some(DLQ_RETENTION_MS),
            )
            .await;
        }
        let database_url = env.fresh_database().await;
        Isolated {
            env,
            namespace,
            database_url,
            extra_databases: Default::default(),
            owns_topics: false,
        }
    }

    /// Another fresh database, cleaned up with this isolation.
    pub async fn extra_database(&self) -> String {
        let url = self.env.fresh_database().await;
        self.extra_databases
            .lock()
            .expect("databases lock")
            .push(url.clone());
        url
    }

    pub fn topic(&self, topic: Topic) -> String {
        format!("{}{topic}", self.namespace)
    }

    /// The namespace's dead-letter topic of consumer group `group` (a contract name).
    pub fn dead_letter_topic(&self, group: &str) -> String {
        format!("{}{}", self.namespace, schemas::dead_letter_topic(group))
    }

    /// Settings as a service would load them, pointing at this isolation.
    pub fn settings(&self) -> CommonSettings {
        let mut settings: CommonSettings = serde_json::from_value(serde_json::json!({
            "http": {"port": 0},
            "database": {"url": self.database_url, "pool_size": 8},
            "registry": {"url": self.env.registry},
            "relay": {"poll_interval_ms": 200, "leader_retry_ms": 200, "backoff_max_ms": 1000},
            "consumer": {"backoff_max_ms": 1000},
        }))
        .expect("valid settings");
        settings.kafka = KafkaSettings {
            namespace: self.namespace.clone(),
            ..self.env.kafka_settings()
        };
        settings
    }

    /// A Confluent-framed value of `event` as the relay would publish it to `topic`.
    pub async fn framed(&self, event: &DomainEvent, topic: &str) -> Vec<u8> {
        let registry = platform::registry::Registry::new(&self.settings().registry).unwrap();
        let id = registry.schema_id(event.event_type(), topic).await.unwrap();
        let mut value = vec![0];
        value.extend_from_slice(&id.to_be_bytes());
        value.extend_from_slice(&schemas::codec::encode_datum(event).unwrap());
        value
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .expect("test database reachable");
        tokio::spawn(connection);
        client
    }
}

/// The table [`Recorder`] writes: one row per effect, deliberately without a unique key, so a
/// second effect of one event would show as a second row.
pub const EFFECTS_TABLE: platform::db::Migration = (
    "test_effects",
    "CREATE TABLE effects (seq BIGSERIAL PRIMARY KEY, event_id UUID NOT NULL,
                           order_id UUID NOT NULL, event_type TEXT NOT NULL)",
);

/// Runs `platform`'s `recorder` group ([`Recorder`] on the orders topic) on a task of its own
/// until the returned token is cancelled; the task ends once the group has drained.
pub fn run_recorder(
    platform: &platform::app::Platform,
) -> (
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<Result<(), platform::consumer::ConsumerError>>,
) {
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(
        platform
            .consumer("recorder", &[Topic::Orders], Recorder)
            .run(stop.clone()),
    );
    (stop, task)
}

/// A handler whose effect is a row in `effects`. An `OrderCancelled` with reason `POISON` is
/// rejected as a domain rule that can never pass; one with reason `DIVIDE_BY_ZERO` runs a
/// statement the database refuses every time (SQLSTATE 22012).
pub struct Recorder;

impl Handler for Recorder {
    async fn handle(&self, tx: &Transaction<'_>, event: &InboundEvent) -> Result<(), HandlerError> {
        if let DomainEvent::OrderCancelled(c) = &event.event {
            if c.reason == "POISON" {
                return Err(HandlerError::Rejected(
                    "reason POISON is never valid".into(),
                ));
            }
            if c.reason == "DIVIDE_BY_ZERO" {
                tx.execute("SELECT 1 / 0", &[]).await?;
            }
        }
        let header = event.event.header();
        // Prepared once per connection, as the services' handlers do: an unprepared statement
        // costs a second round trip per event.
        let insert = tx
            .prepare_cached(
                "INSERT INTO effects (event_id, order_id, event_type) VALUES ($1, $2, $3)",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &header.event_id,
                &header.order_id,
                &event.event.event_type().full_name(),
            ],
        )
        .await?;
        Ok(())
    }
}

/// A small valid event about `order_id`.
pub fn event(order_id: uuid::Uuid, reason: &str) -> DomainEvent {
    OrderCancelled {
        header: EventHeader::new(order_id),
        reason: reason.to_owned(),
    }
    .into()
}

/// Whether the outbox still holds the row of `event_id`: the relay deletes a row once the
/// broker acknowledged it. A row's absence alone does not show it was published (an id never
/// written is absent too): a test that waits for it checks the record on the topic after.
pub async fn in_outbox(client: &tokio_postgres::Client, event_id: uuid::Uuid) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE event_id = $1)",
            &[&event_id],
        )
        .await
        .expect("outbox queried")
        .get(0)
}

/// Inserts an outbox row as a replica of some build would, without `outbox::enqueue` (and so
/// without waking the relay): `datum`, written with `schema_version` of its event's schema.
pub async fn insert_outbox_row(
    client: &impl tokio_postgres::GenericClient,
    event: &DomainEvent,
    datum: &[u8],
    schema_version: i32,
) {
    let header = event.header();
    client
        .execute(
            "INSERT INTO outbox (event_id, topic, message_key, event_type, payload, schema_version)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &header.event_id,
                &event.event_type().topic().name(),
                &header.order_id.to_string(),
                &event.event_type().full_name(),
                &datum,
                &schema_version,
            ],
        )
        .await
        .expect("outbox row inserted");
}

/// Produces one record to partition 0 of `topic`, as it is: no framing, no headers.
pub async fn produce(env: &Env, topic: &str, key: Option<&str>, value: &[u8]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = env.client_config().create().unwrap();
    let mut record = FutureRecord::<str, [u8]>::to(topic)
        .payload(value)
        .partition(0);
    if let Some(key) = key {
        record = record.key(key);
    }
    producer
        .send(record, std::time::Duration::from_secs(10))
        .await
        .expect("produced");
}

/// Counts the effects rows of `event_id`.
pub async fn effects_of(client: &tokio_postgres::Client, event_id: uuid::Uuid) -> i64 {
    client
        .query_one(
            "SELECT count(*) FROM effects WHERE event_id = $1",
            &[&event_id],
        )
        .await
        .expect("effects readable")
        .get(0)
}

impl Drop for Isolated {
    fn drop(&mut self) {
        let mut databases = std::mem::take(&mut *self.extra_databases.lock().expect("lock"));
        databases.push(self.database_url.clone());
        let mut topics = self.owns_topics;
        if std::thread::panicking() {
            databases.clear();
            topics = false;
        }
        let (env, namespace) = (self.env.clone(), self.namespace.clone());
        // Drop cannot await; the cleanup gets a thread and a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime")
                .block_on(async {
                    let cleaned = clean_up(env, namespace, topics, databases);
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), cleaned).await;
                });
        });
        let _ = cleanup.join();
    }
}

/// Best effort: a failure here must not fail the test.
async fn clean_up(env: Env, namespace: String, topics: bool, databases: Vec<String>) {
    if topics {
        env.delete_topics(&namespace).await;
    }
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    for event_type in schemas::EventType::ALL {
        let subject = format!(
            "{}/subjects/{namespace}{}-{}",
            env.registry.trim_end_matches('/'),
            event_type.topic().name(),
            event_type.full_name()
        );
        // Soft delete first: the registry deletes permanently only what is soft-deleted.
        for url in [subject.clone(), format!("{subject}?permanent=true")] {
            let _ = http.delete(url).send().await;
        }
    }
    if databases.is_empty() {
        return;
    }
    let Ok((client, connection)) =
        tokio_postgres::connect(&env.admin_database_url, tokio_postgres::NoTls).await
    else {
        return;
    };
    tokio::spawn(connection);
    for url in databases {
        if let Some((_, name)) = url.rsplit_once('/') {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}
