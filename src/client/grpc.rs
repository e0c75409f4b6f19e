//! Unary gRPC for any method of any proto: messages are built at run time
//! with prost-reflect from the scenario's JSON (compiled once: per request only
//! the templated fields are set), sent as raw bytes through tonic, and decoded
//! only when a check needs the response.

use std::str::FromStr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http::uri::PathAndQuery;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use tonic::codec::CompressionEncoding;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{
    AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey, BinaryMetadataValue,
};

use tonic::transport::Channel;

pub use super::grpc_conn::{CallError, GrpcConn, GrpcEndpoint, endpoint};

use crate::scenario::template::RenderCtx;
use crate::scenario::{GrpcCompression, GrpcSpec, MessageSpec, PathSeg, Template};
use crate::stats::{Failure, FailureKind};

/// gRPC code names as the scenario writes them.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The code for a name such as "NOT_FOUND" (any case).
pub fn code_from_name(name: &str) -> Option<tonic::Code> {
    let upper = name.trim().to_ascii_uppercase();
    CODES
        .iter()
        .position(|c| *c == upper)
        .map(|i| tonic::Code::from(i as i32))
}

pub fn code_name(code: i32) -> &'static str {
    CODES.get(code as usize).copied().unwrap_or("UNKNOWN")
}

/// Passes message bytes through tonic untouched.
#[derive(Clone, Copy, Default)]
pub struct RawCodec;

pub struct RawEncoder;
pub struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// The field of `desc` along `path`, for a templated value.
fn field_along(
    desc: &MessageDescriptor,
    path: &[PathSeg],
) -> Result<(Vec<FieldDescriptor>, FieldDescriptor), String> {
    let mut msg = desc.clone();
    let mut fields = Vec::new();
    let mut iter = path.iter().peekable();
    while let Some(seg) = iter.next() {
        let PathSeg::Key(key) = seg else {
            return Err("templates inside lists must be inside a repeated field".into());
        };
        let field = msg
            .get_field_by_json_name(key)
            .or_else(|| msg.get_field_by_name(key))
            .ok_or_else(|| format!("{} has no field {key:?}", msg.full_name()))?;
        if field.is_map() {
            return Err(format!(
                "templates inside map field {key:?} are not supported"
            ));
        }
        if field.is_list() {
            if let Some(PathSeg::Index(_)) = iter.peek() {
                iter.next();
            } else {
                return Err(format!("{key:?} is a repeated field: give a list"));
            }
        }
        if iter.peek().is_none() {
            return Ok((fields, field));
        }
        match field.kind() {
            Kind::Message(m) => {
                fields.push(field.clone());
                msg = m;
            }
            _ => return Err(format!("{key:?} is not a message field")),
        }
    }
    Err("empty path".into())
}

/// A placeholder value for type checking at compile time.
fn blank(kind: &Kind) -> serde_json::Value {
    match kind {
        Kind::String | Kind::Bytes => serde_json::Value::String(String::new()),
        Kind::Bool => serde_json::Value::Bool(false),
        Kind::Enum(e) => serde_json::Value::from(e.default_value().number()),
        Kind::Message(_) => serde_json::json!({}),
        _ => serde_json::Value::from(0),
    }
}

fn set_path(v: &mut serde_json::Value, path: &[PathSeg], new: serde_json::Value) {
    let mut cur = v;
    for seg in path {
        cur = match seg {
            PathSeg::Key(k) => &mut cur[k.as_str()],
            PathSeg::Index(i) => &mut cur[*i],
        };
    }
    *cur = new;
}

/// Builds the base message: the JSON with every templated value blanked.
fn base_message(
    desc: &MessageDescriptor,
    json: &serde_json::Value,
    templates: &[(Vec<PathSeg>, Template)],
) -> Result<DynamicMessage, String> {
    let mut blanked = json.clone();
    for (path, _) in templates {
        let (_, field) = field_along(desc, path)?;
        set_path(&mut blanked, path, blank(&field.kind()));
    }
    DynamicMessage::deserialize(desc.clone(), blanked)
        .map_err(|e| format!("message does not fit {}: {e}", desc.full_name()))
}

/// Checks a scenario's message against its type (used by `volley check`).
pub fn check_message(
    desc: &MessageDescriptor,
    json: &serde_json::Value,
    templates: &[(Vec<PathSeg>, Template)],
) -> Result<(), String> {
    base_message(desc, json, templates).map(|_| ())
}

/// Converts a rendered template into a field value.
fn field_value(kind: &Kind, text: &str) -> Result<Value, String> {
    let bad = || format!("{text:?} is not a valid {kind:?}");
    Ok(match kind {
        Kind::String => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(Bytes::copy_from_slice(text.as_bytes())),
        Kind::Bool => Value::Bool(bool::from_str(text.trim()).map_err(|_| bad())?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            Value::I32(text.trim().parse().map_err(|_| bad())?)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            Value::I64(text.trim().parse().map_err(|_| bad())?)
        }
        Kind::Uint32 | Kind::Fixed32 => Value::U32(text.trim().parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(text.trim().parse().map_err(|_| bad())?),
        Kind::Float => Value::F32(text.trim().parse().map_err(|_| bad())?),
        Kind::Double => Value::F64(text.trim().parse().map_err(|_| bad())?),
        Kind::Enum(e) => {
            let t = text.trim();
            let n = e
                .get_value_by_name(t)
                .map(|v| v.number())
                .or_else(|| t.parse().ok())
                .ok_or_else(bad)?;
            Value::EnumNumber(n)
        }
        Kind::Message(_) => return Err("a template cannot fill a whole message".into()),
    })
}

struct Slot {
    /// Message fields to walk down, then the target field.
    parents: Vec<FieldDescriptor>,
    field: FieldDescriptor,
    /// For a repeated target field, the element index.
    index: Option<usize>,
    template: Template,
}

/// How a method's messages flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    Unary,
    /// Many messages in, one answer.
    Client,
    /// One message in, many answers.
    Server,
    /// Many both ways.
    Bidi,
}

impl Streaming {
    pub fn of(method: &MethodDescriptor) -> Self {
        match (method.is_client_streaming(), method.is_server_streaming()) {
            (false, false) => Streaming::Unary,
            (true, false) => Streaming::Client,
            (false, true) => Streaming::Server,
            (true, true) => Streaming::Bidi,
        }
    }

    /// Whether the client sends a stream of messages.
    pub fn client_streams(self) -> bool {
        matches!(self, Streaming::Client | Streaming::Bidi)
    }

    /// Whether the server answers with a stream of messages.
    pub fn server_streams(self) -> bool {
        matches!(self, Streaming::Server | Streaming::Bidi)
    }

    fn describe(self) -> &'static str {
        match self {
            Streaming::Unary => "a unary method",
            Streaming::Client => "a client-streaming method",
            Streaming::Server => "a server-streaming method",
            Streaming::Bidi => "a bidirectional streaming method",
        }
    }
}

/// One request message, compiled.
struct Part {
    base: DynamicMessage,
    /// Encoded base, when nothing is templated.
    fixed: Option<Bytes>,
    slots: Vec<Slot>,
}

impl Part {
    fn new(input: &MessageDescriptor, m: &MessageSpec) -> Result<Self, String> {
        let base = base_message(input, &m.json, &m.templates)?;
        let mut slots = Vec::new();
        for (path, template) in &m.templates {
            let (parents, field) = field_along(input, path)?;
            let index = match path.last() {
                Some(PathSeg::Index(i)) => Some(*i),
                _ => None,
            };
            slots.push(Slot {
                parents,
                field,
                index,
                template: template.clone(),
            });
        }
        let fixed = slots.is_empty().then(|| Bytes::from(base.encode_to_vec()));
        Ok(Part { base, fixed, slots })
    }
}

/// A compiled request of one gRPC method.
pub struct GrpcCall {
    pub path: PathAndQuery,
    pub streaming: Streaming,
    pub output: MessageDescriptor,
    /// The message, or the messages a stream sends in turn.
    parts: Vec<Part>,
    metadata: Vec<(MetaKey, Template)>,
    max_message_size: usize,
    compression: Option<CompressionEncoding>,
}

/// A metadata key: text, or binary (`-bin`, base64 in the scenario).
enum MetaKey {
    Ascii(AsciiMetadataKey),
    Binary(BinaryMetadataKey),
}

/// The bytes of a binary metadata value written as base64 (padded or not,
/// standard or URL-safe alphabet).
pub fn binary_value(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let t = text.trim().trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
}

impl GrpcCall {
    /// Compiles a request for `method`.
    pub fn new(spec: &GrpcSpec, method: &MethodDescriptor) -> Result<Self, String> {
        // With reflection the method's kind is known only now; with .proto
        // files the scenario's compiler has said all this already.
        let streaming = Streaming::of(method);
        match (&spec.stream, streaming) {
            (Some(_), Streaming::Unary) => {
                return Err(format!(
                    "{} is a unary method: [request.stream] is for streaming methods",
                    method.full_name()
                ));
            }
            (None, s) if s != Streaming::Unary => {
                return Err(format!(
                    "{} is {}: add a [request.stream] table to the request (it may be empty) to call it",
                    method.full_name(),
                    s.describe()
                ));
            }
            (Some(st), s) => {
                if st.ping_pong && s != Streaming::Bidi {
                    return Err(format!(
                        "ping_pong is for bidirectional streaming; {} is {}",
                        method.full_name(),
                        s.describe()
                    ));
                }
                if !s.client_streams() && st.messages.is_some_and(|n| n != 1) {
                    return Err(format!(
                        "{} is {}: its call sends one message",
                        method.full_name(),
                        s.describe()
                    ));
                }
            }
            _ => {}
        }
        if spec.messages.len() > 1 && !streaming.client_streams() {
            return Err(format!(
                "{} is {}: a list of messages is for client and bidirectional streaming",
                method.full_name(),
                streaming.describe()
            ));
        }
        let input = method.input();
        let parts = spec
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Part::new(&input, m).map_err(|e| {
                    if spec.messages.len() > 1 {
                        format!("message {}: {e}", i + 1)
                    } else {
                        e
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parts.is_empty() {
            return Err("no message".into());
        }
        let mut metadata = Vec::new();
        for (k, t) in &spec.metadata {
            let key = if k.ends_with("-bin") {
                MetaKey::Binary(
                    BinaryMetadataKey::from_str(k)
                        .map_err(|e| format!("metadata key {k:?}: {e}"))?,
                )
            } else {
                MetaKey::Ascii(
                    AsciiMetadataKey::from_str(k)
                        .map_err(|e| format!("metadata key {k:?}: {e}"))?,
                )
            };
            metadata.push((key, t.clone()));
        }
        let path = PathAndQuery::from_str(&format!(
            "/{}/{}",
            method.parent_service().full_name(),
            method.name()
        ))
        .map_err(|e| format!("method path: {e}"))?;
        Ok(GrpcCall {
            path,
            streaming,
            output: method.output(),
            parts,
            metadata,
            max_message_size: spec.max_message_size,
            compression: spec.compression.map(|c| match c {
                GrpcCompression::Gzip => CompressionEncoding::Gzip,
                GrpcCompression::Deflate => CompressionEncoding::Deflate,
                GrpcCompression::Zstd => CompressionEncoding::Zstd,
            }),
        })
    }

    /// A client on `conn` for this call: messages up to the size limit
    /// both ways, answers accepted in every encoding tonic decodes, the
    /// request compressed if the scenario says so.
    pub fn client(&self, conn: GrpcConn, origin: &http::Uri) -> tonic::client::Grpc<GrpcConn> {
        let mut c = tonic::client::Grpc::with_origin(conn, origin.clone())
            .max_decoding_message_size(self.max_message_size)
            .max_encoding_message_size(self.max_message_size)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Deflate)
            .accept_compressed(CompressionEncoding::Zstd);
        if let Some(e) = self.compression {
            c = c.send_compressed(e);
        }
        c
    }

    /// Encodes the request message, rendering its templated fields.
    pub fn encode(&self, ctx: &mut RenderCtx<'_>, scratch: &mut String) -> Result<Bytes, Failure> {
        self.encode_nth(0, ctx, scratch)
    }

    /// Encodes a stream's `n`-th message (0-based): the request's messages
    /// in turn, from the first again after the last.
    pub fn encode_nth(
        &self,
        n: u64,
        ctx: &mut RenderCtx<'_>,
        scratch: &mut String,
    ) -> Result<Bytes, Failure> {
        let count = self.parts.len().max(1) as u64;
        let Some(part) = self.parts.get((n % count) as usize) else {
            return Err(Failure::new(FailureKind::Request, "no message"));
        };
        if let Some(b) = &part.fixed {
            return Ok(b.clone());
        }
        let mut msg = part.base.clone();
        for slot in &part.slots {
            scratch.clear();
            slot.template.render(ctx, scratch);
            let value = field_value(&slot.field.kind(), scratch).map_err(|e| {
                Failure::new(FailureKind::Request, "cannot build the message").with_detail(e)
            })?;
            let mut cur = &mut msg;
            for parent in &slot.parents {
                let v = cur.get_field_mut(parent);
                cur = match v {
                    Value::Message(m) => m,
                    _ => {
                        return Err(Failure::new(
                            FailureKind::Request,
                            "cannot build the message",
                        ));
                    }
                };
            }
            match slot.index {
                None => cur.set_field(&slot.field, value),
                Some(i) => {
                    if let Value::List(items) = cur.get_field_mut(&slot.field)
                        && i < items.len()
                    {
                        items[i] = value;
                    }
                }
            }
        }
        Ok(Bytes::from(msg.encode_to_vec()))
    }

    /// Renders the metadata into a request of `body` (a message, or a
    /// stream of them).
    pub fn request<T>(
        &self,
        body: T,
        timeout: Duration,
        ctx: &mut RenderCtx<'_>,
        scratch: &mut String,
    ) -> Result<tonic::Request<T>, Failure> {
        let mut req = tonic::Request::new(body);
        // The server learns the deadline (grpc-timeout), as from grpc-go
        // and ghz, and can stop working on a call nobody waits for.
        req.set_timeout(timeout);
        for (k, t) in &self.metadata {
            scratch.clear();
            t.render(ctx, scratch);
            match k {
                MetaKey::Ascii(k) => {
                    let v = AsciiMetadataValue::from_str(scratch).map_err(|_| {
                        Failure::new(FailureKind::Request, format!("metadata {k} is not ASCII"))
                    })?;
                    req.metadata_mut().insert(k.clone(), v);
                }
                MetaKey::Binary(k) => {
                    let bytes = binary_value(scratch).map_err(|e| {
                        Failure::new(FailureKind::Request, format!("metadata {k} is not base64"))
                            .with_detail(e.to_string())
                    })?;
                    req.metadata_mut()
                        .insert_bin(k.clone(), BinaryMetadataValue::from_bytes(&bytes));
                }
            }
        }
        Ok(req)
    }

    /// The response as JSON, for checks.
    pub fn decode_json(&self, bytes: &[u8]) -> Result<serde_json::Value, Failure> {
        let msg = DynamicMessage::decode(self.output.clone(), bytes).map_err(|e| {
            Failure::new(
                FailureKind::Decode,
                format!("answer does not decode as {}", self.output.full_name()),
            )
            .with_detail(e.to_string())
        })?;
        // Fields at their default value are written too, so that checks on
        // them (a category of 0) find them.
        let options = prost_reflect::SerializeOptions::new().skip_default_fields(false);
        msg.serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|e| {
                Failure::new(FailureKind::Decode, "answer does not convert to JSON")
                    .with_detail(e.to_string())
            })
    }
}

/// An error and its sources, joined by ": " (tonic's transport error alone
/// says only "transport error").
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut chain = e.to_string();
    let mut next = e.source();
    while let Some(inner) = next {
        chain.push_str(": ");
        chain.push_str(&inner.to_string());
        next = inner.source();
    }
    chain
}

/// Maps a status to a failure, unless it is the expected code.
pub fn status_failure(status: &tonic::Status, expected: i32) -> Option<Failure> {
    let code = status.code() as i32;
    if code == expected {
        return None;
    }
    // A call that failed on its connection or stream: the failure is
    // known exactly, from h2's error (client/grpc_conn.rs).
    let mut source = std::error::Error::source(status);
    while let Some(e) = source {
        if let Some(CallError(f)) = e.downcast_ref::<CallError>() {
            return Some(f.clone());
        }
        source = e.source();
    }
    let msg = status.message();
    // A status the server sent (in trailers, or a trailers-only answer)
    // carries no source; one tonic made from a transport error does. Only
    // the latter is a connection's failure: a server shedding load with
    // UNAVAILABLE "transport is closing" is a status like any other.
    let (kind, reason) = if let Some(source) = std::error::Error::source(status) {
        let chain = error_chain(source);
        let reason =
            if chain.contains("certificate") || chain.contains("TLS") || chain.contains("tls") {
                (FailureKind::Tls, "TLS handshake failed")
            } else if chain.contains("imeout") || chain.contains("timed out") {
                // The channel's own deadline (grpc-timeout) ran out.
                (FailureKind::Timeout, "no answer within the timeout")
            } else if chain.contains("refused") {
                (FailureKind::Connect, "connection refused")
            } else if chain.contains("reset") || chain.contains("broken pipe") {
                (FailureKind::Reset, "connection reset")
            } else if chain.contains("closed") {
                (FailureKind::Reset, "connection closed")
            } else {
                (FailureKind::Connect, "cannot connect")
            };
        return Some(
            Failure::new(reason.0, reason.1)
                .with_detail(chain.chars().take(200).collect::<String>()),
        );
    } else if msg.contains("message length too large")
        || msg.contains("exceeded while decompressing")
    {
        // tonic's own limit on a message's size (compressed or not), not
        // the server's status.
        (
            FailureKind::Limit,
            "message larger than [grpc] max_message_size".to_string(),
        )
    } else {
        (FailureKind::Grpc, format!("gRPC {}", code_name(code)))
    };
    Some(Failure::new(kind, reason).with_detail(msg.chars().take(160).collect::<String>()))
}

/// Finds a method in a descriptor pool.
pub fn find_method(pool: &DescriptorPool, full: &str) -> Result<MethodDescriptor, String> {
    let (service, rpc) = full
        .split_once('/')
        .ok_or_else(|| format!("{full:?} is not package.Service/Method"))?;
    let svc = pool.get_service_by_name(service).ok_or_else(|| {
        format!("service {service:?} is not known to the server or the .proto files")
    })?;
    svc.methods()
        .find(|m| m.name() == rpc)
        .ok_or_else(|| format!("{service} has no method {rpc:?}"))
}

/// Asks a server for the encoded files that define `services` over one
/// version of the reflection protocol (`v1` or `v1alpha`: the same
/// messages in two packages). An error is the call's status, or what was
/// wrong with the answers.
macro_rules! reflected_files {
    ($ver:ident, $channel:expr, $services:expr) => {{
        use tonic_reflection::pb::$ver::ServerReflectionRequest;
        use tonic_reflection::pb::$ver::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$ver::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$ver::server_reflection_response::MessageResponse;
        async {
            let mut client = ServerReflectionClient::new($channel);
            let reqs: Vec<ServerReflectionRequest> = $services
                .iter()
                .map(|s: &String| ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(MessageRequest::FileContainingSymbol(s.clone())),
                })
                .collect();
            let n = reqs.len();
            let mut stream = client
                .server_reflection_info(tokio_stream::iter(reqs))
                .await
                .map_err(Reflection::Status)?
                .into_inner();
            let mut raw = Vec::new();
            for _ in 0..n {
                let resp = stream
                    .message()
                    .await
                    .map_err(Reflection::Status)?
                    .ok_or_else(|| Reflection::Answer("the stream ended early".into()))?;
                match resp.message_response {
                    Some(MessageResponse::FileDescriptorResponse(f)) => {
                        raw.extend(f.file_descriptor_proto)
                    }
                    Some(MessageResponse::ErrorResponse(e)) => {
                        return Err(Reflection::Answer(e.error_message));
                    }
                    other => {
                        return Err(Reflection::Answer(format!("unexpected answer {other:?}")));
                    }
                }
            }
            Ok::<Vec<Vec<u8>>, Reflection>(raw)
        }
    }};
}

/// Asks a server for the names of its services over one version of the
/// reflection protocol.
macro_rules! listed_services {
    ($ver:ident, $channel:expr) => {{
        use tonic_reflection::pb::$ver::ServerReflectionRequest;
        use tonic_reflection::pb::$ver::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::$ver::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::$ver::server_reflection_response::MessageResponse;
        async {
            let mut client = ServerReflectionClient::new($channel);
            let req = ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            };
            let mut stream = client
                .server_reflection_info(tokio_stream::iter([req]))
                .await
                .map_err(Reflection::Status)?
                .into_inner();
            let resp = stream
                .message()
                .await
                .map_err(Reflection::Status)?
                .ok_or_else(|| Reflection::Answer("the stream ended early".into()))?;
            match resp.message_response {
                Some(MessageResponse::ListServicesResponse(l)) => {
                    Ok::<Vec<String>, Reflection>(l.service.into_iter().map(|s| s.name).collect())
                }
                Some(MessageResponse::ErrorResponse(e)) => Err(Reflection::Answer(e.error_message)),
                other => Err(Reflection::Answer(format!("unexpected answer {other:?}"))),
            }
        }
    }};
}

/// Why one version of server reflection gave no files.
enum Reflection {
    Status(tonic::Status),
    Answer(String),
}

impl std::fmt::Display for Reflection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reflection::Status(s) => write!(f, "{} {}", code_name(s.code() as i32), s.message()),
            Reflection::Answer(m) => f.write_str(m),
        }
    }
}

/// Asks the server for the files that define `services`, by server reflection
/// (v1, then v1alpha when the server does not implement v1, as older
/// servers and ghz do), and builds a descriptor pool from them.
pub async fn reflect(channel: Channel, services: &[String]) -> Result<DescriptorPool, String> {
    let raw = match reflected_files!(v1, channel.clone(), services).await {
        Ok(raw) => raw,
        Err(Reflection::Status(s)) if s.code() == tonic::Code::Unimplemented => {
            let raw = reflected_files!(v1alpha, channel, services)
                .await
                .map_err(|e| format!("server reflection (v1alpha; v1 is not implemented): {e}"))?;
            tracing::info!("server reflection: v1 is not implemented; used v1alpha");
            raw
        }
        Err(e) => return Err(format!("server reflection: {e}")),
    };
    let mut files: Vec<prost_types::FileDescriptorProto> = Vec::new();
    for bytes in raw {
        let fd = prost_types::FileDescriptorProto::decode(bytes.as_slice())
            .map_err(|e| format!("server reflection: {e}"))?;
        if !files.iter().any(|o| o.name == fd.name) {
            files.push(fd);
        }
    }
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_protos(files)
        .map_err(|e| format!("server reflection: {e}"))?;
    Ok(pool)
}

/// Asks `spec`'s endpoint for the schema of every service it lists by server
/// reflection (its own reflection services left out), all within `timeout`:
/// what a scenario's requests are checked against before a run, so that a
/// misspelt service is told apart from one the server does not have.
pub async fn reflect_endpoint(
    spec: &GrpcSpec,
    timeout: Duration,
) -> Result<DescriptorPool, String> {
    let ep = endpoint(spec, timeout)?;
    let asked = async {
        let channel = ep
            .connect()
            .await
            .map_err(|e| format!("connecting to {}: {}", spec.endpoint, error_chain(&e)))?;
        let services = match listed_services!(v1, channel.clone()).await {
            Ok(s) => s,
            Err(Reflection::Status(s)) if s.code() == tonic::Code::Unimplemented => {
                listed_services!(v1alpha, channel.clone())
                    .await
                    .map_err(|e| {
                        format!("server reflection (v1alpha; v1 is not implemented): {e}")
                    })?
            }
            Err(e) => return Err(format!("server reflection: {e}")),
        };
        let services: Vec<String> = services
            .into_iter()
            .filter(|s| !s.starts_with("grpc.reflection."))
            .collect();
        reflect(channel, &services).await
    };
    tokio::time::timeout(timeout, asked).await.map_err(|_| {
        format!(
            "server reflection at {} timed out after {timeout:?}",
            spec.endpoint
        )
    })?
}
