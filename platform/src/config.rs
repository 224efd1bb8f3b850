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
        let mut common: CommonSettings = self.0.clone().try_deserialize()?;
        common.kafka.read_password_file()?;
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
    /// `host:port,...`: any brokers of the cluster; the client learns the others from them.
    #[serde(default = "default_bootstrap")]
    pub bootstrap_servers: String,
    /// Prefixed to every topic and consumer group name, so that several deployments (or
    /// test runs) can share one cluster without seeing each other's events. Empty by default.
    #[serde(default)]
    pub namespace: String,
    // How clients authenticate and encrypt, plaintext unless set. The keys are librdkafka's
    // properties (`kafka.security_protocol` is `security.protocol`, ...), typed and checked
    // at start, so that a typo stops the service with the key's name instead of failing every
    // connection later.
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    #[serde(default)]
    pub security_protocol: Option<String>,
    /// `SCRAM-SHA-512` (default with SASL), `SCRAM-SHA-256` or `PLAIN`.
    #[serde(default)]
    pub sasl_mechanism: Option<String>,
    #[serde(default)]
    pub sasl_username: Option<String>,
    /// The password itself, or ...
    #[serde(default)]
    pub sasl_password: Option<Secret<String>>,
    /// ... a file holding it (a mounted Secret); read once at start, a trailing newline dropped.
    #[serde(default)]
    pub sasl_password_file: Option<std::path::PathBuf>,
    /// PEM file of the CA that signed the brokers' certificates; the system's CAs when unset.
    #[serde(default)]
    pub ssl_ca_location: Option<std::path::PathBuf>,
    /// Extra librdkafka properties (tuning), passed through unchanged. Security belongs in the
    /// typed settings above; a property that sets one of them too is refused.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

const PROTOCOLS: [&str; 4] = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];
const MECHANISMS: [&str; 3] = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"];

impl KafkaSettings {
    /// The upper-cased protocol, `PLAINTEXT` when unset.
    fn protocol(&self) -> String {
        self.security_protocol
            .as_deref()
            .unwrap_or("PLAINTEXT")
            .to_ascii_uppercase()
    }

    fn sasl(&self) -> bool {
        self.protocol().starts_with("SASL_")
    }

    /// Reads `sasl_password_file` into `sasl_password`; the one place the file is read, so
    /// that every client of the process uses the same password.
    pub fn read_password_file(&mut self) -> Result<(), ConfigError> {
        let Some(path) = &self.sasl_password_file else {
            return Ok(());
        };
        if self.sasl_password.is_some() {
            return Err(invalid(
                "kafka.sasl_password_file",
                "set either kafka.sasl_password or kafka.sasl_password_file, not both",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            invalid(
                "kafka.sasl_password_file",
                format!("{} cannot be read: {e}", path.display()),
            )
        })?;
        let password = text.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            return Err(invalid(
                "kafka.sasl_password_file",
                format!("{} is empty", path.display()),
            ));
        }
        self.sasl_password = Some(Secret::new(password.to_owned()));
        Ok(())
    }

    /// The librdkafka properties the security settings stand for (the password among them).
    pub fn security_properties(&self) -> Vec<(&'static str, String)> {
        let mut properties = Vec::new();
        if self.security_protocol.is_some() {
            properties.push(("security.protocol", self.protocol()));
        }
        if self.sasl() {
            let mechanism = self.sasl_mechanism.as_deref().unwrap_or(MECHANISMS[0]);
            properties.push(("sasl.mechanisms", mechanism.to_ascii_uppercase()));
        }
        if let Some(username) = &self.sasl_username {
            properties.push(("sasl.username", username.clone()));
        }
        if let Some(password) = &self.sasl_password {
            properties.push(("sasl.password", password.expose().clone()));
        }
        if let Some(ca) = &self.ssl_ca_location {
            properties.push(("ssl.ca.location", ca.display().to_string()));
        }
        properties
    }

    /// Who the client logs in as, for messages: `user 'order' (SCRAM-SHA-512)`.
    pub fn describe_login(&self) -> Option<String> {
        let username = self.sasl_username.as_deref().filter(|_| self.sasl())?;
        let mechanism = self.sasl_mechanism.as_deref().unwrap_or(MECHANISMS[0]);
        Some(format!("user '{username}' ({mechanism})"))
    }
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
    /// At shutdown, how long a dead-letter send in flight and the dead-letter producer's flush
    /// may each take. (The final offset commit is synchronous and bounded by librdkafka's own
    /// request timeouts.)
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
        if let Some(s) = bad {
            return Err(invalid(
                "kafka.bootstrap_servers",
                format!("{s:?} is not host:port"),
            ));
        }
        self.validate_security()?;
        let typed = self.security_properties();
        let clash = typed.iter().find(|(key, _)| {
            self.properties.contains_key(*key)
                || (*key == "sasl.mechanisms" && self.properties.contains_key("sasl.mechanism"))
        });
        match clash {
            Some((key, _)) => Err(invalid(
                "kafka.properties",
                format!("{key:?} is also set by the typed kafka security settings; keep one"),
            )),
            None => Ok(()),
        }
    }
}

impl KafkaSettings {
    fn validate_security(&self) -> Result<(), ConfigError> {
        let protocol = self.protocol();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid(
                "kafka.security_protocol",
                format!("{protocol:?} is not one of {}", PROTOCOLS.join(", ")),
            ));
        }
        if let Some(mechanism) = &self.sasl_mechanism {
            if !MECHANISMS.contains(&mechanism.to_ascii_uppercase().as_str()) {
                return Err(invalid(
                    "kafka.sasl_mechanism",
                    format!("{mechanism:?} is not one of {}", MECHANISMS.join(", ")),
                ));
            }
        }
        let sasl_settings = [
            ("kafka.sasl_mechanism", self.sasl_mechanism.is_some()),
            ("kafka.sasl_username", self.sasl_username.is_some()),
            ("kafka.sasl_password", self.sasl_password.is_some()),
        ];
        if self.sasl() {
            if self.sasl_username.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    "kafka.sasl_username",
                    format!("is required with kafka.security_protocol {protocol}"),
                ));
            }
            if self.sasl_password.is_none() {
                return Err(invalid(
                    "kafka.sasl_password",
                    format!(
                        "is required with kafka.security_protocol {protocol} \
                         (or kafka.sasl_password_file)"
                    ),
                ));
            }
        } else if let Some((key, _)) = sasl_settings.iter().find(|(_, set)| *set) {
            return Err(invalid(
                key,
                format!("needs kafka.security_protocol SASL_SSL or SASL_PLAINTEXT, not {protocol}"),
            ));
        }
        if let Some(ca) = &self.ssl_ca_location {
            if !protocol.ends_with("SSL") {
                return Err(invalid(
                    "kafka.ssl_ca_location",
                    format!("needs kafka.security_protocol SSL or SASL_SSL, not {protocol}"),
                ));
            }
            if !ca.is_file() {
                return Err(invalid(
                    "kafka.ssl_ca_location",
                    format!("{} is not a readable file", ca.display()),
                ));
            }
        }
        Ok(())
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

/// The sections every service has. A service's `Settings` holds this as a `common` field, read
/// with [`Loaded::common`], beside its own sections, each read with [`Loaded::get`] from the
/// same [`Loaded`] and checked by the service.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The key and reason of a validation error.
    fn refused(result: Result<(), ConfigError>) -> (&'static str, String) {
        match result {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("expected a named invalid setting, got {other:?}"),
        }
    }

    #[test]
    fn the_defaults_are_valid() {
        KafkaSettings::default().validate().unwrap();
        RegistrySettings::default().validate().unwrap();
        RelaySettings::default().validate().unwrap();
        ConsumerSettings::default().validate().unwrap();
        DatabaseSettings::new(Secret::new("postgres://u@localhost/db".into()), 4)
            .validate()
            .unwrap();
    }

    #[test]
    fn each_bootstrap_server_must_be_host_and_port() {
        for servers in ["localhost", "a:9092,b", ":9092", "a:port", "a:70000"] {
            let kafka = KafkaSettings {
                bootstrap_servers: servers.into(),
                ..KafkaSettings::default()
            };
            let (key, _) = refused(kafka.validate());
            assert_eq!(key, "kafka.bootstrap_servers", "{servers}");
        }
        let kafka = KafkaSettings {
            bootstrap_servers: "a:9092, b:9093".into(),
            ..KafkaSettings::default()
        };
        kafka.validate().unwrap();
    }

    #[test]
    fn sasl_settings_need_a_sasl_protocol_and_each_other() {
        let plaintext_with_user = KafkaSettings {
            sasl_username: Some("svc".into()),
            ..KafkaSettings::default()
        };
        let (key, reason) = refused(plaintext_with_user.validate());
        assert_eq!(key, "kafka.sasl_username");
        assert!(reason.contains("SASL_SSL or SASL_PLAINTEXT"), "{reason}");

        let sasl_without_password = KafkaSettings {
            security_protocol: Some("SASL_PLAINTEXT".into()),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("svc".into()),
            ..KafkaSettings::default()
        };
        let (key, _) = refused(sasl_without_password.validate());
        assert_eq!(key, "kafka.sasl_password");

        let unknown_protocol = KafkaSettings {
            security_protocol: Some("TLS".into()),
            ..KafkaSettings::default()
        };
        assert_eq!(
            refused(unknown_protocol.validate()).0,
            "kafka.security_protocol"
        );
    }

    #[test]
    fn a_property_set_twice_is_refused() {
        let kafka = KafkaSettings {
            security_protocol: Some("SASL_PLAINTEXT".into()),
            sasl_mechanism: Some("PLAIN".into()),
            sasl_username: Some("svc".into()),
            sasl_password: Some(Secret::new("pw".into())),
            properties: [("sasl.mechanism".to_owned(), "PLAIN".to_owned())].into(),
            ..KafkaSettings::default()
        };
        let (key, reason) = refused(kafka.validate());
        assert_eq!(key, "kafka.properties");
        assert!(reason.contains("sasl.mechanisms"), "{reason}");
    }

    #[test]
    fn numbers_out_of_range_name_their_setting() {
        let mut db = DatabaseSettings::new(Secret::new("postgres://u@localhost/db".into()), 0);
        assert_eq!(refused(db.validate()).0, "database.pool_size");
        db.pool_size = 1;
        db.connect_timeout_ms = 0;
        assert_eq!(refused(db.validate()).0, "database.connect_timeout_ms");
        let bad_url = DatabaseSettings::new(Secret::new("postgres://u@h:notaport/db".into()), 1);
        assert_eq!(refused(bad_url.validate()).0, "database.url");
        let relay = RelaySettings {
            batch_size: 0,
            ..RelaySettings::default()
        };
        assert_eq!(refused(relay.validate()).0, "relay.batch_size");
        let consumer = ConsumerSettings {
            max_attempts: 0,
            ..ConsumerSettings::default()
        };
        assert_eq!(refused(consumer.validate()).0, "consumer.max_attempts");
        let registry = RegistrySettings {
            url: "not a url".into(),
        };
        assert_eq!(refused(registry.validate()).0, "registry.url");
    }
}
