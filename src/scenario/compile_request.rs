//! One `[[request]]` or request step: its name, weight and checks, then
//! its HTTP or gRPC part ([`super::compile_http`], [`super::compile_grpc`]).

use std::ops::Range;

use super::compile_grpc::compile_grpc;
use super::compile_http::compile_http;
use super::compile_ws::compile_ws;
use super::context::Ctx;
use super::error::ScenarioError;
use super::file::{self, S, toml_to_json};
use super::template::Scope;
use super::{Check, RequestKind, RequestSpec, Schema};

/// One request of the file as the HTTP and gRPC compilers see it.
pub(super) struct OneRequest<'a, 's> {
    pub name: &'a str,
    pub r: &'a file::Request,
    /// The file around it, whose `[http]` and `[grpc]` tables it inherits.
    pub parsed: &'a file::File,
    /// What its templates may name.
    pub data: &'a Scope<'s>,
    /// Where it is in the file (errors that belong to no key point here).
    pub span: Range<usize>,
}

/// Compiles a top-level request, or (`step`) a flow's request step, whose
/// captures the caller adds.
pub(super) fn compile_request(
    cx: &Ctx<'_>,
    r: &S<file::Request>,
    parsed: &file::File,
    data: &Scope<'_>,
    grpc_schema: &mut Option<Schema>,
    step: bool,
) -> Result<RequestSpec, ScenarioError> {
    let span = r.span();
    let r = r.get_ref();
    let Some(name_v) = &r.name else {
        return Err(cx.err(
            span,
            if step {
                "a step needs a name (its row in the reports), or think = \"1s\" for a pause"
            } else {
                "a [[request]] needs a name"
            },
        ));
    };
    let name = cx.env(name_v)?;
    if name.is_empty() {
        return Err(cx.err(name_v.span(), "request name must not be empty"));
    }
    if name.starts_with(super::FLOW_PREFIX) {
        return Err(cx.err(
            name_v.span(),
            format!("request name {name:?}: names starting with \"flow:\" are flows' statistics"),
        ));
    }
    if let Some(p) = super::STREAM_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Err(cx.err(
            name_v.span(),
            format!(
                "request name {name:?}: names starting with {p:?} are streaming calls' statistics"
            ),
        ));
    }
    if name.starts_with(super::TTFB_PREFIX) {
        return Err(cx.err(
            name_v.span(),
            format!("request name {name:?}: names starting with \"ttfb:\" are times to first byte"),
        ));
    }
    let weight = match (&r.weight, step) {
        (Some(w), true) => {
            return Err(cx.err(w.span(), "weight belongs to the [[flow]], not to its steps"));
        }
        (Some(w), false) if *w.get_ref() == 0 => {
            return Err(cx.err(
                w.span(),
                format!("request {name:?}: weight must be at least 1"),
            ));
        }
        (Some(w), false) => *w.get_ref(),
        (None, true) => 0,
        (None, false) => 1,
    };
    if !step {
        if let Some(t) = &r.think {
            return Err(cx.err(
                t.span(),
                "think is a flow step; between a user's requests use [load] think_time",
            ));
        }
        if let Some(c) = r.capture.values().next() {
            return Err(cx.err(
                c.span(),
                "capture is for flow steps ([[flow.step]]), whose later steps use the values",
            ));
        }
    }
    let is_grpc = r.grpc.is_some();
    let http_keys = [
        ("method", r.method.as_ref().map(|v| v.span())),
        ("path", r.path.as_ref().map(|v| v.span())),
        ("url", r.url.as_ref().map(|v| v.span())),
        ("body", r.body.as_ref().map(|v| v.span())),
        ("json", r.json.as_ref().map(|v| v.span())),
        ("headers", r.headers.values().next().map(|v| v.span())),
        ("[request.sse]", r.sse.as_ref().map(|v| v.span())),
        ("version", r.version.as_ref().map(|v| v.span())),
    ];
    let check = compile_check(cx, &r.check, is_grpc)?;
    let one = OneRequest {
        name: &name,
        r,
        parsed,
        data,
        span: span.clone(),
    };
    let websocket = match &r.url {
        Some(u) => {
            let u = cx.env(u)?;
            u.starts_with("ws://") || u.starts_with("wss://")
        }
        None => false,
    };
    let kind = if websocket {
        if r.grpc.is_some() {
            return Err(cx.err(span, "a ws:// url is a WebSocket call, not gRPC"));
        }
        RequestKind::WebSocket(Box::new(compile_ws(cx, &one)?))
    } else if let Some(method) = &r.grpc {
        if let Some((key, Some(s))) = http_keys.iter().find(|(_, s)| s.is_some()) {
            return Err(cx.err(
                s.clone(),
                format!("{key} is an HTTP key; request {name:?} is gRPC (grpc = ...)"),
            ));
        }
        RequestKind::Grpc(Box::new(compile_grpc(cx, &one, method, grpc_schema)?))
    } else {
        if let Some(m) = &r.message {
            return Err(cx.err(m.span(), "message is a gRPC key: add grpc = \"package.Service/Method\", or use body/json for HTTP"));
        }
        if let Some(m) = r.metadata.values().next() {
            return Err(cx.err(
                m.span(),
                "metadata is a gRPC key; HTTP requests have headers",
            ));
        }
        if let Some(st) = &r.stream {
            return Err(cx.err(
                st.span(),
                "[request.stream] is for streaming gRPC methods (grpc = ...) and WebSocket calls (url = \"ws://...\")",
            ));
        }
        RequestKind::Http(std::sync::Arc::new(compile_http(cx, &one)?))
    };
    Ok(RequestSpec {
        name,
        weight,
        kind,
        check,
        captures: Vec::new(),
    })
}

fn compile_check(cx: &Ctx<'_>, c: &file::Check, is_grpc: bool) -> Result<Check, ScenarioError> {
    let mut check = Check::default();
    if let Some(s) = &c.status {
        if is_grpc {
            return Err(cx.err(
                s.span(),
                "status is an HTTP check; gRPC requests check code",
            ));
        }
        if let Some(bad) = s.get_ref().iter().find(|v| !(100..=599).contains(*v)) {
            return Err(cx.err(s.span(), format!("{bad} is not an HTTP status")));
        }
        check.status = s.get_ref().clone();
    }
    if let Some(code) = &c.code {
        if !is_grpc {
            return Err(cx.err(
                code.span(),
                "code is a gRPC check; HTTP requests check status",
            ));
        }
        check.code = super::grpc_codes::parse_code(code.get_ref())
            .map_err(|e| cx.err(code.span(), e.to_string()))?;
    }
    if let Some(b) = &c.body_contains {
        check.body_contains = Some(cx.env(b)?);
    }
    for (pointer, v) in &c.json {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(cx.err(
                v.span(),
                format!("{pointer:?} is not a JSON pointer (it starts with /)"),
            ));
        }
        check
            .json
            .push((pointer.clone(), toml_to_json(v.get_ref())));
    }
    Ok(check)
}
