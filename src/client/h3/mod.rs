//! HTTP/3 on quinn and the h3 crate: QUIC connections to a target (ALPN
//! `h3`, the same TLS settings as HTTP/2), each driven by a task of its
//! own, and requests as streams opened by the user's task. What the server
//! sends is read through [`guard`], which bounds what a frame can make
//! volley hold; errors become failures in [`failure`].
//!
//! Connections go out of a few UDP sockets per target (quinn endpoints),
//! shared round-robin: QUIC tells connections apart by their IDs, not by
//! their sockets, and a socket per connection would cost a descriptor and
//! a task per user for nothing.

pub mod failure;
pub mod guard;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use http::Request;
use http_body_util::Full;

use super::answer::{Headers, HttpAnswer, Keep};
use super::body::Collect;
use super::decode::Encoding;
use super::http::Stale;
use super::tls::{self, TlsError};
use crate::scenario::TlsSpec;
use crate::stats::{Failure, FailureKind};

/// The most bytes of an answer's header section volley accepts, decoded
/// (as for HTTP/2).
const MAX_FIELD_SECTION: u64 = 16 << 10;

/// How long a connection may stay silent before QUIC ends it: as browsers,
/// long enough for a user's pauses between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a QUIC handshake may take before the connection counts as
/// unanswered (UDP blocked, or no HTTP/3 server there); shorter when the
/// request's timeout is (see [`handshake_within`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a handshake may take under a request timeout of `timeout`:
/// three quarters of it, so that a handshake nobody answers fails as such
/// (UDP blocked) rather than as the request's timeout.
pub fn handshake_within(timeout: Duration) -> Duration {
    HANDSHAKE_TIMEOUT.min(timeout.mul_f64(0.75))
}

/// Endpoints (UDP sockets) per target at most.
const MAX_ENDPOINTS: usize = 8;

/// How an HTTP/3 target is reached: its address, its QUIC and TLS
/// configuration, and the sockets its connections go out of.
pub struct Quic {
    config: quinn::ClientConfig,
    /// host:port connected to (`connect_to` applied).
    addr: String,
    server_name: String,
    handshake: Duration,
    endpoints: Vec<parking_lot::Mutex<Option<quinn::Endpoint>>>,
    next: AtomicUsize,
}

/// Why an HTTP/3 target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum QuicError {
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("TLS for QUIC: {0}")]
    Quic(String),
}

impl Quic {
    /// A target at `addr` whose certificate must name `server_name`, its
    /// handshakes bounded by `handshake`.
    pub fn new(
        spec: &TlsSpec,
        addr: String,
        server_name: String,
        handshake: Duration,
    ) -> Result<Self, QuicError> {
        let tls = tls::client_config(spec, &[b"h3"])?;
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| QuicError::Quic(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok())
            // A server opens no request streams to a client.
            .max_concurrent_bidi_streams(quinn::VarInt::from_u32(0));
        config.transport_config(Arc::new(transport));
        let endpoints = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_ENDPOINTS);
        Ok(Quic {
            config,
            addr,
            server_name,
            handshake,
            endpoints: (0..endpoints)
                .map(|_| parking_lot::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
        })
    }

    pub fn set_handshake(&mut self, handshake: Duration) {
        self.handshake = handshake;
    }

    /// The next endpoint, bound on first use (a runtime is needed for it),
    /// again when the family it is bound to is not `v6`'s.
    fn endpoint(&self, v6: bool) -> Result<quinn::Endpoint, Failure> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len().max(1);
        let Some(slot) = self.endpoints.get(i) else {
            return Err(Failure::new(FailureKind::Internal, "no QUIC endpoint"));
        };
        let mut slot = slot.lock();
        // A socket of the address's family (a name may resolve to either).
        if let Some(e) = slot.as_ref()
            && e.local_addr().is_ok_and(|a| a.is_ipv6() == v6)
        {
            return Ok(e.clone());
        }
        let bind: SocketAddr = if v6 {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let e = quinn::Endpoint::client(bind).map_err(|e| {
            Failure::new(FailureKind::Connect, "cannot open a UDP socket")
                .with_detail(e.to_string())
        })?;
        *slot = Some(e.clone());
        Ok(e)
    }

    /// Opens a QUIC connection and starts HTTP/3 on it.
    pub async fn connect(&self) -> Result<H3Conn, Failure> {
        let addr = resolve(&self.addr).await?;
        let endpoint = self.endpoint(addr.is_ipv6())?;
        let connecting = endpoint
            .connect_with(self.config.clone(), addr, &self.server_name)
            .map_err(|e| {
                Failure::new(FailureKind::Connect, "cannot start a QUIC connection")
                    .with_detail(e.to_string())
            })?;
        let handshake = tokio::time::timeout(self.handshake, connecting);
        let quic = tokio::select! {
            done = handshake => match done {
                Err(_) => return Err(failure::unanswered(addr, self.handshake)),
                Ok(Err(e)) => return Err(failure::handshake(&e, addr, self.handshake)),
                Ok(Ok(c)) => c,
            },
            () = refusal(addr) => return Err(failure::refused(addr)),
        };
        let tripped = guard::Tripped::default();
        let h3 = h3::client::builder()
            .max_field_section_size(MAX_FIELD_SECTION)
            .build::<_, _, Bytes>(guard::Connection::new(quic.clone(), tripped.clone()))
            .await;
        let (mut driver, send) = match h3 {
            Ok(x) => x,
            Err(e) => return Err(failure::connection(&e, &tripped)),
        };
        let closed = Arc::new(AtomicBool::new(false));
        let ended = Ended(closed.clone());
        tokio::spawn(async move {
            // Set however the task ends, a panic in the driver included.
            let _ended = ended;
            let e = std::future::poll_fn(|cx| driver.poll_close(cx)).await;
            tracing::debug!("HTTP/3 connection ended: {e}");
        });
        Ok(H3Conn {
            send,
            closed,
            tripped,
            exchanges: 0,
            stale: Stale::No,
            arrived: 0,
        })
    }
}

/// Resolves when `addr`'s host says nothing listens on that UDP port (ICMP
/// port unreachable, or a firewall's reject), and never otherwise. quinn's
/// endpoints are unconnected sockets, to which the kernel reports no ICMP
/// errors: without this a QUIC connection to a closed port waits out its
/// whole handshake timeout (10 s), where a TCP connect fails at once. A
/// connected socket of its own sends one byte (shorter than any QUIC
/// packet: a server drops it unread, RFC 9000 §14.1) and waits for the
/// error the refusal makes its next receive return.
async fn refusal(addr: SocketAddr) {
    let any: SocketAddr = if addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let probe = async {
        let socket = tokio::net::UdpSocket::bind(any).await.ok()?;
        socket.connect(addr).await.ok()?;
        socket.send(&[0]).await.ok()?;
        let mut buf = [0u8; 64];
        // Datagrams that come back (none should) are read and passed over;
        // the handshake's timeout bounds the wait.
        loop {
            match socket.recv(&mut buf).await {
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return Some(()),
                Err(_) => return None,
            }
        }
    };
    if probe.await.is_none() {
        // Not known to be refused: the handshake decides.
        std::future::pending::<()>().await;
    }
}

/// Sets its flag when dropped: a connection's task has ended.
struct Ended(Arc<AtomicBool>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The first address `addr` (host:port) names.
async fn resolve(addr: &str) -> Result<SocketAddr, Failure> {
    let mut found = tokio::net::lookup_host(addr).await.map_err(|e| {
        Failure::new(FailureKind::Connect, "cannot resolve the host").with_detail(e.to_string())
    })?;
    found.next().ok_or_else(|| {
        Failure::new(FailureKind::Connect, "cannot resolve the host")
            .with_detail(format!("{addr}: no address"))
    })
}

type SendRequest = h3::client::SendRequest<guard::OpenStreams, Bytes>;

/// An HTTP/3 connection, or a user's handle on a shared one: requests are
/// streams of it.
pub struct H3Conn {
    send: SendRequest,
    /// Set when the connection's task has ended.
    closed: Arc<AtomicBool>,
    tripped: guard::Tripped,
    /// Exchanges completed on it.
    exchanges: u64,
    stale: Stale,
    /// Bytes of the current answer that have arrived, its head counted as
    /// HTTP/1.1 text.
    arrived: u64,
}

impl H3Conn {
    /// Another handle on this connection, for another user.
    pub fn share(&self) -> H3Conn {
        H3Conn {
            send: self.send.clone(),
            closed: self.closed.clone(),
            tripped: self.tripped.clone(),
            // A shared connection is never fresh: a request refused because
            // it closed may go again on a new one.
            exchanges: self.exchanges.max(1),
            stale: Stale::No,
            arrived: 0,
        }
    }

    /// Whether the connection has ended (its task has: the flag is read on
    /// every request, quinn's own state would cost a lock).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// Whether the last request failed only because the connection had
    /// closed under it: unsent, it may always go again; sent, only when
    /// idempotent.
    pub fn failed_stale(&self, idempotent: bool) -> bool {
        self.stale.may_retry(idempotent)
    }
}

/// Sends one HTTP/3 request (`req`, its body `body`) and reads the answer
/// as [`super::http::send_h2`] does: the body to its end, every byte
/// counted, at most `keep.body` kept. The request's body is sent while the
/// answer is awaited and read (a server may answer as it reads); what of it
/// is unsent when the exchange ends is cancelled (STOP_SENDING's
/// counterpart: the stream's sending side reset).
pub async fn send_h3(
    c: &mut H3Conn,
    req: Request<Full<Bytes>>,
    body: Bytes,
    keep: Keep<'_>,
) -> Result<HttpAnswer, Failure> {
    // A request that fails at once must still give the thread back now
    // and then (as over HTTP/2).
    tokio::task::consume_budget().await;
    c.stale = Stale::No;
    c.arrived = 0;
    let reused = c.exchanges > 0;
    let (mut parts, full) = req.into_parts();
    super::http::for_h2(&mut parts, &full);
    drop(full);
    let stream = match c.send.send_request(Request::from_parts(parts, ())).await {
        Ok(s) => s,
        Err(e) => {
            if reused {
                c.stale = failure::stale_unsent(&e, c.is_closed());
            }
            return Err(failure::stream(&e, &c.tripped));
        }
    };
    let (mut tx, mut rx) = stream.split();
    let mut sent = false;
    let result = {
        let sending = async {
            if !body.is_empty() {
                tx.send_data(body).await?;
            }
            tx.finish().await
        };
        let mut sending = std::pin::pin!(sending);
        let mut pump = |cx: &mut std::task::Context<'_>| {
            // A body that cannot be sent (the server stopped reading) is
            // left: the answer says why, if anything is wrong.
            if !sent && sending.as_mut().poll(cx).is_ready() {
                sent = true;
            }
        };
        exchange(c, &mut rx, &mut pump, keep).await
    };
    if !sent {
        tx.stop_stream(h3::error::Code::H3_REQUEST_CANCELLED);
    }
    match result {
        Ok(a) => {
            c.exchanges = c.exchanges.saturating_add(1);
            Ok(a)
        }
        Err(e) => {
            if reused {
                c.stale = failure::stale_sent(&e, c.is_closed());
            }
            Err(failure::stream(&e, &c.tripped))
        }
    }
}

type RecvStream = h3::client::RequestStream<guard::RecvStream<h3_quinn::RecvStream>, Bytes>;

/// Reads the answer on `rx`, calling `pump` whenever it is polled so that
/// the request's body goes on meanwhile.
async fn exchange(
    c: &mut H3Conn,
    rx: &mut RecvStream,
    pump: &mut impl FnMut(&mut std::task::Context<'_>),
    keep: Keep<'_>,
) -> Result<HttpAnswer, h3::error::StreamError> {
    let resp = {
        let mut head = std::pin::pin!(rx.recv_response());
        std::future::poll_fn(|cx| {
            pump(cx);
            head.as_mut().poll(cx)
        })
        .await?
    };
    let status = resp.status().as_u16();
    // QPACK hides the wire size of headers; count them as HTTP/1.1 would.
    let mut received = super::h2conn::head_len(resp.headers()) + 17;
    c.arrived = received;
    let headers = resp.into_parts().0.headers;
    let encoding = Encoding::of(&headers);
    let headers = Headers::kept(&keep, status, headers);
    let headed = Instant::now();
    let sink = keep.sink.filter(|s| s.open(status, &headers, encoding));
    let mut first_data = None;
    let mut kept = Collect::new(keep.body);
    let mut ended_early = false;
    loop {
        let data = std::future::poll_fn(|cx| {
            pump(cx);
            rx.poll_recv_data(cx)
        })
        .await?;
        let Some(mut data) = data else { break };
        let data = data.copy_to_bytes(data.remaining());
        if first_data.is_none() && !data.is_empty() {
            first_data = Some(Instant::now());
        }
        c.arrived = c.arrived.saturating_add(data.len() as u64);
        let enough = sink.is_some_and(|s| !s.data(&data));
        kept.push(data);
        if enough {
            // The sink has what it wanted: the rest is never read.
            ended_early = true;
            rx.stop_sending(h3::error::Code::H3_REQUEST_CANCELLED);
            break;
        }
    }
    if !ended_early {
        // Trailers, if any, are read and dropped: the stream ends with them.
        let mut trailers = std::pin::pin!(rx.recv_trailers());
        std::future::poll_fn(|cx| {
            pump(cx);
            trailers.as_mut().poll(cx)
        })
        .await?;
    }
    let body = kept.finish();
    received = received.saturating_add(body.len);
    Ok(HttpAnswer {
        status,
        body,
        received,
        headers,
        encoding,
        first_byte: first_data.unwrap_or(headed),
        protocol: http::Version::HTTP_3,
    })
}
