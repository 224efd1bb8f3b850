//! order-service settings: the platform's sections (prefix `ORDER__`), defaults for this
//! service, and its own `grpc` section.

use platform::config::{self, CommonSettings, ConfigError, Validate};
use serde::Deserialize;

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
    pub grpc: GrpcSettings,
}

/// Where the gRPC API listens (`ORDER__GRPC__PORT`, ...). Port 0 picks a free port (tests).
#[derive(Clone, Debug, Deserialize)]
pub struct GrpcSettings {
    /// The address to bind; the HTTP server's (`http.host`) when not set.
    pub host: Option<String>,
    pub port: u16,
    /// The largest request message accepted; a larger one is refused before it is decoded.
    /// Like REST's body limit: an order of 100 items is far below it.
    pub max_message_bytes: usize,
}

impl Validate for GrpcSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(host) = &self.host {
            host.parse::<std::net::IpAddr>()
                .map_err(|e| ConfigError::Invalid {
                    key: "grpc.host",
                    reason: format!("{host:?} is not an IP address: {e}"),
                })?;
        }
        if self.max_message_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "grpc.max_message_bytes",
                reason: "must be at least 1024".into(),
            });
        }
        Ok(())
    }
}

impl Settings {
    pub fn load() -> Result<Self, ConfigError> {
        let max_message = platform::http::MAX_BODY_BYTES.to_string();
        let loaded = config::load(
            "ORDER",
            &[
                ("http.port", "8080"),
                ("grpc.port", "50051"),
                ("grpc.max_message_bytes", &max_message),
            ],
        )?;
        let grpc: GrpcSettings = loaded.get("grpc")?;
        grpc.validate()?;
        Ok(Settings {
            common: loaded.common()?,
            grpc,
        })
    }
}
