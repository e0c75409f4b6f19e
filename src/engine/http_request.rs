//! Building and sending one HTTP request of the scenario: the parts no
//! template changes are encoded once ([`FixedHttp`]); per request only the
//! templated path, headers and body are rendered. HTTP/1.1 requests are
//! written as bytes straight into the connection's buffer; HTTP/2 requests
//! become an `http::Request` for hyper.

use std::io::Write;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Method};
use http_body_util::Full;

use crate::client::http::{HttpAnswer, HttpConn, HttpTarget, send_h2};
use crate::scenario::HttpSpec;
use crate::scenario::template::RenderCtx;
use crate::stats::{Failure, FailureKind};

/// The parts of an HTTP request that no template changes, built once.
pub struct FixedHttp {
    /// The origin-form path (HTTP/1.1) and absolute-form URI (HTTP/2) of a
    /// static path.
    path_h1: Option<String>,
    uri_h2: Option<http::Uri>,
    /// Static header lines, encoded for HTTP/1.1.
    head_h1: Vec<u8>,
    /// Static headers for HTTP/2.
    headers: http::HeaderMap,
    /// Whether the scenario sets Host itself (virtual hosts).
    own_host: bool,
    /// Indexes of the templated headers in the spec.
    templated_headers: Vec<usize>,
    /// The body, when it has no placeholders.
    body: Option<Bytes>,
    /// Bytes of the static parts, for the sent count of HTTP/2.
    static_len: u64,
}

impl FixedHttp {
    pub fn new(h: &HttpSpec, t: &HttpTarget) -> Result<Self, String> {
        let (path_h1, uri_h2) = match h.path.as_static() {
            Some(p) => {
                http::uri::PathAndQuery::try_from(p).map_err(|e| format!("path {p:?}: {e}"))?;
                let abs = format!("{}://{}{p}", t.scheme, t.authority)
                    .parse()
                    .map_err(|e| format!("path {p:?}: {e}"))?;
                (Some(p.to_owned()), Some(abs))
            }
            None => (None, None),
        };
        let mut headers = http::HeaderMap::new();
        let mut head_h1 = Vec::new();
        let mut templated_headers = Vec::new();
        let mut static_len = 0u64;
        let mut own_host = false;
        for (i, (name, tpl)) in h.headers.iter().enumerate() {
            // Framing is volley's to set: it knows the body it sends.
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
                continue;
            }
            own_host |= name == HOST;
            match tpl.as_static() {
                Some(v) => {
                    let value =
                        HeaderValue::from_str(v).map_err(|e| format!("header {name}: {e}"))?;
                    static_len += (name.as_str().len() + v.len() + 4) as u64;
                    push_header(&mut head_h1, name.as_str(), v);
                    headers.append(name.clone(), value);
                }
                None => templated_headers.push(i),
            }
        }
        let body = match &h.body {
            None => Some(Bytes::new()),
            Some(tpl) => tpl
                .as_static()
                .map(|b| Bytes::copy_from_slice(b.as_bytes())),
        };
        Ok(FixedHttp {
            path_h1,
            uri_h2,
            head_h1,
            headers,
            own_host,
            templated_headers,
            body,
            static_len,
        })
    }
}

fn push_header(buf: &mut Vec<u8>, name: &str, value: &str) {
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value.as_bytes());
    buf.extend_from_slice(b"\r\n");
}

/// Methods whose requests carry a Content-Length even when the body is empty.
fn expects_body(m: &Method) -> bool {
    *m == Method::POST || *m == Method::PUT || *m == Method::PATCH
}

/// Per-user buffers the rendering reuses.
pub struct Scratch<'a> {
    pub a: &'a mut String,
    pub b: &'a mut String,
}

fn request_err(e: String) -> (u64, u64, Failure) {
    (
        0,
        0,
        Failure::new(FailureKind::Request, "cannot build the request").with_detail(e),
    )
}

/// What to keep of an answer for checks and captures.
#[derive(Debug, Clone, Copy)]
pub struct Keep {
    pub headers: bool,
    /// The most body bytes kept (the body is read to its end regardless).
    pub body: usize,
}

/// Renders and sends one request over `conn`; returns the bytes sent and
/// the answer (checked by the caller), or how it failed with the bytes
/// sent and received.
pub async fn send(
    h: &HttpSpec,
    fixed: &FixedHttp,
    t: &HttpTarget,
    conn: &mut HttpConn,
    ctx: &mut RenderCtx<'_>,
    scratch: Scratch<'_>,
    keep: Keep,
) -> Result<(u64, HttpAnswer), (u64, u64, Failure)> {
    match conn {
        HttpConn::H1(c) => {
            let buf = c.request_buf();
            encode_h1(h, fixed, t, ctx, scratch, buf)?;
            let sent = buf.len() as u64;
            let answer = c
                .round_trip(h.method == Method::HEAD, keep.headers, keep.body)
                .await
                .map_err(|f| (sent, 0, f))?;
            Ok((sent, answer))
        }
        HttpConn::H2(c) => {
            let (req, sent) = build_h2(h, fixed, t, ctx, scratch)?;
            let answer = send_h2(c, req, keep.headers, keep.body)
                .await
                .map_err(|f| (sent, 0, f))?;
            Ok((sent, answer))
        }
    }
}

/// Renders templated header `i` into `value` and checks it by
/// http::HeaderValue's rule (visible ASCII, spaces and tabs: no CR, LF or
/// other controls), without building one.
fn render_header<'h>(
    h: &'h HttpSpec,
    i: usize,
    ctx: &mut RenderCtx<'_>,
    value: &mut String,
) -> Result<&'h http::HeaderName, (u64, u64, Failure)> {
    let (name, tpl) = &h.headers[i];
    value.clear();
    tpl.render(ctx, value);
    if let Some(b) = value
        .bytes()
        .find(|&b| !(b == b'\t' || (0x20..0x7f).contains(&b)))
    {
        return Err(request_err(format!(
            "header {name}: the value holds the byte {b:#04x}, which no header may"
        )));
    }
    Ok(name)
}

/// Writes an HTTP/1.1 request into `buf`.
fn encode_h1(
    h: &HttpSpec,
    fixed: &FixedHttp,
    t: &HttpTarget,
    ctx: &mut RenderCtx<'_>,
    scratch: Scratch<'_>,
    buf: &mut Vec<u8>,
) -> Result<(), (u64, u64, Failure)> {
    buf.extend_from_slice(h.method.as_str().as_bytes());
    buf.push(b' ');
    match &fixed.path_h1 {
        Some(p) => buf.extend_from_slice(p.as_bytes()),
        None => {
            let path = &mut *scratch.a;
            path.clear();
            h.path.render(ctx, path);
            http::uri::PathAndQuery::try_from(path.as_str())
                .map_err(|e| request_err(format!("path {path:?}: {e}")))?;
            buf.extend_from_slice(path.as_bytes());
        }
    }
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    if !fixed.own_host {
        push_header(buf, "host", t.authority.as_str());
    }
    buf.extend_from_slice(&fixed.head_h1);
    let value = scratch.b;
    for &i in &fixed.templated_headers {
        let name = render_header(h, i, ctx, value)?;
        push_header(buf, name.as_str(), value);
    }
    let body_at = |buf: &mut Vec<u8>, len: usize| {
        if len > 0 || expects_body(&h.method) {
            // Formatted straight into the buffer: no allocation per request.
            let _ = write!(buf, "content-length: {len}\r\n");
        }
        buf.extend_from_slice(b"\r\n");
    };
    match (&fixed.body, &h.body) {
        (Some(b), _) => {
            body_at(buf, b.len());
            buf.extend_from_slice(b);
        }
        (None, Some(tpl)) => {
            let body = scratch.a;
            body.clear();
            tpl.render(ctx, body);
            body_at(buf, body.len());
            buf.extend_from_slice(body.as_bytes());
        }
        (None, None) => body_at(buf, 0),
    }
    Ok(())
}

type H2Request = http::Request<Full<Bytes>>;

/// Builds an HTTP/2 request; returns it with its size as HTTP/1.1 would count.
fn build_h2(
    h: &HttpSpec,
    fixed: &FixedHttp,
    t: &HttpTarget,
    ctx: &mut RenderCtx<'_>,
    scratch: Scratch<'_>,
) -> Result<(H2Request, u64), (u64, u64, Failure)> {
    let uri = match &fixed.uri_h2 {
        Some(u) => u.clone(),
        None => {
            let path = scratch.a;
            path.clear();
            path.push_str(t.scheme.as_str());
            path.push_str("://");
            path.push_str(t.authority.as_str());
            h.path.render(ctx, path);
            http::Uri::try_from(path.as_str())
                .map_err(|e| request_err(format!("path {path:?}: {e}")))?
        }
    };
    let mut sent = (h.method.as_str().len() + uri.path().len() + 12) as u64 + fixed.static_len;
    let mut headers = fixed.headers.clone();
    let value = scratch.b;
    for &i in &fixed.templated_headers {
        let (name, tpl) = &h.headers[i];
        value.clear();
        tpl.render(ctx, value);
        sent += (name.as_str().len() + value.len() + 4) as u64;
        let v =
            HeaderValue::from_str(value).map_err(|e| request_err(format!("header {name}: {e}")))?;
        headers.insert(name.clone(), v);
    }
    let body = match (&fixed.body, &h.body) {
        (Some(b), _) => b.clone(),
        (None, Some(tpl)) => {
            let mut b = String::new();
            tpl.render(ctx, &mut b);
            Bytes::from(b)
        }
        (None, None) => Bytes::new(),
    };
    sent += body.len() as u64;
    let mut req = http::Request::new(Full::new(body));
    *req.method_mut() = h.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok((req, sent))
}
