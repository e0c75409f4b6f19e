//! grpc_loop: the simplest fast gRPC client we can write, standing for the
//! throughput limit of a tonic client in bench/run-loadgen.
//!
//! Opens `--connections` HTTP/2 channels to predict-grpc, runs
//! `--concurrency` tasks spread round-robin over them, each calling
//! `predict.v1.Predictor/Predict` with one fixed text in a closed loop until
//! `--duration` has passed, and counts the answers: no latencies, no
//! histograms. Prints one JSON line, `{"requests": N, "seconds": S, "rps": R}`,
//! where S runs from the first call to the last answer. Any failed call stops
//! the run with an error: against a healthy local server there should be none.
//!
//! ```sh
//! cargo build --release -p volley-predict --example grpc_loop
//! taskset -c 1 target/release/examples/grpc_loop --addr 127.0.0.1:50051 \
//!     --connections 4 --concurrency 64 --duration 10s
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use predict::grpc::pb::PredictRequest;
use predict::grpc::pb::predictor_client::PredictorClient;
use tonic::transport::{Channel, Endpoint};

/// A closed-loop Predict client that only counts.
#[derive(Parser)]
struct Cli {
    /// predict-grpc's address, host:port (cleartext).
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// HTTP/2 connections to open.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Calls in flight: tasks that each call in a loop.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long to call for: a number with a unit, ms, s or m (e.g. 10s).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// The text to classify in every call.
    #[arg(
        long,
        default_value = "The central bank held interest rates steady on Thursday, citing cooling inflation."
    )]
    text: String,
    /// Tokio worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    threads: Option<usize>,
}

#[path = "shared/args.rs"]
mod args;
use args::parse_duration;

fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.connections == 0 || cli.concurrency == 0 {
        bail!("--connections and --concurrency must be at least 1");
    }
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.enable_all().build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> Result<()> {
    let uri = format!("http://{}", cli.addr);
    let mut channels: Vec<Channel> = Vec::with_capacity(cli.connections);
    for _ in 0..cli.connections {
        // One Endpoint::connect per channel: a separate HTTP/2 connection each.
        let channel = Endpoint::from_shared(uri.clone())?
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("connecting to {uri}"))?;
        channels.push(channel);
    }

    let start = Instant::now();
    let deadline = start + cli.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..cli.concurrency {
        let mut client = PredictorClient::new(channels[i % channels.len()].clone());
        let text = cli.text.clone();
        tasks.spawn(async move {
            let mut count: u64 = 0;
            while Instant::now() < deadline {
                client
                    .predict(PredictRequest { text: text.clone() })
                    .await
                    .context("Predict failed")?;
                count += 1;
            }
            anyhow::Ok(count)
        });
    }
    let mut requests: u64 = 0;
    while let Some(joined) = tasks.join_next().await {
        requests += joined??;
    }
    let seconds = start.elapsed().as_secs_f64();
    // Written by hand to keep the keys in this order.
    println!(
        "{{\"requests\": {requests}, \"seconds\": {}, \"rps\": {}}}",
        serde_json::json!(seconds),
        serde_json::json!(requests as f64 / seconds),
    );
    Ok(())
}
