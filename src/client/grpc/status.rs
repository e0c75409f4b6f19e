//! A call's outcome as a failure: a status the server sent told apart from
//! a transport failure tonic made into a status, the latter known exactly
//! from the failure the call's connection gave (`client/grpc_conn.rs`).

use super::CallError;
use crate::scenario::grpc_codes::code_name;
use crate::stats::{Failure, FailureKind};

/// An error and its sources, joined by ": " (tonic's transport error alone
/// says only "transport error").
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
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
