//! Building and sending one HTTP request of the scenario: the parts no
//! template changes are encoded once ([`FixedHttp`]); per request only the
//! templated path, headers, credentials and body are rendered. HTTP/1.1
//! requests are written as bytes straight into the connection's buffer;
//! HTTP/2 and HTTP/3 requests become an `http::Request`.
//!
//! What goes with every request unless the scenario sets it (docs/scenario.md,
//! "What volley sends"): `User-Agent: volley/VERSION`, `Accept: */*`,
//! `Accept-Encoding` (`[http] compression`), `Authorization` (`auth`, or the
//! URL's user:password), the user's cookies, and `Connection: close` on
//! HTTP/1.1 when `[http] keep_alive = false`.

use std::io::Write;

use base64::Engine as _;
use bytes::Bytes;
use http::header::InvalidHeaderValue;
use http::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_LENGTH, COOKIE, HOST, TRANSFER_ENCODING,
    USER_AGENT,
};
use http::uri::InvalidUri;
use http::{HeaderName, HeaderValue, Method};
use http_body_util::Full;

use super::outcome::Failed;
use crate::client::answer::HttpAnswer;
pub use crate::client::answer::Keep;
use crate::client::h3::send_h3;
use crate::client::http::{HttpConn, HttpTarget, send_h2};
use crate::scenario::template::RenderCtx;
use crate::scenario::{Auth, HttpSpec};
use crate::stats::{Failure, FailureKind};

/// `User-Agent` when the scenario sets none.
pub const USER_AGENT_VALUE: &str = crate::client::USER_AGENT;

/// Headers that name the original target or carry its credentials: never
/// sent to another origin a redirect leads to (as browsers and curl).
fn credential(name: &HeaderName) -> bool {
    *name == HOST || *name == AUTHORIZATION || *name == COOKIE
}

/// Why the parts of a request that no template changes are not a valid
/// request (found before the load starts). The errors beneath are in the
/// message, so none is a `#[source]`.
#[derive(Debug, thiserror::Error)]
pub enum FixedHttpError {
    #[error("header {name}: {error}")]
    Header {
        name: HeaderName,
        error: InvalidHeaderValue,
    },
    #[error("path {path:?}: {error}")]
    Path { path: String, error: InvalidUri },
    #[error("auth: {0}")]
    Auth(InvalidHeaderValue),
}

/// The parts of an HTTP request that no template changes, built once.
pub struct FixedHttp {
    /// The origin-form path of a static path (HTTP/1.1).
    path_h1: Option<String>,
    /// The absolute URI of a static path (HTTP/2), its authority the
    /// scenario's Host header if it sets one statically.
    uri_h2: Option<http::Uri>,
    /// Static header lines, defaults included, encoded for HTTP/1.1: for the
    /// target itself, and for another origin (no credentials).
    head_h1: Vec<u8>,
    head_h1_other: Vec<u8>,
    /// The same static headers for HTTP/2 (Host excepted: it is the
    /// request's authority there).
    headers: http::HeaderMap,
    headers_other: http::HeaderMap,
    /// The scenario's static Host header (virtual hosts).
    host: Option<String>,
    /// Whether the scenario sets Host (statically or by a template).
    own_host: bool,
    /// Whether the scenario sets Cookie itself (the jar's then stay home).
    own_cookie: bool,
    /// Indexes of the templated headers in the spec.
    templated_headers: Vec<usize>,
    /// `Authorization` when no template changes it.
    auth: Option<String>,
    /// The body, when it has no placeholders.
    body: Option<Bytes>,
    /// Bytes of the static header lines, for the sent count of HTTP/2.
    static_len: u64,
    static_len_other: u64,
}

impl FixedHttp {
    pub fn new(h: &HttpSpec, t: &HttpTarget) -> Result<Self, FixedHttpError> {
        let own = |n: &HeaderName| h.headers.iter().any(|(name, _)| name == n);
        let mut statics: Vec<(HeaderName, String)> = Vec::new();
        let mut templated_headers = Vec::new();
        let mut host = None;
        for (i, (name, tpl)) in h.headers.iter().enumerate() {
            // Framing is volley's to set: it knows the body it sends.
            if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
                continue;
            }
            match tpl.as_static() {
                Some(v) if name == HOST => host = Some(v.to_owned()),
                Some(v) => statics.push((name.clone(), v.to_owned())),
                None => templated_headers.push(i),
            }
        }
        // What every client sends, unless the scenario says otherwise.
        if !own(&USER_AGENT) {
            statics.push((USER_AGENT, USER_AGENT_VALUE.to_owned()));
        }
        if !own(&ACCEPT) {
            // An event stream is asked for as browsers' EventSource asks.
            let accept = if h.sse.is_some() {
                "text/event-stream"
            } else {
                "*/*"
            };
            statics.push((ACCEPT, accept.to_owned()));
        }
        if let Some(codings) = &h.accept_encoding
            && !own(&ACCEPT_ENCODING)
        {
            statics.push((ACCEPT_ENCODING, codings.clone()));
        }
        let mut head_h1 = Vec::new();
        let mut head_h1_other = Vec::new();
        let mut headers = http::HeaderMap::new();
        let mut headers_other = http::HeaderMap::new();
        let (mut static_len, mut static_len_other) = (0u64, 0u64);
        if let Some(v) = &host {
            HeaderValue::from_str(v)
                .map_err(|error| FixedHttpError::Header { name: HOST, error })?;
            push_header(&mut head_h1, "host", v);
        }
        for (name, v) in &statics {
            let value = HeaderValue::from_str(v).map_err(|error| FixedHttpError::Header {
                name: name.clone(),
                error,
            })?;
            let len = (name.as_str().len() + v.len() + 4) as u64;
            static_len += len;
            push_header(&mut head_h1, name.as_str(), v);
            headers.append(name.clone(), value.clone());
            if !credential(name) {
                static_len_other += len;
                push_header(&mut head_h1_other, name.as_str(), v);
                headers_other.append(name.clone(), value);
            }
        }
        if !h.keep_alive {
            // HTTP/1.1 only: HTTP/2 has no Connection header (the connection
            // is dropped after the exchange instead).
            head_h1.extend_from_slice(b"connection: close\r\n");
            head_h1_other.extend_from_slice(b"connection: close\r\n");
        }
        let (path_h1, uri_h2) = match h.path.as_static() {
            Some(p) => {
                let p = crate::scenario::uri::encode_path(p);
                let p = p.as_ref();
                let authority = host.as_deref().unwrap_or(t.authority.as_str());
                let abs = absolute(t.scheme.as_str(), authority, p).map_err(|error| {
                    FixedHttpError::Path {
                        path: p.to_owned(),
                        error,
                    }
                })?;
                (Some(p.to_owned()), Some(abs))
            }
            None => (None, None),
        };
        let auth = match &h.auth {
            Some(Auth::Basic { user, password }) => {
                match (user.as_static(), password.as_static()) {
                    (Some(u), Some(p)) => Some(basic(u, p)),
                    _ => None,
                }
            }
            Some(Auth::Bearer(token)) => token.as_static().map(|t| format!("Bearer {t}")),
            // Digest answers the server's challenge, per request.
            Some(Auth::Digest { .. }) | None => None,
        };
        if let Some(a) = &auth {
            HeaderValue::from_str(a).map_err(FixedHttpError::Auth)?;
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
            head_h1_other,
            headers,
            headers_other,
            host,
            own_host: own(&HOST),
            own_cookie: own(&COOKIE),
            templated_headers,
            auth,
            body,
            static_len,
            static_len_other,
        })
    }

    /// The request's path when no template changes it.
    pub fn static_path(&self) -> Option<&str> {
        self.path_h1.as_deref()
    }

    /// Whether the scenario sets its own Cookie header.
    pub fn own_cookie(&self) -> bool {
        self.own_cookie
    }

    /// The scenario's static Host header, which names the origin on the
    /// target's connection (cookies are kept for it).
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }
}

fn absolute(scheme: &str, authority: &str, path: &str) -> Result<http::Uri, InvalidUri> {
    http::uri::PathAndQuery::try_from(path)?;
    format!("{scheme}://{authority}{path}").parse()
}

fn basic(user: &str, password: &str) -> String {
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {creds}")
}

fn push_header(buf: &mut Vec<u8>, name: &str, value: &str) {
    push_header_bytes(buf, name, value.as_bytes());
}

fn push_header_bytes(buf: &mut Vec<u8>, name: &str, value: &[u8]) {
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b": ");
    buf.extend_from_slice(value);
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

fn request_err(e: String) -> Failed {
    Failed::bare(Failure::new(FailureKind::Request, "cannot build the request").with_detail(e))
}

/// Where one request of a chain goes, and with what.
pub struct Route<'a> {
    pub method: &'a Method,
    /// Its scheme and authority.
    pub target: &'a HttpTarget,
    /// Its path and query: None for the scenario's static path, else the
    /// rendered path (see [`render_path`]) or a redirect's.
    pub path: Option<&'a str>,
    /// Whether the scenario's body goes (not after a 303).
    pub body: bool,
    /// Whether this is the scenario's own target (credentials and the
    /// scenario's Host go only there).
    pub home: bool,
    /// The jar's `Cookie` value for this request.
    pub cookie: Option<&'a str>,
    /// An `Authorization` that answers the server's Digest challenge, in
    /// place of the scenario's own (home only).
    pub authorization: Option<&'a str>,
}

/// Renders the request's templated path into `out`, percent-encoded
/// ([`crate::scenario::uri::encode_path`]), and checks it.
pub fn render_path(h: &HttpSpec, ctx: &mut RenderCtx<'_>, out: &mut String) -> Result<(), Failed> {
    out.clear();
    h.path.render(ctx, out);
    // Rendered values are encoded as a static path is (a data value with
    // a space or an accent is a valid request, as in requests).
    let (encoded, kept) = match crate::scenario::uri::encode_path(out) {
        std::borrow::Cow::Owned(e) => (Some(e), 0),
        std::borrow::Cow::Borrowed(s) => (None, s.len()),
    };
    match encoded {
        Some(e) => *out = e,
        // Nothing to encode; a fragment, if any, is cut off.
        None => out.truncate(kept),
    }
    http::uri::PathAndQuery::try_from(out.as_str())
        .map_err(|e| request_err(format!("path {out:?}: {e}")))?;
    Ok(())
}

/// An answer, and the bytes its request wrote.
pub struct Answered {
    pub sent: u64,
    pub answer: HttpAnswer,
}

/// One HTTP request of the scenario as it is sent: its settings, its parts
/// built once, and what to keep of its answer.
#[derive(Clone, Copy)]
pub struct HttpRequest<'a> {
    pub h: &'a HttpSpec,
    pub fixed: &'a FixedHttp,
    pub keep: Keep<'a>,
    /// The path, headers and body given for this one request (a replayed
    /// one), in place of the scenario's.
    pub given: Option<Given<'a>>,
}

/// What a replayed request brings of its own: its path, its headers (they
/// replace the scenario's of the same name, defaults included) and its
/// body; and the status the source's server answered it with, which the
/// answer is set against.
#[derive(Clone, Copy)]
pub struct Given<'a> {
    pub path: &'a str,
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub body: &'a Bytes,
    pub expect: Option<u16>,
}

impl Given<'_> {
    fn has(&self, name: &HeaderName) -> bool {
        self.headers.iter().any(|(n, _)| n == name)
    }
}

/// Renders and sends one request over `conn`; returns the bytes sent and
/// the answer (checked by the caller), or how it failed with the bytes
/// sent and received. `sent_now` holds the bytes written once the request
/// is built, so that a request cut by the timeout still counts them.
pub async fn send(
    req: HttpRequest<'_>,
    route: &Route<'_>,
    conn: &mut HttpConn,
    ctx: &mut RenderCtx<'_>,
    scratch: Scratch<'_>,
    sent_now: &mut u64,
    copy: Option<&mut super::record::Copied>,
) -> Result<Answered, Failed> {
    let HttpRequest {
        h,
        fixed,
        keep,
        given,
    } = req;
    match conn {
        HttpConn::H1(c) => {
            let buf = c.request_buf();
            encode_h1(h, fixed, given, route, ctx, scratch, buf)?;
            if let Some(c) = copy {
                c.from_h1(buf);
            }
            let sent = buf.len() as u64;
            *sent_now = sent;
            let answer = match c.round_trip(*route.method == Method::HEAD, keep).await {
                Ok(a) => a,
                Err(f) => return Err(Failed::new(sent, c.arrived(), f)),
            };
            Ok(Answered { sent, answer })
        }
        HttpConn::H2(c) => {
            let (req, sent, body) = build_h2(h, fixed, given, route, ctx, scratch)?;
            if let Some(c) = copy {
                c.from_h2(&req, &body);
            }
            *sent_now = sent;
            // A failure mid-answer counts what had arrived (its head, the
            // body so far), as a timeout does.
            let answer = match send_h2(c, req, keep).await {
                Ok(a) => a,
                Err(f) => return Err(Failed::new(sent, c.arrived(), f)),
            };
            Ok(Answered { sent, answer })
        }
        HttpConn::H3(c) => {
            let (req, sent, body) = build_h2(h, fixed, given, route, ctx, scratch)?;
            if let Some(c) = copy {
                c.from_h2(&req, &body);
            }
            *sent_now = sent;
            // Boxed: HTTP/3's exchange is large, and only its targets'
            // requests should carry it.
            let answer = match Box::pin(send_h3(c, req, body, keep)).await {
                Ok(a) => a,
                Err(f) => return Err(Failed::new(sent, c.arrived(), f)),
            };
            Ok(Answered { sent, answer })
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
) -> Result<&'h http::HeaderName, Failed> {
    let (name, tpl) = &h.headers[i];
    value.clear();
    tpl.render(ctx, value);
    check_value(name.as_str(), value)?;
    Ok(name)
}

fn check_value(name: &str, value: &str) -> Result<(), Failed> {
    if let Some(b) = value
        .bytes()
        .find(|&b| !(b == b'\t' || (0x20..0x7f).contains(&b)))
    {
        return Err(request_err(format!(
            "header {name}: the value holds the byte {b:#04x}, which no header may"
        )));
    }
    Ok(())
}

/// The `Authorization` value when templates make it, rendered into `out`.
pub fn render_auth(h: &HttpSpec, ctx: &mut RenderCtx<'_>, out: &mut String) -> Result<(), Failed> {
    out.clear();
    match &h.auth {
        Some(Auth::Basic { user, password }) => {
            let mut creds = String::new();
            user.render(ctx, &mut creds);
            creds.push(':');
            password.render(ctx, &mut creds);
            out.push_str("Basic ");
            base64::engine::general_purpose::STANDARD.encode_string(creds, out);
        }
        Some(Auth::Bearer(token)) => {
            out.push_str("Bearer ");
            token.render(ctx, out);
        }
        Some(Auth::Digest { .. }) | None => {}
    }
    check_value("authorization", out)
}

/// Whether the request sends an `Authorization` of its own before any
/// challenge: Basic and Bearer do, Digest waits for the server's.
fn preemptive(h: &HttpSpec) -> bool {
    matches!(h.auth, Some(Auth::Basic { .. } | Auth::Bearer(_)))
}

/// The user name and password of the request's Basic or Digest
/// credentials, rendered: what a Digest challenge is answered with.
pub fn credentials(h: &HttpSpec, ctx: &mut RenderCtx<'_>) -> Option<(String, String)> {
    let (user, password) = match &h.auth {
        Some(Auth::Basic { user, password } | Auth::Digest { user, password }) => (user, password),
        _ => return None,
    };
    let (mut u, mut p) = (String::new(), String::new());
    user.render(ctx, &mut u);
    password.render(ctx, &mut p);
    Some((u, p))
}

/// Writes an HTTP/1.1 request into `buf`.
fn encode_h1(
    h: &HttpSpec,
    fixed: &FixedHttp,
    given: Option<Given<'_>>,
    route: &Route<'_>,
    ctx: &mut RenderCtx<'_>,
    scratch: Scratch<'_>,
    buf: &mut Vec<u8>,
) -> Result<(), Failed> {
    buf.extend_from_slice(route.method.as_str().as_bytes());
    buf.push(b' ');
    let proxy = route.target.forward_proxy();
    if proxy.is_some() {
        // Through a proxy, the request line names the whole URL.
        buf.extend_from_slice(route.target.scheme.as_str().as_bytes());
        buf.extend_from_slice(b"://");
        buf.extend_from_slice(route.target.authority.as_str().as_bytes());
    }
    match (route.path, fixed.path_h1.as_deref()) {
        (Some(p), _) | (None, Some(p)) => buf.extend_from_slice(p.as_bytes()),
        (None, None) => {
            render_path(h, ctx, scratch.a)?;
            buf.extend_from_slice(scratch.a.as_bytes());
        }
    }
    buf.extend_from_slice(b" HTTP/1.1\r\n");
    if !(route.home && fixed.own_host) {
        push_header(buf, "host", route.target.authority.as_str());
    }
    if let Some(auth) = proxy.and_then(|p| p.auth.as_deref()) {
        push_header(buf, "proxy-authorization", auth);
    }
    match given {
        None => buf.extend_from_slice(if route.home {
            &fixed.head_h1
        } else {
            &fixed.head_h1_other
        }),
        Some(g) => {
            // The request's own headers, then the scenario's it does not
            // have (written one by one: a replayed request's differ).
            let statics = if route.home {
                &fixed.headers
            } else {
                &fixed.headers_other
            };
            for (name, v) in statics {
                if !g.has(name) {
                    push_header_bytes(buf, name.as_str(), v.as_bytes());
                }
            }
            for (name, v) in g.headers {
                if route.home || !credential(name) {
                    push_header_bytes(buf, name.as_str(), v.as_bytes());
                }
            }
            if !h.keep_alive {
                buf.extend_from_slice(b"connection: close\r\n");
            }
        }
    }
    let value = &mut *scratch.b;
    for &i in &fixed.templated_headers {
        if !route.home && credential(&h.headers[i].0) {
            continue;
        }
        let name = render_header(h, i, ctx, value)?;
        push_header(buf, name.as_str(), value);
    }
    if route.home {
        match (route.authorization, fixed.auth.as_deref()) {
            (Some(a), _) | (None, Some(a)) => push_header(buf, "authorization", a),
            (None, None) if preemptive(h) => {
                render_auth(h, ctx, value)?;
                push_header(buf, "authorization", value);
            }
            (None, None) => {}
        }
    }
    if let Some(c) = route.cookie {
        push_header(buf, "cookie", c);
    }
    let body_at = |buf: &mut Vec<u8>, len: usize| {
        if len > 0 || expects_body(route.method) {
            // Formatted straight into the buffer: no allocation per request.
            let _ = write!(buf, "content-length: {len}\r\n");
        }
        buf.extend_from_slice(b"\r\n");
    };
    match (route.body, &fixed.body, &h.body) {
        (false, _, _) => body_at(buf, 0),
        (true, _, _) if given.is_some() => {
            let b = given.map_or(&[][..], |g| &g.body[..]);
            body_at(buf, b.len());
            buf.extend_from_slice(b);
        }
        (true, Some(b), _) => {
            body_at(buf, b.len());
            buf.extend_from_slice(b);
        }
        (true, None, Some(tpl)) => {
            let body = scratch.a;
            body.clear();
            tpl.render(ctx, body);
            body_at(buf, body.len());
            buf.extend_from_slice(body.as_bytes());
        }
        (true, None, None) => body_at(buf, 0),
    }
    Ok(())
}

type H2Request = http::Request<Full<Bytes>>;

/// Builds an HTTP/2 request; returns it with its size as HTTP/1.1 would
/// write it (request line, `host`, headers, body: HPACK's compression and
/// the frame headers are not counted, as for gRPC).
fn build_h2(
    h: &HttpSpec,
    fixed: &FixedHttp,
    given: Option<Given<'_>>,
    route: &Route<'_>,
    ctx: &mut RenderCtx<'_>,
    scratch: Scratch<'_>,
) -> Result<(H2Request, u64, Bytes), Failed> {
    let value = &mut *scratch.b;
    // The authority: the scenario's Host at home (a virtual host is the
    // request's :authority in HTTP/2), else the target's.
    let templated_host = if route.home && fixed.own_host && fixed.host.is_none() {
        h.headers
            .iter()
            .position(|(n, _)| *n == HOST)
            .map(|i| render_header(h, i, ctx, value).map(|_| value.clone()))
            .transpose()?
    } else {
        None
    };
    let authority = match (&templated_host, route.home, &fixed.host) {
        (Some(a), _, _) => a.as_str(),
        (None, true, Some(a)) => a.as_str(),
        _ => route.target.authority.as_str(),
    };
    let uri = match (route.path, &fixed.uri_h2) {
        (None, Some(u)) if templated_host.is_none() && route.home => u.clone(),
        (Some(p), _) => absolute(route.target.scheme.as_str(), authority, p)
            .map_err(|e| request_err(format!("path {p:?}: {e}")))?,
        (None, _) => {
            let path = &mut *scratch.a;
            match &fixed.path_h1 {
                Some(p) => {
                    path.clear();
                    path.push_str(p);
                }
                None => render_path(h, ctx, path)?,
            }
            absolute(route.target.scheme.as_str(), authority, path)
                .map_err(|e| request_err(format!("path {path:?}: {e}")))?
        }
    };
    let path_len = uri.path_and_query().map_or(1, |p| p.as_str().len());
    // "METHOD PATH HTTP/1.1\r\n" and "host: AUTHORITY\r\n".
    let mut sent = (route.method.as_str().len() + path_len + 12 + authority.len() + 8) as u64;
    let mut headers = if route.home {
        sent += fixed.static_len;
        fixed.headers.clone()
    } else {
        sent += fixed.static_len_other;
        fixed.headers_other.clone()
    };
    if let Some(g) = given {
        for (name, v) in g.headers {
            if !route.home && credential(name) {
                continue;
            }
            let len = (name.as_str().len() + v.len() + 4) as u64;
            if let Some(old) = headers.insert(name.clone(), v.clone()) {
                // Replaced one of the scenario's: counted once.
                sent = sent.saturating_sub((name.as_str().len() + old.len() + 4) as u64);
            }
            sent += len;
        }
    }
    let mut add = |headers: &mut http::HeaderMap, name: HeaderName, v: &str| {
        sent += (name.as_str().len() + v.len() + 4) as u64;
        let v = HeaderValue::from_str(v).map_err(|e| request_err(format!("header {name}: {e}")))?;
        headers.insert(name, v);
        Ok::<(), Failed>(())
    };
    for &i in &fixed.templated_headers {
        let name = &h.headers[i].0;
        if *name == HOST || (!route.home && credential(name)) {
            continue;
        }
        render_header(h, i, ctx, value)?;
        add(&mut headers, name.clone(), value)?;
    }
    if route.home {
        match (route.authorization, fixed.auth.as_deref()) {
            (Some(a), _) | (None, Some(a)) => add(&mut headers, AUTHORIZATION, a)?,
            (None, None) if preemptive(h) => {
                render_auth(h, ctx, value)?;
                add(&mut headers, AUTHORIZATION, value)?;
            }
            (None, None) => {}
        }
    }
    if let Some(c) = route.cookie {
        add(&mut headers, COOKIE, c)?;
    }
    let body = match (route.body, &fixed.body, &h.body) {
        (false, _, _) => Bytes::new(),
        (true, _, _) if given.is_some() => given.map(|g| g.body.clone()).unwrap_or_default(),
        (true, Some(b), _) => b.clone(),
        (true, None, Some(tpl)) => {
            let mut b = String::new();
            tpl.render(ctx, &mut b);
            Bytes::from(b)
        }
        (true, None, None) => Bytes::new(),
    };
    sent += body.len() as u64;
    let mut req = http::Request::new(Full::new(body.clone()));
    *req.method_mut() = route.method.clone();
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok((req, sent, body))
}
