//! Kafka handlers of the consumer group `shipping-service` (topics `payments`, `orders`).

pub mod events;
