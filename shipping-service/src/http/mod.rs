//! The REST API of shipping-service.
//!
//! - [`shipments`]: `GET /shipments/{id}`, `GET /shipments?order_id=`,
//!   `POST /shipments/{id}/dispatch`, `POST /shipments/{id}/deliver`.

pub mod shipments;

use utoipa_actix_web::service_config::ServiceConfig;

/// The title and description of the generated document; its paths come from [`routes`].
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "shipping-service",
        description = "Shipments of paid orders and the warehouse's actions on them: \
            dispatch a scheduled shipment, deliver a dispatched one. Errors are RFC 9457 \
            problem+json."
    ),
    tags((name = "shipments", description = "Shipments and warehouse actions"))
)]
pub struct ApiDoc;

/// Every endpoint, each documented by its `#[utoipa::path]`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(shipments::by_order)
        .service(shipments::get)
        .service(shipments::dispatch)
        .service(shipments::deliver);
}
