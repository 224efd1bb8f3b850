//! The gRPC contract of orderflow, compiled from `orderflow/v1/orders.proto` (beside this
//! crate, next to the Avro event contract in `schemas/avro/`).
//!
//! # Layout
//! - `orderflow/v1/orders.proto`: the single source of truth: service `orderflow.v1.Orders`,
//!   its messages, and the error codes and metadata it uses (read its header).
//! - [`v1`]: the generated messages, the server trait ([`v1::orders_server`], implemented by
//!   order-service) and the client ([`v1::orders_client`], for callers and tests).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for server reflection.
//!
//! `build.rs` compiles the proto with protox, so building needs no system `protoc`.

/// Package `orderflow.v1`.
pub mod v1 {
    tonic::include_proto!("orderflow.v1");
}

/// The encoded `FileDescriptorSet` of the contract and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/orderflow_descriptor.bin"));
