//! Builds the running shipping-service: HTTP API, outbox relay and the `shipping-service`
//! consumer group.

use crate::{handlers::events, http, settings::Settings};
use platform::app::{Platform, Running, StartError};
use schemas::Topic;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;

const MIGRATIONS: &[platform::db::Migration] = &[(
    "shipping_0001_shipments",
    include_str!("../migrations/0001_shipments.sql"),
)];

pub struct Application;

impl Application {
    pub async fn build(
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Result<Running, StartError> {
        let platform = Platform::build(settings.common, MIGRATIONS).await?;
        let mut running = platform.serve(http::ApiDoc::openapi(), http::routes, shutdown)?;
        running.spawn_consumer(platform.consumer(
            events::GROUP,
            &[Topic::Payments, Topic::Orders],
            events::Shipping,
        ));
        Ok(running)
    }
}
