//! payment-service settings: the platform's sections (prefix `PAYMENT__`) and the limit above
//! which payments are declined.

use platform::config::{self, CommonSettings, ConfigError, Validate};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub common: CommonSettings,
    /// Orders whose total exceeds this are declined with `LIMIT_EXCEEDED`
    /// (`PAYMENT__LIMIT_CENTS`, or the shorter `PAYMENT_LIMIT_CENTS`).
    pub limit_cents: i64,
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.limit_cents < 0 {
            return Err(ConfigError::Invalid {
                key: "limit_cents",
                reason: "must not be negative".into(),
            });
        }
        self.common.validate()
    }
}

impl Settings {
    pub fn load() -> Result<Self, ConfigError> {
        let limit = std::env::var("PAYMENT_LIMIT_CENTS").unwrap_or_else(|_| "1000000".into());
        config::load(
            "PAYMENT",
            &[("http.port", "8081"), ("limit_cents", limit.as_str())],
        )
    }
}
