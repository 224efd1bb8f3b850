//! Builds the running shipping-service: HTTP API, outbox relay and the `shipping-service`
//! consumer group.

use crate::{consumers::shipping_service, http, settings::Settings};
use platform::app::{Platform, Running, StartError};
use schemas::Group;
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
            Group::ShippingService.name(),
            Group::ShippingService.reads(),
            shipping_service::Shipping,
        ));
        Ok(running)
    }
}
