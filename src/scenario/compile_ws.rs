//! WebSocket calls: a request whose `url` is `ws://` or `wss://`. Its
//! handshake is compiled as the HTTP request it is (URL, headers, TLS,
//! proxy; always HTTP/1.1, which is where the upgrade lives), its
//! `message` as the texts it sends, and `[request.stream]` as gRPC streams
//! have it.

use super::compile_grpc::compile_stream;
use super::compile_http::{compile_http, compile_json_template};
use super::compile_request::OneRequest;
use super::context::Ctx;
use super::error::ScenarioError;
use super::file::toml_to_json;
use super::template::Template;
use super::{HttpVersion, WsSpec};

pub(super) fn compile_ws(cx: &Ctx<'_>, one: &OneRequest<'_, '_>) -> Result<WsSpec, ScenarioError> {
    let r = one.r;
    let not_here = [
        ("body", r.body.as_ref().map(|v| v.span())),
        ("json", r.json.as_ref().map(|v| v.span())),
        ("[request.sse]", r.sse.as_ref().map(|v| v.span())),
        (
            "follow_redirects",
            r.follow_redirects.as_ref().map(|v| v.span()),
        ),
    ];
    if let Some((key, Some(span))) = not_here.iter().find(|(_, s)| s.is_some()) {
        return Err(cx.err(
            span.clone(),
            format!("{key} is not for a WebSocket call: it sends message (one or a list)"),
        ));
    }
    if let Some(v) = &r.version {
        return Err(cx.err(
            v.span(),
            "version is not for a WebSocket call: its handshake is HTTP/1.1 (RFC 6455)",
        ));
    }
    if let Some(m) = &r.method
        && !cx.env(m)?.eq_ignore_ascii_case("GET")
    {
        return Err(cx.err(m.span(), "a WebSocket handshake is a GET"));
    }
    if let Some(m) = r.metadata.values().next() {
        return Err(cx.err(
            m.span(),
            "metadata is a gRPC key; a WebSocket call has headers",
        ));
    }
    let mut http = compile_http(cx, one)?;
    // RFC 6455's upgrade is HTTP/1.1's (HTTP/2's extended CONNECT, RFC
    // 8441, is not spoken here): a wss:// handshake offers only http/1.1.
    http.version = HttpVersion::Http1;
    let mut messages = Vec::new();
    if let Some(m) = &r.message {
        let items: Vec<&toml::Value> = match m.get_ref() {
            toml::Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        for item in items {
            let t = match item {
                toml::Value::String(text) => Template::compile(
                    &cx.expand(text)
                        .map_err(|e| cx.err(m.span(), e.to_string()))?,
                    one.data,
                )
                .map_err(|e| cx.err(m.span(), format!("template: {e}")))?,
                toml::Value::Table(_) => {
                    compile_json_template(cx, &toml_to_json(item), one.data, m.span())?
                }
                _ => {
                    return Err(cx.err(
                        m.span(),
                        "a WebSocket message is a text (a string) or JSON (a table), or a list of them",
                    ));
                }
            };
            messages.push(t);
        }
    }
    let stream = match &r.stream {
        Some(s) => compile_stream(cx, s.get_ref(), messages.len())?,
        None => compile_stream(cx, &Default::default(), messages.len())?,
    };
    if messages.is_empty() && stream.answers.is_none() && stream.duration.is_none() {
        return Err(cx.err(
            one.span.clone(),
            "a WebSocket call without message only listens: give [request.stream] answers or duration to end it",
        ));
    }
    let binary = r
        .stream
        .as_ref()
        .and_then(|s| s.get_ref().binary.as_ref())
        .is_some_and(|b| *b.get_ref());
    Ok(WsSpec {
        http: std::sync::Arc::new(http),
        messages,
        binary,
        stream,
    })
}
