//! Compiles proto/predict/v1/predict.proto with protox (pure Rust, no protoc on
//! the machine) and feeds the descriptors to tonic's code generator. The
//! encoded descriptor set is also written out for the reflection service.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto");
    let file = "predict/v1/predict.proto";
    println!("cargo:rerun-if-changed={}", proto_root.join(file).display());

    let fds = protox::compile([file], [&proto_root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("predict_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Every method of the Predictor trait gets a default that answers
        // UNIMPLEMENTED, so that a test double implementing only Predict
        // (tests/integration/grpc_like_clients.rs) still compiles now that
        // the service has PredictStream too. predict::grpc implements both.
        .generate_default_stubs(true)
        .compile_fds(fds)?;
    Ok(())
}
