//! What predict-rest and predict-grpc share: flags, logging, loading the
//! model, TLS files, and the shutdown sequence (SIGTERM or Ctrl-C: stop
//! accepting, finish requests in flight for at most 10 s, exit 0).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::{Model, SharedModel, model};

/// How long requests in flight may take to finish after a stop signal.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags common to both servers.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Model file to serve (default: the model built into this binary,
    /// servers/model/model.bin).
    #[arg(long, env = "PREDICT_MODEL", value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, env = "PREDICT_THREADS", value_name = "N")]
    pub threads: Option<usize>,
    /// PEM certificate chain: serve TLS instead of cleartext (needs --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl ServerArgs {
    /// Where the model comes from, for log lines.
    pub fn model_source(&self) -> String {
        match &self.model {
            Some(p) => p.display().to_string(),
            None => format!("built-in ({})", model::BUILTIN_PATH),
        }
    }

    /// Reads the model named by --model, or the built-in one.
    pub fn load_model(&self) -> Result<Model> {
        match &self.model {
            Some(p) => Model::load(p).with_context(|| format!("loading model {}", p.display())),
            None => Model::builtin().context("loading the built-in model"),
        }
    }

    /// A runtime with --threads workers.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        if let Some(n) = self.threads {
            anyhow::ensure!(n > 0, "--threads must be at least 1");
            rt.worker_threads(n);
        }
        rt.enable_all().build().context("starting the runtime")
    }
}

/// Logs to stderr; RUST_LOG overrides the default level (info).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Completes on SIGTERM or Ctrl-C (SIGINT). The handlers are installed when
/// this is called, not when the future is first polled, so that a signal sent
/// right after the start line is not lost.
pub fn stop_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    tracing::warn!("cannot listen for SIGTERM; Ctrl-C only");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Binds `addr`, runs `serve` with a shutdown future, loads the model in the
/// background (readiness turns on when it is in), logs one line at start and
/// one at stop, and bounds the drain after a stop signal.
pub async fn run<F, Fut>(name: &str, addr: SocketAddr, args: &ServerArgs, serve: F) -> Result<()>
where
    F: FnOnce(tokio::net::TcpListener, SharedModel, tokio::sync::oneshot::Receiver<()>) -> Fut,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    let stop = stop_signal();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    let model = SharedModel::empty();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let mut server = tokio::spawn(serve(listener, model.clone(), stop_rx));

    let loaded = {
        let args = args.clone();
        tokio::task::spawn_blocking(move || args.load_model())
            .await
            .context("model loader panicked")??
    };
    let labels = loaded.labels().join(",");
    model.set(loaded);
    tracing::info!(
        "{name} listening on {local} ({}), model {}, classes [{labels}]",
        if args.tls_cert.is_some() {
            "TLS"
        } else {
            "cleartext"
        },
        args.model_source()
    );

    tokio::select! {
        () = stop => {}
        ended = &mut server => {
            return ended.context("server task panicked")?;
        }
    }
    tracing::info!("{name} stopping: no new connections, draining requests in flight");
    let _ = stop_tx.send(());
    match tokio::time::timeout(DRAIN_TIMEOUT, &mut server).await {
        Ok(ended) => ended.context("server task panicked")??,
        Err(_) => {
            tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; exiting anyway")
        }
    }
    tracing::info!("{name} stopped");
    Ok(())
}
