//! shipping-service: schedules shipments for paid orders, runs the warehouse actions, and
//! decides customer cancellations (only shipping knows whether a parcel left).
//!
//! # Layout
//! - [`startup`]: `build(settings, shutdown)`.
//! - [`settings`]: the service's settings (prefix `SHIPPING__`).
//! - [`consumers`]: one module per Kafka consumer group, named after it:
//!   [`consumers::shipping_service`] on `payments` and `orders`.
//! - [`core`]: the order lock and shipment state changes ([`core::warehouse`] for dispatch
//!   and delivery), and shipments as clients see them ([`core::query`]).
//! - [`http`]: REST endpoints ([`http::shipments`]), each with its `#[utoipa::path]`, from
//!   which `GET /openapi.json` is generated.
//! - `migrations/`: the `shipping_orders` and `shipments` tables.

pub mod consumers;
pub mod core;
pub mod http;
pub mod settings;
pub mod startup;
