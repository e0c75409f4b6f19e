//! The HTTP endpoint that Prometheus scrapes (`--metrics-addr`): a tiny
//! HTTP/1.1 server that answers `GET /metrics` (and `/`) with the latest
//! text handed to it.
//!
//! The run renders the text ([`super::prometheus::render`]) on its own tick
//! and [`MetricsText::set`]s it; a scrape only clones a reference to those
//! bytes, so scrapes never wait on the run and the run never waits on a
//! slow scraper.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A client must send its request head within this, so that connections
/// that never finish a request do not pile up.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot serve metrics on {addr} (TCP): {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

/// The text served, shared between whoever renders it and the server.
/// Cloning is cheap (one reference count).
#[derive(Debug, Clone, Default)]
pub struct MetricsText(Arc<Mutex<Bytes>>);

impl MetricsText {
    /// Replaces the text; the next scrape gets it.
    pub fn set(&self, text: String) {
        // Converted outside the lock: the lock is held for a pointer swap.
        let bytes = Bytes::from(text);
        *self.0.lock() = bytes;
    }

    /// The latest text (empty before the first `set`).
    pub fn get(&self) -> Bytes {
        self.0.lock().clone()
    }
}

/// A running endpoint. It serves until [`MetricsEndpoint::shutdown`] is
/// called or it is dropped, so keep it for as long as it should serve.
#[derive(Debug)]
pub struct MetricsEndpoint {
    /// The address bound (with the port chosen when port 0 was asked).
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl MetricsEndpoint {
    /// Stops accepting and closes the open connections. Idempotent.
    pub fn shutdown(&self) {
        self.stop.cancel();
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Binds `addr` and serves metrics on a task of the current tokio runtime
/// (any flavour). Returns the endpoint and the handle to set its text with.
pub async fn bind(addr: SocketAddr) -> Result<(MetricsEndpoint, MetricsText), MetricsError> {
    let bind_error = |error| MetricsError::Bind { addr, error };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    // The command line says where, in its own words.
    tracing::debug!(addr = %bound, "serving Prometheus metrics");
    let text = MetricsText::default();
    let stop = CancellationToken::new();
    tokio::spawn(serve(listener, text.clone(), stop.clone()));
    Ok((MetricsEndpoint { addr: bound, stop }, text))
}

/// Accepts connections until `stop`, each served on its own task.
async fn serve(listener: TcpListener, text: MetricsText, stop: CancellationToken) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        let text = text.clone();
        let service = service_fn(move |request| {
            let response = answer(&request, &text);
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::select! {
                // Bad requests get hyper's 400 and end here, as errors.
                result = conn => if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "metrics connection ended with an error");
                },
                // Dropping the connection closes it.
                () = stop.cancelled() => {}
            }
        });
    }
    tracing::debug!("metrics endpoint stopped");
}

/// The answer to one request: the text, 404 or 405. HEAD is GET without a
/// body (hyper leaves the body out), as HTTP asks of every server.
fn answer<B>(request: &Request<B>, text: &MetricsText) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if path != "/metrics" && path != "/" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        );
    }
    let method = request.method();
    if method != Method::GET && method != Method::HEAD {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut response = Response::new(Full::new(text.get()));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

    /// An answer as read off the socket.
    #[derive(Debug)]
    struct Answer {
        status: u16,
        /// Header lines, names lower-cased.
        head: Vec<(String, String)>,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.head
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
    }

    /// Sends `raw` on a new connection and reads until the server closes
    /// it (requests say `Connection: close`).
    async fn send(addr: SocketAddr, raw: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(raw).await.unwrap();
        let mut bytes = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut bytes))
            .await
            .expect("the server answers and closes")
            .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("a full head");
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let head = lines
            .map(|l| {
                let (n, v) = l.split_once(':').unwrap();
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        Answer {
            status,
            head,
            body: body.to_string(),
        }
    }

    async fn request(addr: SocketAddr, method: &str, path: &str) -> Answer {
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        send(addr, raw.as_bytes()).await
    }

    #[tokio::test]
    async fn serves_the_latest_text_with_the_prometheus_content_type() {
        let (endpoint, text) = bind(LOOPBACK).await.unwrap();
        assert_ne!(endpoint.addr.port(), 0);

        let first = "# HELP volley_users Users.\n# TYPE volley_users gauge\nvolley_users 3\n";
        text.set(first.to_string());
        let a = request(endpoint.addr, "GET", "/metrics").await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some(CONTENT_TYPE));
        assert_eq!(a.body, first);

        // A second set is what the next scrape sees, on / too.
        let second = first.replace(" 3\n", " 4\n");
        text.set(second.clone());
        let a = request(endpoint.addr, "GET", "/").await;
        assert_eq!((a.status, a.body.as_str()), (200, second.as_str()));
        let a = request(endpoint.addr, "GET", "/metrics?debug=1").await;
        assert_eq!((a.status, a.body.as_str()), (200, second.as_str()));

        // HEAD: the head without the body.
        let a = request(endpoint.addr, "HEAD", "/metrics").await;
        assert_eq!((a.status, a.body.as_str()), (200, ""));
    }

    #[tokio::test]
    async fn other_paths_are_404_and_other_methods_405() {
        let (endpoint, text) = bind(LOOPBACK).await.unwrap();
        text.set("volley_users 1\n".into());
        let a = request(endpoint.addr, "GET", "/nope").await;
        assert_eq!(a.status, 404);
        assert!(!a.body.contains("volley_users"));
        let a = request(endpoint.addr, "POST", "/metrics").await;
        assert_eq!(a.status, 405);
        assert_eq!(a.header("allow"), Some("GET, HEAD"));
        let a = request(endpoint.addr, "DELETE", "/").await;
        assert_eq!(a.status, 405);
    }

    #[tokio::test]
    async fn garbage_and_vanishing_clients_do_not_stop_the_server() {
        let (endpoint, text) = bind(LOOPBACK).await.unwrap();
        text.set("volley_users 2\n".into());

        // Not HTTP at all: hyper answers 400 and closes.
        let a = send(endpoint.addr, b"\x00\x01\x02garbage\xff\r\n\r\n").await;
        assert_eq!(a.status, 400);
        // A request line too broken to parse.
        let a = send(endpoint.addr, b"GET\r\n\r\n").await;
        assert_eq!(a.status, 400);
        // Clients that leave: before sending anything, and mid-request.
        drop(TcpStream::connect(endpoint.addr).await.unwrap());
        let mut half = TcpStream::connect(endpoint.addr).await.unwrap();
        half.write_all(b"GET /metrics HTTP/1.1\r\nHo")
            .await
            .unwrap();
        drop(half);
        // One that stays with half a request does not block the others.
        let mut stalled = TcpStream::connect(endpoint.addr).await.unwrap();
        stalled
            .write_all(b"GET /metrics HTTP/1.1\r\n")
            .await
            .unwrap();

        let a = request(endpoint.addr, "GET", "/metrics").await;
        assert_eq!((a.status, a.body.as_str()), (200, "volley_users 2\n"));
        drop(stalled);
    }

    #[tokio::test]
    async fn connections_are_served_concurrently() {
        let (endpoint, text) = bind(LOOPBACK).await.unwrap();
        text.set("volley_users 5\n".into());
        let scrapes: Vec<_> = (0..16)
            .map(|_| tokio::spawn(request(endpoint.addr, "GET", "/metrics")))
            .collect();
        for s in scrapes {
            let a = s.await.unwrap();
            assert_eq!((a.status, a.body.as_str()), (200, "volley_users 5\n"));
        }
    }

    /// Whether the port stops taking connections within two seconds.
    async fn stops_listening(addr: SocketAddr) -> bool {
        for _ in 0..200 {
            if TcpStream::connect(addr).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }

    #[tokio::test]
    async fn shutdown_and_drop_stop_the_server() {
        let (endpoint, _text) = bind(LOOPBACK).await.unwrap();
        let addr = endpoint.addr;
        assert_eq!(request(addr, "GET", "/metrics").await.status, 200);
        endpoint.shutdown();
        assert!(stops_listening(addr).await);

        let (endpoint, _text) = bind(LOOPBACK).await.unwrap();
        let addr = endpoint.addr;
        drop(endpoint);
        assert!(stops_listening(addr).await);
    }

    #[tokio::test]
    async fn a_port_in_use_is_an_error_naming_the_address() {
        let (endpoint, _text) = bind(LOOPBACK).await.unwrap();
        let err = bind(endpoint.addr).await.unwrap_err();
        let MetricsError::Bind { addr, .. } = &err;
        assert_eq!(*addr, endpoint.addr);
        let message = err.to_string();
        assert!(message.contains(&endpoint.addr.to_string()), "{message}");
        assert!(message.to_lowercase().contains("in use"), "{message}");
    }
}
