//! The gRPC contract of orderflow, compiled from `orderflow/v1/orders.proto` (beside this
//! crate, next to the Avro event contract in `schemas/avro/`).
//!
//! # Layout
//! - `orderflow/v1/orders.proto`: the single source of truth: service `orderflow.v1.Orders`,
//!   its messages, and the error codes and metadata it uses (read its header).
//! - [`v1`]: the generated messages, the server trait ([`v1::orders_server`], implemented by
//!   order-service) and the client ([`v1::orders_client`], for callers and tests).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded descriptors, for server reflection.
//! - [`SmallBufferCodec`]: the codec of every generated call, prost's with smaller buffers.
//!
//! `build.rs` compiles the proto with protox, so building needs no system `protoc`.

/// Package `orderflow.v1`.
pub mod v1 {
    tonic::include_proto!("orderflow.v1");
}

/// The encoded `FileDescriptorSet` of the contract and its imports.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/orderflow_descriptor.bin"));

use prost::Message;
use std::marker::PhantomData;
use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The codec of the generated server and client: prost's, starting each call's buffers at
/// 1 KiB instead of tonic's 8 KiB. A call's encode buffer lives as long as the call, so for a
/// long-lived `WatchOrder` stream the default size would be most of what an open stream costs
/// the server; an order is far smaller, and a larger message (a page of orders) grows the buffer as needed.
#[derive(Debug)]
pub struct SmallBufferCodec<T, U>(PhantomData<(T, U)>);

/// The first size of a call's encode and decode buffers.
const BUFFER_BYTES: usize = 1024;
/// tonic's default: how much a stream encodes before it yields.
const YIELD_THRESHOLD: usize = 32 * 1024;

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        SmallBufferCodec(PhantomData)
    }
}

impl<T, U> Codec for SmallBufferCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(BufferSettings::new(BUFFER_BYTES, YIELD_THRESHOLD))
    }
}
