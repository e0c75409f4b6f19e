//! Content codings (`Content-Encoding: gzip | deflate | br | zstd`): what
//! volley asks for by default, as browsers, Locust, k6 and oha do, and how an
//! encoded body is decoded for the checks and captures that read it.
//!
//! Decoding happens only when something reads the body (a check, a capture,
//! a failure's detail), never to count it: the bytes in the statistics are
//! the bytes on the wire. The decoded text is bounded like any body kept
//! (`[http] max_body`): decoding stops one byte past the limit, so a small
//! answer that inflates to gigabytes (a "zip bomb") costs at most the limit
//! in memory and the time to decode that much, and a check on it fails as
//! `truncated`.

use std::io::{self, Read};

use bytes::Bytes;

use crate::stats::{Failure, FailureKind};

// The coding names are the scenario's vocabulary (`[http] compression`),
// so they live below the client, in the scenario layer.
pub use crate::scenario::coding::{ACCEPT_ALL, Coding};

/// What a `Content-Encoding` header says was done to a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// No header, or `identity`: the body is as it was.
    #[default]
    Identity,
    /// One coding volley decodes.
    Coded(Coding),
    /// A coding volley does not know, or several stacked: the body is
    /// checked as it came (as curl does without `--compressed`).
    Other,
}

impl Encoding {
    /// What an answer's `Content-Encoding` headers (all of them) say.
    pub fn of(headers: &http::HeaderMap) -> Encoding {
        let mut encoding = Encoding::Identity;
        for v in headers.get_all(http::header::CONTENT_ENCODING) {
            for token in v.as_bytes().split(|&b| b == b',') {
                encoding = encoding.and(token);
            }
        }
        encoding
    }

    /// Reads a `Content-Encoding` value. Several values (or several
    /// headers, which the caller passes one at a time through [`Self::and`])
    /// stacked are not decoded: servers do not send them.
    pub fn from_header(value: &[u8]) -> Encoding {
        let mut e = Encoding::Identity;
        for token in value.split(|&b| b == b',') {
            e = e.and(token);
        }
        e
    }

    /// This encoding with one more coding applied after it.
    pub fn and(self, token: &[u8]) -> Encoding {
        let t = token.trim_ascii();
        if t.is_empty() || t.eq_ignore_ascii_case(b"identity") {
            return self;
        }
        match (self, Coding::from_token(t)) {
            (Encoding::Identity, Some(c)) => Encoding::Coded(c),
            _ => Encoding::Other,
        }
    }
}

/// A body as checks and captures read it.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The decoded body, or its first `limit` bytes.
    pub bytes: Bytes,
    /// Whether the decoded body is longer than what `bytes` holds: the
    /// limit was reached, or only part of the encoded body was kept.
    pub truncated: bool,
}

/// Decodes `wire` (the encoded body, or its first bytes when
/// `wire_truncated`) into at most `limit` bytes. Undecodable bytes are a
/// failure of kind `protocol`; an encoded body cut short by volley's own
/// limit decodes as far as it goes and is `truncated`.
pub fn decode(
    coding: Coding,
    wire: &[u8],
    wire_truncated: bool,
    limit: usize,
) -> Result<Decoded, Failure> {
    let mut out = Vec::new();
    // One byte past the limit tells a body of exactly `limit` bytes from
    // a longer one.
    let cap = (limit as u64).saturating_add(1);
    let result = match coding {
        // Several gzip members one after another are one body (RFC 1952 2.2).
        Coding::Gzip => flate2::read::MultiGzDecoder::new(wire)
            .take(cap)
            .read_to_end(&mut out),
        Coding::Deflate if zlib_header(wire) => flate2::read::ZlibDecoder::new(wire)
            .take(cap)
            .read_to_end(&mut out),
        // "deflate" should be zlib-wrapped (RFC 9110 8.4.1.2); some servers
        // send the raw stream, and clients accept it.
        Coding::Deflate => flate2::read::DeflateDecoder::new(wire)
            .take(cap)
            .read_to_end(&mut out),
        Coding::Br => brotli_decompressor::Decompressor::new(wire, 4096)
            .take(cap)
            .read_to_end(&mut out),
        Coding::Zstd => zstd_decoder(wire).and_then(|d| d.take(cap).read_to_end(&mut out)),
    };
    let over = out.len() > limit;
    out.truncate(limit);
    match result {
        Ok(_) => Ok(Decoded {
            bytes: Bytes::from(out),
            truncated: over,
        }),
        // The encoded bytes end early because volley kept only their start:
        // what decoded so far is the start of the body.
        Err(_) if wire_truncated => Ok(Decoded {
            bytes: Bytes::from(out),
            truncated: true,
        }),
        Err(e) => Err(Failure::new(
            FailureKind::Protocol,
            format!("cannot decode the {} body", coding.token()),
        )
        .with_detail(e.to_string())),
    }
}

/// A zstd decoder that refuses frames asking for windows over 8 MiB (the
/// bound RFC 8878 sets for HTTP, 9.1): a target cannot make volley reserve
/// more to decode one answer.
fn zstd_decoder(wire: &[u8]) -> io::Result<zstd::stream::read::Decoder<'_, &[u8]>> {
    let mut d = zstd::stream::read::Decoder::with_buffer(wire)?;
    d.window_log_max(23)?;
    Ok(d)
}

/// Whether `b` starts with a zlib header (RFC 1950: method 8, and the two
/// bytes a multiple of 31).
fn zlib_header(b: &[u8]) -> bool {
    match b {
        [cmf, flg, ..] => cmf & 0x0f == 8 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn encodings_are_read_from_headers() {
        assert_eq!(
            Encoding::from_header(b"gzip"),
            Encoding::Coded(Coding::Gzip)
        );
        assert_eq!(
            Encoding::from_header(b" X-GZIP "),
            Encoding::Coded(Coding::Gzip)
        );
        assert_eq!(Encoding::from_header(b"identity"), Encoding::Identity);
        assert_eq!(Encoding::from_header(b""), Encoding::Identity);
        assert_eq!(Encoding::from_header(b"br"), Encoding::Coded(Coding::Br));
        assert_eq!(Encoding::from_header(b"gzip, br"), Encoding::Other);
        assert_eq!(Encoding::from_header(b"compress"), Encoding::Other);
        assert_eq!(
            Encoding::Coded(Coding::Gzip).and(b"zstd"),
            Encoding::Other,
            "two headers stack like a list"
        );
    }

    #[test]
    fn every_coding_round_trips() {
        let text = b"{\"category\": \"sport\"} ".repeat(100);
        let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
        deflate.write_all(&text).unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
        raw.write_all(&text).unwrap();
        let mut br = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut br, 4096, 5, 22);
            w.write_all(&text).unwrap();
        }
        let zstd = zstd::encode_all(&text[..], 3).unwrap();
        for (coding, wire) in [
            (Coding::Gzip, gzip(&text)),
            (Coding::Deflate, deflate.finish().unwrap()),
            (Coding::Deflate, raw.finish().unwrap()),
            (Coding::Br, br),
            (Coding::Zstd, zstd),
        ] {
            let d = decode(coding, &wire, false, 1 << 20).unwrap();
            assert_eq!(&d.bytes[..], &text[..], "{coding:?}");
            assert!(!d.truncated);
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 64 MiB of zeros compress to about 64 KiB.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let wire = e.finish().unwrap();
        assert!(wire.len() < 200_000);
        let d = decode(Coding::Gzip, &wire, false, 4096).unwrap();
        assert_eq!(d.bytes.len(), 4096);
        assert!(d.truncated);
    }

    #[test]
    fn garbage_is_a_protocol_failure_and_a_cut_stream_its_start() {
        for c in Coding::ALL {
            let f = decode(c, b"this is not compressed at all", false, 1024).unwrap_err();
            assert_eq!(f.kind, FailureKind::Protocol, "{c:?}");
            assert_eq!(f.reason, format!("cannot decode the {} body", c.token()));
        }
        let text = b"hello hello hello hello hello".repeat(50);
        let wire = gzip(&text);
        let d = decode(Coding::Gzip, &wire[..wire.len() / 2], true, 1 << 20).unwrap();
        assert!(d.truncated);
        assert!(text.starts_with(&d.bytes));
    }

    proptest::proptest! {
        /// Whatever bytes a target sends as an encoded body, decoding ends
        /// with a body or a failure, within the limit.
        #[test]
        fn hostile_bytes_never_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            cut in proptest::prelude::any::<bool>(),
        ) {
            for c in Coding::ALL {
                if let Ok(d) = decode(c, &bytes, cut, 512) {
                    proptest::prop_assert!(d.bytes.len() <= 512);
                }
            }
        }
    }
}
