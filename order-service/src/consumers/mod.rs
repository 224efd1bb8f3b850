//! The Kafka consumers of order-service, one module per consumer group, named after it
//! (`schemas::Group`).
//!
//! - [`order_status_projector`]: builds the read model from all three topics.
//! - [`order_service`]: the saga's order side, turns a declined payment or an accepted
//!   cancellation into `OrderCancelled`.

pub mod order_service;
pub mod order_status_projector;
