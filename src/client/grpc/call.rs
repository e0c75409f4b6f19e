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
use tonic::metadata::{
    AsciiMetadataKey, AsciiMetadataValue, BinaryMetadataKey, BinaryMetadataValue,
};

use super::GrpcConn;
use super::messages::{self, Part};
use super::streaming::Streaming;
use crate::scenario::grpc_message::binary_value;
use crate::scenario::template::RenderCtx;
use crate::scenario::{GrpcCompression, GrpcSpec, Template};
use crate::stats::{Failure, FailureKind};

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
                        e.to_string()
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
