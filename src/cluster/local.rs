//! Workers in this process: how `volley run` and `volley demo` generate load.
//! They connect to a master on loopback over real QUIC, exactly as remote
//! workers do, so one code path serves a laptop and a cluster.

use std::net::SocketAddr;

use tokio::task::JoinHandle;
use tracing::warn;

use super::identity::Trust;
use super::token::Token;
use super::worker::{self, WorkerConfig};

/// Starts `n` workers that trust exactly the master's certificate and exit
/// when it lets them go. Each uses `threads` load threads (0: all cores).
pub fn spawn(
    n: usize,
    master: SocketAddr,
    fingerprint: &str,
    token: &Token,
    threads: usize,
) -> Result<Vec<JoinHandle<()>>, super::identity::IdentityError> {
    let trust = Trust::fingerprint(fingerprint)?;
    Ok((0..n)
        .map(|i| {
            let config = WorkerConfig {
                master: master.to_string(),
                trust: trust.clone(),
                token: token.clone(),
                id: format!("local-{}", i + 1),
                threads,
                once: true,
                in_process: true,
            };
            tokio::spawn(async move {
                // In-process workers stop with their master, not on signals.
                let never = tokio_util::sync::CancellationToken::new();
                if let Err(e) = worker::run(config, never).await {
                    warn!("local worker: {e}");
                }
            })
        })
        .collect())
}
