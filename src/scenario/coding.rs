//! Content coding names (`gzip`, `deflate`, `br`, `zstd`): what a scenario
//! may list in `[http] compression`, and the tokens of `Accept-Encoding`
//! and `Content-Encoding`. The compiler checks the names; the HTTP client
//! decodes the codings they name (`client::decode`).

/// The value of `Accept-Encoding` volley sends by default.
pub const ACCEPT_ALL: &str = "gzip, deflate, br, zstd";

/// A content coding volley can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Coding {
    pub const ALL: [Coding; 4] = [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd];

    /// Its token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// The coding named `token` (case-insensitive; `x-gzip` is gzip).
    pub fn from_token(token: &[u8]) -> Option<Coding> {
        let t = token.trim_ascii();
        if t.eq_ignore_ascii_case(b"gzip") || t.eq_ignore_ascii_case(b"x-gzip") {
            Some(Coding::Gzip)
        } else if t.eq_ignore_ascii_case(b"deflate") {
            Some(Coding::Deflate)
        } else if t.eq_ignore_ascii_case(b"br") {
            Some(Coding::Br)
        } else if t.eq_ignore_ascii_case(b"zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }
}
