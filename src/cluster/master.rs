//! The master's side of the connections: a QUIC endpoint that screens each
//! worker (protocol version, join token, a hello within the handshake
//! timeout), then relays its control messages and statistics reports as
//! [`Event`]s on one channel. What a run does with them is the
//! [`super::coordinator`]'s business; nothing a peer sends can stop this
//! loop: a bad peer loses its own connection and the master goes on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quinn::{Connection, Endpoint, RecvStream, SendStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::identity::{IdentityError, MasterIdentity};
use super::token::Token;
use super::wire::{self, hello_reply, master_message};
use super::{MAX_WORKER_FRAME, PROTOCOL_VERSION, framing};

/// A worker that does not say hello within this long is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// QUIC application close codes.
pub mod close {
    pub const DONE: u32 = 0;
    pub const REJECTED: u32 = 1;
    pub const PROTOCOL: u32 = 2;
}

/// A worker that joined.
#[derive(Debug, Clone)]
pub struct WorkerInfo {
    /// Unique per connection on this master (a rejoining worker gets a new one).
    pub serial: u64,
    pub id: String,
    pub hostname: String,
    pub cores: u32,
    pub addr: SocketAddr,
    /// It runs in this process (a local worker of `volley run`): its plans
    /// name the scenario's files rather than carry them.
    pub in_process: bool,
}

/// What the connections report.
#[derive(Debug)]
pub enum Event {
    Joined(WorkerInfo, WorkerLink),
    Lost {
        serial: u64,
        reason: String,
    },
    Message {
        serial: u64,
        msg: wire::worker_message::Msg,
    },
    Report {
        serial: u64,
        report: wire::StatsReport,
    },
}

/// Sends control messages to one worker.
#[derive(Debug, Clone)]
pub struct WorkerLink(mpsc::UnboundedSender<Outgoing>);

/// A message on its way, with the run's start for plans: `start_in_ms` is
/// filled in as the plan is written, so that a thousand workers whose plans
/// leave over a second still start together.
#[derive(Debug)]
struct Outgoing(master_message::Msg, Option<std::time::Instant>);

impl WorkerLink {
    /// Queues a message; false if the connection is gone.
    pub fn send(&self, msg: master_message::Msg) -> bool {
        self.0.send(Outgoing(msg, None)).is_ok()
    }

    /// Queues a plan for a run that starts (or started) at `start`.
    pub fn send_plan(&self, plan: super::wire::Plan, start: std::time::Instant) -> bool {
        self.0
            .send(Outgoing(master_message::Msg::Plan(plan), Some(start)))
            .is_ok()
    }
}

/// Why the master could not start.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    #[error("{0}")]
    Identity(#[from] IdentityError),
    #[error("cannot listen on {addr} (UDP): {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// A listening master.
pub struct Master {
    endpoint: Endpoint,
    events: mpsc::UnboundedReceiver<Event>,
    fingerprint: String,
}

impl Master {
    /// Listens on `addr` and starts accepting workers.
    pub fn bind(
        addr: SocketAddr,
        identity: &MasterIdentity,
        token: Token,
    ) -> Result<Self, MasterError> {
        let config = identity.server_config()?;
        let endpoint =
            Endpoint::server(config, addr).map_err(|error| MasterError::Bind { addr, error })?;
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(accept_loop(endpoint.clone(), Arc::new(token), tx));
        Ok(Master {
            endpoint,
            events,
            fingerprint: identity.fingerprint(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// SHA-256 of the master's certificate, hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The next event; None only once the endpoint is closed.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// The next event if one is waiting, without waiting for one.
    pub fn try_next(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Closes every connection and waits (briefly) for the peers to hear it.
    pub async fn shutdown(&self, reason: &str) {
        self.endpoint.close(close::DONE.into(), reason.as_bytes());
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

async fn accept_loop(endpoint: Endpoint, token: Arc<Token>, events: mpsc::UnboundedSender<Event>) {
    let serials = Arc::new(AtomicU64::new(1));
    while let Some(incoming) = endpoint.accept().await {
        let token = token.clone();
        let events = events.clone();
        let serial = serials.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let addr = incoming.remote_address();
            let conn = match tokio::time::timeout(HANDSHAKE_TIMEOUT, incoming).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    debug!(%addr, "QUIC handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    debug!(%addr, "QUIC handshake timed out");
                    return;
                }
            };
            serve(conn, serial, &token, events).await;
        });
    }
}

/// Screens one connection, then relays it until it ends.
async fn serve(conn: Connection, serial: u64, token: &Token, events: mpsc::UnboundedSender<Event>) {
    let addr = conn.remote_address();
    let Greeted {
        mut send,
        recv,
        hello,
    } = match tokio::time::timeout(HANDSHAKE_TIMEOUT, hello(&conn)).await {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => {
            warn!(%addr, "dropping a peer: {e}");
            conn.close(close::PROTOCOL.into(), e.to_string().as_bytes());
            return;
        }
        Err(_) => {
            warn!(%addr, "dropping a peer that said no hello within {HANDSHAKE_TIMEOUT:?}");
            conn.close(close::PROTOCOL.into(), b"no hello in time");
            return;
        }
    };
    if let Some(reason) = refusal(&hello, token) {
        warn!(%addr, worker = %hello.worker_id, "refusing a worker: {reason}");
        let reply = wire::HelloReply {
            reply: Some(hello_reply::Reply::Reject(wire::Reject {
                reason: reason.clone(),
                protocol_version: PROTOCOL_VERSION,
            })),
        };
        let _ = framing::write(&mut send, &reply).await;
        let _ = send.finish();
        // Give the reject a moment to arrive before the close overtakes it.
        let _ = tokio::time::timeout(Duration::from_secs(1), send.stopped()).await;
        conn.close(close::REJECTED.into(), reason.as_bytes());
        return;
    }
    let welcome = wire::HelloReply {
        reply: Some(hello_reply::Reply::Welcome(wire::Welcome {
            protocol_version: PROTOCOL_VERSION,
            volley_version: env!("CARGO_PKG_VERSION").into(),
        })),
    };
    if let Err(e) = framing::write(&mut send, &welcome).await {
        debug!(%addr, "worker left during the handshake: {e}");
        return;
    }
    let info = WorkerInfo {
        serial,
        id: hello.worker_id.clone(),
        hostname: hello.hostname.clone(),
        cores: hello.cores.max(1),
        addr,
        in_process: super::shared::is_own_key(&hello.process_key),
    };
    info!(%addr, worker = %info.id, host = %info.hostname, cores = info.cores, "worker joined");
    let (tx, mut rx) = mpsc::unbounded_channel();
    if events.send(Event::Joined(info, WorkerLink(tx))).is_err() {
        return;
    }
    let reason = relay(&conn, serial, &mut send, recv, &mut rx, &events).await;
    info!(%addr, worker = %hello.worker_id, "worker gone: {reason}");
    let _ = events.send(Event::Lost { serial, reason });
}

/// A peer that opened its control stream and said hello.
struct Greeted {
    send: SendStream,
    recv: RecvStream,
    hello: wire::Hello,
}

/// Why a peer was dropped before its hello was read.
#[derive(Debug, thiserror::Error)]
enum HelloError {
    #[error("no control stream: {0}")]
    NoStream(quinn::ConnectionError),
    #[error("bad hello: {0}")]
    Bad(framing::FrameError),
}

async fn hello(conn: &Connection) -> Result<Greeted, HelloError> {
    let (send, mut recv) = conn.accept_bi().await.map_err(HelloError::NoStream)?;
    // A hello is small; a larger first frame is not a worker.
    let hello: wire::Hello = framing::read(&mut recv, 64 * 1024)
        .await
        .map_err(HelloError::Bad)?;
    Ok(Greeted { send, recv, hello })
}

fn refusal(hello: &wire::Hello, token: &Token) -> Option<String> {
    if hello.protocol_version != PROTOCOL_VERSION {
        return Some(format!(
            "this master speaks volley cluster protocol {PROTOCOL_VERSION} (volley {}), the worker speaks protocol {} (volley {}): run the same volley release on both",
            env!("CARGO_PKG_VERSION"),
            hello.protocol_version,
            if hello.volley_version.is_empty() {
                "unknown"
            } else {
                &hello.volley_version
            }
        ));
    }
    if hello.token.is_empty() {
        return Some("the worker gave no join token (--token-file or VOLLEY_TOKEN)".into());
    }
    if !token.matches(&hello.token) {
        return Some("the worker's join token is wrong".into());
    }
    None
}

/// Relays control messages and reports until the connection ends; returns why.
async fn relay(
    conn: &Connection,
    serial: u64,
    send: &mut SendStream,
    recv: RecvStream,
    outgoing: &mut mpsc::UnboundedReceiver<Outgoing>,
    events: &mpsc::UnboundedSender<Event>,
) -> String {
    // Frames are read by a task of their own: a read raced in select! and
    // dropped halfway would lose the bytes it had taken.
    let mut incoming = framing::reader::<wire::WorkerMessage>(recv, MAX_WORKER_FRAME);
    loop {
        tokio::select! {
            msg = outgoing.recv() => {
                let Some(Outgoing(mut msg, start)) = msg else { return "the master let go of it".into() };
                if let (master_message::Msg::Plan(plan), Some(start)) = (&mut msg, start) {
                    let now = std::time::Instant::now();
                    plan.start_in_ms = if start >= now {
                        start.duration_since(now).as_millis() as i64
                    } else {
                        -(now.duration_since(start).as_millis() as i64)
                    };
                }
                let quit = matches!(msg, master_message::Msg::Quit(_));
                let frame = wire::MasterMessage { msg: Some(msg) };
                if let Err(e) = framing::write(send, &frame).await {
                    return format!("sending to it: {e}");
                }
                if quit {
                    let _ = send.finish();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn.closed()).await;
                    return "told to quit".into();
                }
            }
            msg = incoming.recv() => match msg {
                Some(Ok(wire::WorkerMessage { msg: Some(msg) })) => {
                    let _ = events.send(Event::Message { serial, msg });
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    let reason = closed_reason(conn).unwrap_or_else(|| format!("control stream: {e}"));
                    conn.close(close::PROTOCOL.into(), b"bad control frame");
                    return reason;
                }
                None => {
                    return closed_reason(conn).unwrap_or_else(|| "control stream ended".into());
                }
            },
            uni = conn.accept_uni() => match uni {
                Ok(mut stream) => {
                    let events = events.clone();
                    let conn = conn.clone();
                    tokio::spawn(async move {
                        match framing::read::<wire::StatsReport>(&mut stream, MAX_WORKER_FRAME).await {
                            Ok(report) => {
                                let _ = events.send(Event::Report { serial, report });
                            }
                            Err(e) => {
                                // Garbage on a statistics stream: this peer is
                                // not a sound worker; drop it.
                                warn!(addr = %conn.remote_address(), "bad statistics stream: {e}");
                                conn.close(close::PROTOCOL.into(), b"bad statistics frame");
                            }
                        }
                    });
                }
                Err(e) => return closed_reason(conn).unwrap_or_else(|| e.to_string()),
            },
        }
    }
}

fn closed_reason(conn: &Connection) -> Option<String> {
    conn.close_reason().map(|r| match r {
        quinn::ConnectionError::TimedOut => "no answer for the idle timeout (lost)".to_owned(),
        quinn::ConnectionError::ApplicationClosed(c) => {
            format!("closed: {}", String::from_utf8_lossy(&c.reason))
        }
        other => other.to_string(),
    })
}
