//! order-service settings: the platform's sections (prefix `ORDER__`), defaults for this
//! service.

use platform::config::{self, CommonSettings, ConfigError, Validate};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    #[serde(flatten)]
    pub common: CommonSettings,
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), ConfigError> {
        self.common.validate()
    }
}

impl Settings {
    pub fn load() -> Result<Self, ConfigError> {
        config::load("ORDER", &[("http.port", "8080")])
    }
}
