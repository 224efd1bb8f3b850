//! order-service settings: the platform's sections (prefix `ORDER__`), defaults for this
//! service.

use platform::config::{self, CommonSettings, ConfigError};

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
}

impl Settings {
    pub fn load() -> Result<Self, ConfigError> {
        let loaded = config::load("ORDER", &[("http.port", "8080")])?;
        Ok(Settings {
            common: loaded.common()?,
        })
    }
}
