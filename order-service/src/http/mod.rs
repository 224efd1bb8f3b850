//! The REST API of order-service.
//!
//! - [`orders`]: `POST /orders`, `GET /orders` (list).
//! - [`order`]: `GET /orders/{id}` (with ETag and long poll), `GET /orders/{id}/events`,
//!   `POST /orders/{id}/cancel`.

pub mod order;
pub mod orders;

use crate::watch::Watchers;
use platform::db::Pool;
use platform::http::Problem;
use std::sync::Arc;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub struct AppState {
    pub pool: Pool,
    pub watchers: Arc<Watchers>,
}

/// The title and description of the generated document; its paths come from [`routes`].
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "order-service",
        description = "Places orders (202 at once; payment and shipping follow through Kafka), \
            reads them with ETags and long polls, lists them, cancels them. Errors are \
            RFC 9457 problem+json."
    ),
    tags((name = "orders", description = "Orders and their status"))
)]
pub struct ApiDoc;

/// Every endpoint, each documented by its `#[utoipa::path]`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(orders::place)
        .service(orders::list)
        .service(order::get)
        .service(order::events)
        .service(order::cancel);
}

/// Order ids in paths: anything but a UUID is a malformed request (400), not a missing one.
pub(crate) fn parse_order_id(raw: &str) -> Result<Uuid, Problem> {
    platform::http::path_uuid(raw, "order id")
}
