//! Compiles proto/volley/v1/cluster.proto (the master/worker protocol) with
//! protox, so that building needs no protoc, and generates its prost types.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto");
    let file = "volley/v1/cluster.proto";
    println!("cargo:rerun-if-changed={}", proto_root.join(file).display());
    let fds = protox::compile([file], [&proto_root])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
