//! Statistics: what one request's measurement is ([`Sample`]), how the engine
//! records it without a lock shared between connections ([`recorder`]), the
//! interval snapshot that the engine publishes ([`snapshot`]), and the run's
//! merged view ([`run`]) with its bounded time series ([`series`]).

pub mod buckets;
pub mod capacity;
pub mod health;
pub mod histogram;
pub mod latencies;
pub mod protocol;
pub mod recorder;
pub mod rows;
pub mod run;
pub mod series;
pub mod snapshot;
pub mod threshold;

use std::borrow::Cow;

pub use health::Health;

/// Open model: a start more than this many milliseconds after it could have
/// left (its intended time, or when a connection came free for it) is late:
/// the generator's own delay.
pub const LATE_AFTER_MS: u64 = 10;
pub use histogram::Latency;
pub use latencies::Latencies;
pub use protocol::{Protocol, ProtocolCounts};
pub use recorder::Recorder;
pub use rows::{Rows, StatId, Tail};
pub use run::{NameClass, NameTotals, RunStats};
pub use snapshot::{CountOverflow, FailureCount, NameSnapshot, Snapshot};

/// What went wrong with a request: a small fixed set, so that failures can be
/// counted and thresholds written against them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection could not be made (refused, unreachable, DNS).
    Connect,
    /// The peer reset or closed the connection mid-request.
    Reset,
    /// No answer within the request timeout.
    Timeout,
    /// The TLS handshake failed.
    Tls,
    /// The answer was not valid HTTP or gRPC.
    Protocol,
    /// An HTTP status outside the expected ones.
    Status,
    /// A gRPC status other than the expected one.
    Grpc,
    /// A check on the answer (body, JSON value) failed.
    Check,
    /// The request could not be built (template, encoding).
    Request,
    /// A flow step's capture found nothing in the answer.
    Capture,
    /// volley itself failed while sending the request (a panic, caught and
    /// counted): a bug in volley, reported with its message as the detail.
    Internal,
    /// A redirect could not be followed: too many hops (a loop), or a
    /// Location that is not an http(s) URL.
    Redirect,
    /// A limit of volley's own was met (a gRPC message over
    /// `max_message_size`): not the server's doing.
    Limit,
    /// A gRPC answer did not decode as the method's response type (the
    /// scenario's .proto and the server's disagree).
    Decode,
    /// A streaming call's stream was not what the call waited for: an
    /// answer that is not an event stream, a stream that ended before the
    /// events or the `until` event it was to bring, or mid-event; a
    /// WebSocket the server closed before the answers waited for.
    Stream,
    /// A WebSocket closed with a code other than normal (1000) or going
    /// away (1001), or whose close the server never answered.
    Close,
}

impl FailureKind {
    pub const ALL: [FailureKind; 16] = [
        FailureKind::Connect,
        FailureKind::Reset,
        FailureKind::Timeout,
        FailureKind::Tls,
        FailureKind::Protocol,
        FailureKind::Status,
        FailureKind::Grpc,
        FailureKind::Check,
        FailureKind::Request,
        FailureKind::Capture,
        FailureKind::Internal,
        FailureKind::Redirect,
        FailureKind::Limit,
        FailureKind::Decode,
        FailureKind::Stream,
        FailureKind::Close,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Reset => "reset",
            FailureKind::Timeout => "timeout",
            FailureKind::Tls => "tls",
            FailureKind::Protocol => "protocol",
            FailureKind::Status => "status",
            FailureKind::Grpc => "grpc",
            FailureKind::Check => "check",
            FailureKind::Request => "request",
            FailureKind::Capture => "capture",
            FailureKind::Internal => "internal",
            FailureKind::Redirect => "redirect",
            FailureKind::Limit => "limit",
            FailureKind::Decode => "decode",
            FailureKind::Stream => "stream",
            FailureKind::Close => "close",
        }
    }
}

/// A failed request: its kind, a reason of low cardinality that failures are
/// counted by (e.g. "HTTP 503"), and optionally a detail that only the last
/// one of its reason keeps (e.g. the start of the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub kind: FailureKind,
    pub reason: Cow<'static, str>,
    pub detail: Option<String>,
}

impl Failure {
    pub fn new(kind: FailureKind, reason: impl Into<Cow<'static, str>>) -> Self {
        Failure {
            kind,
            reason: reason.into(),
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.reason)
    }
}

/// One finished request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The row it is recorded in.
    pub name: StatId,
    /// From the intended start (open model) or the actual start (closed) to
    /// the end of the answer.
    pub micros: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub failure: Option<Failure>,
    /// An HTTP request's time to first byte, recorded with it (under the
    /// same lock) in its own row.
    pub first_byte: Option<FirstByte>,
    /// The protocol of the connection the (final) answer came on; None when
    /// no connection was made. Counted in the sample's row only (not its
    /// time-to-first-byte row: the request's own row says it).
    pub protocol: Option<Protocol>,
}

/// A time to first byte and the row it is recorded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstByte {
    pub row: StatId,
    pub micros: u64,
}

/// Microseconds as a short human figure: 850us, 12.3ms, 1.25s.
pub fn format_micros(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0}us")
    } else if us < 1_000_000.0 {
        let ms = us / 1_000.0;
        if ms < 10.0 {
            format!("{ms:.2}ms")
        } else if ms < 100.0 {
            format!("{ms:.1}ms")
        } else {
            format!("{ms:.0}ms")
        }
    } else {
        format!("{:.2}s", us / 1_000_000.0)
    }
}
