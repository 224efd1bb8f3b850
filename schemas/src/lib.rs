//! The event contract of orderflow: every event the services exchange over Kafka.
//!
//! # Layout
//! - `avro/<topic>/<Name>.v<N>.avsc` (beside this crate): the single source of truth, one file
//!   per event type and version. The newest version of each is the writer schema; older ones are
//!   kept so `tests/evolution.rs` can prove every step BACKWARD compatible.
//! - [`catalog`]: which event types exist, their topic and their newest schema, parsed once;
//!   the topics ([`Topic`]) and the consumer groups that read them ([`Group`]).
//! - [`events`]: the Rust records, one struct per event type, and [`DomainEvent`], the
//!   one enum a consumer matches on. A test checks each struct against its `.avsc` field by
//!   field, so the two can never drift apart.
//! - [`codec`]: Avro binary datum encoding (what the outbox stores) and decoding with schema
//!   resolution (writer schema from the registry, reader schema compiled in).
//! - [`status`]: the payment and shipment statuses the services store and show.
//!
//! Topics and keys: `orders`, `payments`, `shipments`; the key of every event is its
//! `order_id` as UTF-8 text, so one order's events keep their order within a topic.
//! Subjects follow TopicRecordNameStrategy: `<topic>-<namespace>.<Name>`.

pub mod catalog;
pub mod codec;
pub mod events;
pub mod status;

pub use catalog::{dead_letter_topic, Group, Topic};
pub use codec::CodecError;
pub use events::*;
pub use status::{PaymentStatus, ShipmentStatus};
