//! Compiles `orderflow/v1/*.proto` with protox (pure Rust, no system `protoc`) into the tonic
//! server and client, and keeps the encoded descriptor set for server reflection.

use prost::Message;
use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=orderflow");
    // protox::compile includes the imported files (google/protobuf/timestamp.proto), which
    // reflection must be able to serve too.
    let descriptors = protox::compile(["orderflow/v1/orders.proto"], ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(
        out.join("orderflow_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .codec_path("crate::SmallBufferCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
