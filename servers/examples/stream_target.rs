//! stream_target: a fast local target for streaming load generators, so that
//! what bench/run-streams measures is the generator, not the server.
//!
//! - `GET /ws`: a WebSocket echo (RFC 6455 on tokio-tungstenite over hyper's
//!   upgraded connection, a 16 KiB read buffer). Every text or binary
//!   message is answered with itself; the messages already read are
//!   answered together in one write (pipelined messages cost one read and
//!   one write per batch). Pings are answered by tungstenite, a close with a
//!   close.
//! - `GET /sse?n=N`: `200 text/event-stream` with N events
//!   `data: {"k":K}\n\n` (K from 0), written as fast as the connection
//!   takes them, then the end of the answer (chunked, keep-alive).
//!   `&forever=1` goes on until the client leaves; `&chunk=E` puts E events
//!   in each chunk of the body (default `--events-per-chunk`, 1: one chunk
//!   per event, as a server that flushes every event sends them).
//! - anything else: 404.
//!
//! HTTP/1.1 only, TCP_NODELAY on every connection. It prints
//! `listening on ADDR` to stderr once it accepts, and nothing per request.
//!
//! ```sh
//! cargo build --release -p volley-predict --example stream_target
//! taskset -c 0 target/release/examples/stream_target --addr 127.0.0.1:8090 --threads 1
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Result;
use bytes::{BufMut, Bytes, BytesMut};
use clap::Parser;
use futures_util::{FutureExt, SinkExt, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

/// A WebSocket echo and an event stream, as fast as one core serves them.
#[derive(Parser)]
struct Cli {
    /// Where to listen, host:port (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    addr: SocketAddr,
    /// Tokio worker threads (1: a current-thread runtime; default: the CPUs
    /// this process may run on).
    #[arg(long)]
    threads: Option<usize>,
    /// Events per chunk of an event stream, unless the query says `chunk=E`.
    #[arg(long, default_value_t = 1)]
    events_per_chunk: u64,
}

type Answer = Response<BoxBody<Bytes, Infallible>>;

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = match cli.threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.max(1))
            .enable_all()
            .build()?,
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    let per_chunk = cli.events_per_chunk.max(1);
    runtime.block_on(async move {
        let listener = TcpListener::bind(cli.addr).await?;
        eprintln!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait, don't spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(request, per_chunk));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    })
}

async fn answer(request: Request<Incoming>, per_chunk: u64) -> Result<Answer, Infallible> {
    Ok(match request.uri().path() {
        "/ws" => upgrade(request),
        "/sse" => events(request.uri().query().unwrap_or(""), per_chunk),
        _ => plain(StatusCode::NOT_FOUND, "not found\n"),
    })
}

fn plain(status: StatusCode, text: &'static str) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())).boxed());
    *r.status_mut() = status;
    r
}

/// The WebSocket handshake's answer; the echo runs on the upgraded
/// connection once hyper has written it.
fn upgrade(mut request: Request<Incoming>) -> Answer {
    let headers = request.headers();
    let wants = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return plain(StatusCode::BAD_REQUEST, "not a WebSocket handshake\n");
    };
    if !wants(header::UPGRADE, "websocket") || !wants(header::CONNECTION, "upgrade") {
        return plain(StatusCode::BAD_REQUEST, "not a WebSocket handshake\n");
    }
    let accept = derive_accept_key(key.as_bytes());
    let upgraded = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        if let Ok(io) = upgraded.await {
            // tungstenite zeroes its whole read buffer's spare room before
            // every read (128 KiB by default): 16 KiB keeps that cheap and
            // still takes a window of pipelined messages in one read.
            let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
            let ws = WebSocketStream::from_raw_socket(TokioIo::new(io), Role::Server, Some(config))
                .await;
            echo(ws).await;
        }
    });
    let mut r = Response::new(BoxBody::default());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    r
}

/// Answers every data message with itself: what is already read goes back
/// in one write.
async fn echo<S>(mut ws: WebSocketStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(first) = ws.next().await {
        let mut next = Some(first);
        while let Some(m) = next.take() {
            match m {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    if ws.feed(m).await.is_err() {
                        return;
                    }
                }
                // tungstenite queued the close's answer: the flush sends it.
                Ok(Message::Close(_)) => {
                    let _ = ws.flush().await;
                    return;
                }
                Ok(_) => {}
                Err(_) => return,
            }
            // The next message if it is already read, else flush.
            next = ws.next().now_or_never().flatten();
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

/// `/sse`'s answer for a query `n=N[&forever=1][&chunk=E]`.
fn events(query: &str, per_chunk: u64) -> Answer {
    let (mut n, mut forever, mut chunk) = (1u64, false, per_chunk);
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("n", v)) => n = v.parse().unwrap_or(1),
            Some(("forever", v)) => forever = v == "1",
            Some(("chunk", v)) => chunk = v.parse().unwrap_or(per_chunk).max(1),
            _ => {}
        }
    }
    let body = Events {
        next: 0,
        end: if forever { None } else { Some(n) },
        per_chunk: chunk,
    };
    let mut r = Response::new(body.boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The event stream, made as hyper asks for it: no channel, no task.
struct Events {
    next: u64,
    end: Option<u64>,
    per_chunk: u64,
}

impl Body for Events {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let stop = self
            .next
            .saturating_add(self.per_chunk)
            .min(self.end.unwrap_or(u64::MAX));
        if self.next >= stop {
            return Poll::Ready(None);
        }
        let mut buf = BytesMut::with_capacity(24 * (stop - self.next) as usize);
        let mut digits = itoa_buf();
        for k in self.next..stop {
            buf.put_slice(b"data: {\"k\":");
            buf.put_slice(itoa(k, &mut digits));
            buf.put_slice(b"}\n\n");
        }
        self.next = stop;
        Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
    }

    fn is_end_stream(&self) -> bool {
        self.end.is_some_and(|e| self.next >= e)
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// `k` in decimal, written into the end of `buf`.
fn itoa(mut k: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (k % 10) as u8;
        k /= 10;
        if k == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itoa_writes_decimals() {
        let mut b = itoa_buf();
        assert_eq!(itoa(0, &mut b), b"0");
        assert_eq!(itoa(1234567, &mut b), b"1234567");
        assert_eq!(itoa(u64::MAX, &mut b), u64::MAX.to_string().as_bytes());
    }
}
