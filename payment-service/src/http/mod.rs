//! The REST API of payment-service: read-only views of payments.
//!
//! - [`payments`]: `GET /payments/{id}`, `GET /payments?order_id=`.

pub mod payments;

use actix_web::web;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/payments", web::get().to(payments::by_order))
        .route("/payments/{payment_id}", web::get().to(payments::get));
}
