//! Builds the running shipping-service: HTTP API, outbox relay and the `shipping-service`
//! consumer group.

use crate::{handlers::events, http, settings::Settings};
use platform::app::{Platform, Running, StartError};
use schemas::Topic;
use tokio_util::sync::CancellationToken;

const MIGRATIONS: &[platform::db::Migration] = &[(
    "shipping_0001_shipments",
    include_str!("../migrations/0001_shipments.sql"),
)];

const OPENAPI: &str = include_str!("openapi.json");

pub struct Application;

impl Application {
    pub async fn build(
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Running, StartError> {
        let platform = Platform::build(settings.common, MIGRATIONS).await?;
        let mut running = platform.serve(http::routes, OPENAPI, shutdown)?;
        running.spawn_consumer(platform.consumer(
            events::GROUP,
            &[Topic::Payments, Topic::Orders],
            events::Shipping,
        ));
        Ok(running)
    }
}
