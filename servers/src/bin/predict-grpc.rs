//! predict-grpc: the prediction API over gRPC, with health and reflection.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use clap::Parser;
use predict::server::{self, ServerArgs};
use tonic::transport::{Identity, ServerTlsConfig};

/// Serves predict.v1.Predictor/Predict, grpc.health.v1.Health and server
/// reflection (v1 and v1alpha).
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "PREDICT_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    addr: SocketAddr,
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    server::init_logging();
    let tls = match (&cli.server.tls_cert, &cli.server.tls_key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(cert)
                .with_context(|| format!("reading certificate {}", cert.display()))?;
            let key_pem =
                std::fs::read(key).with_context(|| format!("reading key {}", key.display()))?;
            Some(ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem)))
        }
        _ => None,
    };
    cli.server.runtime()?.block_on(server::run(
        "predict-grpc",
        cli.addr,
        &cli.server,
        move |listener, model, stop| async move {
            predict::grpc::serve(listener, model, tls, async {
                let _ = stop.await;
            })
            .await?;
            Ok(())
        },
    ))
}
