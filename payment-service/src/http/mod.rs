//! The REST API of payment-service: read-only views of payments.
//!
//! - [`payments`]: `GET /payments/{id}`, `GET /payments?order_id=`.

pub mod payments;

use utoipa_actix_web::service_config::ServiceConfig;

/// The title and description of the generated document; its paths come from [`routes`].
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "payment-service",
        description = "Read-only views of payments: one per order, authorized or declined \
            by a limit, refunded when the order is cancelled. Errors are RFC 9457 problem+json."
    ),
    tags((name = "payments", description = "Payments of orders"))
)]
pub struct ApiDoc;

/// Every endpoint, each documented by its `#[utoipa::path]`.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(payments::by_order).service(payments::get);
}
