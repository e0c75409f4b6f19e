//! The four kinds of gRPC method (unary, client, server and bidirectional
//! streaming), as a method's descriptor says, and what each lets a call do.

use prost_reflect::MethodDescriptor;

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

    pub(super) fn describe(self) -> &'static str {
        match self {
            Streaming::Unary => "a unary method",
            Streaming::Client => "a client-streaming method",
            Streaming::Server => "a server-streaming method",
            Streaming::Bidi => "a bidirectional streaming method",
        }
    }
}
