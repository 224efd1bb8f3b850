//! What can go wrong, each variant naming the address, topic, group or order it concerns.

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("invalid settings")]
    Config(#[from] platform::config::ConfigError),
    #[error("Kafka at {address} is unreachable: {reason}")]
    KafkaUnreachable { address: String, reason: String },
    #[error("Kafka at {address}: {what}")]
    Kafka {
        address: String,
        what: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
    #[error("schema registry at {url} is unreachable: {reason}")]
    RegistryUnreachable { url: String, reason: String },
    #[error("schema registry client could not be built")]
    Registry(#[from] platform::registry::RegistryError),
    #[error("database {address} is unreachable: {reason}")]
    DatabaseUnreachable { address: String, reason: String },
    #[error("database {address}: query failed")]
    Database {
        address: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("topic {0} does not exist")]
    NoSuchTopic(String),
    #[error("no such order {0}")]
    NoSuchOrder(Uuid),
    #[error("{0}")]
    Refused(String),
    #[error("output could not be written")]
    Output(#[from] std::io::Error),
}
