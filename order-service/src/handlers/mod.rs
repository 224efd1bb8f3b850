//! Kafka handlers, one consumer group each.
//!
//! - [`projector`]: `order-status-projector`, builds the read model from all three topics.
//! - [`saga`]: `order-service`, turns a declined payment or an accepted cancellation into
//!   `OrderCancelled`.

pub mod projector;
pub mod saga;
