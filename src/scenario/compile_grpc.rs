//! gRPC requests: endpoint, method, the message template, metadata, and the
//! schema from .proto files (read with their imports, compiled by protox) or
//! from server reflection at run time.

use std::collections::BTreeMap;
use std::ops::Range;

use super::compile_request::OneRequest;
use super::compile_target::{check_base_url, tls_spec};
use super::context::Ctx;
use super::error::ScenarioError;
use super::file::{self, S, toml_to_json};
use super::options::normalize;
use super::template::Scope;
use super::template::Template;
use super::{GrpcCompression, GrpcSpec, MessageSpec, PathSeg, Schema, StreamSpec};

/// `method` is the request's `grpc` key; `schema` the file's, compiled by
/// the first gRPC request and shared by the others.
pub(super) fn compile_grpc(
    cx: &Ctx<'_>,
    one: &OneRequest<'_, '_>,
    method: &S<String>,
    schema: &mut Option<Schema>,
) -> Result<GrpcSpec, ScenarioError> {
    let OneRequest {
        name,
        r,
        parsed,
        data,
        span,
    } = one;
    let span = span.clone();
    let g = &parsed.grpc;
    let endpoint = match &g.endpoint {
        Some(e) => check_base_url(cx, &cx.env(e)?, e.span(), &["http", "https"])?,
        None => {
            return Err(cx.err(
                span,
                format!("request {name:?} is gRPC but [grpc] has no endpoint"),
            ));
        }
    };
    let full = cx.env(method)?;
    let full = full.trim_start_matches('/').to_owned();
    let Some((service, rpc)) = full
        .split_once('/')
        .filter(|(s, m)| s.contains('.') && !m.is_empty() && !m.contains('/'))
    else {
        return Err(cx.err(
            method.span(),
            format!("{full:?}: write the full method name, package.Service/Method"),
        ));
    };
    let mut default_stream = false;
    // Whether the method takes a stream of messages, when the .proto files
    // say (with reflection it is known at the run's start).
    let mut client_streams = None;
    // Compile the .proto files once for all requests.
    if schema.is_none() {
        *schema = Some(compile_schema(cx, g, span.clone())?);
    }
    let resolved = schema.clone().unwrap_or(Schema::Reflection);
    if let Schema::Protos(pool) = &resolved {
        let svc = pool.get_service_by_name(service).ok_or_else(|| {
            let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
            cx.err(
                method.span(),
                format!(
                    "service {service:?} is not {} (services: {})",
                    if cx.reflected.is_some() {
                        "one the server's reflection lists"
                    } else {
                        "in the .proto files"
                    },
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        let m = svc.methods().find(|m| m.name() == rpc).ok_or_else(|| {
            let known: Vec<String> = svc.methods().map(|m| m.name().to_owned()).collect();
            cx.err(
                method.span(),
                format!(
                    "{service} has no method {rpc:?} (methods: {})",
                    known.join(", ")
                ),
            )
        })?;
        let streaming = m.is_client_streaming() || m.is_server_streaming();
        client_streams = Some(m.is_client_streaming());
        if let (false, Some(st)) = (streaming, &r.stream) {
            return Err(cx.err(
                st.span(),
                format!("{full} is a unary method: [request.stream] is for streaming methods"),
            ));
        }
        if let Some(st) = &r.stream
            && !m.is_client_streaming()
        {
            let s = st.get_ref();
            if let Some(v) = s
                .messages
                .as_ref()
                .filter(|v| !matches!(v.get_ref(), toml::Value::Integer(1)))
            {
                return Err(cx.err(
                    v.span(),
                    format!("{full} streams answers only: its call sends one message"),
                ));
            }
        }
        if let Some(p) = r
            .stream
            .as_ref()
            .and_then(|s| s.get_ref().ping_pong.as_ref())
            .filter(|p| *p.get_ref())
            && !(m.is_client_streaming() && m.is_server_streaming())
        {
            return Err(cx.err(
                p.span(),
                format!("ping_pong is for bidirectional streaming; {full} is not"),
            ));
        }
        // A streaming method needs no table: its defaults are one message
        // and answers read to the end. With reflection it does, as workers
        // learn the method's kind only when their run starts.
        if streaming && r.stream.is_none() {
            if cx.reflected.is_some() {
                let kind = match (m.is_client_streaming(), m.is_server_streaming()) {
                    (true, true) => "a bidirectional streaming method",
                    (true, false) => "a client-streaming method",
                    _ => "a server-streaming method",
                };
                return Err(cx.err(
                    method.span(),
                    format!("{full} is {kind}: with reflection, add a [request.stream] table to the request (it may be empty) to call it"),
                ));
            }
            default_stream = true;
        }
    }
    // One message, or a list of them (a stream's messages, sent in turn).
    let (values, mspan) = match &r.message {
        None => (vec![serde_json::json!({})], span.clone()),
        Some(m) => match m.get_ref() {
            toml::Value::String(s) => {
                let text = s.clone();
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| cx.err(m.span(), format!("message is not JSON: {e}")))?;
                match v {
                    serde_json::Value::Array(items) => (items, m.span()),
                    v => (vec![v], m.span()),
                }
            }
            toml::Value::Table(_) => (vec![toml_to_json(m.get_ref())], m.span()),
            toml::Value::Array(items) => (items.iter().map(toml_to_json).collect(), m.span()),
            _ => {
                return Err(cx.err(
                    m.span(),
                    "message must be a table, a list of tables, or a JSON string",
                ));
            }
        },
    };
    if values.is_empty() {
        return Err(cx.err(mspan, "message is an empty list: give at least one message"));
    }
    if values.len() > 1 && client_streams == Some(false) {
        return Err(cx.err(
            mspan,
            format!("{full} takes one message: a list of messages is for client and bidirectional streaming"),
        ));
    }
    let input = match &resolved {
        Schema::Protos(pool) => pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == rpc))
            .map(|m| m.input()),
        Schema::Reflection => None,
    };
    let many = values.len() > 1;
    let mut messages = Vec::with_capacity(values.len());
    for (i, mut json) in values.into_iter().enumerate() {
        let which = if many {
            format!("message {}", i + 1)
        } else {
            "message".to_owned()
        };
        if !json.is_object() {
            return Err(cx.err(mspan.clone(), format!("{which} must be a JSON object")));
        }
        let mut templates = Vec::new();
        collect_templates(cx, &mut json, &mut Vec::new(), data, &mspan, &mut templates)?;
        // With .proto files, checked against its type now, placeholders
        // blanked.
        if let Some(input) = &input {
            super::grpc_message::check_message(input, &json, &templates)
                .map_err(|e| cx.err(mspan.clone(), format!("{which}: {e}")))?;
        }
        messages.push(MessageSpec { json, templates });
    }
    let mut metadata = Vec::new();
    for (k, v) in g.metadata.iter().chain(&r.metadata) {
        let key = k.to_ascii_lowercase();
        if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            return Err(cx.err(v.span(), format!("{k:?} is not a valid metadata key")));
        }
        // A -bin key's value is base64 (gRPC's binary metadata); a static
        // one is checked now, a templated one when rendered.
        if key.ends_with("-bin") {
            let value = cx.env(v)?;
            if !value.contains("{{") && super::grpc_message::binary_value(&value).is_err() {
                return Err(cx.err(
                    v.span(),
                    format!("{k:?} is binary metadata: its value must be base64, not {value:?}"),
                ));
            }
        }
        metadata.retain(|(n, _): &(String, Template)| *n != key);
        metadata.push((key, cx.template(v, data)?));
    }
    let connections = match &g.connections {
        Some(c) => Some(cx.bound(
            c.span(),
            "connections",
            super::limits::grpc_connections(*c.get_ref()),
        )?),
        None => None,
    };
    let mut tls = tls_spec(cx, &g.ca, &g.insecure, (&g.cert, &g.key), &endpoint)?;
    if let Some(n) = &g.server_name {
        let name = cx.env(n)?;
        rustls::pki_types::ServerName::try_from(name.as_str())
            .map_err(|e| cx.err(n.span(), format!("server_name {name:?}: {e}")))?;
        tls.server_name = Some(name);
    }
    let max_message_size = match &g.max_message_size {
        None => super::limits::DEFAULT_GRPC_MESSAGE,
        Some(v) => {
            let bytes = match v.get_ref() {
                toml::Value::String(s) => super::limits::parse_size(s)
                    .map_err(|e| cx.err(v.span(), format!("max_message_size: {e}")))?,
                toml::Value::Integer(n) if *n >= 0 => *n as u64,
                other => {
                    return Err(cx.err(
                        v.span(),
                        format!("max_message_size must be a size such as \"64MiB\" or a whole number of bytes, not {other}"),
                    ));
                }
            };
            super::limits::max_body(bytes)
                .map_err(|e| cx.err(v.span(), format!("max_message_size {e}")))?
        }
    };
    let compression = match &g.compression {
        None => None,
        Some(c) => Some(match cx.env(c)?.to_ascii_lowercase().as_str() {
            "gzip" => GrpcCompression::Gzip,
            "deflate" => GrpcCompression::Deflate,
            "zstd" => GrpcCompression::Zstd,
            other => {
                return Err(cx.err(
                    c.span(),
                    format!("compression must be gzip, deflate or zstd, not {other:?}"),
                ));
            }
        }),
    };
    let stream = match &r.stream {
        Some(st) => {
            if let Some(b) = &st.get_ref().binary {
                return Err(cx.err(
                    b.span(),
                    "binary is for WebSocket calls (url = \"ws://...\")",
                ));
            }
            Some(compile_stream(cx, st.get_ref(), messages.len())?)
        }
        None if default_stream => Some(compile_stream(
            cx,
            &file::Stream::default(),
            messages.len(),
        )?),
        None => None,
    };
    Ok(GrpcSpec {
        stream,
        endpoint,
        method: full,
        messages,
        metadata,
        schema: resolved,
        connections,
        tls,
        max_message_size,
        compression,
    })
}

fn collect_templates(
    cx: &Ctx<'_>,
    v: &mut serde_json::Value,
    path: &mut Vec<PathSeg>,
    data: &Scope<'_>,
    span: &Range<usize>,
    out: &mut Vec<(Vec<PathSeg>, Template)>,
) -> Result<(), ScenarioError> {
    match v {
        serde_json::Value::String(s) => {
            let expanded = cx
                .expand(s)
                .map_err(|e| cx.err(span.clone(), e.to_string()))?;
            let t = Template::compile(&expanded, data)
                .map_err(|e| cx.err(span.clone(), format!("template: {e}")))?;
            match t.as_static() {
                Some(lit) => *s = lit.to_owned(),
                None => out.push((path.clone(), t)),
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(PathSeg::Index(i));
                collect_templates(cx, item, path, data, span, out)?;
                path.pop();
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(PathSeg::Key(k.clone()));
                collect_templates(cx, item, path, data, span, out)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// A protox resolver over .proto files already read into memory.
struct MemoryProtos(BTreeMap<String, String>);

impl protox::file::FileResolver for MemoryProtos {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match self.0.get(name) {
            Some(text) => protox::file::File::from_source(name, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The files a .proto imports, by a line scan (`import "x.proto";`,
/// `import public "y.proto";`).
fn imports_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("import "))
        .filter_map(|l| {
            let a = l.find('"')?;
            let b = l[a + 1..].find('"')?;
            Some(l[a + 1..a + 1 + b].to_owned())
        })
        .collect()
}

/// Reads `name` and, recursively, what it imports, from the import paths.
/// Files not found here are left to protox (the Google well-known types).
fn read_protos(
    cx: &Ctx<'_>,
    name: &str,
    imports: &[String],
    span: &Range<usize>,
    into: &mut BTreeMap<String, String>,
) -> Result<(), ScenarioError> {
    if into.contains_key(name) {
        return Ok(());
    }
    for dir in imports {
        let rel = if dir.is_empty() {
            name.to_owned()
        } else {
            format!("{dir}/{name}")
        };
        if let Ok(bytes) = cx.sources.read(&rel) {
            cx.read_file(&rel, span.clone())?;
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| cx.err(span.clone(), format!("{rel} is not UTF-8")))?;
            let deps = imports_of(&text);
            into.insert(name.to_owned(), text);
            for d in deps {
                read_protos(cx, &d, imports, span, into)?;
            }
            return Ok(());
        }
    }
    Ok(())
}

fn compile_schema(
    cx: &Ctx<'_>,
    g: &file::Grpc,
    span: Range<usize>,
) -> Result<Schema, ScenarioError> {
    let protos: Vec<S<String>> = match &g.proto {
        None => Vec::new(),
        Some(p) => match p.get_ref() {
            toml::Value::String(one) => vec![S::new(p.span(), one.clone())],
            toml::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(|s| S::new(p.span(), s.to_owned()))
                        .ok_or_else(|| {
                            cx.err(
                                p.span(),
                                "proto: expected a file name or a list of file names",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(cx.err(
                    p.span(),
                    "proto: expected a file name or a list of file names",
                ));
            }
        },
    };
    if g.reflection {
        if let Some(p) = protos.first() {
            return Err(cx.err(p.span(), "give proto files or reflection = true, not both"));
        }
        // The server's answer, when asked before compiling, checks the
        // requests as .proto files would.
        return Ok(match cx.reflected {
            Some(pool) => Schema::Protos(pool.clone()),
            None => Schema::Reflection,
        });
    }
    if protos.is_empty() {
        return Err(cx.err(span, "gRPC requests need [grpc] proto = \"file.proto\" (with import_paths) or reflection = true"));
    }
    let mut imports: Vec<String> = Vec::new();
    for i in &g.import_paths {
        imports.push(normalize(&cx.env(i)?));
    }
    let mut names = Vec::new();
    for p in &protos {
        let rel = normalize(&cx.env(p)?);
        // The name protox knows a file by is its path under an import path.
        let name = imports
            .iter()
            .find_map(|dir| rel.strip_prefix(&format!("{dir}/")).map(str::to_owned))
            .unwrap_or_else(|| {
                let (dir, file) = rel.rsplit_once('/').unwrap_or(("", &rel));
                if !imports.iter().any(|i| i == dir) {
                    imports.push(dir.to_owned());
                }
                file.to_owned()
            });
        // Read it once through the context so that a missing file has a place.
        cx.read_file(&rel, p.span())?;
        names.push((name, p.span()));
    }
    let mut texts = BTreeMap::new();
    for (name, pspan) in &names {
        read_protos(cx, name, &imports, pspan, &mut texts)?;
    }
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(MemoryProtos(texts));
    resolver.add(protox::file::GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    for (name, pspan) in &names {
        compiler
            .open_file(name)
            .map_err(|e| cx.err(pspan.clone(), format!("compiling {name}: {e}")))?;
    }
    Ok(Schema::Protos(compiler.descriptor_pool()))
}

/// A stream's count of messages, answers or events (`key`), 1 to
/// [`limits::MAX_STREAM_MESSAGES`](super::limits::MAX_STREAM_MESSAGES).
pub(super) fn stream_count(
    cx: &Ctx<'_>,
    v: Option<&S<toml::Value>>,
    key: &str,
) -> Result<Option<u64>, ScenarioError> {
    use super::limits;
    v.map(|v| {
        cx.whole(
            v,
            key,
            &format!("from 1 to {}", limits::MAX_STREAM_MESSAGES),
            limits::stream_messages,
        )
    })
    .transpose()
}

/// A stream's `duration`, 1 ms to 1 h.
pub(super) fn stream_duration(
    cx: &Ctx<'_>,
    v: Option<&S<String>>,
) -> Result<Option<std::time::Duration>, ScenarioError> {
    v.map(|v| {
        cx.bound(
            v.span(),
            "duration",
            super::limits::stream_duration(cx.duration(v, "duration")?),
        )
    })
    .transpose()
}

/// A stream's `check`: on "each" message (true, the default) or the
/// "last" one.
pub(super) fn check_each(cx: &Ctx<'_>, check: Option<&S<String>>) -> Result<bool, ScenarioError> {
    let Some(c) = check else {
        return Ok(true);
    };
    match cx.env(c)?.as_str() {
        "each" => Ok(true),
        "last" => Ok(false),
        other => Err(cx.err(
            c.span(),
            format!("check must be \"each\" or \"last\", not {other:?}"),
        )),
    }
}

/// `[request.stream]`, each value within its bounds; `listed` is how many
/// messages the request lists.
pub(super) fn compile_stream(
    cx: &Ctx<'_>,
    s: &file::Stream,
    listed: usize,
) -> Result<StreamSpec, ScenarioError> {
    use super::limits;
    let messages = stream_count(cx, s.messages.as_ref(), "messages")?;
    let interval = match &s.interval {
        Some(v) => cx.bound(
            v.span(),
            "interval",
            limits::think(cx.duration(v, "interval")?),
        )?,
        None => std::time::Duration::ZERO,
    };
    let duration = stream_duration(cx, s.duration.as_ref())?;
    let answers = stream_count(cx, s.answers.as_ref(), "answers")?;
    let check_each = check_each(cx, s.check.as_ref())?;
    Ok(StreamSpec {
        // Without a count, as many as the duration allows; without either,
        // the listed messages once.
        messages: messages.or(if duration.is_some() {
            None
        } else {
            Some(listed.max(1) as u64)
        }),
        answers,
        check_each,
        interval,
        duration,
        ping_pong: s.ping_pong.as_ref().is_some_and(|p| *p.get_ref()),
    })
}
