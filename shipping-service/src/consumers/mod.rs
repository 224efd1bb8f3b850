//! The Kafka consumers of shipping-service, one module per consumer group, named after it
//! (`schemas::Group`).
//!
//! - [`shipping_service`]: `payments` and `orders`: schedule shipments, decide cancellations.

pub mod shipping_service;
