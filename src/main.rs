//! volley: a distributed load tester for REST and gRPC APIs.

use clap::Parser;

/// volley — a distributed load tester for REST and gRPC APIs.
///
/// Coming next: `volley run` (the load engine, headless mode and thresholds
/// for CI), `volley master` and `volley worker` (distributed runs over QUIC),
/// the live terminal console, and `volley demo`. Today this repository ships
/// the prediction API volley studies: see predict-rest, predict-grpc and
/// predict-train.
#[derive(Parser)]
#[command(version)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    println!(
        "volley {}: run `volley --help` to see what is coming",
        env!("CARGO_PKG_VERSION")
    );
}
