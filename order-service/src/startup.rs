//! Builds the running order-service: HTTP API, gRPC API, outbox relay, the status projector,
//! the saga consumer and the long-poll listener, all stopped by one token.

use crate::{
    consumers::{order_service, order_status_projector as projector},
    grpc,
    http::{self, AppState},
    settings::Settings,
    watch::Watchers,
};
use actix_web::web;
use platform::app::{Platform, Running, StartError};
use schemas::Group;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi as _;

/// The service's tables, after the platform's; public for tools and benches that need them.
pub const MIGRATIONS: &[platform::db::Migration] = &[(
    "order_0001_orders",
    include_str!("../migrations/0001_orders.sql"),
)];

/// The running order-service, stopped by `shutdown`.
pub async fn build(settings: Settings, shutdown: CancellationToken) -> Result<Running, StartError> {
    let platform = Platform::build(settings.common, MIGRATIONS).await?;
    let watchers = Arc::new(Watchers::default());
    // Bound before the HTTP server starts, so the service is never ready without it.
    let grpc_listener = grpc::bind(&settings.grpc, &platform.settings.http.host).await?;
    let grpc_api = grpc::OrdersApi {
        pool: platform.pool.clone(),
        watchers: watchers.clone(),
    };
    let state = web::Data::new(AppState {
        pool: platform.pool.clone(),
        watchers: watchers.clone(),
    });
    let mut running = platform.serve(
        http::ApiDoc::openapi(),
        move |cfg| {
            cfg.app_data(state.clone());
            http::routes(cfg);
        },
        shutdown,
    )?;
    running.spawn_consumer(platform.group_consumer(
        Group::OrderStatusProjector,
        projector::Projector::new(projector::ViewTables::live()),
    ));
    running.spawn_consumer(platform.group_consumer(Group::OrderService, order_service::Saga));
    let max_message_bytes = settings.grpc.max_message_bytes;
    let readiness = platform.readiness();
    running.spawn(move |token| {
        grpc::serve(grpc_listener, grpc_api, max_message_bytes, readiness, token)
    });
    let url = platform.settings.database.url.clone();
    running.spawn(|token| watchers.listen(url, token));
    Ok(running)
}
