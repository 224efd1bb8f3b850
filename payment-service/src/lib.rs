//! payment-service: one payment per order, authorized or declined by a limit, refunded when
//! the order is cancelled.
//!
//! # Layout
//! - [`startup`]: `build(settings, shutdown)`.
//! - [`settings`]: the service's settings (prefix `PAYMENT__`, plus `PAYMENT_LIMIT_CENTS`).
//! - [`consumers`]: one module per Kafka consumer group, named after it:
//!   [`consumers::payment_service`] on `orders`, thin over [`core`].
//! - [`core`]: what the service does, over the database: decide and refund payments
//!   ([`core::decide`]), read them ([`core::query`]); [`core::PaymentError`].
//! - [`http`]: read-only REST views ([`http::payments`]), each with its `#[utoipa::path]`,
//!   from which `GET /openapi.json` is generated.
//! - `migrations/`: the `payments` table.

pub mod consumers;
pub mod core;
pub mod http;
pub mod settings;
pub mod startup;
