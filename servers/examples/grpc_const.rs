//! grpc_const: `predict.v1.Predictor/Predict` answered with a constant, no
//! model: the gRPC target of bench/run-open-model, there to be faster than
//! one core of any generator (as nginx is for HTTP), so that what is
//! measured is the generator's own ceiling.
//!
//! It answers every Predict with `{category: 3, label: "sports"}` and
//! checks nothing (an empty text too); PredictStream is UNIMPLEMENTED. One
//! runtime thread unless `--threads` says more.
//!
//! ```sh
//! cargo build --release -p volley-predict --example grpc_const
//! taskset -c 1 target/release/examples/grpc_const --addr 127.0.0.1:50061
//! ```

use anyhow::{Context, Result};
use clap::Parser;
use predict::grpc::pb::predictor_server::{Predictor, PredictorServer};
use predict::grpc::pb::{PredictRequest, PredictResponse};
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

#[derive(Parser)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:50061")]
    addr: std::net::SocketAddr,
    /// Runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

struct Const;

#[tonic::async_trait]
impl Predictor for Const {
    async fn predict(
        &self,
        _request: Request<PredictRequest>,
    ) -> Result<Response<PredictResponse>, Status> {
        Ok(Response::new(PredictResponse {
            category: 3,
            label: "sports".to_owned(),
        }))
    }

    async fn predict_stream(
        &self,
        _request: Request<Streaming<PredictRequest>>,
    ) -> Result<Response<BoxStream<PredictResponse>>, Status> {
        Err(Status::unimplemented("grpc_const answers Predict only"))
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .context("starting the runtime")?;
    rt.block_on(async {
        tonic::transport::Server::builder()
            .add_service(PredictorServer::new(Const))
            .serve(cli.addr)
            .await
            .with_context(|| format!("serving on {}", cli.addr))
    })
}
