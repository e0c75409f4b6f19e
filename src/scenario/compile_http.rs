//! HTTP requests: target, method, path, headers, and `body` or `json` templates.

use std::ops::Range;

use super::coding::{ACCEPT_ALL, Coding};
use super::compile_grpc::{check_each, stream_count, stream_duration};
use super::compile_request::OneRequest;
use super::compile_target::{check_base_url, tls_spec};
use super::context::Ctx;
use super::error::ScenarioError;
use super::file::{self, S, toml_to_json};
use super::limits;
use super::template::Scope;
use super::template::Template;
use super::{Auth, DEFAULT_REDIRECTS, HttpSpec, HttpVersion, ProxySetting, SseSpec};

pub(super) fn compile_http(
    cx: &Ctx<'_>,
    one: &OneRequest<'_, '_>,
) -> Result<HttpSpec, ScenarioError> {
    let OneRequest {
        name,
        r,
        parsed,
        data,
        span,
    } = one;
    let span = span.clone();
    let options = cx.options;
    let method = match &r.method {
        Some(m) => http::Method::from_bytes(cx.env(m)?.to_ascii_uppercase().as_bytes())
            .map_err(|_| cx.err(m.span(), "not an HTTP method"))?,
        None => http::Method::GET,
    };
    // The base comes from --host, the request's url, or [http] base_url.
    let (base, path_text, path_span) = match (&r.url, &r.path) {
        (Some(_), Some(p)) => {
            return Err(cx.err(
                p.span(),
                "give url (a whole URL) or path (joined to [http] base_url), not both",
            ));
        }
        (Some(u), None) => {
            let full = cx.env(u)?;
            // A WebSocket's handshake is an HTTP request to the same place.
            let full = match full.split_once("://") {
                Some(("ws", rest)) => format!("http://{rest}"),
                Some(("wss", rest)) => format!("https://{rest}"),
                _ => full,
            };
            // The scheme and host pick the connection, so they are fixed;
            // the path and query after them may hold placeholders.
            let (origin, path) = split_url(&full);
            if origin.contains("{{") {
                return Err(cx.err(
                    u.span(),
                    "only the path and query of url may hold placeholders: its scheme and host pick the connection",
                ));
            }
            let uri: http::Uri = origin
                .parse()
                .map_err(|e| cx.err(u.span(), format!("{origin:?} is not a URL: {e}")))?;
            let base = format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("http"),
                uri.authority().map(|a| a.as_str()).unwrap_or("")
            );
            let base = check_base_url(cx, &base, u.span(), &["http", "https"])?;
            let path = if path.is_empty() {
                "/".to_owned()
            } else if path.starts_with('?') {
                format!("/{path}")
            } else {
                path.to_owned()
            };
            (base, path, u.span())
        }
        (None, path) => {
            let base = match (&options.host, &parsed.http.base_url) {
                (Some(h), _) => {
                    check_base_url(cx, h, 0..0, &["http", "https"]).map_err(|mut e| {
                        e.message = format!("--host: {}", e.message);
                        e
                    })?
                }
                (None, Some(b)) => check_base_url(cx, &cx.env(b)?, b.span(), &["http", "https"])?,
                (None, None) => {
                    return Err(cx.err(span, format!("request {name:?} has no target: set [http] base_url, the request's url, or --host")));
                }
            };
            match path {
                Some(p) => (base, cx.env(p)?, p.span()),
                None => (base, "/".to_owned(), span.clone()),
            }
        }
    };
    let base = options
        .host
        .as_ref()
        .map(|h| h.trim_end_matches('/').to_owned())
        .unwrap_or(base);
    // user:password@ in the URL is Basic auth, never part of the target
    // (nor printed with it).
    let (base, userinfo) = split_userinfo(&base);
    if !path_text.starts_with('/') {
        return Err(cx.err(path_span, format!("path {path_text:?} must start with /")));
    }
    let path = Template::compile(&path_text, data)
        .map_err(|e| cx.err(path_span, format!("template: {e}")))?;
    let https = base.starts_with("https://");
    let version = match &parsed.http.version {
        None => {
            if https {
                HttpVersion::Alpn
            } else {
                HttpVersion::Http1
            }
        }
        Some(v) => match (cx.env(v)?.as_str(), https) {
            ("http3" | "h3", true) => HttpVersion::Http3,
            ("http3" | "h3", false) => {
                return Err(cx.err(
                    v.span(),
                    "HTTP/3 runs over QUIC, which is always encrypted: use an https:// URL",
                ));
            }
            ("http1" | "http1.1", _) => HttpVersion::Http1,
            ("h2c", false) => HttpVersion::H2c,
            ("http2" | "h2", true) => HttpVersion::Http2,
            ("http2" | "h2", false) => HttpVersion::H2c,
            ("h2c", true) => {
                return Err(cx.err(
                    v.span(),
                    "h2c is HTTP/2 over cleartext: use http2 with https:// targets",
                ));
            }
            ("auto", _) => HttpVersion::Auto,
            (other, _) => {
                return Err(cx.err(
                    v.span(),
                    format!("version must be http1, h2c, http2, http3 or auto, not {other:?}"),
                ));
            }
        },
    };
    let mut headers = Vec::new();
    for (k, v) in parsed.http.headers.iter().chain(&r.headers) {
        let hname = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| cx.err(v.span(), format!("{k:?} is not a valid header name")))?;
        let t = cx.template(v, data)?;
        // A value without placeholders is checked now (a CR or LF in it
        // would otherwise fail every request at run time).
        if let Some(text) = t.as_static()
            && http::HeaderValue::from_str(text).is_err()
        {
            return Err(cx.err(
                v.span(),
                format!("header {k:?}: {text:?} is not a valid header value (no CR, LF or other control characters)"),
            ));
        }
        headers.retain(|(n, _): &(http::HeaderName, Template)| *n != hname);
        headers.push((hname, t));
    }
    // -H/--header from the command line, as written (no placeholders),
    // over the file's.
    for (k, v) in &options.headers {
        let bad = |what: &str| ScenarioError {
            file: cx.file.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("-H {k:?}: {what}"),
            excerpt: None,
        };
        let hname = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad("not a valid header name"))?;
        http::HeaderValue::from_str(v).map_err(|_| bad("not a valid header value"))?;
        headers.retain(|(n, _): &(http::HeaderName, Template)| *n != hname);
        headers.push((hname, Template::literal(v)));
    }
    let body = match (&r.body, &r.json) {
        (Some(_), Some(j)) => {
            return Err(cx.err(j.span(), "give body (text) or json (a table), not both"));
        }
        (Some(b), None) => Some(cx.template(b, data)?),
        (None, Some(j)) => {
            let value = toml_to_json(j.get_ref());
            let t = compile_json_template(cx, &value, data, j.span())?;
            if !headers.iter().any(|(n, _)| n == http::header::CONTENT_TYPE) {
                headers.push((
                    http::header::CONTENT_TYPE,
                    Template::literal("application/json"),
                ));
            }
            Some(t)
        }
        (None, None) => None,
    };
    let hs = &parsed.http;
    let mut tls = tls_spec(cx, &hs.ca, &hs.insecure, (&hs.cert, &hs.key), &base)?;
    if let Some(n) = &hs.server_name {
        let name = cx.env(n)?;
        rustls::pki_types::ServerName::try_from(name.as_str())
            .map_err(|e| cx.err(n.span(), format!("server_name {name:?}: {e}")))?;
        tls.server_name = Some(name);
    }
    let mut connect_to = Vec::new();
    for (from, to) in &hs.connect_to {
        let target = cx.env(to)?;
        for (what, v, span) in [("key", from, to.span()), ("value", &target, to.span())] {
            let ok = v
                .parse::<http::uri::Authority>()
                .is_ok_and(|a| a.port_u16().is_some() && !v.contains('@'));
            if !ok {
                return Err(cx.err(span, format!("connect_to {what} {v:?} must be host:port")));
            }
        }
        connect_to.push((from.clone(), target));
    }
    let unix_socket = match &hs.unix_socket {
        Some(u) if https => {
            return Err(cx.err(
                u.span(),
                "unix_socket is for http:// targets (TLS over a unix socket is not supported)",
            ));
        }
        // A relative path is from the scenario file's folder, as every
        // other path a scenario names (`ca`, data files). The socket is on
        // the machine that sends, never shipped: a worker resolves it
        // against the same folder path on its own machine.
        Some(u) => {
            let given = std::path::PathBuf::from(cx.env(u)?);
            let path = match cx.file.parent() {
                Some(dir) if given.is_relative() => dir.join(&given),
                _ => given,
            };
            // sockaddr_un holds 108 bytes with the closing NUL: a longer
            // path could never connect, request after request.
            if path.as_os_str().len() > 107 {
                return Err(cx.err(
                    u.span(),
                    format!(
                        "unix_socket {}: longer than the 107 bytes a socket address holds",
                        path.display()
                    ),
                ));
            }
            Some(path)
        }
        None => None,
    };
    let proxy = match &hs.proxy {
        None => ProxySetting::Env,
        Some(p) => match p.get_ref() {
            toml::Value::Boolean(false) => ProxySetting::Off,
            toml::Value::String(u) => {
                let u = cx.expand(u).map_err(|e| cx.err(p.span(), e.to_string()))?;
                super::proxy_url::parse(&u).map_err(|e| cx.err(p.span(), e.to_string()))?;
                if version == HttpVersion::H2c {
                    return Err(cx.err(
                        p.span(),
                        "h2c (HTTP/2 by prior knowledge) cannot go through an HTTP proxy",
                    ));
                }
                if version == HttpVersion::Http3 {
                    return Err(cx.err(
                        p.span(),
                        "HTTP/3 cannot go through an HTTP proxy (volley has no CONNECT-UDP): set proxy = false or another version",
                    ));
                }
                ProxySetting::Url(u)
            }
            other => {
                return Err(cx.err(
                    p.span(),
                    format!("proxy must be an http:// URL or false, not {other}"),
                ));
            }
        },
    };
    let connections = match &hs.connections {
        Some(c) => {
            if version == HttpVersion::Http1 {
                return Err(cx.err(
                    c.span(),
                    "connections shares HTTP/2 or HTTP/3 connections among users: set version = \"h2c\", \"http2\" or \"http3\" (or use https://)",
                ));
            }
            Some(cx.bound(
                c.span(),
                "connections",
                limits::grpc_connections(*c.get_ref()),
            )?)
        }
        None => None,
    };
    let auth = match (&r.auth, &parsed.http.auth) {
        (Some(a), _) | (None, Some(a)) => Some(compile_auth(cx, a, data)?),
        (None, None) => userinfo.map(|(user, password)| Auth::Basic {
            user: Template::literal(&user),
            password: Template::literal(&password),
        }),
    };
    let follow_redirects = match (&r.follow_redirects, &parsed.http.follow_redirects) {
        (Some(v), _) | (None, Some(v)) => compile_redirects(cx, v)?,
        (None, None) => DEFAULT_REDIRECTS,
    };
    Ok(HttpSpec {
        method,
        base,
        path,
        headers,
        body,
        version,
        tls,
        max_body: cx.max_body,
        accept_encoding: compile_compression(cx, &parsed.http.compression)?,
        follow_redirects,
        cookies: parsed.http.cookies.as_ref().is_none_or(|c| *c.get_ref()),
        keep_alive: parsed.http.keep_alive.as_ref().is_none_or(|k| *k.get_ref()),
        auth,
        connect_to,
        connections,
        unix_socket,
        proxy,
        sse: match &r.sse {
            Some(v) => Some(compile_sse(cx, v.get_ref())?),
            None => None,
        },
    })
}

/// `[request.sse]`, each value within its bounds.
fn compile_sse(cx: &Ctx<'_>, s: &file::Sse) -> Result<SseSpec, ScenarioError> {
    let events = stream_count(cx, s.events.as_ref(), "events")?;
    let duration = stream_duration(cx, s.duration.as_ref())?;
    let until = match &s.until {
        Some(v) => {
            let u = cx.env(v)?;
            if u.contains(['\r', '\n']) {
                return Err(cx.err(
                    v.span(),
                    "until is one event's data on one line: it cannot hold a line end",
                ));
            }
            Some(u)
        }
        None => None,
    };
    Ok(SseSpec {
        events,
        duration,
        until,
        check_each: check_each(cx, s.check.as_ref())?,
    })
}

/// Splits a URL after its authority: ("https://host:1", "/path?q").
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find(['/', '?']) {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

/// Takes `user:password@` out of a base URL: the base without it, and the
/// two parts percent-decoded.
fn split_userinfo(base: &str) -> (String, Option<(String, String)>) {
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let Some(at) = base[after_scheme..authority_end].rfind('@') else {
        return (base.to_owned(), None);
    };
    let info = &base[after_scheme..after_scheme + at];
    let (user, password) = info.split_once(':').unwrap_or((info, ""));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let stripped = format!(
        "{}{}",
        &base[..after_scheme],
        &base[after_scheme + at + 1..]
    );
    (stripped, Some((decode(user), decode(password))))
}

/// `auth = { basic = { user, password } }`, `{ digest = { user, password } }`
/// or `{ bearer = "..." }`.
fn compile_auth(cx: &Ctx<'_>, a: &S<file::Auth>, data: &Scope<'_>) -> Result<Auth, ScenarioError> {
    let a_ = a.get_ref();
    let pair = |b: &S<file::BasicAuth>| -> Result<(Template, Template), ScenarioError> {
        let b = b.get_ref();
        let password = match &b.password {
            Some(p) => cx.template(p, data)?,
            None => Template::literal(""),
        };
        Ok((cx.template(&b.user, data)?, password))
    };
    match (&a_.basic, &a_.digest, &a_.bearer) {
        (Some(b), None, None) => {
            let (user, password) = pair(b)?;
            Ok(Auth::Basic { user, password })
        }
        (None, Some(d), None) => {
            let (user, password) = pair(d)?;
            Ok(Auth::Digest { user, password })
        }
        (None, None, Some(t)) => Ok(Auth::Bearer(cx.template(t, data)?)),
        _ => Err(cx.err(
            a.span(),
            "auth is { basic = { user = \"..\", password = \"..\" } }, { digest = { user = \"..\", password = \"..\" } } or { bearer = \"..\" }",
        )),
    }
}

/// `follow_redirects`: true (10 hops), false (none), or the most hops.
fn compile_redirects(cx: &Ctx<'_>, v: &S<toml::Value>) -> Result<u32, ScenarioError> {
    match v.get_ref() {
        toml::Value::Boolean(true) => Ok(DEFAULT_REDIRECTS),
        toml::Value::Boolean(false) => Ok(0),
        toml::Value::Integer(n) => {
            limits::redirects(*n).map_err(|e| cx.err(v.span(), e.to_string()))
        }
        other => Err(cx.err(
            v.span(),
            format!("follow_redirects must be true, false or a number of hops, not {other}"),
        )),
    }
}

/// `[http] compression`: the `Accept-Encoding` sent, if any.
fn compile_compression(
    cx: &Ctx<'_>,
    v: &Option<S<toml::Value>>,
) -> Result<Option<String>, ScenarioError> {
    let Some(v) = v else {
        return Ok(Some(ACCEPT_ALL.to_owned()));
    };
    match v.get_ref() {
        toml::Value::Boolean(true) => Ok(Some(ACCEPT_ALL.to_owned())),
        toml::Value::Boolean(false) => Ok(None),
        toml::Value::Array(items) if !items.is_empty() => {
            let mut tokens = Vec::new();
            for item in items {
                let coding = item
                    .as_str()
                    .and_then(|t| Coding::from_token(t.as_bytes()))
                    .ok_or_else(|| {
                        cx.err(
                            v.span(),
                            format!("compression: {item} is not one of gzip, deflate, br, zstd"),
                        )
                    })?;
                tokens.push(coding.token());
            }
            Ok(Some(tokens.join(", ")))
        }
        other => Err(cx.err(
            v.span(),
            format!(
                "compression must be true, false or a list such as [\"gzip\", \"br\"], not {other}"
            ),
        )),
    }
}

/// A JSON value whose strings may hold placeholders, as one body template: each
/// templated string is rendered with `| json` so the result stays valid JSON.
pub(super) fn compile_json_template(
    cx: &Ctx<'_>,
    value: &serde_json::Value,
    data: &Scope<'_>,
    span: Range<usize>,
) -> Result<Template, ScenarioError> {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::String(s) if s.contains("{{") => {
                // Each placeholder becomes a JSON-escaped piece inside quotes.
                out.push('"');
                let mut rest = s.as_str();
                while let Some(open) = rest.find("{{") {
                    let lit = serde_json::to_string(&rest[..open]).unwrap_or_default();
                    out.push_str(&lit[1..lit.len() - 1]);
                    match rest[open..].find("}}") {
                        Some(close) => {
                            let expr = &rest[open + 2..open + close];
                            out.push_str("{{");
                            out.push_str(expr);
                            out.push_str(" | jsoninner}}");
                            rest = &rest[open + close + 2..];
                        }
                        None => {
                            out.push_str(&rest[open..]);
                            rest = "";
                        }
                    }
                }
                let lit = serde_json::to_string(rest).unwrap_or_default();
                out.push_str(&lit[1..lit.len() - 1]);
                out.push('"');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            serde_json::Value::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    // ${VARS} are expanded inside each string first, so that their values
    // are JSON-escaped like any other text of the table.
    fn expand(cx: &Ctx<'_>, v: &mut serde_json::Value) -> Result<(), super::env::EnvError> {
        match v {
            serde_json::Value::String(s) => *s = cx.expand(s)?,
            serde_json::Value::Array(items) => {
                for item in items {
                    expand(cx, item)?;
                }
            }
            serde_json::Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut item) in old {
                    expand(cx, &mut item)?;
                    map.insert(cx.expand(&k)?, item);
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut value = value.clone();
    expand(cx, &mut value).map_err(|e| cx.err(span.clone(), e.to_string()))?;
    let mut text = String::new();
    write(&value, &mut text);
    Template::compile(&text, data).map_err(|e| cx.err(span, format!("template: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::scenario::compile::{MemorySources, Options, compile};
    use crate::scenario::{RequestKind, Scenario};

    fn scenario(text: &str, vars: &[(&str, &str)]) -> Scenario {
        let options = Options {
            host: None,
            headers: Vec::new(),
            isolated: true,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            reflected: None,
        };
        compile(
            Path::new("s.toml"),
            text,
            &MemorySources(BTreeMap::new()),
            &options,
        )
        .unwrap()
    }

    #[test]
    fn variables_in_json_tables_are_escaped() {
        let s = scenario(
            "[http]\nbase_url = \"http://127.0.0.1:1\"\n[[request]]\nname = \"a\"\n\
             json = { text = \"say ${WORDS}\", n = 1 }\n",
            &[("WORDS", "\"hi\"\\ there")],
        );
        let RequestKind::Http(h) = &s.requests[0].kind else {
            panic!("not HTTP")
        };
        let body = h.body.as_ref().and_then(|b| b.as_static()).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["text"], "say \"hi\"\\ there");
        assert_eq!(v["n"], 1);
    }
}
