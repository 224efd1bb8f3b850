//! order-service: accepts orders, hosts the order status read model, and cancels orders when
//! their payment is declined or the customer asks.
//!
//! # Layout
//! - [`startup`]: `build(settings, shutdown)`, wiring everything below.
//! - [`settings`]: the service's settings (prefix `ORDER__`).
//! - [`http`]: REST endpoints, thin: extract, call [`core`], map the result. Each carries its
//!   `#[utoipa::path]`; `GET /openapi.json` is generated from them.
//! - [`grpc`]: the gRPC service `orderflow.v1.Orders` on its own port, as thin over the same
//!   [`core`], with health, reflection and the `WatchOrder` stream.
//! - [`core`]: the use cases: [`core::place`], [`core::cancel`], [`core::query`], and
//!   [`core::follow`] (an order's view as it changes, for long polls and streams).
//! - [`domain`]: new orders as typed newtypes that validate themselves
//!   ([`domain::new_order`]), and the statuses and state machine of the read model
//!   ([`domain::status`]).
//! - [`consumers`]: one module per Kafka consumer group, named after it:
//!   [`consumers::order_status_projector`] (the read model) and [`consumers::order_service`]
//!   (cancellations).
//! - [`read_model`]: the read model's lifecycle beside the projector: a shadow rebuilt from
//!   the log, swapped in while the platform runs, verified against the live views.
//! - [`watch`]: wake-ups for long polls and streams, fed by the projector's notifications
//!   (PostgreSQL LISTEN/NOTIFY).
//! - `migrations/`: the service's tables.

pub mod consumers;
pub mod core;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod read_model;
pub mod settings;
pub mod startup;
pub mod watch;
