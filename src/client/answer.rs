//! An answer as the checks, captures, cookies and redirects read it,
//! whichever protocol brought it (HTTP/1.1, HTTP/2; gRPC's metadata as
//! headers): its status, its body as kept, its bytes and its headers.

use std::time::Instant;

use super::body::Body;
use super::decode::Encoding;
use super::h1::MAX_HEADERS;

/// What to keep of an answer for checks and captures, and where its body
/// goes as it arrives when a streaming call reads it.
#[derive(Clone, Copy, Default)]
pub struct Keep<'a> {
    pub headers: bool,
    /// The most body bytes kept (the body is read to its end regardless).
    pub body: usize,
    /// Reads the body as it arrives (Server-Sent Events), and may end it.
    pub sink: Option<&'a dyn BodySink>,
}

/// Where an answer's body goes as it arrives, beside what is kept of it: a
/// streaming call (Server-Sent Events) reads its events as they come rather
/// than once the body has ended, which it may never do. Methods take
/// `&self` so that one sink goes with a request that may be sent more than
/// once (a retry, a redirect); implementations keep their state behind a
/// lock no one else takes.
pub trait BodySink: Sync {
    /// The answer's head came (`headers` are kept whole when a sink is
    /// given): whether its body goes to [`BodySink::data`]. A redirect or
    /// an error's body is read as any other.
    fn open(&self, status: u16, headers: &Headers, encoding: Encoding) -> bool;
    /// The next piece of the body, as it arrived, framing removed. False
    /// ends the answer here: the caller has what it wanted, and what is left
    /// of the body is never read (its connection is not used again; an
    /// HTTP/2 stream is reset).
    fn data(&self, piece: &[u8]) -> bool;
}

/// What came back.
pub struct HttpAnswer {
    pub status: u16,
    /// The body: its first bytes (up to what the caller asked to keep) and
    /// its whole length.
    pub body: Body,
    /// Head and body bytes received.
    pub received: u64,
    /// The headers, when the caller asked for them (a capture reads one),
    /// or when the answer sets cookies or redirects.
    pub headers: Headers,
    /// What `Content-Encoding` says was done to the body.
    pub encoding: Encoding,
    /// When the first byte of the body arrived (the end of the head when
    /// the answer has no body): the time to first byte, read against the
    /// request's start. Of a chain's answers, the final one's.
    pub first_byte: Instant,
    /// The protocol the answer came over (HTTP/1.1, HTTP/2 or HTTP/3).
    pub protocol: http::Version,
}

/// Response headers, kept only when something will read them.
#[derive(Debug, Default)]
pub enum Headers {
    #[default]
    None,
    /// An HTTP/1.1 head as received (parsed again on lookup: rare).
    Raw(bytes::Bytes),
    Map(http::HeaderMap),
}

impl Headers {
    /// An HTTP/2 or HTTP/3 answer's headers as kept: when the caller asked
    /// for them or reads the body as a stream, or when the answer sets
    /// cookies, redirects, or challenges (the engine reads those).
    pub fn kept(keep: &Keep<'_>, status: u16, headers: http::HeaderMap) -> Headers {
        let needed = headers.contains_key(http::header::SET_COOKIE)
            || (super::redirect::is_redirect(status)
                && headers.contains_key(http::header::LOCATION))
            || (status == 401 && headers.contains_key(http::header::WWW_AUTHENTICATE));
        if keep.headers || needed || keep.sink.is_some() {
            Headers::Map(headers)
        } else {
            Headers::None
        }
    }

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

    /// Calls `f` with every value of header `name` (case-insensitive), in
    /// the order received.
    pub fn for_each(&self, name: &str, mut f: impl FnMut(&[u8])) {
        match self {
            Headers::None => {}
            Headers::Map(m) => m.get_all(name).iter().for_each(|v| f(v.as_bytes())),
            Headers::Raw(head) => {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                if resp.parse(head).is_ok() {
                    resp.headers
                        .iter()
                        .filter(|h| h.name.eq_ignore_ascii_case(name))
                        .for_each(|h| f(h.value));
                }
            }
        }
    }
}
