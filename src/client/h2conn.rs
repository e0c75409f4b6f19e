//! HTTP/2 on h2 directly, for HTTP and gRPC alike: the connection's
//! settings and handshake, the failure an HTTP/2 error is, and the pipe
//! that sends a request's body from the caller's own task.
//!
//! A request is a stream opened by the caller's task (h2 shares the
//! connection's state under a lock; a task of its own only reads and writes
//! the socket). Its body is sent while the caller waits for the answer, and
//! a request that ends before its body is sent (answered early, failed,
//! timed out) resets its stream: a server that answers before reading and
//! never opens its window would otherwise keep every such body, and its
//! stream, for as long as the connection lives (hyper's client did, for
//! plain HTTP/2 and for gRPC).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;

use crate::stats::{Failure, FailureKind};

/// A request body a [`Pipe`] sends: tonic's for gRPC, a whole buffer for
/// HTTP.
pub trait RequestBody: hyper::body::Body<Data = Bytes, Error: std::fmt::Display> + Unpin {}

impl<B> RequestBody for B
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
}

/// The HTTP/2 settings of volley's connections: hyper's client defaults
/// (which volley's HTTP/2 and tonic's channel used before), so that a
/// server sees the same client as before.
fn builder() -> h2::client::Builder {
    let mut b = h2::client::Builder::new();
    b.initial_window_size(2 << 20)
        .initial_connection_window_size(5 << 20)
        .max_frame_size(16 << 10)
        .max_header_list_size(16 << 10)
        .max_send_buffer_size(1 << 20)
        .initial_max_send_streams(100)
        .enable_push(false);
    b
}

/// The HTTP/2 handshake on `io`; a task of its own then reads and writes
/// the socket. Gives the handle that opens streams, and a flag set when
/// the connection has ended.
pub async fn handshake<T>(
    io: T,
) -> Result<(h2::client::SendRequest<Bytes>, Arc<AtomicBool>), Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = builder()
        .handshake::<T, Bytes>(io)
        .await
        .map_err(|e| h2_failure(&e))?;
    let closed = Arc::new(AtomicBool::new(false));
    let ended = closed.clone();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("HTTP/2 connection ended: {e}");
        }
        ended.store(true, Ordering::Release);
    });
    Ok((send, closed))
}

/// The failure an HTTP/2 error is: the connection's (reset or closed), the
/// stream's (reset by the server, with its code), or the server breaking
/// the protocol (h2 found it and closed the connection with GOAWAY).
pub fn h2_failure(e: &h2::Error) -> Failure {
    let detail = e.to_string();
    let failure = if let Some(io) = e.get_io() {
        use std::io::ErrorKind::*;
        match io.kind() {
            ConnectionReset | ConnectionAborted | BrokenPipe => {
                Failure::new(FailureKind::Reset, "connection reset")
            }
            TimedOut => Failure::new(FailureKind::Timeout, "no answer within the timeout"),
            _ => Failure::new(FailureKind::Reset, "connection closed"),
        }
    } else if e.is_go_away() && e.is_remote() {
        match e.reason() {
            Some(h2::Reason::NO_ERROR) | None => Failure::new(
                FailureKind::Reset,
                "connection closed by the server (GOAWAY)",
            ),
            Some(r) => Failure::new(
                FailureKind::Protocol,
                format!("connection closed by the server (GOAWAY {r:?})"),
            ),
        }
    } else if e.is_reset() && e.is_remote() {
        match e.reason() {
            Some(h2::Reason::REFUSED_STREAM) => Failure::new(FailureKind::Reset, STREAM_REFUSED),
            Some(h2::Reason::CANCEL) => Failure::new(FailureKind::Reset, STREAM_CANCELLED),
            r => protocol("stream reset by the server", r),
        }
    } else if e.is_library() || e.is_go_away() {
        // h2 saw the server break HTTP/2 (a flow-control window exceeded,
        // a bad frame) and closed the connection.
        match e.reason() {
            r @ Some(h2::Reason::FLOW_CONTROL_ERROR) => protocol("HTTP/2 flow-control error", r),
            r => protocol("HTTP/2 protocol error", r),
        }
    } else {
        // A request h2 refused to send (a header HTTP/2 forbids), or a
        // stream volley itself reset.
        Failure::new(FailureKind::Request, "HTTP/2 refused the request")
    };
    failure.with_detail(detail)
}

/// The reasons [`h2_failure`] gives a stream the server ended with
/// RST_STREAM REFUSED_STREAM or CANCEL: that stream's end, not its
/// connection's.
const STREAM_REFUSED: &str = "stream refused by the server (REFUSED_STREAM)";
const STREAM_CANCELLED: &str = "stream cancelled by the server (CANCEL)";

/// Whether `f` is a stream the server refused or cancelled (RST_STREAM):
/// that stream's end, while its connection carries other calls on.
pub fn stream_reset(f: &Failure) -> bool {
    f.kind == FailureKind::Reset && (f.reason == STREAM_REFUSED || f.reason == STREAM_CANCELLED)
}

/// A `protocol` failure, with the HTTP/2 error code when there is one.
fn protocol(what: &'static str, reason: Option<h2::Reason>) -> Failure {
    match reason {
        Some(r) => Failure::new(FailureKind::Protocol, format!("{what} ({r:?})")),
        None => Failure::new(FailureKind::Protocol, what),
    }
}

/// What one exchange's stream carried, counted as it goes (so that an
/// exchange cut by its timeout still counts what had crossed): its DATA as
/// sent and received (compressed messages as they went), and its headers
/// and trailers as HTTP/1.1 would write them (HPACK hides their wire size).
/// One per user, reset before each exchange, shared with the stream's
/// pieces through a handle.
#[derive(Debug, Default)]
pub struct Wire {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Wire {
    pub fn reset(&self) {
        self.sent.store(0, Ordering::Relaxed);
        self.received.store(0, Ordering::Relaxed);
    }
    pub fn add_sent(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_received(&self, n: u64) {
        self.received.fetch_add(n, Ordering::Relaxed);
    }
    /// Bytes sent and received so far.
    pub fn get(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.received.load(Ordering::Relaxed),
        )
    }
}

/// Header lines as HTTP/1.1 writes them: `name: value` and CR LF each.
pub fn head_len(headers: &http::HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().len() + v.len() + 4) as u64)
        .sum()
}

/// Sends what it can of the request's body; drops the pipe once it has
/// sent all, or failed (the answer then says why).
pub fn poll_pipe<B: RequestBody>(pipe: &mut Option<Pipe<B>>, cx: &mut Context<'_>) {
    if let Some(p) = pipe
        && p.poll(cx).is_ready()
    {
        *pipe = None;
    }
}

/// A request body on its way to its stream, as the stream's window allows.
pub struct Pipe<B: RequestBody> {
    body: B,
    tx: h2::SendStream<Bytes>,
    /// Data taken from the body, not yet sent, and whether the body ended
    /// after it.
    pending: Option<(Bytes, bool)>,
    done: bool,
    /// Where the DATA it sends is counted, if anywhere.
    wire: Option<Arc<Wire>>,
}

impl<B: RequestBody> Pipe<B> {
    pub fn new(body: B, tx: h2::SendStream<Bytes>) -> Self {
        Pipe {
            body,
            tx,
            pending: None,
            done: false,
            wire: None,
        }
    }

    /// This pipe, counting what it sends into `wire`.
    pub fn counting(mut self, wire: Option<Arc<Wire>>) -> Self {
        self.wire = wire;
        self
    }

    /// Ready when the body is all sent (END_STREAM) or cannot be.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.done {
            return Poll::Ready(());
        }
        let r = self.send(cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }

    fn send(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if let Some((mut data, end)) = self.pending.take() {
                if data.is_empty() {
                    if end {
                        let _ = self.tx.send_data(Bytes::new(), true);
                        return Poll::Ready(());
                    }
                    continue;
                }
                // Ask for the window the data needs and send what it gives:
                // the body is read on only when this data is gone, so what
                // waits for a window is one chunk, never the whole body.
                self.tx.reserve_capacity(data.len());
                let n = match self.tx.poll_capacity(cx) {
                    Poll::Pending => {
                        self.pending = Some((data, end));
                        return Poll::Pending;
                    }
                    // The stream is over (reset, or answered and closed).
                    Poll::Ready(None | Some(Err(_))) => return Poll::Ready(()),
                    Poll::Ready(Some(Ok(n))) => n,
                };
                if n == 0 {
                    // No window yet: wait for the next change of it.
                    self.pending = Some((data, end));
                    continue;
                }
                let chunk = data.split_to(n.min(data.len()));
                let last = data.is_empty() && end;
                if let Some(w) = &self.wire {
                    w.add_sent(chunk.len() as u64);
                }
                if self.tx.send_data(chunk, last).is_err() || last {
                    return Poll::Ready(());
                }
                self.pending = Some((data, end));
                continue;
            }
            match hyper::body::Body::poll_frame(Pin::new(&mut self.body), cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        let end = hyper::body::Body::is_end_stream(&self.body);
                        self.pending = Some((data, end));
                    }
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            let _ = self.tx.send_trailers(trailers);
                            return Poll::Ready(());
                        }
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    tracing::debug!("a request body failed: {e}");
                    self.tx.send_reset(h2::Reason::CANCEL);
                    return Poll::Ready(());
                }
                Poll::Ready(None) => {
                    let _ = self.tx.send_data(Bytes::new(), true);
                    return Poll::Ready(());
                }
            }
        }
    }
}

impl<B: RequestBody> Drop for Pipe<B> {
    /// A call that ends before its body is sent (answered early, failed,
    /// timed out) resets its stream: h2 then drops what it had buffered
    /// for it and gives back its share of the connection's window.
    fn drop(&mut self) {
        if !self.done {
            self.tx.send_reset(h2::Reason::CANCEL);
        }
    }
}
