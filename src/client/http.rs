//! HTTP client: a target (its address, TLS, proxy) and the connections
//! made to it (HTTP/1.1 keep-alive, or HTTP/2 by prior knowledge or ALPN),
//! made on first use and again after a transport failure: HTTP/1.1 on
//! volley's own client (`h1.rs`), HTTP/2 on h2 directly (`h2conn.rs`), so
//! that a request that ends resets what of its stream is still open. A
//! connection is a user's own, or over HTTP/2 a handle on one of the few
//! all users share (`[http] connections`); the engine keeps them
//! (`engine/exec/conns.rs`).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{HeaderValue, Request};
use http_body_util::Full;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

use super::alt_svc::{self, AltSvc};
use super::answer::{BodySink, Headers, HttpAnswer, Keep};
use super::body::{Body, Collect};
use super::h1::{H1Conn, Stream};
use super::h2conn::{self, Pipe};
use super::h3::{self as quic_h3, H3Conn, Quic};

use super::decode::Encoding;
use super::proxy::{self, Proxy};
use super::tls;
use crate::scenario::{HttpSpec, HttpVersion, TlsSpec};
use crate::stats::{Failure, FailureKind};

/// Where HTTP requests of one base URL go, resolved once.
pub struct HttpTarget {
    pub base: String,
    pub scheme: Scheme,
    pub authority: Authority,
    pub host_header: HeaderValue,
    addr: String,
    /// `[http] unix_socket`: connect there instead of `addr`.
    unix: Option<std::path::PathBuf>,
    /// The proxy this target is reached through.
    proxy: Option<Proxy>,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    version: HttpVersion,
    /// `version = "http3"`: how its QUIC connections are made.
    quic: Option<Quic>,
    /// `version = "auto"` over TLS: HTTP/3 as the server's `Alt-Svc`
    /// offers it.
    alt: Option<Box<Alt>>,
}

/// What a `version = "auto"` target has learnt of HTTP/3 from its answers.
pub struct Alt {
    tls: TlsSpec,
    /// The origin's host (an `Alt-Svc` without one means it) and the name
    /// its certificate must have.
    host: String,
    server_name: String,
    connect_to: Vec<(String, String)>,
    handshake: std::time::Duration,
    /// `state` is `Unknown` (answers are still read for an offer), and
    /// `state` is `Offered` (new connections go over HTTP/3): what every
    /// request asks, read without taking `state`'s lock.
    listening: AtomicBool,
    offered: AtomicBool,
    state: parking_lot::Mutex<AltState>,
}

enum AltState {
    Unknown,
    Offered(Arc<Quic>),
    /// Offered, but HTTP/3 could not be reached (or the server withdrew
    /// it): connections stay on TCP for the rest of the run.
    GivenUp,
}

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{base}: {message}")]
    Invalid { base: String, message: String },
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Quic(#[from] quic_h3::QuicError),
}

impl HttpTarget {
    /// Where plain-HTTP requests go through a proxy: their request line
    /// names the whole URL (absolute form) and carries the proxy's
    /// credentials. None: a direct connection, or a CONNECT tunnel.
    pub fn forward_proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref().filter(|_| self.tls.is_none())
    }

    pub fn new(spec: &HttpSpec) -> Result<Self, TargetError> {
        Self::with_base(spec, &spec.base)
    }

    /// The target at `base` (scheme://authority) with `spec`'s HTTP version
    /// and TLS settings: where a redirect leads.
    pub fn with_base(spec: &HttpSpec, base: &str) -> Result<Self, TargetError> {
        let invalid = |message: String| TargetError::Invalid {
            base: base.to_owned(),
            message,
        };
        let uri: http::Uri = base.parse().map_err(|e| invalid(format!("{e}")))?;
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("no host".into()))?;
        let https = scheme == Scheme::HTTPS;
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        // connect_to: the URL's host stays in Host, SNI and the certificate
        // check; only the address connected to changes.
        let addr = spec
            .connect_to
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(&addr))
            .map_or(addr, |(_, to)| to.clone());
        // HTTP/3 goes to the scenario's own origins; a redirect elsewhere
        // goes over TCP (h2 or HTTP/1.1 by ALPN), where HTTP/3 is not known
        // to be served.
        let version = match spec.version {
            HttpVersion::Http3 if base != spec.base => HttpVersion::Alpn,
            v => v,
        };
        // server_name is the scenario's own target's; a redirect to
        // another origin names that origin.
        let server_name = match &spec.tls.server_name {
            Some(n) if base == spec.base => n.clone(),
            _ => host.clone(),
        };
        let tls = if https {
            let alpn: &[&[u8]] = match version {
                HttpVersion::Http1 => &[b"http/1.1"],
                HttpVersion::Http2 | HttpVersion::H2c => &[b"h2"],
                HttpVersion::Alpn | HttpVersion::Auto | HttpVersion::Http3 => &[b"h2", b"http/1.1"],
            };
            let config = tls::client_config(&spec.tls, alpn)?;
            let name = ServerName::try_from(server_name.clone())
                .map_err(|e| invalid(format!("TLS server name: {e}")))?;
            Some((TlsConnector::from(config), name))
        } else {
            None
        };
        let host_header =
            HeaderValue::from_str(authority.as_str()).map_err(|e| invalid(format!("{e}")))?;
        // UDP goes through no HTTP proxy: HTTP/3 never takes one from the
        // environment (the scenario refuses one it names).
        let proxy = if (spec.unix_socket.is_some() && base == spec.base)
            || version == HttpVersion::Http3
        {
            None
        } else {
            proxy::choose(&spec.proxy, &host, https, |n| std::env::var(n).ok()).map_err(invalid)?
        };
        if proxy.is_some() && !https && spec.version == HttpVersion::H2c {
            return Err(invalid(
                "h2c (HTTP/2 by prior knowledge) cannot go through an HTTP proxy".into(),
            ));
        }
        let quic = match version {
            HttpVersion::Http3 => Some(Quic::new(
                &spec.tls,
                addr.clone(),
                server_name.clone(),
                quic_h3::HANDSHAKE_TIMEOUT,
            )?),
            _ => None,
        };
        let alt = (version == HttpVersion::Auto && https).then(|| {
            Box::new(Alt {
                tls: spec.tls.clone(),
                host: host.clone(),
                server_name,
                connect_to: spec.connect_to.clone(),
                handshake: quic_h3::HANDSHAKE_TIMEOUT,
                listening: AtomicBool::new(true),
                offered: AtomicBool::new(false),
                state: parking_lot::Mutex::new(AltState::Unknown),
            })
        });
        Ok(HttpTarget {
            base: base.to_owned(),
            scheme,
            authority,
            host_header,
            addr,
            // The socket is the scenario's own target's; a redirect to
            // another origin goes over TCP.
            unix: spec.unix_socket.clone().filter(|_| base == spec.base),
            proxy,
            tls,
            version,
            quic,
            alt,
        })
    }

    /// This target with its QUIC handshakes bounded by the request's
    /// `timeout` (see [`quic_h3::HANDSHAKE_TIMEOUT`]).
    pub fn timed(mut self, timeout: std::time::Duration) -> Self {
        let handshake = quic_h3::handshake_within(timeout);
        if let Some(q) = &mut self.quic {
            q.set_handshake(handshake);
        }
        if let Some(a) = &mut self.alt {
            a.handshake = handshake;
        }
        self
    }

    /// Whether this target still reads answers for an HTTP/3 offer
    /// (`version = "auto"` over TLS, none yet): their headers are kept.
    pub fn listens_for_alt_svc(&self) -> bool {
        self.alt
            .as_ref()
            .is_some_and(|a| a.listening.load(Ordering::Relaxed))
    }

    /// Reads an answer's `Alt-Svc` for HTTP/3: from the next connection
    /// on, this target's connections go over it.
    pub fn read_alt_svc(&self, headers: &Headers) {
        let Some(alt) = &self.alt else { return };
        let mut offer = None;
        headers.for_each("alt-svc", |v| {
            if offer.is_none() {
                offer = std::str::from_utf8(v).ok().and_then(alt_svc::parse);
            }
        });
        let Some(offer) = offer else { return };
        // Only the origin's own host: an alternative elsewhere would send
        // the load to a host the scenario never named (and, with
        // `insecure` on a loopback target, to one whose certificate is not
        // checked). Such an offer is passed over.
        if let AltSvc::H3 { host: Some(h), .. } = &offer {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            if !h.eq_ignore_ascii_case(&alt.host) {
                return;
            }
        }
        let mut state = alt.state.lock();
        if !matches!(*state, AltState::Unknown) {
            return;
        }
        alt.listening.store(false, Ordering::Relaxed);
        let (host, port) = match offer {
            AltSvc::Clear => {
                *state = AltState::GivenUp;
                return;
            }
            AltSvc::H3 { port, .. } => (alt.host.clone(), port),
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let addr = alt
            .connect_to
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(&authority))
            .map_or(authority, |(_, to)| to.clone());
        match Quic::new(&alt.tls, addr, alt.server_name.clone(), alt.handshake) {
            Ok(q) => {
                tracing::info!(
                    "{}: the server offers HTTP/3 (Alt-Svc): new connections use it",
                    self.base
                );
                *state = AltState::Offered(Arc::new(q));
                alt.offered.store(true, Ordering::Release);
            }
            Err(e) => {
                tracing::warn!("{}: HTTP/3 offered, but {e}", self.base);
                *state = AltState::GivenUp;
            }
        }
    }

    /// Whether new connections should be HTTP/3 ones now: a user's TCP
    /// connection is then replaced by one.
    pub fn prefers_h3(&self) -> bool {
        self.alt
            .as_ref()
            .is_some_and(|a| a.offered.load(Ordering::Acquire))
    }

    /// Opens a connection: QUIC and HTTP/3 for an HTTP/3 target (or an
    /// `auto` one the server offered it on), else TCP, TLS when https, then
    /// the HTTP/2 handshake where HTTP/2 was asked for or negotiated. An
    /// offered HTTP/3 that cannot be reached is given up for the run, as
    /// browsers do, and the connection made over TCP.
    pub async fn connect(&self) -> Result<HttpConn, Failure> {
        if let Some(q) = &self.quic {
            return Ok(HttpConn::H3(Box::pin(q.connect()).await?));
        }
        if let Some(alt) = &self.alt
            && alt.offered.load(Ordering::Acquire)
        {
            let quic = match &*alt.state.lock() {
                AltState::Offered(q) => Some(q.clone()),
                _ => None,
            };
            if let Some(q) = quic {
                match Box::pin(q.connect()).await {
                    Ok(c) => return Ok(HttpConn::H3(c)),
                    Err(f) => {
                        let mut state = alt.state.lock();
                        if alt.offered.swap(false, Ordering::AcqRel) {
                            tracing::warn!(
                                "{}: HTTP/3 offered by Alt-Svc but not reached ({}): staying on TCP",
                                self.base,
                                f.reason
                            );
                            *state = AltState::GivenUp;
                        }
                    }
                }
            }
        }
        let (io, h2) = self.open().await?;
        if h2 {
            // Boxed: the handshake's state is large, and a plain HTTP/1.1
            // connect (ten thousand of them at once while users ramp up)
            // should not carry it.
            Box::pin(handshake_h2(io)).await
        } else {
            Ok(HttpConn::H1(H1Conn::new(io)))
        }
    }

    /// Opens the byte stream a WebSocket runs on: as [`HttpTarget::open`],
    /// but through a proxy always by a CONNECT tunnel (plain `ws://` too:
    /// a proxy forwards requests, not an upgraded connection's frames).
    pub async fn open_tunnel(&self) -> Result<Stream, Failure> {
        Ok(self.open_with(true).await?.0)
    }

    /// Opens the byte stream an HTTP connection runs on: TCP (through the
    /// proxy's tunnel for https, if any) or the unix socket, then TLS when
    /// https. True when HTTP/2 goes on it (asked for, or negotiated by
    /// ALPN).
    pub async fn open(&self) -> Result<(Stream, bool), Failure> {
        self.open_with(false).await
    }

    async fn open_with(&self, always_tunnel: bool) -> Result<(Stream, bool), Failure> {
        let h2_asked = self.version == HttpVersion::H2c || self.version == HttpVersion::Http2;
        if let Some(path) = &self.unix {
            let unix = tokio::net::UnixStream::connect(path)
                .await
                .map_err(connect_failure)?;
            return Ok((Either::Left(Either::Right(unix)), h2_asked));
        }
        let tcp = match &self.proxy {
            None => TcpStream::connect(&self.addr)
                .await
                .map_err(connect_failure)?,
            Some(p) => {
                let tcp = TcpStream::connect(&p.addr).await.map_err(|e| {
                    let mut f = connect_failure(e);
                    f.reason = format!("proxy: {}", f.reason).into();
                    f
                })?;
                if self.tls.is_some() || always_tunnel {
                    Box::pin(proxy::tunnel(tcp, p, &self.addr)).await?
                } else {
                    tcp
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok((Either::Left(Either::Left(tcp)), h2_asked)),
            Some((connector, name)) => {
                // Boxed, as the HTTP/2 handshake.
                let stream = Box::pin(connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|e| {
                        Failure::new(FailureKind::Tls, "TLS handshake failed")
                            .with_detail(e.to_string())
                    })?;
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                Ok((Either::Right(Box::new(stream)), h2))
            }
        }
    }
}

pub(crate) fn connect_failure(e: io::Error) -> Failure {
    let reason = match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset",
        io::ErrorKind::TimedOut => "connect timed out",
        io::ErrorKind::AddrNotAvailable => "address not available",
        _ => "cannot connect",
    };
    Failure::new(FailureKind::Connect, reason).with_detail(e.to_string())
}

async fn handshake_h2<T>(io: T) -> Result<HttpConn, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, closed) = h2conn::handshake(io).await?;
    Ok(HttpConn::H2(H2Conn {
        send,
        closed,
        exchanges: 0,
        stale: Stale::No,
        arrived: 0,
    }))
}

/// One open connection: HTTP/1.1 on volley's own lean client, HTTP/2 on h2,
/// HTTP/3 on h3 over quinn.
pub enum HttpConn {
    H1(H1Conn),
    H2(H2Conn),
    H3(H3Conn),
}

/// An HTTP/2 connection (a task of its own reads and writes its socket;
/// each request is a stream opened by the user's task, see
/// [`h2conn`]).
pub struct H2Conn {
    send: h2::client::SendRequest<Bytes>,
    /// Set when the connection's task has ended.
    closed: Arc<AtomicBool>,
    /// Exchanges completed on it.
    exchanges: u64,
    /// Whether the last request failed only because the connection had
    /// closed under it (see [`HttpConn::failed_stale`]).
    stale: Stale,
    /// Bytes of the current (or last) answer that have arrived, its head
    /// counted as HTTP/1.1 text: what a request cut by its timeout counts.
    arrived: u64,
}

/// How a request on a kept-alive HTTP/2 or HTTP/3 connection failed with
/// the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    No,
    /// Never processed: the connection had closed before the request was
    /// sent, or the server refused its stream (REFUSED_STREAM,
    /// H3_REQUEST_REJECTED, or a graceful GOAWAY past it). It may always go
    /// again.
    Unsent,
    /// Sent, then the connection failed: the server may have processed it,
    /// so only an idempotent request goes again (as on HTTP/1.1).
    Sent,
}

impl Stale {
    /// Whether the request may go again on a new connection.
    pub fn may_retry(self, idempotent: bool) -> bool {
        match self {
            Stale::No => false,
            Stale::Unsent => true,
            Stale::Sent => idempotent,
        }
    }
}

impl H2Conn {
    /// Another handle on this connection, for another user: requests on
    /// both are streams of the one connection.
    pub fn share(&self) -> H2Conn {
        H2Conn {
            send: self.send.clone(),
            closed: self.closed.clone(),
            // A shared connection is never fresh: a request refused because
            // it closed may go again on a new one.
            exchanges: self.exchanges.max(1),
            stale: Stale::No,
            arrived: 0,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Bytes of the current (or last) answer that have arrived.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }
}

impl HttpConn {
    /// Bytes of the current exchange's answer that have arrived.
    pub fn arrived(&self) -> u64 {
        match self {
            HttpConn::H1(c) => c.arrived(),
            HttpConn::H2(c) => c.arrived,
            HttpConn::H3(c) => c.arrived(),
        }
    }

    /// Whether this connection can take another request.
    pub fn is_usable(&mut self) -> bool {
        match self {
            HttpConn::H1(c) => c.is_usable(),
            HttpConn::H2(c) => !c.is_closed(),
            HttpConn::H3(c) => !c.is_closed(),
        }
    }

    /// Whether this connection has ended (HTTP/1.1: never said here; its
    /// user finds out as it sends).
    pub fn is_closed(&self) -> bool {
        match self {
            HttpConn::H1(_) => false,
            HttpConn::H2(c) => c.is_closed(),
            HttpConn::H3(c) => c.is_closed(),
        }
    }

    /// Another handle on a connection that multiplexes (HTTP/2, HTTP/3),
    /// for another user; None for HTTP/1.1.
    pub fn share(&self) -> Option<HttpConn> {
        match self {
            HttpConn::H1(_) => None,
            HttpConn::H2(c) => Some(HttpConn::H2(c.share())),
            HttpConn::H3(c) => Some(HttpConn::H3(c.share())),
        }
    }

    pub fn is_h3(&self) -> bool {
        matches!(self, HttpConn::H3(_))
    }

    /// Whether the last request failed only because the server had closed
    /// this kept-alive connection under it (see [`H1Conn::failed_stale`];
    /// HTTP/2: the request was refused before it was sent). It may go
    /// again on a new connection.
    pub fn failed_stale(&self, idempotent: bool) -> bool {
        match self {
            HttpConn::H1(c) => c.failed_stale(idempotent),
            HttpConn::H2(c) => c.stale.may_retry(idempotent),
            HttpConn::H3(c) => c.failed_stale(idempotent),
        }
    }
}

/// Sends one HTTP/2 request and reads the answer: the body to its end,
/// every byte counted, at most `keep_body` bytes of it kept. The request's
/// body is sent while the answer is awaited and read; what of it is unsent
/// when the exchange ends (answered early, failed, timed out: this future
/// dropped) resets the stream.
pub async fn send_h2(
    c: &mut H2Conn,
    req: Request<Full<Bytes>>,
    keep: Keep<'_>,
) -> Result<HttpAnswer, Failure> {
    // A request that fails at once (a header HTTP/2 forbids, stream ids
    // run out) must still give the thread back now and then, or a user's
    // loop of such failures never lets the runtime run anything else.
    tokio::task::consume_budget().await;
    c.stale = Stale::No;
    c.arrived = 0;
    let reused = c.exchanges > 0;
    // Before the request is sent, a connection that closed under it (GOAWAY,
    // or gone) leaves it unsent: it may go again on a new connection.
    let unsent = |e: h2::Error, c: &mut H2Conn| {
        if reused && (c.is_closed() || e.is_go_away() || e.is_io()) {
            c.stale = Stale::Unsent;
        }
        h2conn::h2_failure(&e)
    };
    if let Err(e) = std::future::poll_fn(|cx| c.send.poll_ready(cx)).await {
        return Err(unsent(e, c));
    }
    let (mut parts, body) = req.into_parts();
    for_h2(&mut parts, &body);
    let end = hyper::body::Body::is_end_stream(&body);
    let (mut answer, tx) = match c.send.send_request(Request::from_parts(parts, ()), end) {
        Ok(x) => x,
        Err(e) => return Err(unsent(e, c)),
    };
    let mut pipe = (!end).then(|| Pipe::new(body, tx));
    let resp = std::future::poll_fn(|cx| {
        h2conn::poll_pipe(&mut pipe, cx);
        std::pin::Pin::new(&mut answer).poll(cx)
    })
    .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            if reused {
                let refused = e.reason() == Some(h2::Reason::REFUSED_STREAM)
                    || (e.is_go_away() && e.reason() == Some(h2::Reason::NO_ERROR));
                if refused {
                    c.stale = Stale::Unsent;
                } else if c.is_closed() || e.is_go_away() || e.is_io() {
                    c.stale = Stale::Sent;
                }
            }
            return Err(h2conn::h2_failure(&e));
        }
    };
    let status = resp.status().as_u16();
    // HPACK hides the wire size of headers; count them as HTTP/1.1 would.
    let mut received: u64 = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum::<u64>()
        + 17;
    c.arrived = received;
    let (parts, body) = resp.into_parts();
    let encoding = Encoding::of(&parts.headers);
    let headers = Headers::kept(&keep, status, parts.headers);
    let headed = Instant::now();
    // A streaming call reads this body as it comes (a 2xx event stream).
    let sink = keep.sink.filter(|s| s.open(status, &headers, encoding));
    let (body, first_data) = read_body(body, &mut pipe, keep.body, sink, &mut c.arrived).await?;
    // The answer is whole: what of the request is unsent is never needed,
    // and dropping the pipe resets the stream rather than leave it open.
    drop(pipe);
    received = received.saturating_add(body.len);
    c.exchanges = c.exchanges.saturating_add(1);
    Ok(HttpAnswer {
        status,
        body,
        received,
        headers,
        encoding,
        first_byte: first_data.unwrap_or(headed),
        protocol: http::Version::HTTP_2,
    })
}

/// Makes an HTTP/1.1-shaped request an HTTP/2 one, as hyper's client did:
/// connection-specific headers (RFC 9113 §8.2.2) removed, with those the
/// `Connection` header names (h2 refuses a request that carries them), and
/// `content-length` set when the body's length is known and the method has
/// a body (or the body is not empty).
pub(crate) fn for_h2(parts: &mut http::request::Parts, body: &Full<Bytes>) {
    use http::header::{CONNECTION, CONTENT_LENGTH, TE, TRANSFER_ENCODING, UPGRADE};
    let headers = &mut parts.headers;
    if let Some(named) = headers.remove(CONNECTION) {
        for name in named.to_str().unwrap_or("").split(',') {
            headers.remove(name.trim());
        }
    }
    for name in ["keep-alive", "proxy-connection"] {
        headers.remove(name);
    }
    headers.remove(TRANSFER_ENCODING);
    headers.remove(UPGRADE);
    if headers.get(TE).is_some_and(|te| te != "trailers") {
        headers.remove(TE);
    }
    let has_body = !matches!(
        parts.method,
        http::Method::GET | http::Method::HEAD | http::Method::DELETE | http::Method::CONNECT
    );
    if let Some(len) = hyper::body::Body::size_hint(body).exact()
        && (len != 0 || has_body)
        && !headers.contains_key(CONTENT_LENGTH)
    {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    }
}

/// Reads an HTTP/2 body frame by frame, sending the request's body on
/// meanwhile (a server may read as it answers): all of it counted, at most
/// `keep` bytes kept, the window given back as data is read. A body in one
/// frame that fits (the usual case) is kept without a copy.
async fn read_body(
    mut body: h2::RecvStream,
    pipe: &mut Option<Pipe<Full<Bytes>>>,
    keep: usize,
    sink: Option<&dyn BodySink>,
    arrived: &mut u64,
) -> Result<(Body, Option<Instant>), Failure> {
    let mut first_data = None;
    let mut ended_early = false;
    let mut kept = Collect::new(keep);
    loop {
        let data = std::future::poll_fn(|cx| {
            h2conn::poll_pipe(pipe, cx);
            body.poll_data(cx)
        })
        .await;
        let data = match data {
            None => break,
            Some(Err(e)) => return Err(h2conn::h2_failure(&e)),
            Some(Ok(d)) => d,
        };
        if first_data.is_none() && !data.is_empty() {
            first_data = Some(Instant::now());
        }
        let _ = body.flow_control().release_capacity(data.len());
        *arrived = arrived.saturating_add(data.len() as u64);
        let enough = sink.is_some_and(|s| !s.data(&data));
        kept.push(data);
        if enough {
            // The sink has what it wanted: the stream is reset when `body`
            // is dropped, and its trailers are never read.
            ended_early = true;
            break;
        }
    }
    // Trailers, if any, are read and dropped: the stream ends with them.
    if !ended_early && let Err(e) = std::future::poll_fn(|cx| body.poll_trailers(cx)).await {
        return Err(h2conn::h2_failure(&e));
    }
    let body = kept.finish();
    Ok((body, first_data))
}
