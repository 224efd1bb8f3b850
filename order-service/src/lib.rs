//! order-service: accepts orders, hosts the order status read model, and cancels orders when
//! their payment is declined or the customer asks.
//!
//! # Layout
//! - [`startup`]: `Application::build(settings, shutdown)`, wiring everything below.
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
//! - [`handlers`]: Kafka consumer groups: [`handlers::projector`] (read model) and
//!   [`handlers::saga`] (cancellations).
//! - [`watch`]: wake-ups for long polls and streams, fed by PostgreSQL LISTEN/NOTIFY.
//! - `migrations/`: the service's tables.

pub mod core;
pub mod domain;
pub mod grpc;
pub mod handlers;
pub mod http;
pub mod settings;
pub mod startup;
pub mod watch;
