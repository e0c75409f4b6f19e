//! HTTP/3 targets for the tests, on quinn and the h3 crate's server (the
//! client's stack, but its other half: Caddy and quic-go's server are the
//! third-party ones, `h3_peers`). [`H3Server`] answers a few routes and
//! keeps what it saw; the hostile ones ([`resets_every_stream`],
//! [`endless_frame`], [`silent_udp`]) do one wrong thing each.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Buf, Bytes};
use parking_lot::Mutex;

use crate::common::Dir;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub cookie: Option<String>,
    pub body_len: usize,
}

/// A running HTTP/3 server on 127.0.0.1 (UDP), its certificate's PEM file
/// for `[http] ca`.
pub struct H3Server {
    pub addr: SocketAddr,
    pub ca: PathBuf,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// QUIC connections accepted.
    pub connections: Arc<AtomicU64>,
    endpoint: quinn::Endpoint,
}

impl Drop for H3Server {
    fn drop(&mut self) {
        self.endpoint.close(0u32.into(), b"done");
    }
}

impl H3Server {
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

/// A certificate for 127.0.0.1, ::1 and localhost: its PEM file (for
/// `[http] ca`), the certificate and its key.
pub struct Cert {
    pub ca: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
    key: Vec<u8>,
}

impl Cert {
    pub fn new(dir: &Dir) -> Cert {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
        ])
        .unwrap()
        .self_signed(&key)
        .unwrap();
        Cert {
            ca: dir.write("h3-cert.pem", &cert.pem()),
            der: cert.der().clone(),
            key: key.serialize_der(),
        }
    }

    /// The server side of TLS (1.3) with this certificate, offering `alpn`.
    pub fn server(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![self.der.clone()],
                rustls::pki_types::PrivateKeyDer::try_from(self.key.clone()).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

/// A new certificate's PEM file and the server side of TLS offering `alpn`.
pub fn tls(dir: &Dir, alpn: &[&[u8]]) -> (PathBuf, rustls::ServerConfig) {
    let cert = Cert::new(dir);
    let config = cert.server(alpn);
    (cert.ca, config)
}

/// A QUIC endpoint on 127.0.0.1 (port 0: any; else that UDP port) with
/// `tls`, on a runtime of its own thread (tests call volley as a child
/// process and wait on it).
fn endpoint(port: u16, tls: rustls::ServerConfig) -> (quinn::Endpoint, tokio::runtime::Handle) {
    endpoint_at(([127, 0, 0, 1], port).into(), tls)
}

/// A QUIC endpoint at `at` with `tls`, as [`endpoint`].
fn endpoint_at(
    at: SocketAddr,
    tls: rustls::ServerConfig,
) -> (quinn::Endpoint, tokio::runtime::Handle) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let endpoint = rt.block_on(async {
            let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
            let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
            let mut transport = quinn::TransportConfig::default();
            transport.max_concurrent_bidi_streams(1000u32.into());
            config.transport_config(Arc::new(transport));
            quinn::Endpoint::server(config, at).unwrap()
        });
        tx.send((endpoint, handle)).unwrap();
        rt.block_on(std::future::pending::<()>());
    });
    rx.recv().unwrap()
}

/// The answering server (see the module's routes in [`answer`]).
pub fn start(dir: &Dir) -> H3Server {
    start_on(&Cert::new(dir), 0)
}

/// The answering server on UDP `port` (0: any), with `cert`.
pub fn start_on(cert: &Cert, port: u16) -> H3Server {
    start_at(cert, ([127, 0, 0, 1], port).into())
}

/// The answering server at `at` (127.0.0.1 or ::1), with `cert`.
pub fn start_at(cert: &Cert, at: SocketAddr) -> H3Server {
    let ca = cert.ca.clone();
    let (endpoint, rt) = endpoint_at(at, cert.server(&[b"h3"]));
    let addr = endpoint.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicU64::new(0));
    let (ep, s, c) = (endpoint.clone(), seen.clone(), connections.clone());
    rt.spawn(async move {
        while let Some(incoming) = ep.accept().await {
            let (s, c) = (s.clone(), c.clone());
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                c.fetch_add(1, Ordering::Relaxed);
                let _ = serve(conn, s).await;
            });
        }
    });
    H3Server {
        addr,
        ca,
        seen,
        connections,
        endpoint,
    }
}

async fn serve(
    conn: quinn::Connection,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut h3 = h3::server::builder()
        .build::<_, Bytes>(h3_quinn::Connection::new(conn.clone()))
        .await?;
    while let Some(resolver) = h3.accept().await? {
        let (seen, conn) = (seen.clone(), conn.clone());
        tokio::spawn(async move {
            let Ok((req, stream)) = resolver.resolve_request().await else {
                return;
            };
            let _ = answer(req, stream, &seen, &conn).await;
        });
    }
    Ok(())
}

type Stream = h3::server::RequestStream<h3_quinn::BidiStream<Bytes>, Bytes>;

/// Routes: `/` ok; `/status/N`; `/redirect/N` (N hops to `/`);
/// `/set-cookie` (sets `s=1`) and `/cookie` (echoes the Cookie header);
/// `/echo` (the request's body); `/bytes/N`; `/events/N` (N Server-Sent
/// Events); `/gzip` (a gzipped JSON body);
/// `/slow/MS`; `/reset` (the stream reset, H3_REQUEST_CANCELLED);
/// `/close` (the connection closed, H3_REQUEST_CANCELLED).
async fn answer(
    req: http::Request<()>,
    mut stream: Stream,
    seen: &Mutex<Vec<Seen>>,
    conn: &quinn::Connection,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut body = Vec::new();
    while let Some(mut chunk) = stream.recv_data().await? {
        while chunk.has_remaining() {
            let c = chunk.chunk();
            body.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    let path = req.uri().path().to_owned();
    let cookie = req
        .headers()
        .get("cookie")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.lock().push(Seen {
        method: req.method().to_string(),
        path: req
            .uri()
            .path_and_query()
            .map_or(path.clone(), |p| p.to_string()),
        cookie: cookie.clone(),
        body_len: body.len(),
    });
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut resp = http::Response::builder().status(200);
    let out: Bytes = match parts.as_slice() {
        ["status", n] => {
            resp = resp.status(n.parse::<u16>().unwrap_or(500));
            Bytes::new()
        }
        ["redirect", n] => {
            let n: u32 = n.parse().unwrap_or(0);
            let next = if n <= 1 {
                "/".to_owned()
            } else {
                format!("/redirect/{}", n - 1)
            };
            resp = resp.status(302).header("location", next);
            Bytes::new()
        }
        ["set-cookie"] => {
            resp = resp.header("set-cookie", "s=1; Path=/");
            Bytes::from_static(b"set")
        }
        ["cookie"] => Bytes::from(cookie.unwrap_or_default()),
        ["echo"] => Bytes::from(body),
        ["bytes", n] => Bytes::from(vec![b'x'; n.parse().unwrap_or(0)]),
        ["events", n] => {
            resp = resp.header("content-type", "text/event-stream");
            let n: u32 = n.parse().unwrap_or(0);
            let events: String = (1..=n)
                .map(|i| format!("data: {{\"x\": {i}}}\n\n"))
                .collect();
            Bytes::from(events)
        }
        ["gzip"] => {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(br#"{"gzipped": true, "label": "sports"}"#)?;
            resp = resp
                .header("content-encoding", "gzip")
                .header("content-type", "application/json");
            Bytes::from(e.finish()?)
        }
        ["slow", ms] => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
            Bytes::from_static(b"slow")
        }
        ["reset"] => {
            stream.stop_stream(h3::error::Code::H3_REQUEST_CANCELLED);
            return Ok(());
        }
        ["close"] => {
            conn.close(0x10cu32.into(), b"closing");
            return Ok(());
        }
        _ => Bytes::from_static(b"ok"),
    };
    stream.send_response(resp.body(())?).await?;
    if !out.is_empty() {
        stream.send_data(out).await?;
    }
    stream.finish().await?;
    Ok(())
}

/// A QUIC server (ALPN h3) that resets every stream a client opens, before
/// any HTTP/3, with H3_REQUEST_CANCELLED.
pub fn resets_every_stream(dir: &Dir) -> (SocketAddr, PathBuf) {
    quic_streams(dir, false, |mut send, mut recv| async move {
        let _ = send.reset(0x10cu32.into());
        let _ = recv.stop(0x10cu32.into());
    })
}

/// A QUIC server (ALPN h3) that answers every request stream with a
/// HEADERS frame declaring 2^62 - 1 bytes, then sends zeros for as long as
/// the stream is open: an answer no client can hold. Counts the streams.
pub fn endless_frame(dir: &Dir) -> (SocketAddr, PathBuf, Arc<AtomicU64>) {
    let streams = Arc::new(AtomicU64::new(0));
    let counted = streams.clone();
    let (addr, ca) = quic_streams(dir, true, move |mut send, recv| {
        counted.fetch_add(1, Ordering::Relaxed);
        async move {
            // The receiving side is held while the answer goes: dropped,
            // quinn would ask the client to stop sending (STOP_SENDING 0),
            // which is not what this server is testing.
            let _recv = recv;
            // HEADERS (type 0x01), length 2^62 - 1 (an 8-byte varint).
            let mut head = vec![0x01];
            head.extend_from_slice(&0xffff_ffff_ffff_ffffu64.to_be_bytes());
            if send.write_all(&head).await.is_err() {
                return;
            }
            let zeros = vec![0u8; 64 << 10];
            // At most 1 GiB a stream: the test's bound, not the client's.
            for _ in 0..(1 << 14) {
                if send.write_all(&zeros).await.is_err() {
                    return;
                }
            }
        }
    });
    (addr, ca, streams)
}

/// A UDP socket on 127.0.0.1 that reads every datagram and answers none:
/// a QUIC handshake that never finishes (a firewall that drops UDP looks
/// the same from the client).
pub fn silent_udp() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while sock.recv_from(&mut buf).is_ok() {}
    });
    (addr, t)
}

/// An HTTPS server over TCP (HTTP/2 or HTTP/1.1 by ALPN) with `cert` on
/// `listener`, answering every request `tcp` with `Alt-Svc: ALT`; counts
/// the requests it answered.
pub fn tcp_offering(cert: &Cert, listener: std::net::TcpListener, alt: &str) -> Arc<AtomicU64> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cert.server(&[b"h2", b"http/1.1"])));
    let count = Arc::new(AtomicU64::new(0));
    let counted = count.clone();
    let alt = http::HeaderValue::from_str(alt).unwrap();
    crate::servers::serve_on_own_thread(listener, move |l| async move {
        while let Ok((sock, _)) = l.accept().await {
            let (acceptor, counted, alt) = (acceptor.clone(), counted.clone(), alt.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(sock).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |_req| {
                    counted.fetch_add(1, Ordering::Relaxed);
                    let mut resp =
                        http::Response::new(http_body_util::Full::new(Bytes::from_static(b"tcp")));
                    resp.headers_mut().insert("alt-svc", alt.clone());
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    count
}

/// A UDP socket on 127.0.0.1 that answers every QUIC long-header packet
/// with a Version Negotiation packet (RFC 9000 §17.2.1) offering only a
/// version no client speaks (0x1a2a3a4a, of the reserved greasing ones).
pub fn other_quic_version() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let p = &buf[..n];
            // Long header: form bit, version (4), DCID length and DCID,
            // SCID length and SCID.
            if n < 7 || p[0] & 0x80 == 0 {
                continue;
            }
            let dlen = usize::from(p[5]);
            let Some(dcid) = p.get(6..6 + dlen) else {
                continue;
            };
            let Some(&slen) = p.get(6 + dlen) else {
                continue;
            };
            let Some(scid) = p.get(7 + dlen..7 + dlen + usize::from(slen)) else {
                continue;
            };
            let mut vn = vec![0xc0, 0, 0, 0, 0];
            vn.push(slen);
            vn.extend_from_slice(scid);
            vn.push(dlen as u8);
            vn.extend_from_slice(dcid);
            vn.extend_from_slice(&0x1a2a_3a4au32.to_be_bytes());
            let _ = sock.send_to(&vn, from);
        }
    });
    (addr, t)
}

/// A QUIC server (ALPN h3, a control stream with empty SETTINGS) that
/// answers every request stream with `answer`'s bytes as they are, then
/// ends the stream: whatever HTTP/3 a test wants to see a client meet.
pub fn raw_answers(dir: &Dir, answer: &'static [u8]) -> (SocketAddr, PathBuf) {
    quic_streams(dir, true, move |mut send, mut recv| async move {
        let _ = recv.read_to_end(1 << 20).await;
        let _ = send.write_all(answer).await;
        let _ = send.finish();
        // Held until the client is done with the stream.
        let _ = send.stopped().await;
    })
}

/// A QUIC server (ALPN h3) on 127.0.0.1 that hands every stream a client
/// opens to `each`, on a task of its own; with `control`, each connection
/// first gets the server's control stream. The servers above that speak
/// QUIC but not (all of) HTTP/3 are this with one thing each does.
fn quic_streams<F, Fut>(dir: &Dir, control: bool, each: F) -> (SocketAddr, PathBuf)
where
    F: Fn(quinn::SendStream, quinn::RecvStream) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (ca, tls) = tls(dir, &[b"h3"]);
    let (endpoint, rt) = endpoint(0, tls);
    let addr = endpoint.local_addr().unwrap();
    rt.spawn(async move {
        while let Some(incoming) = endpoint.accept().await {
            let each = each.clone();
            tokio::spawn(async move {
                let Ok(conn) = incoming.await else { return };
                if control {
                    control_stream(&conn).await;
                }
                while let Ok((send, recv)) = conn.accept_bi().await {
                    tokio::spawn(each(send, recv));
                }
            });
        }
    });
    (addr, ca)
}

/// Opens the server's control stream with empty SETTINGS, as HTTP/3 asks
/// (RFC 9114 §6.2.1), and leaves it open for the connection's life (its
/// close would be a connection error).
async fn control_stream(conn: &quinn::Connection) {
    if let Ok(mut control) = conn.open_uni().await {
        let _ = control.write_all(&[0x00, 0x04, 0x00]).await;
        std::mem::forget(control);
    }
}

/// A QUIC server (ALPN h3) that, on every request stream, asks the client
/// to stop sending its body (STOP_SENDING H3_NO_ERROR, as RFC 9114 §4.1
/// lets a server that answers without it) and answers 200 at once.
pub fn stops_then_answers(dir: &Dir) -> (SocketAddr, PathBuf) {
    quic_streams(dir, true, |mut send, mut recv| async move {
        let _ = recv.stop(0x100u32.into());
        // HEADERS: QPACK's prefix, then `:status: 200` from its static
        // table (index 25).
        let _ = send.write_all(&[0x01, 0x03, 0x00, 0x00, 0xd9]).await;
        let _ = send.finish();
        let _ = send.stopped().await;
    })
}
