//! The text-classification prediction API that volley was made to study, and
//! its demo target: a model ([`model`]) over hashed features ([`features`]),
//! its trainer ([`train`]), and two servers, REST ([`rest`]: `/predict`, and
//! its streaming twins `/predict/stream`, Server-Sent Events, and
//! `/predict/ws`, a WebSocket) and gRPC ([`grpc`]), that the `predict-rest`
//! and `predict-grpc` binaries run and that `volley demo` embeds.

pub mod features;
pub mod grpc;
pub mod model;
pub mod rest;
pub mod server;
pub mod shared;
pub mod tls;
pub mod train;
pub mod vectors;

pub use model::{Model, Prediction};
pub use shared::{Refusal, SharedModel};

/// The largest text (REST: request body) either server accepts: 64 KiB.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
