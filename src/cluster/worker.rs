//! `volley worker`: connects to a master, runs the engine on the plans it
//! receives and streams a statistics report per interval. Safety first: when
//! the connection to the master is lost, load stops at once, and it starts
//! again only on a new plan from a master. Between runs, and after losing a
//! master, the worker reconnects with backoff. Told to stop (SIGTERM), it
//! stops its load, sends its last report and says it left, so that the
//! master hands its share to the others, then exits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use quinn::{Connection, Endpoint, RecvStream, SendStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::identity::Trust;
use super::token::Token;
use super::wire::{self, hello_reply, master_message, worker_message};
use super::{MAX_MASTER_FRAME, PROTOCOL_VERSION, convert, framing};
use crate::engine::health::{CpuClock, cores};
use crate::engine::{self, EngineEnd, EngineHandle, Plan};
use crate::stats::Snapshot;
use crate::stats::snapshot::Sparse;

/// How a worker finds and trusts its master.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// host:port of the master.
    pub master: String,
    pub trust: Trust,
    pub token: Token,
    /// Stable across reconnects; shown on the master.
    pub id: String,
    /// Load threads (0: one per core).
    pub threads: usize,
    /// Exit when the master goes away instead of reconnecting (local
    /// workers of `volley run`).
    pub once: bool,
    /// Runs in its master's process (`volley run`'s local workers): says so
    /// in its hello, and takes the scenario's files from the process's
    /// store rather than as bytes (see [`super::shared`]).
    pub in_process: bool,
}

/// Why a worker gave up.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot resolve the master {0}: {1}")]
    Resolve(String, String),
    #[error("{0}")]
    Setup(String),
    #[error("the master refused this worker: {0}")]
    Rejected(String),
}

/// How one connection ended.
enum SessionEnd {
    /// Told to quit.
    Quit,
    /// Connection lost or closed; reconnect.
    Lost(String),
}

/// Runs the worker until it is told to quit, refused, or `stop` is
/// cancelled (then it leaves its run cleanly first).
pub async fn run(config: WorkerConfig, stop: CancellationToken) -> Result<(), WorkerError> {
    let mut backoff = Duration::from_millis(250);
    loop {
        if stop.is_cancelled() {
            return Ok(());
        }
        let addr = resolve(&config.master).await?;
        let client_config = config
            .trust
            .client_config(addr)
            .map_err(|e| WorkerError::Setup(e.to_string()))?;
        let bind: SocketAddr = if addr.is_ipv6() {
            "[::]:0"
                .parse()
                .map_err(|_| WorkerError::Setup("bind".into()))?
        } else {
            "0.0.0.0:0"
                .parse()
                .map_err(|_| WorkerError::Setup("bind".into()))?
        };
        let mut endpoint = Endpoint::client(bind)
            .map_err(|e| WorkerError::Setup(format!("opening a UDP socket: {e}")))?;
        endpoint.set_default_client_config(client_config);
        let server_name = server_name(&config.master);
        let attempt = match endpoint.connect(addr, &server_name) {
            Ok(connecting) => tokio::select! {
                c = connecting => c.map_err(|e| e.to_string()),
                () = stop.cancelled() => return Ok(()),
            },
            Err(e) => Err(e.to_string()),
        };
        let end = match attempt {
            Ok(conn) => {
                backoff = Duration::from_millis(250);
                session(&conn, &config, &stop).await?
            }
            Err(e) => SessionEnd::Lost(format!("cannot connect to {addr}: {e}")),
        };
        endpoint.close(0u32.into(), b"bye");
        match end {
            SessionEnd::Quit => return Ok(()),
            SessionEnd::Lost(reason) => {
                if config.once {
                    info!("master gone ({reason}); exiting");
                    return Ok(());
                }
                warn!(
                    "master {}: {reason}; load stopped; retrying in {backoff:?}",
                    config.master
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = stop.cancelled() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

async fn resolve(master: &str) -> Result<SocketAddr, WorkerError> {
    let mut addrs = tokio::net::lookup_host(master)
        .await
        .map_err(|e| WorkerError::Resolve(master.into(), e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| WorkerError::Resolve(master.into(), "no address".into()))
}

/// The name the master's certificate is checked against: the host of
/// --master (an IP address works when the certificate names it).
fn server_name(master: &str) -> String {
    let host = match master.rsplit_once(':') {
        Some((h, _)) => h,
        None => master,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        "localhost".into()
    } else {
        host.into()
    }
}

/// One connection: hello, then plans until it ends.
async fn session(
    conn: &Connection,
    config: &WorkerConfig,
    stop: &CancellationToken,
) -> Result<SessionEnd, WorkerError> {
    let (mut send, mut recv) = match conn.open_bi().await {
        Ok(s) => s,
        Err(e) => return Ok(SessionEnd::Lost(e.to_string())),
    };
    let hello = wire::Hello {
        protocol_version: PROTOCOL_VERSION,
        worker_id: config.id.clone(),
        hostname: super::identity::hostname().unwrap_or_default(),
        cores: if config.threads > 0 {
            config.threads as u32
        } else {
            cores()
        },
        token: config.token.expose().to_owned(),
        volley_version: env!("CARGO_PKG_VERSION").into(),
        process_key: if config.in_process {
            super::shared::process_key().to_vec()
        } else {
            Vec::new()
        },
    };
    if let Err(e) = framing::write(&mut send, &hello).await {
        return Ok(SessionEnd::Lost(format!("sending hello: {e}")));
    }
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        framing::read::<wire::HelloReply>(&mut recv, 64 * 1024),
    )
    .await;
    match reply {
        Ok(Ok(wire::HelloReply {
            reply: Some(hello_reply::Reply::Welcome(_)),
        })) => {}
        Ok(Ok(wire::HelloReply {
            reply: Some(hello_reply::Reply::Reject(r)),
        })) => return Err(WorkerError::Rejected(r.reason)),
        Ok(Ok(_)) => return Ok(SessionEnd::Lost("an empty answer to hello".into())),
        Ok(Err(e)) => return Ok(SessionEnd::Lost(format!("no answer to hello: {e}"))),
        Err(_) => return Ok(SessionEnd::Lost("no answer to hello in 10 s".into())),
    }
    info!("joined master {} as {}", config.master, config.id);
    let mut running: Option<Running> = None;
    let end = serve(conn, &mut send, recv, config, &mut running, stop).await;
    // Whatever ended the session, no load without a master.
    if let Some(r) = running.take() {
        r.handle.stop();
        tokio::task::spawn_blocking(move || r.handle.join());
    }
    Ok(end)
}

/// The engine of the current plan.
struct Running {
    run_id: u64,
    handle: EngineHandle,
    snapshots: mpsc::UnboundedReceiver<Snapshot<Sparse>>,
    sent: u64,
    cpu: CpuClock,
}

async fn serve(
    conn: &Connection,
    send: &mut SendStream,
    recv: RecvStream,
    config: &WorkerConfig,
    running: &mut Option<Running>,
    stop: &CancellationToken,
) -> SessionEnd {
    // Frames are read by a task of their own (see framing::reader).
    let mut incoming = framing::reader::<wire::MasterMessage>(recv, MAX_MASTER_FRAME);
    // Told to stop: the engine stops, its last snapshot goes out, then Done
    // says the worker left, and the session ends.
    let mut leaving = false;
    // Reports still on their way (awaited before leaving).
    let mut in_flight: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    loop {
        tokio::select! {
            () = stop.cancelled(), if !leaving => {
                leaving = true;
                match running.as_ref() {
                    Some(r) => {
                        info!("stopping: the last report goes to the master, then this worker leaves");
                        r.handle.stop();
                    }
                    None => {
                        conn.close(0u32.into(), b"worker stopped");
                        return SessionEnd::Quit;
                    }
                }
            }
            msg = incoming.recv() => {
                let msg = match msg {
                    Some(Ok(wire::MasterMessage { msg: Some(m) })) => m,
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return SessionEnd::Lost(conn.close_reason().map(|r| r.to_string()).unwrap_or_else(|| e.to_string())),
                    None => return SessionEnd::Lost("control stream ended".into()),
                };
                match msg {
                    master_message::Msg::Plan(plan) => {
                        if let Some(r) = running.take() {
                            r.handle.stop();
                            tokio::task::spawn_blocking(move || r.handle.join());
                        }
                        let run_id = plan.run_id;
                        match start(plan, config.threads) {
                            Ok(r) => {
                                *running = Some(r);
                                let m = worker_message::Msg::Started(wire::Started { run_id });
                                if let Err(e) = framing::write(send, &wire::WorkerMessage { msg: Some(m) }).await {
                                    return SessionEnd::Lost(e.to_string());
                                }
                            }
                            Err(e) => {
                                warn!("cannot run the plan: {e}");
                                let m = worker_message::Msg::Done(wire::Done { run_id, snapshots: 0, error: e.to_string(), left: false });
                                if let Err(e) = framing::write(send, &wire::WorkerMessage { msg: Some(m) }).await {
                                    return SessionEnd::Lost(e.to_string());
                                }
                            }
                        }
                    }
                    master_message::Msg::Update(u) => {
                        if let Some(r) = running.as_ref().filter(|r| r.run_id == u.run_id) {
                            if let Ok(share) = convert::share_from_wire(u.share.as_ref()) {
                                r.handle.set_share(share);
                            }
                            if let Some(t) = u.total.filter(|t| t.is_finite()) {
                                r.handle.set_total(t);
                            }
                        }
                    }
                    master_message::Msg::Stop(s) => {
                        if let Some(r) = running.as_ref().filter(|r| r.run_id == s.run_id) {
                            r.handle.stop();
                        }
                    }
                    master_message::Msg::Quit(q) => {
                        info!("the master says quit: {}", q.reason);
                        if let Some(r) = running.take() {
                            r.handle.stop();
                        }
                        conn.close(0u32.into(), b"quit");
                        return SessionEnd::Quit;
                    }
                }
            }
            snap = next_snapshot(running) => {
                let Some(r) = running.as_mut() else { continue };
                match snap {
                    Some(s) => {
                        r.sent += 1;
                        let report = wire::StatsReport {
                            run_id: r.run_id,
                            seq: r.sent,
                            snapshot: Some(convert::snapshot_to_wire(&s)),
                            // The engine's own threads (what the verdict
                            // judges, and per worker when several share a
                            // process), else the whole process's.
                            cpu_percent: if s.cpu_percent.is_finite() && s.cpu_percent > 0.0 {
                                r.cpu.percent();
                                s.cpu_percent
                            } else {
                                r.cpu.percent()
                            },
                        };
                        let conn = conn.clone();
                        // Each report on a stream of its own, sent beside the
                        // control stream, so neither waits for the other.
                        in_flight.retain(|t| !t.is_finished());
                        in_flight.push(tokio::spawn(async move {
                            if let Ok(mut uni) = conn.open_uni().await {
                                let _ = framing::write(&mut uni, &report).await;
                                let _ = uni.finish();
                                // Until the master has read it all (bounded).
                                let _ = tokio::time::timeout(Duration::from_secs(5), uni.stopped()).await;
                            }
                        }));
                    }
                    None => {
                        let Some(r) = running.take() else { continue };
                        let (run_id, sent) = (r.run_id, r.sent);
                        if leaving {
                            // The last reports first: Done says how many.
                            for t in in_flight.drain(..) {
                                let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
                            }
                        }
                        let end = tokio::task::spawn_blocking(move || r.handle.join()).await;
                        let error = match end {
                            Ok(EngineEnd::Finished) => String::new(),
                            Ok(EngineEnd::Failed(e)) => e.to_string(),
                            Err(e) => format!("engine: {e}"),
                        };
                        let m = worker_message::Msg::Done(wire::Done { run_id, snapshots: sent, error, left: leaving });
                        if let Err(e) = framing::write(send, &wire::WorkerMessage { msg: Some(m) }).await {
                            return SessionEnd::Lost(e.to_string());
                        }
                        if leaving {
                            // Give the last report and Done time to arrive
                            // before the connection closes.
                            let _ = send.finish();
                            let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
                            conn.close(0u32.into(), b"worker stopped");
                            return SessionEnd::Quit;
                        }
                    }
                }
            }
            e = conn.closed() => return SessionEnd::Lost(e.to_string()),
        }
    }
}

async fn next_snapshot(running: &mut Option<Running>) -> Option<Snapshot<Sparse>> {
    match running {
        Some(r) => r.snapshots.recv().await,
        None => std::future::pending().await,
    }
}

/// Why a plan could not start; its Done says so to the master.
#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error(transparent)]
    Wire(#[from] convert::ConvertError),
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
}

/// Compiles the plan's scenario and starts the engine.
fn start(plan: wire::Plan, threads: usize) -> Result<Running, PlanError> {
    let source = convert::source_from_wire(plan.scenario.unwrap_or_default())?;
    let scenario = crate::scenario::compile::compile_source(&source)?;
    let load = convert::load_from_wire(&plan.load.unwrap_or_default())?;
    let share = convert::share_from_wire(plan.share.as_ref())?;
    let (start_at, offset) = if plan.start_in_ms >= 0 {
        (
            Some(SystemTime::now() + Duration::from_millis(plan.start_in_ms.unsigned_abs())),
            Duration::ZERO,
        )
    } else {
        (None, Duration::from_millis(plan.start_in_ms.unsigned_abs()))
    };
    let (tx, snapshots) = mpsc::unbounded_channel();
    let handle = engine::start(
        Plan {
            scenario: Arc::new(scenario),
            load,
            share,
            threads: if plan.threads > 0 {
                plan.threads as usize
            } else {
                threads
            },
            interval: Duration::from_millis(plan.interval_ms.clamp(100, 60_000)),
            start_at,
            offset,
            record: (!plan.record.is_empty()).then(|| std::path::PathBuf::from(&plan.record)),
        },
        tx,
    );
    Ok(Running {
        run_id: plan.run_id,
        handle,
        snapshots,
        sent: 0,
        cpu: CpuClock::new(cores()),
    })
}
