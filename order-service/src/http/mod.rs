//! The REST API of order-service.
//!
//! - [`orders`]: `POST /orders`, `GET /orders` (list).
//! - [`order`]: `GET /orders/{id}` (with ETag and long poll), `GET /orders/{id}/events`,
//!   `POST /orders/{id}/cancel`.

pub mod order;
pub mod orders;

use crate::watch::Watchers;
use actix_web::web;
use platform::db::Pool;
use platform::http::Problem;
use std::sync::Arc;
use uuid::Uuid;

pub struct AppState {
    pub pool: Pool,
    pub watchers: Arc<Watchers>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/orders", web::post().to(orders::place))
        .route("/orders", web::get().to(orders::list))
        .route("/orders/{order_id}", web::get().to(order::get))
        .route("/orders/{order_id}/events", web::get().to(order::events))
        .route("/orders/{order_id}/cancel", web::post().to(order::cancel));
}

/// Order ids in paths: anything but a UUID is a malformed request (400), not a missing one.
pub(crate) fn parse_order_id(raw: &str) -> Result<Uuid, Problem> {
    platform::http::path_uuid(raw, "order id")
}
