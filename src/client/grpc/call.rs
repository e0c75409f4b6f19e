//! One gRPC method's request, compiled once per run ([`GrpcCall`]): its
//! kind checked against the method (with reflection, known only now), its
//! messages, its metadata keys, the tonic client that sends it over one of
//! volley's connections, and each request's metadata and deadline.

use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use prost_reflect::{MessageDescriptor, MethodDescriptor};
use tonic::codec::CompressionEncoding;
use tonic::metadata::errors::InvalidMetadataKey;
use tonic::metadata::{
    AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey, BinaryMetadataValue,
};

use super::GrpcConn;
use super::messages::{self, Part};
use super::streaming::Streaming;
use crate::scenario::grpc_message::{MessageError, binary_value};
use crate::scenario::template::RenderCtx;
use crate::scenario::{GrpcCompression, GrpcSpec, Template};
use crate::stats::{Failure, FailureKind};

/// Why a request does not fit its method (with reflection, found only as
/// the run starts), or cannot be sent as written.
#[derive(Debug, thiserror::Error)]
pub enum CallSetupError {
    #[error("{method} is a unary method: [request.stream] is for streaming methods")]
    StreamOnUnary { method: String },
    #[error("ping_pong is for bidirectional streaming; {method} is {}", .streaming.describe())]
    PingPong {
        method: String,
        streaming: Streaming,
    },
    /// What the request asks of a streaming method that it does not do.
    #[error("{method} is {}: {misfit}", .streaming.describe())]
    Misfit {
        method: String,
        streaming: Streaming,
        misfit: Misfit,
    },
    /// A message that does not fit the method's input, of several (from 1).
    #[error("message {n}: {error}")]
    NthMessage { n: usize, error: MessageError },
    #[error(transparent)]
    Message(MessageError),
    #[error("no message")]
    NoMessage,
    #[error("metadata key {key:?}: {error}")]
    MetadataKey {
        key: String,
        error: InvalidMetadataKey,
    },
    #[error("method path: {0}")]
    Path(http::uri::InvalidUri),
}

/// What a request asks of a method that its kind does not do: the text
/// after "METHOD is a KIND method: ".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Misfit {
    #[error("add a [request.stream] table to the request (it may be empty) to call it")]
    NoStreamTable,
    #[error("its call sends one message")]
    OneMessage,
    #[error("a list of messages is for client and bidirectional streaming")]
    MessageList,
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

impl GrpcCall {
    /// Compiles a request for `method`.
    pub fn new(spec: &GrpcSpec, method: &MethodDescriptor) -> Result<Self, CallSetupError> {
        // With reflection the method's kind is known only now; with .proto
        // files the scenario's compiler has said all this already.
        let streaming = Streaming::of(method);
        let misfit = |misfit| CallSetupError::Misfit {
            method: method.full_name().to_owned(),
            streaming,
            misfit,
        };
        match (&spec.stream, streaming) {
            (Some(_), Streaming::Unary) => {
                return Err(CallSetupError::StreamOnUnary {
                    method: method.full_name().to_owned(),
                });
            }
            (None, s) if s != Streaming::Unary => return Err(misfit(Misfit::NoStreamTable)),
            (Some(st), s) => {
                if st.ping_pong && s != Streaming::Bidi {
                    return Err(CallSetupError::PingPong {
                        method: method.full_name().to_owned(),
                        streaming,
                    });
                }
                if !s.client_streams() && st.messages.is_some_and(|n| n != 1) {
                    return Err(misfit(Misfit::OneMessage));
                }
            }
            _ => {}
        }
        if spec.messages.len() > 1 && !streaming.client_streams() {
            return Err(misfit(Misfit::MessageList));
        }
        let input = method.input();
        let parts = spec
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Part::new(&input, m).map_err(|error| {
                    if spec.messages.len() > 1 {
                        CallSetupError::NthMessage { n: i + 1, error }
                    } else {
                        CallSetupError::Message(error)
                    }
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parts.is_empty() {
            return Err(CallSetupError::NoMessage);
        }
        let mut metadata = Vec::new();
        for (k, t) in &spec.metadata {
            let bad_key = |error| CallSetupError::MetadataKey {
                key: k.clone(),
                error,
            };
            let key = if k.ends_with("-bin") {
                MetaKey::Binary(BinaryMetadataKey::from_str(k).map_err(bad_key)?)
            } else {
                MetaKey::Ascii(AsciiMetadataKey::from_str(k).map_err(bad_key)?)
            };
            metadata.push((key, t.clone()));
        }
        let path = PathAndQuery::from_str(&format!(
            "/{}/{}",
            method.parent_service().full_name(),
            method.name()
        ))
        .map_err(CallSetupError::Path)?;
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
        part.encode(ctx, scratch)
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
        messages::decode_json(&self.output, bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Display;

    use prost_reflect::DescriptorPool;

    use super::*;
    use crate::client::grpc::{endpoint, find_method};
    use crate::scenario::{MessageSpec, Schema, StreamSpec, TlsSpec};

    fn pool() -> DescriptorPool {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("proto");
        let fds = protox::compile(["predict/v1/predict.proto"], [root]).unwrap();
        DescriptorPool::from_file_descriptor_set(fds).unwrap()
    }

    fn spec(method: &str, messages: usize) -> GrpcSpec {
        GrpcSpec {
            endpoint: "http://127.0.0.1:1".into(),
            method: method.into(),
            messages: (0..messages)
                .map(|_| MessageSpec {
                    json: serde_json::json!({}),
                    templates: Vec::new(),
                })
                .collect(),
            metadata: Vec::new(),
            schema: Schema::Reflection,
            connections: None,
            tls: TlsSpec::default(),
            max_message_size: 4 << 20,
            compression: None,
            stream: None,
        }
    }

    fn stream() -> StreamSpec {
        StreamSpec {
            messages: None,
            answers: None,
            check_each: true,
            interval: Duration::ZERO,
            duration: None,
            ping_pong: false,
        }
    }

    fn refusal<T, E: Display>(r: Result<T, E>) -> String {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    /// What a run refuses before the load, word for word (with reflection
    /// the scenario's compiler could not say it).
    #[test]
    fn setup_refusals_are_worded_as_users_see_them() {
        let pool = pool();
        assert_eq!(
            refusal(find_method(&pool, "Predict")),
            "\"Predict\" is not package.Service/Method"
        );
        assert_eq!(
            refusal(find_method(&pool, "predict.v2.Predictor/Predict")),
            "service \"predict.v2.Predictor\" is not known to the server or the .proto files"
        );
        assert_eq!(
            refusal(find_method(&pool, "predict.v1.Predictor/Predcit")),
            "predict.v1.Predictor has no method \"Predcit\""
        );
        let unary = find_method(&pool, "predict.v1.Predictor/Predict").unwrap();
        let bidi = find_method(&pool, "predict.v1.Predictor/PredictStream").unwrap();
        let mut s = spec("predict.v1.Predictor/Predict", 1);
        s.stream = Some(stream());
        assert_eq!(
            refusal(GrpcCall::new(&s, &unary)),
            "predict.v1.Predictor.Predict is a unary method: [request.stream] is for streaming methods"
        );
        assert_eq!(
            refusal(GrpcCall::new(&spec("", 1), &bidi)),
            "predict.v1.Predictor.PredictStream is a bidirectional streaming method: add a [request.stream] table to the request (it may be empty) to call it"
        );
        assert_eq!(
            refusal(GrpcCall::new(&spec("", 2), &unary)),
            "predict.v1.Predictor.Predict is a unary method: a list of messages is for client and bidirectional streaming"
        );
        assert_eq!(refusal(GrpcCall::new(&spec("", 0), &unary)), "no message");
        let mut s = spec("", 1);
        s.metadata = vec![("bad key".into(), Template::literal("v"))];
        assert_eq!(
            refusal(GrpcCall::new(&s, &unary)),
            "metadata key \"bad key\": invalid gRPC metadata key name"
        );
        let mut s = spec("", 1);
        s.messages[0].json = serde_json::json!({"nope": 1});
        assert!(
            refusal(GrpcCall::new(&s, &unary)).contains("unrecognized field name 'nope'"),
            "{}",
            refusal(GrpcCall::new(&s, &unary))
        );
        s.messages.push(s.messages[0].clone());
        let mut st = stream();
        st.messages = Some(2);
        s.stream = Some(st);
        assert!(
            refusal(GrpcCall::new(&s, &bidi)).starts_with("message 1: "),
            "{}",
            refusal(GrpcCall::new(&s, &bidi))
        );
        let timeout = Duration::from_secs(1);
        let mut s = spec("", 1);
        s.endpoint = "/predict".into();
        assert_eq!(refusal(endpoint(&s, timeout)), "/predict: no host");
        s.endpoint = "http://[::1".into();
        assert_eq!(
            refusal(endpoint(&s, timeout)),
            "http://[::1: invalid authority"
        );
        s.endpoint = "https://127.0.0.1:1".into();
        s.tls.server_name = Some("not a name".into());
        assert_eq!(
            refusal(endpoint(&s, timeout)),
            "TLS server name: invalid dns name"
        );
    }
}
