//! A lean HTTP/1.1 client connection: the request is written as bytes the
//! caller prepared, the answer is read into one buffer and framed by
//! Content-Length, chunked encoding or the end of the connection; heads are
//! parsed by httparse.
//!
//! Why not hyper here (hyper still carries HTTP/2): a hyper HTTP/1 connection
//! holds an 8 KiB write buffer, a 32-slot request channel and a task of its
//! own. Ten thousand idle users paid for that three times over, and every
//! request paid a hop between two tasks. This connection is its buffers and
//! its socket, driven by the user's own task.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::answer::{Headers, HttpAnswer, Keep};
pub use super::body::{Body, Framing};
use super::body::{Decoder, Kept};
use super::decode::Encoding;
use super::redirect::is_redirect;
use crate::stats::{Failure, FailureKind};

/// Plain TCP or a unix socket, or TLS (boxed: its state is large, plain
/// users should not carry it).
pub type Stream = tokio_util::either::Either<Plain, Box<TlsStream<TcpStream>>>;

/// A connection without TLS: TCP, or a unix socket (`[http] unix_socket`).
pub type Plain = tokio_util::either::Either<TcpStream, tokio::net::UnixStream>;

/// Heads larger than this are refused: a target that never ends its head
/// must not grow volley's memory without bound.
const MAX_HEAD: usize = 64 * 1024;
/// Headers in one response head; more is a protocol error.
pub(super) const MAX_HEADERS: usize = 96;
/// Informational (1xx) answers before the real one; more is a protocol
/// error (a server that sends them forever would otherwise hold the user
/// until the timeout with nothing to show).
const MAX_INFORMATIONAL: usize = 32;
/// First read size; the buffer grows only for answers that need it.
const READ_CHUNK: usize = 1024;
/// Read size inside a body: bodies are read through, not held.
const BODY_READ: usize = 16 * 1024;
/// A connection idle between requests holds at most this much buffer.
const IDLE_BUFFER: usize = 16 * 1024;

/// One open HTTP/1.1 connection.
pub struct H1Conn {
    io: Stream,
    rbuf: BytesMut,
    /// The request being sent; callers fill it through [`H1Conn::request_buf`].
    wbuf: Vec<u8>,
    /// False once the connection cannot carry another request: the server
    /// said close, the answer ran to the end of the connection, or an
    /// exchange did not finish.
    reusable: bool,
    /// Exchanges completed on this connection.
    exchanges: u64,
    /// How the last exchange failed on a kept-alive connection before any
    /// byte of an answer, if it did (see [`H1Conn::failed_stale`]).
    stale: Option<Closed>,
    /// Bytes of the current (or last) exchange's answer that have arrived,
    /// so that one cut by its timeout counts them.
    arrived: u64,
}

/// How a kept-alive connection turned out closed under a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The request could not be written: the server never had it.
    Unsent,
    /// The server's clean close (FIN) came first: it closed the idle
    /// connection as the request went out.
    Eof,
    /// A reset, no answer: the request may have been read (a server that
    /// closes with an unread request in its buffer resets, too).
    Reset,
}

/// The parts of a response head that the exchange needs.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    close: bool,
    encoding: Encoding,
    /// The answer sets a cookie, or redirects with a Location: the head is
    /// kept for the jar and the redirect.
    needed: bool,
}

impl H1Conn {
    pub fn new(io: Stream) -> Self {
        H1Conn {
            io,
            rbuf: BytesMut::new(),
            wbuf: Vec::new(),
            reusable: true,
            exchanges: 0,
            stale: None,
            arrived: 0,
        }
    }

    /// Bytes of the current (or last) exchange's answer read so far.
    pub fn arrived(&self) -> u64 {
        self.arrived
    }

    /// The (emptied) buffer to write the next request into.
    pub fn request_buf(&mut self) -> &mut Vec<u8> {
        self.wbuf.clear();
        &mut self.wbuf
    }

    /// Whether this connection can take another request: it ended its last
    /// exchange cleanly and the server has not closed it since (checked
    /// without waiting, so a stale keep-alive connection is replaced before
    /// a request is lost on it).
    pub fn is_usable(&mut self) -> bool {
        if !self.reusable || !self.rbuf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut buf = ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.io).poll_read(&mut cx, &mut buf) {
            Poll::Pending => true,
            // End of stream, an error, or bytes nobody asked for.
            Poll::Ready(_) => {
                self.reusable = false;
                false
            }
        }
    }

    /// Whether the last exchange failed only because the server had closed
    /// this kept-alive connection (the close raced the request), so that
    /// the request may go again on a new connection, as browsers and Go's
    /// client do: no byte of an answer came, and the request was not
    /// written or met the server's clean close, or (for an `idempotent`
    /// method only, which may safely arrive twice) met a reset.
    pub fn failed_stale(&self, idempotent: bool) -> bool {
        match self.stale {
            Some(Closed::Unsent | Closed::Eof) => true,
            Some(Closed::Reset) => idempotent,
            None => false,
        }
    }

    /// Sends the request in the buffer and reads the answer: the head, then
    /// the body to its end, every byte counted, at most `keep_body` bytes
    /// of it kept. `head` is true for HEAD requests, whose answers have no
    /// body; `keep_headers` keeps the response head for [`Headers::get`].
    pub async fn round_trip(&mut self, head: bool, keep: Keep<'_>) -> Result<HttpAnswer, Failure> {
        // Until this exchange completes, the connection is in an unknown
        // state (a timeout may drop this future at any await).
        self.reusable = false;
        self.stale = None;
        let reused = self.exchanges > 0;
        let result = self.exchange(head, keep).await;
        match &result {
            Ok(_) => {
                self.exchanges = self.exchanges.saturating_add(1);
                // A big answer leaves a big buffer: an idle connection
                // should not keep it.
                if self.rbuf.is_empty() && self.rbuf.capacity() > IDLE_BUFFER {
                    self.rbuf = BytesMut::new();
                }
            }
            Err((_, closed)) => self.stale = closed.filter(|_| reused),
        }
        result.map_err(|(f, _)| f)
    }

    /// One exchange. An error says how the connection was found closed if
    /// that happened before any byte of an answer.
    async fn exchange(
        &mut self,
        head: bool,
        keep: Keep<'_>,
    ) -> Result<HttpAnswer, (Failure, Option<Closed>)> {
        let Keep {
            headers: keep_headers,
            body: keep_body,
            sink,
        } = keep;
        let unsent = |e: io::Error| {
            let closed = matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            );
            (io_failure(e), closed.then_some(Closed::Unsent))
        };
        // What is buffered already is this answer's start.
        self.arrived = self.rbuf.len() as u64;
        self.io.write_all(&self.wbuf).await.map_err(unsent)?;
        self.io.flush().await.map_err(unsent)?;
        let mut received = 0u64;
        let mut informational = 0usize;
        let head = loop {
            match parse_head(&self.rbuf, head).map_err(|f| (f, None))? {
                Some(h) if (100..200).contains(&h.status) => {
                    // 100 Continue and 103 Early Hints precede the answer.
                    informational += 1;
                    if informational > MAX_INFORMATIONAL {
                        let f = protocol("too many informational (1xx) answers");
                        return Err((f, None));
                    }
                    received = received.saturating_add(h.len as u64);
                    self.rbuf.advance(h.len);
                }
                Some(h) => break h,
                None => {
                    if self.rbuf.len() >= MAX_HEAD {
                        return Err((protocol("response head too large"), None));
                    }
                    let nothing_yet = received == 0 && self.rbuf.is_empty();
                    match self.read_some(READ_CHUNK).await {
                        Ok(0) => {
                            let f = Failure::new(
                                FailureKind::Reset,
                                "connection closed before the answer",
                            );
                            return Err((f, nothing_yet.then_some(Closed::Eof)));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            let reset = nothing_yet && e.kind() == io::ErrorKind::ConnectionReset;
                            return Err((io_failure(e), reset.then_some(Closed::Reset)));
                        }
                    }
                }
            }
        };
        received = received.saturating_add(head.len as u64);
        let raw_head = self.rbuf.split_to(head.len);
        let headers = if keep_headers || head.needed || sink.is_some() {
            Headers::Raw(raw_head.freeze())
        } else {
            Headers::None
        };
        // A streaming call reads this body as it comes (a 2xx event stream).
        let sink = sink.filter(|s| s.open(head.status, &headers, head.encoding));
        // The body's first byte is here already (it came with the head's
        // last read) or the answer has none; else it is the first read of
        // the body that brings it. One clock read per answer.
        let no_body = matches!(head.framing, Framing::None | Framing::Length(0));
        let mut first_byte = (!self.rbuf.is_empty() || no_body).then(Instant::now);
        // A body that runs to the close may turn out empty: its "first
        // byte" is then the end of the head, not the close (rare: one more
        // clock read for such answers only).
        let headed =
            (first_byte.is_none() && head.framing == Framing::UntilClose).then(Instant::now);
        let body = match head.framing {
            // The usual answer: a small body, already here whole.
            Framing::Length(n)
                if sink.is_none() && n <= keep_body as u64 && self.rbuf.len() as u64 >= n =>
            {
                // n <= rbuf.len(), a usize.
                let n = n as usize;
                received = received.saturating_add(n as u64);
                Body::whole(self.rbuf.split_to(n).freeze())
            }
            framing => {
                let hint = match framing {
                    Framing::Length(n) => Some(n),
                    _ => None,
                };
                let mut kept = Kept::new(keep_body, hint);
                let mut decoder = Decoder::new(framing);
                // Set when the sink has read enough: the rest of the body is
                // never read, and the connection is not used again.
                let mut enough = false;
                loop {
                    let used = decoder
                        .decode(&self.rbuf, &mut |b| {
                            kept.push(b);
                            if let Some(s) = sink
                                && !enough
                            {
                                enough = !s.data(b);
                            }
                        })
                        .map_err(|reason| (protocol(reason), None))?;
                    self.rbuf.advance(used);
                    if enough {
                        received = received.saturating_add(decoder.wire());
                        return Ok(HttpAnswer {
                            status: head.status,
                            body: kept.finish(),
                            received,
                            headers,
                            encoding: head.encoding,
                            first_byte: first_byte.or(headed).unwrap_or_else(Instant::now),
                            protocol: http::Version::HTTP_11,
                        });
                    }
                    if decoder.is_done() {
                        break;
                    }
                    let want = if decoder.in_data() {
                        BODY_READ
                    } else {
                        READ_CHUNK
                    };
                    match self.read_some(want).await {
                        Ok(0) => {
                            if decoder.end_of_stream() {
                                break;
                            }
                            let f =
                                Failure::new(FailureKind::Reset, "connection closed mid-answer")
                                    .with_detail(format!("after {} body bytes", decoder.wire()));
                            return Err((f, None));
                        }
                        Ok(_) => {
                            if first_byte.is_none() {
                                first_byte = Some(Instant::now());
                            }
                        }
                        Err(e) => return Err((io_failure(e), None)),
                    }
                }
                received = received.saturating_add(decoder.wire());
                kept.finish()
            }
        };
        self.reusable = !head.close;
        Ok(HttpAnswer {
            status: head.status,
            body,
            received,
            headers,
            encoding: head.encoding,
            // A chunked answer always brings bytes; an empty one that ran
            // to the close had its last byte with the head.
            first_byte: first_byte.or(headed).unwrap_or_else(Instant::now),
            protocol: http::Version::HTTP_11,
        })
    }

    /// Reads more bytes (up to about `want` when the buffer is full).
    async fn read_some(&mut self, want: usize) -> io::Result<usize> {
        if self.rbuf.capacity() == self.rbuf.len() {
            self.rbuf.reserve(want);
        }
        let n = self.io.read_buf(&mut self.rbuf).await?;
        self.arrived = self.arrived.saturating_add(n as u64);
        Ok(n)
    }
}

/// Parses a response head at the start of `buf`: `None` while incomplete.
fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => {
            return Err(
                Failure::new(FailureKind::Protocol, "invalid HTTP response").with_detail(format!(
                    "{e} in {:?}",
                    String::from_utf8_lossy(&buf[..buf.len().min(64)])
                )),
            );
        }
    };
    let status = resp.code.unwrap_or(0);
    if status == 101 {
        return Err(protocol("unexpected protocol switch (101)"));
    }
    let mut close = resp.version == Some(0);
    let mut length: Option<u64> = None;
    // None: no Transfer-Encoding; Some(true): chunked is its final coding.
    let mut chunked: Option<bool> = None;
    let mut encoding = Encoding::Identity;
    let mut needed = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            // Digits only (no sign, no spaces inside); a list of equal
            // values is one value (RFC 9110 8.6).
            for part in h.value.split(|&b| b == b',') {
                let v = content_length(part.trim_ascii())
                    .ok_or_else(|| protocol("invalid Content-Length"))?;
                if length.is_some_and(|l| l != v) {
                    return Err(protocol("conflicting Content-Length headers"));
                }
                length = Some(v);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = Some(
                h.value
                    .rsplit(|&b| b == b',')
                    .next()
                    .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked")),
            );
        } else if h.name.eq_ignore_ascii_case("content-encoding") {
            for token in h.value.split(|&b| b == b',') {
                encoding = encoding.and(token);
            }
        } else if h.name.eq_ignore_ascii_case("set-cookie")
            || (h.name.eq_ignore_ascii_case("location") && is_redirect(status))
            || (h.name.eq_ignore_ascii_case("www-authenticate") && status == 401)
        {
            needed = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let t = token.trim_ascii();
                if t.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if t.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
    }
    let framing = if head_request || status == 204 || status == 304 || (100..200).contains(&status)
    {
        Framing::None
    } else {
        match (chunked, length) {
            (Some(true), _) => Framing::Chunked,
            // A transfer coding other than chunked last: the body runs to
            // the close (RFC 9112 6.3), whatever Content-Length says.
            (Some(false), _) | (None, None) => Framing::UntilClose,
            (None, Some(n)) => Framing::Length(n),
        }
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        close: close || framing == Framing::UntilClose,
        encoding,
        needed,
    }))
}

/// A Content-Length value: ASCII digits that fit in a u64.
fn content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A framing error: kind `protocol`, counted by its own reason.
fn protocol(reason: &'static str) -> Failure {
    Failure::new(FailureKind::Protocol, reason)
}

/// Maps a socket error to a failure reason.
pub fn io_failure(e: io::Error) -> Failure {
    let reason = match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => "connection reset",
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionAborted => {
            "connection closed before the answer"
        }
        io::ErrorKind::TimedOut => "timed out",
        _ => "connection error",
    };
    let kind = if reason == "timed out" {
        FailureKind::Timeout
    } else {
        FailureKind::Reset
    };
    Failure::new(kind, reason).with_detail(e.to_string())
}

#[cfg(test)]
#[path = "h1_tests.rs"]
mod tests;
