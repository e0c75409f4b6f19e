//! Answer bodies as volley receives them: HTTP/1.1 framing decoded without
//! I/O ([`Decoder`]: Content-Length, chunks, or the end of the connection),
//! and a bounded keeper ([`Kept`]) that counts every byte of a body but
//! holds at most a set number of them for checks and captures.
//!
//! Nothing a target sends sizes an allocation: a Content-Length or a chunk
//! size is a number to count down, never a capacity. Sizes are u64 and all
//! arithmetic on them is checked, so `Content-Length: 18446744073709551615`
//! or a chunk of `ffffffffffffffff` bytes is simply a body that never ends
//! (it ends at the request timeout, or when the server closes).
//!
//! The decoder takes whatever bytes have arrived, in any split; a property
//! test checks that every split of the same bytes decodes the same way.

use bytes::{Bytes, BytesMut};

/// The longest chunk-size line (size, extensions, CRLF) accepted.
pub const MAX_CHUNK_LINE: usize = 4 * 1024;
/// The most bytes of trailers after the last chunk.
pub const MAX_TRAILERS: usize = 64 * 1024;
/// What a body keeps when nothing reads it but a failure's detail.
pub const EXCERPT: usize = 1024;

/// How the body of an answer is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body (HEAD, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Body bytes left of a Content-Length body.
    Length(u64),
    /// Expecting a chunk-size line.
    Size,
    /// Data bytes left of the current chunk.
    Data(u64),
    /// Expecting the CRLF that ends a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one; the bytes
    /// of trailers seen so far.
    Trailers(usize),
    UntilClose,
    Done,
}

/// Why a body could not be decoded: the reason of a `protocol` failure.
pub type DecodeError = &'static str;

/// Decodes one body's framing.
#[derive(Debug, Clone)]
pub struct Decoder {
    state: State,
    /// Bytes the body took on the wire (framing included).
    wire: u64,
}

impl Decoder {
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size,
            Framing::UntilClose => State::UntilClose,
        };
        Decoder { state, wire: 0 }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes the body took on the wire so far, framing included.
    pub fn wire(&self) -> u64 {
        self.wire
    }

    /// Whether the decoder is inside body data (the next bytes are likely
    /// many, so reads may be large).
    pub fn in_data(&self) -> bool {
        matches!(
            self.state,
            State::Length(_) | State::Data(_) | State::UntilClose
        )
    }

    /// The connection ended. Fine for a body delimited by the close;
    /// anything else was cut short.
    pub fn end_of_stream(&mut self) -> bool {
        if self.state == State::UntilClose {
            self.state = State::Done;
        }
        self.state == State::Done
    }

    /// Decodes what it can of `buf`, handing body data to `data` in pieces;
    /// returns how many bytes of `buf` it used. Stops at the end of the
    /// body (bytes after it belong to the next answer) or when `buf` ends
    /// inside a line it needs whole.
    pub fn decode(
        &mut self,
        buf: &[u8],
        data: &mut impl FnMut(&[u8]),
    ) -> Result<usize, DecodeError> {
        let mut pos = 0;
        let result = loop {
            let rest = &buf[pos..];
            match self.state {
                State::Done => break Ok(()),
                State::UntilClose => {
                    if !rest.is_empty() {
                        data(rest);
                    }
                    pos = buf.len();
                    break Ok(());
                }
                State::Length(left) | State::Data(left) => {
                    if rest.is_empty() {
                        break Ok(());
                    }
                    let take = usize::try_from(left).map_or(rest.len(), |l| l.min(rest.len()));
                    data(&rest[..take]);
                    pos += take;
                    // take <= left, so this cannot underflow.
                    let left = left - take as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), l) => State::Length(l),
                        (_, 0) => State::DataEnd,
                        (_, l) => State::Data(l),
                    };
                }
                State::DataEnd => match rest {
                    [] | [b'\r'] => break Ok(()),
                    [b'\r', b'\n', ..] => {
                        pos += 2;
                        self.state = State::Size;
                    }
                    _ => break Err("chunk data not followed by CRLF"),
                },
                State::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        if used > MAX_CHUNK_LINE {
                            break Err("chunk size line too long");
                        }
                        pos += used;
                        self.state = if size == 0 {
                            State::Trailers(0)
                        } else {
                            State::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) => {
                        if rest.len() > MAX_CHUNK_LINE {
                            break Err("chunk size line too long");
                        }
                        break Ok(());
                    }
                    Err(_) => break Err("invalid chunk size"),
                },
                State::Trailers(seen) => match rest.windows(2).position(|w| w == b"\r\n") {
                    Some(0) => {
                        pos += 2;
                        self.state = State::Done;
                    }
                    Some(end) => {
                        let seen = seen.saturating_add(end + 2);
                        if seen > MAX_TRAILERS {
                            break Err("chunked trailers too large");
                        }
                        pos += end + 2;
                        self.state = State::Trailers(seen);
                    }
                    None => {
                        if seen.saturating_add(rest.len()) > MAX_TRAILERS {
                            break Err("chunked trailers too large");
                        }
                        break Ok(());
                    }
                },
            }
        };
        self.wire = self.wire.saturating_add(pos as u64);
        result.map(|()| pos)
    }
}

/// A body as it arrives: every byte counted, at most `limit` kept.
#[derive(Debug)]
pub struct Kept {
    bytes: BytesMut,
    limit: usize,
    len: u64,
}

impl Kept {
    /// Keeps up to `limit` bytes; `hint` (a Content-Length) only caps the
    /// first allocation, it never sizes it beyond `limit` or 64 KiB.
    pub fn new(limit: usize, hint: Option<u64>) -> Self {
        let first = hint
            .and_then(|h| usize::try_from(h).ok())
            .unwrap_or(EXCERPT)
            .min(limit)
            .min(64 * 1024);
        Kept {
            bytes: BytesMut::with_capacity(first),
            limit,
            len: 0,
        }
    }

    /// Adds the next piece of the body.
    pub fn push(&mut self, data: &[u8]) {
        self.len = self.len.saturating_add(data.len() as u64);
        let room = self.limit.saturating_sub(self.bytes.len());
        if room > 0 {
            self.bytes.extend_from_slice(&data[..data.len().min(room)]);
        }
    }

    pub fn finish(self) -> Body {
        Body {
            kept: self.bytes.freeze(),
            len: self.len,
        }
    }
}

/// A body that arrives in pieces (HTTP/2 and HTTP/3 DATA): all of it
/// counted, at most `limit` bytes kept; a body of one piece that fits (the
/// usual case) is kept as that piece, without a copy.
#[derive(Debug)]
pub struct Collect {
    limit: usize,
    first: Option<Bytes>,
    kept: Option<Kept>,
}

impl Collect {
    pub fn new(limit: usize) -> Self {
        Collect {
            limit,
            first: None,
            kept: None,
        }
    }

    /// Adds the next piece.
    pub fn push(&mut self, data: Bytes) {
        match (&mut self.kept, self.first.take()) {
            (Some(k), _) => k.push(&data),
            (None, None) if data.len() <= self.limit => self.first = Some(data),
            (None, earlier) => {
                let mut k = Kept::new(self.limit, None);
                if let Some(e) = earlier {
                    k.push(&e);
                }
                k.push(&data);
                self.kept = Some(k);
            }
        }
    }

    pub fn finish(self) -> Body {
        match (self.kept, self.first) {
            (Some(k), _) => k.finish(),
            (None, Some(b)) => Body::whole(b),
            (None, None) => Body::default(),
        }
    }
}

/// A received body: its first bytes, and how long it was.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// The body, or its first bytes when it was longer than the limit.
    pub kept: Bytes,
    /// The body's whole length in bytes.
    pub len: u64,
}

impl Body {
    /// A body kept whole.
    pub fn whole(kept: Bytes) -> Self {
        let len = kept.len() as u64;
        Body { kept, len }
    }

    /// Whether bytes of the body were dropped (it was longer than the limit).
    pub fn truncated(&self) -> bool {
        self.len > self.kept.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `wire` fed in pieces cut at `cuts`; returns the body, the
    /// bytes used, and whether it ended (or the error).
    fn decode_split(
        framing: Framing,
        wire: &[u8],
        cuts: &[usize],
        eof: bool,
    ) -> Result<(Vec<u8>, usize, bool), DecodeError> {
        let mut d = Decoder::new(framing);
        let mut body = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let mut used = 0;
        let mut at = 0;
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        for p in points {
            if p < at {
                continue;
            }
            pending.extend_from_slice(&wire[at..p]);
            at = p;
            let n = d.decode(&pending, &mut |b| body.extend_from_slice(b))?;
            used += n;
            pending.drain(..n);
            if d.is_done() {
                break;
            }
        }
        let done = d.is_done() || (eof && d.end_of_stream());
        assert_eq!(d.wire(), used as u64);
        Ok((body, used, done))
    }

    #[test]
    fn lengths_chunks_and_close() {
        let (b, used, done) = decode_split(Framing::Length(5), b"helloNEXT", &[2], false).unwrap();
        assert_eq!((&b[..], used, done), (&b"hello"[..], 5, true));
        let wire = b"3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\nTrailer: 1\r\n\r\nNEXT";
        let (b, used, done) = decode_split(Framing::Chunked, wire, &[1, 5, 9], false).unwrap();
        assert_eq!(
            (&b[..], used, done),
            (&b"abcdefg"[..], wire.len() - 4, true)
        );
        let (b, _, done) = decode_split(Framing::UntilClose, b"all of it", &[3], true).unwrap();
        assert_eq!((&b[..], done), (&b"all of it"[..], true));
        let (_, _, done) = decode_split(Framing::Length(10), b"short", &[], true).unwrap();
        assert!(!done, "a cut Content-Length body is not done at the end");
    }

    #[test]
    fn hostile_sizes_are_counted_down_not_allocated() {
        // A body announced as 2^64-1 bytes: decoding 10 of them costs nothing.
        let mut d = Decoder::new(Framing::Length(u64::MAX));
        let mut seen = 0;
        assert_eq!(d.decode(b"0123456789", &mut |b| seen += b.len()), Ok(10));
        assert_eq!((seen, d.is_done()), (10, false));
        let mut d = Decoder::new(Framing::Chunked);
        let mut seen = 0;
        let n = d
            .decode(b"ffffffffffffffff\r\nabc", &mut |b| seen += b.len())
            .unwrap();
        assert_eq!((n, seen, d.is_done()), (21, 3, false));
        for (bad, why) in [
            (&b"zz\r\n"[..], "invalid chunk size"),
            (b"fffffffffffffffff\r\n", "invalid chunk size"),
            (b"3\r\nabcXY", "chunk data not followed by CRLF"),
        ] {
            let mut d = Decoder::new(Framing::Chunked);
            assert_eq!(d.decode(bad, &mut |_| {}), Err(why), "{bad:?}");
        }
        let mut long = b"1;".to_vec();
        long.resize(MAX_CHUNK_LINE + 10, b'x');
        let mut d = Decoder::new(Framing::Chunked);
        assert_eq!(
            d.decode(&long, &mut |_| {}),
            Err("chunk size line too long")
        );
        let mut trailers = b"0\r\n".to_vec();
        trailers.extend(std::iter::repeat_n(b"x: y\r\n", 20_000).flatten());
        let mut d = Decoder::new(Framing::Chunked);
        assert_eq!(
            d.decode(&trailers, &mut |_| {}),
            Err("chunked trailers too large")
        );
    }

    #[test]
    fn kept_counts_everything_and_keeps_the_limit() {
        let mut k = Kept::new(4, Some(u64::MAX));
        k.push(b"abc");
        k.push(b"defgh");
        let b = k.finish();
        assert_eq!((&b.kept[..], b.len, b.truncated()), (&b"abcd"[..], 8, true));
        assert!(!Body::whole(Bytes::from_static(b"x")).truncated());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Arbitrary bytes in arbitrary pieces never panic, and every split
        /// of the same bytes decodes to the same body, length and end.
        #[test]
        fn any_bytes_any_split_decode_alike(
            wire in proptest::collection::vec(any::<u8>(), 0..300),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
            framing in prop_oneof![
                Just(Framing::Chunked),
                Just(Framing::UntilClose),
                any::<u64>().prop_map(Framing::Length),
                (0u64..64).prop_map(Framing::Length),
            ],
        ) {
            let whole = decode_split(framing, &wire, &[], true);
            let split = decode_split(framing, &wire, &cuts, true);
            prop_assert_eq!(whole, split);
        }

        /// Well-formed chunked bodies, cut anywhere, decode to their data.
        #[test]
        fn chunked_bodies_decode_to_their_data(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..40), 0..6),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let mut wire = Vec::new();
            let mut want = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
                want.extend_from_slice(c);
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let (body, used, done) = decode_split(Framing::Chunked, &wire, &cuts, false).unwrap();
            prop_assert_eq!(body, want);
            prop_assert_eq!(used, wire.len());
            prop_assert!(done);
        }
    }
}
