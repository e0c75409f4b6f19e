//! predict-rest: the prediction API over HTTP/1.1 and HTTP/2 (h2c or TLS).

use std::net::SocketAddr;

use anyhow::Result;
use clap::Parser;
use predict::server::{self, ServerArgs};

/// Serves POST /predict ({"text": "..."} → {"category": N, "label": "..."}),
/// POST /predict/stream ({"texts": [...]} → Server-Sent Events), GET
/// /predict/ws (WebSocket), GET /healthz and GET /readyz over HTTP/1.1 and
/// HTTP/2 on one port.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "PREDICT_REST_ADDR", default_value = "127.0.0.1:8000")]
    addr: SocketAddr,
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    server::init_logging();
    let tls = match (&cli.server.tls_cert, &cli.server.tls_key) {
        (Some(cert), Some(key)) => Some(tokio_rustls::TlsAcceptor::from(
            predict::tls::server_config(cert, key)?,
        )),
        _ => None,
    };
    cli.server.runtime()?.block_on(server::run(
        "predict-rest",
        cli.addr,
        &cli.server,
        move |listener, model, stop| async move {
            predict::rest::serve(listener, model, tls, async {
                let _ = stop.await;
            })
            .await;
            Ok(())
        },
    ))
}
