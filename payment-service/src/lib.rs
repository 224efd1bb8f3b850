//! payment-service: one payment per order, authorized or declined by a limit, refunded when
//! the order is cancelled.
//!
//! # Layout
//! - [`startup`]: `Application::build(settings, shutdown)`.
//! - [`settings`]: the service's settings (prefix `PAYMENT__`, plus `PAYMENT_LIMIT_CENTS`).
//! - [`handlers`]: the `payment-service` consumer group on `orders`
//!   ([`handlers::orders`]).
//! - [`http`]: read-only REST views ([`http::payments`]), each with its `#[utoipa::path]`,
//!   from which `GET /openapi.json` is generated.
//! - `migrations/`: the `payments` table.

pub mod handlers;
pub mod http;
pub mod settings;
pub mod startup;
