//! Builds the running payment-service: HTTP API, outbox relay and the `payment-service`
//! consumer group.

use crate::{consumers::payment_service, http, settings::Settings};
use platform::app::{Platform, Running, StartError};
use schemas::Group;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;

const MIGRATIONS: &[platform::db::Migration] = &[(
    "payment_0001_payments",
    include_str!("../migrations/0001_payments.sql"),
)];

/// The running payment-service, stopped by `shutdown`.
pub async fn build(settings: Settings, shutdown: CancellationToken) -> Result<Running, StartError> {
    let platform = Platform::build(settings.common, MIGRATIONS).await?;
    let handler = payment_service::Payments {
        limit_cents: settings.limit_cents,
    };
    let mut running = platform.serve(http::ApiDoc::openapi(), http::routes, shutdown)?;
    running.spawn_consumer(platform.group_consumer(Group::PaymentService, handler));
    Ok(running)
}
