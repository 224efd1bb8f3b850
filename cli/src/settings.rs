//! Where the platform is: the services' own layered settings, then flags.
//!
//! Kafka and the registry come from `ORDERFLOW__KAFKA__*` / `ORDERFLOW__REGISTRY__URL` (or the
//! file named by `ORDERFLOW_CLI_CONFIG`), Kafka's security too (`ORDERFLOW__KAFKA__SASL_USERNAME`,
//! ..., the services' settings), each service database from its service's settings
//! (`ORDER__DATABASE__URL`, `PAYMENT__DATABASE__URL`, `SHIPPING__DATABASE__URL`, or their
//! `<SERVICE>_CONFIG` files). Unset, everything points at the local stack of `make up`.
//!
//! Connecting always has a deadline ([`CONNECT_TIMEOUT`]): an unreachable dependency is an
//! error naming its address, never a hang.

use crate::CliError;
use platform::{
    config::{self, DatabaseSettings, KafkaSettings, RegistrySettings, Validate},
    secret::Secret,
};
use std::time::Duration;

/// How long connecting to one dependency may take before the tool gives up on it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Flags that override the settings; every subcommand takes them.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConnectionArgs {
    /// Kafka bootstrap servers (else ORDERFLOW__KAFKA__BOOTSTRAP_SERVERS, else 127.0.0.1:9092).
    #[arg(long, global = true, value_name = "HOST:PORT,...")]
    pub bootstrap_servers: Option<String>,
    /// Prefix of every topic and consumer group (else ORDERFLOW__KAFKA__NAMESPACE, else none).
    #[arg(long, global = true)]
    pub namespace: Option<String>,
    /// Schema registry API root (else ORDERFLOW__REGISTRY__URL, else the local stack's).
    #[arg(long, global = true, value_name = "URL")]
    pub registry_url: Option<String>,
    /// order-service database (else ORDER__DATABASE__URL, else the local stack's `orders`).
    #[arg(long, global = true, value_name = "URL")]
    pub orders_db: Option<String>,
    /// payment-service database (else PAYMENT__DATABASE__URL).
    #[arg(long, global = true, value_name = "URL")]
    pub payments_db: Option<String>,
    /// shipping-service database (else SHIPPING__DATABASE__URL).
    #[arg(long, global = true, value_name = "URL")]
    pub shipping_db: Option<String>,
}

/// One service's database.
#[derive(Clone, Debug)]
pub struct ServiceDb {
    pub service: &'static str,
    pub url: Secret<String>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub registry: RegistrySettings,
    /// order-service first: it holds the read model.
    pub databases: Vec<ServiceDb>,
}

const LOCAL_DATABASE: &str = "postgres://orderflow:orderflow@127.0.0.1:5432";

impl Settings {
    pub fn load(args: &ConnectionArgs) -> Result<Self, CliError> {
        let shared = config::load(
            "ORDERFLOW_CLI",
            &[
                ("kafka.bootstrap_servers", "127.0.0.1:9092"),
                ("registry.url", "http://127.0.0.1:8090/apis/ccompat/v7"),
            ],
        )?;
        let mut kafka: KafkaSettings = shared.get("kafka")?;
        let mut registry: RegistrySettings = shared.get("registry")?;
        if let Some(servers) = &args.bootstrap_servers {
            kafka.bootstrap_servers = servers.clone();
        }
        if let Some(namespace) = &args.namespace {
            kafka.namespace = namespace.clone();
        }
        if let Some(url) = &args.registry_url {
            registry.url = url.clone();
        }
        kafka.read_password_file()?;
        kafka.validate()?;
        registry.validate()?;

        let mut databases = Vec::new();
        for (service, prefix, name, flag) in [
            ("order-service", "ORDER", "orders", &args.orders_db),
            ("payment-service", "PAYMENT", "payments", &args.payments_db),
            (
                "shipping-service",
                "SHIPPING",
                "shipping",
                &args.shipping_db,
            ),
        ] {
            let default = format!("{LOCAL_DATABASE}/{name}");
            let url = match flag {
                Some(url) => Secret::new(url.clone()),
                None => {
                    config::load(prefix, &[("database.url", &default)])?
                        .get::<DatabaseSettings>("database")?
                        .url
                }
            };
            databases.push(ServiceDb { service, url });
        }
        Ok(Settings {
            kafka,
            registry,
            databases,
        })
    }

    /// The registry client, after checking within [`CONNECT_TIMEOUT`] that it answers.
    pub async fn registry(&self) -> Result<platform::registry::Registry, CliError> {
        let url = &self.registry.url;
        let http = reqwest::Client::builder()
            .timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| unreachable_registry(url, e.to_string()))?;
        platform::registry::ping(&http, url)
            .await
            .map_err(|reason| unreachable_registry(url, reason))?;
        Ok(platform::registry::Registry::new(&self.registry)?)
    }
}

fn unreachable_registry(url: &str, reason: String) -> CliError {
    CliError::RegistryUnreachable {
        url: url.to_owned(),
        reason,
    }
}

/// A connection to one service database.
pub struct Db {
    pub service: &'static str,
    /// `host:port/database`, without the password.
    pub address: String,
    pub client: tokio_postgres::Client,
}

impl Db {
    pub async fn connect(db: &ServiceDb) -> Result<Db, CliError> {
        let address = address_of(&db.url);
        let unreachable = |reason: String| CliError::DatabaseUnreachable {
            address: address.clone(),
            reason,
        };
        let (client, _notifications) =
            tokio::time::timeout(CONNECT_TIMEOUT, platform::db::dedicated(&db.url))
                .await
                .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
                .map_err(|e| unreachable(platform::error_chain(&e)))?;
        Ok(Db {
            service: db.service,
            address,
            client,
        })
    }

    /// Maps a query error to one naming this database.
    pub fn failed(&self, source: tokio_postgres::Error) -> CliError {
        CliError::Database {
            address: self.address.clone(),
            source,
        }
    }
}

/// `host:port/database` of a PostgreSQL URL, for messages (the password stays out).
fn address_of(url: &Secret<String>) -> String {
    match url.expose().parse::<tokio_postgres::Config>() {
        Ok(config) => {
            let host = match config.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
                None => "localhost".into(),
            };
            let port = config.get_ports().first().copied().unwrap_or(5432);
            format!("{host}:{port}/{}", config.get_dbname().unwrap_or_default())
        }
        Err(_) => "(unparsable URL)".into(),
    }
}
