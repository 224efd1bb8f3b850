//! Layered settings: built-in defaults, then an optional file, then the environment.
//!
//! Environment variables use `__` between nested keys. Shared infrastructure comes under the
//! `ORDERFLOW__` prefix (`ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS`), a service's own settings under
//! its prefix (`ORDER__DATABASE__URL`, `PAYMENT__HTTP__PORT`); the service prefix wins. A file
//! is read when `<PREFIX>_CONFIG` names one (TOML). Every problem is reported with the key it
//! concerns, before the service does anything else.

use crate::secret::Secret;
use serde::{de::DeserializeOwned, Deserialize};
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(#[from] config::ConfigError),
    #[error("setting `{key}` is invalid: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Implemented by every settings section to check what types alone cannot.
pub trait Validate {
    fn validate(&self) -> Result<(), ConfigError>;
}

/// The merged sources of one service's settings, read section by section so that an error
/// names the key it concerns (serde's `flatten` would lose it).
pub struct Loaded(config::Config);

/// Loads the settings sources of the service whose environment prefix is `prefix` (e.g.
/// `ORDER`). `defaults` are `(key, value)` pairs applied before any source, e.g.
/// `("http.port", "8080")`.
pub fn load(prefix: &str, defaults: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let mut builder = config::Config::builder();
    for (key, value) in defaults {
        builder = builder.set_default(*key, *value)?;
    }
    if let Ok(path) = std::env::var(format!("{prefix}_CONFIG")) {
        builder = builder.add_source(config::File::with_name(&path).required(true));
    }
    let env = |p: &str| {
        config::Environment::with_prefix(p)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
    };
    Ok(Loaded(
        builder
            .add_source(env("ORDERFLOW"))
            .add_source(env(prefix))
            .build()?,
    ))
}

impl Loaded {
    /// The sections every service has, validated.
    pub fn common(&self) -> Result<CommonSettings, ConfigError> {
        let common: CommonSettings = self.0.clone().try_deserialize()?;
        common.validate()?;
        Ok(common)
    }

    /// One of the service's own settings.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<T, ConfigError> {
        Ok(self.0.get(key)?)
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// Where the REST API listens. Port 0 picks a free port (tests).
#[derive(Clone, Debug, Deserialize)]
pub struct HttpSettings {
    #[serde(default = "default_host")]
    pub host: String,
    pub port: u16,
    /// How long a graceful shutdown waits for in-flight requests.
    #[serde(default = "default_shutdown_secs")]
    pub shutdown_timeout_secs: u64,
}

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_shutdown_secs() -> u64 {
    10
}

/// The service's own PostgreSQL database.
#[derive(Clone, Debug, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/database`; a secret because it holds the password.
    pub url: Secret<String>,
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// How long a request waits for a free pooled connection; past it the request is answered
    /// 503 with `Retry-After` instead of hanging while the pool is exhausted.
    #[serde(default = "default_pool_wait_timeout_ms")]
    pub pool_wait_timeout_ms: u64,
    /// How long opening a connection may take: a database that accepts no connection (down,
    /// restarting, unreachable) is reported as unavailable after this, not after the OS's TCP
    /// timeout.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long the check of a pooled connection before reuse may take.
    #[serde(default = "default_recycle_timeout_ms")]
    pub recycle_timeout_ms: u64,
}

impl DatabaseSettings {
    /// The settings of a pool of `pool_size` connections to `url`, with the default timeouts.
    pub fn new(url: Secret<String>, pool_size: usize) -> Self {
        DatabaseSettings {
            url,
            pool_size,
            pool_wait_timeout_ms: default_pool_wait_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            recycle_timeout_ms: default_recycle_timeout_ms(),
        }
    }
}

fn default_pool_size() -> usize {
    16
}

fn default_pool_wait_timeout_ms() -> u64 {
    2_000
}

fn default_connect_timeout_ms() -> u64 {
    3_000
}

fn default_recycle_timeout_ms() -> u64 {
    1_000
}

#[derive(Clone, Debug, Deserialize)]
pub struct KafkaSettings {
    #[serde(default = "default_bootstrap")]
    pub bootstrap_servers: String,
    /// Prefixed to every topic and consumer group name, so that several deployments (or
    /// test runs) can share one cluster without seeing each other's events. Empty by default.
    #[serde(default)]
    pub namespace: String,
    /// Extra librdkafka properties (security, tuning), passed through unchanged.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl KafkaSettings {
    /// The physical name of a contract topic in this deployment.
    pub fn topic(&self, topic: &str) -> String {
        format!("{}{topic}", self.namespace)
    }

    /// The physical name of a consumer group in this deployment.
    pub fn group(&self, group: &str) -> String {
        format!("{}{group}", self.namespace)
    }
}

fn default_bootstrap() -> String {
    "127.0.0.1:9092".into()
}

#[derive(Clone, Debug, Deserialize)]
pub struct RegistrySettings {
    /// The Confluent-compatible API root, e.g. Apicurio's `/apis/ccompat/v7`.
    #[serde(default = "default_registry")]
    pub url: String,
}

fn default_registry() -> String {
    "http://127.0.0.1:8090/apis/ccompat/v7".into()
}

/// The outbox relay. See [`crate::outbox::relay`] for what each knob trades.
#[derive(Clone, Debug, Deserialize)]
pub struct RelaySettings {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "default_relay_batch")]
    pub batch_size: i64,
    /// The fallback poll when no NOTIFY arrives.
    #[serde(default = "default_poll_ms")]
    pub poll_interval_ms: u64,
    /// How often a standby relay tries to become the leader.
    #[serde(default = "default_leader_retry_ms")]
    pub leader_retry_ms: u64,
    /// Published rows are deleted after this long.
    #[serde(default = "default_retention_secs")]
    pub retention_secs: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
}

fn yes() -> bool {
    true
}
fn default_relay_batch() -> i64 {
    1000
}
fn default_poll_ms() -> u64 {
    1000
}
fn default_leader_retry_ms() -> u64 {
    1000
}
fn default_retention_secs() -> u64 {
    24 * 3600
}
fn default_backoff_max_ms() -> u64 {
    10_000
}

#[derive(Clone, Debug, Deserialize)]
pub struct ConsumerSettings {
    /// Most messages handled in one database transaction.
    #[serde(default = "default_consumer_batch")]
    pub batch_size: usize,
    /// How long a batch waits for more messages once it has one. 0 (the default) takes what
    /// has arrived and no more: under load messages queue up while a batch is processed, so
    /// batches fill by themselves, and at a low rate waiting only adds to every hop's latency
    /// (a wait that another message restarts can last much longer than the setting, on a
    /// group reading several topics).
    #[serde(default = "default_batch_wait_ms")]
    pub batch_wait_ms: u64,
    /// How often stored offsets are committed to Kafka. Longer means fewer commits and more
    /// redelivery (deduplicated by the inbox) after a crash.
    #[serde(default = "default_commit_interval_ms")]
    pub commit_interval_ms: u64,
    /// Inbox rows older than this are deleted. It must outlast any redelivery: Kafka's offset
    /// retention (7 days by default) bounds how old a redelivered event can be.
    #[serde(default = "default_inbox_retention_secs")]
    pub inbox_retention_secs: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// How often an event whose handler fails the same way every time (a constraint it
    /// violates, a value the database refuses) is tried before it goes to the dead-letter
    /// topic. Transient failures (connection, registry, broker) are retried without limit.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// At shutdown, how long the final offset commit, a dead-letter send in flight and the
    /// dead-letter producer's flush may each take.
    #[serde(default = "default_drain_timeout_ms")]
    pub drain_timeout_ms: u64,
}

fn default_drain_timeout_ms() -> u64 {
    5_000
}

fn default_max_attempts() -> u32 {
    5
}

fn default_consumer_batch() -> usize {
    500
}
fn default_batch_wait_ms() -> u64 {
    0
}
fn default_commit_interval_ms() -> u64 {
    1000
}
fn default_inbox_retention_secs() -> u64 {
    8 * 24 * 3600
}

macro_rules! default_section {
    ($($ty:ident),*) => {$(
        impl Default for $ty {
            fn default() -> Self {
                serde_json::from_str("{}").expect("every field has a default")
            }
        }
    )*};
}
default_section!(
    KafkaSettings,
    RegistrySettings,
    RelaySettings,
    ConsumerSettings
);

impl Validate for HttpSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        self.host
            .parse::<std::net::IpAddr>()
            .map(|_| ())
            .map_err(|e| {
                invalid(
                    "http.host",
                    format!("{:?} is not an IP address: {e}", self.host),
                )
            })
    }
}

impl Validate for DatabaseSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        self.url
            .expose()
            .parse::<tokio_postgres::Config>()
            .map_err(|e| invalid("database.url", e.to_string()))?;
        if self.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }
        for (key, ms) in [
            ("database.pool_wait_timeout_ms", self.pool_wait_timeout_ms),
            ("database.connect_timeout_ms", self.connect_timeout_ms),
            ("database.recycle_timeout_ms", self.recycle_timeout_ms),
        ] {
            if !(1..=600_000).contains(&ms) {
                return Err(invalid(key, "must be between 1 and 600000 (milliseconds)"));
            }
        }
        Ok(())
    }
}

impl Validate for KafkaSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = self.bootstrap_servers.split(',').find(|s| {
            let s = s.trim();
            s.rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        });
        match bad {
            Some(s) => Err(invalid(
                "kafka.bootstrap_servers",
                format!("{s:?} is not host:port"),
            )),
            None => Ok(()),
        }
    }
}

impl Validate for RegistrySettings {
    fn validate(&self) -> Result<(), ConfigError> {
        reqwest::Url::parse(&self.url)
            .map(|_| ())
            .map_err(|e| invalid("registry.url", e.to_string()))
    }
}

impl Validate for RelaySettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.batch_size < 1 {
            return Err(invalid("relay.batch_size", "must be at least 1"));
        }
        if self.poll_interval_ms == 0 {
            return Err(invalid("relay.poll_interval_ms", "must be above 0"));
        }
        Ok(())
    }
}

impl Validate for ConsumerSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.batch_size == 0 {
            return Err(invalid("consumer.batch_size", "must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(invalid("consumer.max_attempts", "must be at least 1"));
        }
        Ok(())
    }
}

/// The sections every service has. A service's settings embed this with `#[serde(flatten)]`.
#[derive(Clone, Debug, Deserialize)]
pub struct CommonSettings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub kafka: KafkaSettings,
    #[serde(default)]
    pub registry: RegistrySettings,
    #[serde(default)]
    pub relay: RelaySettings,
    #[serde(default)]
    pub consumer: ConsumerSettings,
}

impl Validate for CommonSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        self.database.validate()?;
        self.kafka.validate()?;
        self.registry.validate()?;
        self.relay.validate()?;
        self.consumer.validate()
    }
}
