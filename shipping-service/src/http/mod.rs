//! The REST API of shipping-service.
//!
//! - [`shipments`]: `GET /shipments/{id}`, `GET /shipments?order_id=`,
//!   `POST /shipments/{id}/dispatch`, `POST /shipments/{id}/deliver`.

pub mod shipments;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/shipments", web::get().to(shipments::by_order))
        .route("/shipments/{shipment_id}", web::get().to(shipments::get))
        .route(
            "/shipments/{shipment_id}/dispatch",
            web::post().to(shipments::dispatch),
        )
        .route(
            "/shipments/{shipment_id}/deliver",
            web::post().to(shipments::deliver),
        );
}
