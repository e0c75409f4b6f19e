//! gRPC for any method of any proto, unary and streaming: messages built at
//! run time with prost-reflect from the scenario's JSON (compiled once: per
//! request only the templated fields are set), sent as raw bytes through
//! tonic over volley's own HTTP/2 connections ([`super::grpc_conn`]), and
//! decoded only when a check needs the answer.
//!
//! By job: a method's request (`call.rs`), its messages (`messages.rs`),
//! the raw codec (`codec.rs`), the kinds of method (`streaming.rs`),
//! statuses and transport failures (`status.rs`), and server reflection
//! (`reflection.rs`).
//! What a scenario writes (code names, messages fitted to their type,
//! binary metadata) is checked by the scenario's own modules, which this
//! client shares.

mod call;
mod codec;
mod messages;
mod reflection;
mod status;
mod streaming;

pub use super::grpc_conn::{CallError, EndpointError, GrpcConn, GrpcEndpoint, endpoint};
pub use crate::scenario::grpc_codes::{code_from_name, code_name};
pub use crate::scenario::grpc_message::{binary_value, check_message};
pub use call::{CallSetupError, GrpcCall, Misfit};
pub use codec::{RawCodec, RawDecoder, RawEncoder};
pub use reflection::{MethodError, ReflectError, Refusal, find_method, reflect, reflect_endpoint};
pub use status::status_failure;
pub use streaming::Streaming;

/// Why a gRPC request cannot be made ready before the load: its endpoint,
/// its method, the server's schema or the request itself. Each is the
/// error it wraps, message and all.
#[derive(Debug, thiserror::Error)]
pub enum GrpcSetupError {
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Method(#[from] MethodError),
    #[error(transparent)]
    Reflect(#[from] ReflectError),
    #[error(transparent)]
    Call(#[from] CallSetupError),
}
