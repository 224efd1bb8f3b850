//! shipping-service settings: the platform's sections (prefix `SHIPPING__`), defaults for this
//! service.

use platform::config::{self, CommonSettings, ConfigError};

#[derive(Clone, Debug)]
pub struct Settings {
    pub common: CommonSettings,
}

impl Settings {
    pub fn load() -> Result<Self, ConfigError> {
        let loaded = config::load("SHIPPING", &[("http.port", "8082")])?;
        Ok(Settings {
            common: loaded.common()?,
        })
    }
}
