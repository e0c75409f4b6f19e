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

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::stats::{Failure, FailureKind};

/// Plain TCP, or TLS (boxed: its state is large, plain users should not carry it).
pub type Stream = tokio_util::either::Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// Heads larger than this are refused: a target that never ends its head
/// must not grow volley's memory without bound.
const MAX_HEAD: usize = 64 * 1024;
/// Headers in one response head; more is a protocol error.
const MAX_HEADERS: usize = 96;
/// First read size; the buffer grows only for answers that need it.
const READ_CHUNK: usize = 1024;

/// What came back.
pub struct HttpAnswer {
    pub status: u16,
    pub body: Bytes,
    /// Head and body bytes received.
    pub received: u64,
    /// The headers, when the caller asked for them (a capture reads one).
    pub headers: Headers,
}

/// Response headers, kept only when something will read them.
#[derive(Debug, Default)]
pub enum Headers {
    #[default]
    None,
    /// An HTTP/1.1 head as received (parsed again on lookup: rare).
    Raw(Bytes),
    Map(http::HeaderMap),
}

impl Headers {
    /// Writes the first value of header `name` (case-insensitive) into
    /// `out` (replacing what it held); false if there is none.
    pub fn get_into(&self, name: &str, out: &mut String) -> bool {
        let mut put = |v: &[u8]| {
            out.clear();
            out.push_str(&String::from_utf8_lossy(v));
            true
        };
        match self {
            Headers::None => false,
            Headers::Map(m) => m.get(name).is_some_and(|v| put(v.as_bytes())),
            Headers::Raw(head) => {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                resp.parse(head).is_ok()
                    && resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case(name))
                        .is_some_and(|h| put(h.value))
            }
        }
    }

    /// The first value of header `name`, as text.
    pub fn get(&self, name: &str) -> Option<String> {
        let mut s = String::new();
        self.get_into(name, &mut s).then_some(s)
    }
}

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
}

/// How the body of an answer is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The parts of a response head that the exchange needs.
#[derive(Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    close: bool,
}

impl H1Conn {
    pub fn new(io: Stream) -> Self {
        H1Conn {
            io,
            rbuf: BytesMut::new(),
            wbuf: Vec::new(),
            reusable: true,
        }
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

    /// Sends the request in the buffer and reads the whole answer. `head` is
    /// true for HEAD requests, whose answers have no body; `keep_headers`
    /// keeps the response head for [`Headers::get`].
    pub async fn round_trip(
        &mut self,
        head: bool,
        keep_headers: bool,
    ) -> Result<HttpAnswer, Failure> {
        // Until this exchange completes, the connection is in an unknown
        // state (a timeout may drop this future at any await).
        self.reusable = false;
        self.io.write_all(&self.wbuf).await.map_err(io_failure)?;
        self.io.flush().await.map_err(io_failure)?;
        let head = loop {
            match parse_head(&self.rbuf, head)? {
                Some(h) if (100..200).contains(&h.status) => {
                    // 100 Continue and 103 Early Hints precede the answer.
                    let _ = self.rbuf.split_to(h.len);
                }
                Some(h) => break h,
                None => {
                    if self.rbuf.len() >= MAX_HEAD {
                        return Err(protocol("response head too large"));
                    }
                    self.fill().await?;
                }
            }
        };
        let mut received = head.len as u64;
        let raw_head = self.rbuf.split_to(head.len);
        let headers = if keep_headers {
            Headers::Raw(raw_head.freeze())
        } else {
            Headers::None
        };
        let body = match head.framing {
            Framing::None => Bytes::new(),
            Framing::Length(n) => {
                let n = usize::try_from(n).map_err(|_| protocol("body too large"))?;
                while self.rbuf.len() < n {
                    self.rbuf.reserve(n - self.rbuf.len());
                    self.fill().await?;
                }
                received += n as u64;
                self.rbuf.split_to(n).freeze()
            }
            Framing::Chunked => {
                let (body, wire) = self.read_chunked().await?;
                received += wire;
                body
            }
            Framing::UntilClose => {
                loop {
                    self.rbuf.reserve(READ_CHUNK);
                    match self.io.read_buf(&mut self.rbuf).await {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => return Err(io_failure(e)),
                    }
                }
                received += self.rbuf.len() as u64;
                let body = self.rbuf.split().freeze();
                return Ok(HttpAnswer {
                    status: head.status,
                    body,
                    received,
                    headers,
                });
            }
        };
        self.reusable = !head.close;
        Ok(HttpAnswer {
            status: head.status,
            body,
            received,
            headers,
        })
    }

    /// Reads more bytes; the end of the stream here means the answer was cut.
    async fn fill(&mut self) -> Result<(), Failure> {
        if self.rbuf.capacity() == self.rbuf.len() {
            self.rbuf.reserve(READ_CHUNK);
        }
        match self.io.read_buf(&mut self.rbuf).await {
            Ok(0) => Err(Failure::new(
                FailureKind::Reset,
                "connection closed before the answer",
            )),
            Ok(_) => Ok(()),
            Err(e) => Err(io_failure(e)),
        }
    }

    /// Decodes a chunked body; returns it and the bytes it took on the wire.
    async fn read_chunked(&mut self) -> Result<(Bytes, u64), Failure> {
        let mut body = BytesMut::new();
        let mut wire = 0u64;
        loop {
            let (used, size) = loop {
                match httparse::parse_chunk_size(&self.rbuf) {
                    Ok(httparse::Status::Complete(c)) => break c,
                    Ok(httparse::Status::Partial) => {
                        if self.rbuf.len() > 1024 {
                            return Err(protocol("chunk size line too long"));
                        }
                        self.fill().await?;
                    }
                    Err(_) => return Err(protocol("invalid chunk size")),
                }
            };
            let size = usize::try_from(size).map_err(|_| protocol("chunk too large"))?;
            let _ = self.rbuf.split_to(used);
            wire += used as u64;
            if size == 0 {
                // Trailers, if any, end with an empty line.
                loop {
                    if let Some(end) = find_crlf(&self.rbuf) {
                        let line_empty = end == 0;
                        let _ = self.rbuf.split_to(end + 2);
                        wire += end as u64 + 2;
                        if line_empty {
                            return Ok((body.freeze(), wire));
                        }
                    } else {
                        if self.rbuf.len() >= MAX_HEAD {
                            return Err(protocol("chunked trailers too large"));
                        }
                        self.fill().await?;
                    }
                }
            }
            let need = size + 2;
            while self.rbuf.len() < need {
                self.rbuf.reserve(need - self.rbuf.len());
                self.fill().await?;
            }
            if &self.rbuf[size..need] != b"\r\n" {
                return Err(protocol("chunk not followed by CRLF"));
            }
            body.extend_from_slice(&self.rbuf[..size]);
            let _ = self.rbuf.split_to(need);
            wire += need as u64;
        }
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
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
    let mut chunked = false;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| protocol("invalid Content-Length"))?;
            if length.is_some_and(|l| l != v) {
                return Err(protocol("conflicting Content-Length headers"));
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
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
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        close: close || framing == Framing::UntilClose,
    }))
}

fn protocol(reason: &'static str) -> Failure {
    Failure::new(FailureKind::Protocol, "invalid HTTP response").with_detail(reason)
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
mod tests {
    use super::*;

    fn head(s: &str) -> Head {
        parse_head(s.as_bytes(), false).unwrap().unwrap()
    }

    #[test]
    fn framing_follows_the_headers() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        assert_eq!(
            (h.status, h.framing, h.close),
            (200, Framing::Length(12), false)
        );
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked);
        let h = head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.close), (Framing::UntilClose, true));
        let h = head("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::None);
        let h = head("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        assert!(h.close);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
        assert!(h.close);
        let h = head("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
        assert!(!h.close);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::None);
    }

    #[test]
    fn partial_and_bad_heads() {
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Le", false)
                .unwrap()
                .is_none()
        );
        let e = parse_head(b"garbage\r\n\r\n", false).err().unwrap();
        assert_eq!(e.reason, "invalid HTTP response");
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 101 Switching\r\n\r\n",
        ] {
            assert!(parse_head(bad.as_bytes(), false).is_err(), "{bad}");
        }
    }

    /// A loopback server that answers each request on a connection with the
    /// next scripted answer, written in small pieces to exercise partial
    /// reads, and closes the connection after its last answer (an empty
    /// answer: closes it without reading another request).
    async fn scripted(answers: Vec<Vec<&'static str>>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for conn_answers in answers {
                let (mut sock, _) = listener.accept().await.unwrap();
                for answer in conn_answers {
                    if answer.is_empty() {
                        // Close while the client is idle.
                        break;
                    }
                    let mut req = Vec::new();
                    let mut b = [0u8; 512];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        let n = sock.read(&mut b).await.unwrap();
                        assert!(n > 0, "client closed early");
                        req.extend_from_slice(&b[..n]);
                    }
                    for piece in answer.as_bytes().chunks(7) {
                        sock.write_all(piece).await.unwrap();
                        sock.flush().await.unwrap();
                        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                }
            }
        });
        addr
    }

    async fn conn(addr: std::net::SocketAddr) -> H1Conn {
        let tcp = TcpStream::connect(addr).await.unwrap();
        H1Conn::new(tokio_util::either::Either::Left(tcp))
    }

    async fn get(c: &mut H1Conn) -> Result<HttpAnswer, Failure> {
        c.request_buf()
            .extend_from_slice(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        c.round_trip(false, true).await
    }

    #[tokio::test]
    async fn bodies_by_length_chunks_and_close() {
        let addr = scripted(vec![
            vec![
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\n",
                "HTTP/1.1 503 Busy\r\n\r\nuntil the end",
            ],
        ])
        .await;
        let mut c = conn(addr).await;
        let a = get(&mut c).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"hello"[..]));
        assert!(c.is_usable());
        let a = get(&mut c).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (200, &b"abcdefg"[..]));
        // The head is kept for captures, and read case-insensitively.
        assert_eq!(
            a.headers.get("transfer-encoding").as_deref(),
            Some("chunked")
        );
        assert_eq!(a.headers.get("location"), None);
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\n";
        assert_eq!(a.received, wire.len() as u64);
        assert!(c.is_usable());
        let a = get(&mut c).await.unwrap();
        assert_eq!((a.status, &a.body[..]), (503, &b"until the end"[..]));
        assert!(
            !c.is_usable(),
            "a close-delimited answer ends the connection"
        );
    }

    #[tokio::test]
    async fn a_server_that_closes_an_idle_connection_is_noticed() {
        let addr = scripted(vec![vec![
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            "",
        ]])
        .await;
        let mut c = conn(addr).await;
        get(&mut c).await.unwrap();
        // The server's FIN arrives while the user thinks; the next request
        // must go on a new connection instead of failing on this one.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!c.is_usable());
    }

    #[tokio::test]
    async fn a_cut_body_and_a_bad_chunk_are_failures() {
        let addr = scripted(vec![
            vec!["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
            vec!["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"],
        ])
        .await;
        let mut c = conn(addr).await;
        let e = get(&mut c).await.err().unwrap();
        assert_eq!(e.reason, "connection closed before the answer");
        let mut c = conn(addr).await;
        let e = get(&mut c).await.err().unwrap();
        assert_eq!(e.reason, "invalid HTTP response");
        assert_eq!(e.detail.as_deref(), Some("invalid chunk size"));
    }
}
