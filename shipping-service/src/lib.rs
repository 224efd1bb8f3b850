//! shipping-service: schedules shipments for paid orders, runs the warehouse actions, and
//! decides customer cancellations (only shipping knows whether a parcel left).
//!
//! # Layout
//! - [`startup`]: `Application::build(settings, shutdown)`.
//! - [`settings`]: the service's settings (prefix `SHIPPING__`).
//! - [`handlers`]: the `shipping-service` consumer group on `payments` and `orders`
//!   ([`handlers::events`]).
//! - [`core`]: the order lock and shipment state changes ([`core::warehouse`] for dispatch
//!   and delivery).
//! - [`http`]: REST endpoints ([`http::shipments`]), each with its `#[utoipa::path]`, from
//!   which `GET /openapi.json` is generated.
//! - `migrations/`: the `shipping_orders` and `shipments` tables.

pub mod core;
pub mod handlers;
pub mod http;
pub mod settings;
pub mod startup;
