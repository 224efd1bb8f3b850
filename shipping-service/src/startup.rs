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

/// The running shipping-service, stopped by `shutdown`.
pub async fn build(settings: Settings, shutdown: CancellationToken) -> Result<Running, StartError> {
    let platform = Platform::build(settings.common, MIGRATIONS).await?;
    let handler = shipping_service::Shipping;
    let mut running = platform.serve(http::ApiDoc::openapi(), http::routes, shutdown)?;
    running.spawn_consumer(platform.group_consumer(Group::ShippingService, handler));
    Ok(running)
}
