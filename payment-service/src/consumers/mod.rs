//! The Kafka consumers of payment-service, one module per consumer group, named after it
//! (`schemas::Group`).
//!
//! - [`payment_service`]: `orders`: authorize or decline a placed order, refund a cancelled one.

pub mod payment_service;
