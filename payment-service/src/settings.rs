//! payment-service settings: the platform's sections (prefix `PAYMENT__`) and the limit above
//! which payments are declined.

use platform::config::{self, CommonSettings, ConfigError};

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
    /// Orders whose total exceeds this are declined with `LIMIT_EXCEEDED`
    /// (`PAYMENT__LIMIT_CENTS`, or the shorter `PAYMENT_LIMIT_CENTS`).
    pub limit_cents: i64,
}

impl Settings {
    pub fn load() -> Result<Self, ConfigError> {
        let limit = std::env::var("PAYMENT_LIMIT_CENTS").unwrap_or_else(|_| "1000000".into());
        let loaded = config::load(
            "PAYMENT",
            &[("http.port", "8081"), ("limit_cents", limit.as_str())],
        )?;
        let limit_cents: i64 = loaded.get("limit_cents")?;
        if limit_cents < 0 {
            return Err(ConfigError::Invalid {
                key: "limit_cents",
                reason: "must not be negative".into(),
            });
        }
        Ok(Settings {
            common: loaded.common()?,
            limit_cents,
        })
    }
}
