//! Kafka handlers of the consumer group `payment-service` (topic `orders`).

pub mod orders;
