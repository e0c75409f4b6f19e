//! The failure an HTTP/3 or QUIC error is. QUIC adds ways for a request to
//! fail that TCP and TLS did not have, and each gets a kind and a reason
//! of its own: no answer to the handshake (UDP blocked, or no HTTP/3
//! server: `connect`), the port refused (ICMP port unreachable:
//! `connect`), a handshake refused (`tls`, naming the TLS alert), no
//! common QUIC version (`connect`), the idle timeout (`timeout`), a stream
//! reset and a connection closed, each with its HTTP/3 code (`reset`, or
//! `protocol` when the code says someone broke the protocol).

use std::net::SocketAddr;
use std::time::Duration;

use h3::error::{Code, ConnectionError, LocalError, StreamError};
use h3::quic::ConnectionErrorIncoming;

use super::guard::Tripped;
use crate::client::http::Stale;
use crate::stats::{Failure, FailureKind};

/// RFC 9114 §8.1: H3_REQUEST_REJECTED, a request the server did not
/// process.
const REQUEST_REJECTED: u64 = 0x10b;

/// An HTTP/3 error code as the reasons name it: `H3_REQUEST_CANCELLED,
/// 0x10c`, or the number alone when it has no name.
pub fn code_text(code: u64) -> String {
    let name = Code::from(code).to_string();
    if name.starts_with("0x") {
        format!("code {code:#x}")
    } else {
        format!("{name}, {code:#x}")
    }
}

/// Whether a code says the protocol was broken (by either side), rather
/// than that the work was stopped (cancelled, rejected, overloaded).
fn protocol_code(code: u64) -> bool {
    matches!(
        code,
        0x101 | 0x103..=0x106 | 0x108..=0x10a | 0x10e | 0x200..=0x202
    )
}

/// The handshake was not answered within `within`.
pub fn unanswered(addr: SocketAddr, within: Duration) -> Failure {
    Failure::new(
        FailureKind::Connect,
        "no QUIC handshake answer (UDP blocked, or no HTTP/3 server on that port)",
    )
    .with_detail(format!("nothing from udp {addr} within {within:?}"))
}

/// `addr`'s host refused the UDP port (ICMP port unreachable): as a TCP
/// connect refused, at once.
pub fn refused(addr: SocketAddr) -> Failure {
    Failure::new(
        FailureKind::Connect,
        "connection refused (nothing listens on that UDP port, or a firewall rejects UDP)",
    )
    .with_detail(format!("ICMP port unreachable from udp {addr}"))
}

/// The QUIC handshake failed.
pub fn handshake(e: &quinn::ConnectionError, addr: SocketAddr, within: Duration) -> Failure {
    match e {
        quinn::ConnectionError::TimedOut => unanswered(addr, within),
        quinn::ConnectionError::Reset => Failure::new(
            FailureKind::Connect,
            "connection reset during the QUIC handshake",
        )
        .with_detail(e.to_string()),
        quinn::ConnectionError::ApplicationClosed(_) => Failure::new(
            FailureKind::Connect,
            "the server closed the connection during the QUIC handshake",
        )
        .with_detail(e.to_string()),
        other => quic_closed(other),
    }
}

/// TLS alert codes a handshake most often ends with, by name.
fn alert(code: u64) -> Option<&'static str> {
    Some(match code.checked_sub(0x100)? {
        40 => "handshake_failure",
        42 => "bad_certificate",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        48 => "unknown_ca",
        80 => "internal_error",
        112 => "unrecognized_name",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

/// A QUIC connection that ended, as quinn says why.
fn quic_closed(e: &quinn::ConnectionError) -> Failure {
    let detail = e.to_string();
    let f = match e {
        quinn::ConnectionError::VersionMismatch => Failure::new(
            FailureKind::Connect,
            "QUIC version negotiation failed (the server speaks no QUIC version volley does)",
        ),
        quinn::ConnectionError::TransportError(t) => {
            let code = u64::from(t.code);
            if (0x100..0x200).contains(&code) {
                Failure::new(FailureKind::Tls, "QUIC handshake failed")
            } else {
                Failure::new(
                    FailureKind::Protocol,
                    format!("QUIC protocol error (transport code {code:#x})"),
                )
            }
        }
        quinn::ConnectionError::ConnectionClosed(c) => {
            let code = u64::from(c.error_code);
            match (code, alert(code)) {
                (0x178, _) => Failure::new(
                    FailureKind::Tls,
                    "QUIC handshake failed: the server does not offer HTTP/3 (TLS alert no_application_protocol)",
                ),
                (_, Some(name)) => Failure::new(
                    FailureKind::Tls,
                    format!("QUIC handshake failed: the server sent TLS alert {name}"),
                ),
                (0x100..0x200, None) => Failure::new(
                    FailureKind::Tls,
                    format!(
                        "QUIC handshake failed: the server sent TLS alert {}",
                        code - 0x100
                    ),
                ),
                (0, _) => Failure::new(FailureKind::Reset, "connection closed by the server"),
                _ => Failure::new(
                    FailureKind::Protocol,
                    format!("connection closed by the server (QUIC transport code {code:#x})"),
                ),
            }
        }
        quinn::ConnectionError::ApplicationClosed(a) => app_closed(a.error_code.into_inner()),
        quinn::ConnectionError::Reset => Failure::new(
            FailureKind::Reset,
            "connection reset (QUIC stateless reset)",
        ),
        quinn::ConnectionError::TimedOut => idle(),
        quinn::ConnectionError::LocallyClosed => {
            Failure::new(FailureKind::Reset, "connection closed")
        }
        quinn::ConnectionError::CidsExhausted => {
            Failure::new(FailureKind::Connect, "out of QUIC connection IDs")
        }
    };
    f.with_detail(detail)
}

fn idle() -> Failure {
    Failure::new(
        FailureKind::Timeout,
        "QUIC idle timeout (the server stopped answering)",
    )
}

/// The server closed the connection with an HTTP/3 code.
fn app_closed(code: u64) -> Failure {
    let kind = if protocol_code(code) {
        FailureKind::Protocol
    } else {
        FailureKind::Reset
    };
    Failure::new(
        kind,
        format!("connection closed by the server ({})", code_text(code)),
    )
}

/// The guard's failure, when it closed the connection: whatever error
/// the requests on it then met, this is why.
fn guarded(tripped: &Tripped) -> Option<Failure> {
    tripped.get().map(|why| {
        Failure::new(FailureKind::Protocol, "HTTP/3 frame too large").with_detail(why.clone())
    })
}

/// The failure a connection-level error is.
pub fn connection(e: &ConnectionError, tripped: &Tripped) -> Failure {
    if let Some(f) = guarded(tripped) {
        return f;
    }
    match e {
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::ApplicationClose { error_code },
            ..
        } => app_closed(*error_code),
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::Timeout,
            ..
        }
        | ConnectionError::Timeout { .. } => idle(),
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::Undefined(inner),
            ..
        } => match inner.downcast_ref::<quinn::ConnectionError>() {
            Some(q) => quic_closed(q),
            None => Failure::new(FailureKind::Protocol, "HTTP/3 connection error")
                .with_detail(inner.to_string()),
        },
        ConnectionError::Remote {
            0: ConnectionErrorIncoming::InternalError(why),
            ..
        } => Failure::new(FailureKind::Internal, "HTTP/3 stack error").with_detail(why.clone()),
        // h3 closed the connection itself: the server broke the protocol.
        ConnectionError::Local {
            error: LocalError::Application { code, reason, .. },
            ..
        } => Failure::new(
            FailureKind::Protocol,
            format!("HTTP/3 protocol error ({})", code_text(code.value())),
        )
        .with_detail(reason.clone()),
        ConnectionError::Local { .. } => {
            Failure::new(FailureKind::Reset, "connection closing").with_detail(e.to_string())
        }
        _ => Failure::new(FailureKind::Protocol, "HTTP/3 connection error")
            .with_detail(e.to_string()),
    }
}

/// The failure a request's stream error is.
pub fn stream(e: &StreamError, tripped: &Tripped) -> Failure {
    if let Some(f) = guarded(tripped) {
        return f;
    }
    match e {
        StreamError::RemoteTerminate { code, .. } if code.value() == REQUEST_REJECTED => {
            Failure::new(
                FailureKind::Reset,
                format!(
                    "stream refused by the server ({})",
                    code_text(REQUEST_REJECTED)
                ),
            )
        }
        StreamError::RemoteTerminate { code, .. } => Failure::new(
            FailureKind::Reset,
            format!("stream reset by the server ({})", code_text(code.value())),
        ),
        StreamError::ConnectionError { 0: c, .. } => connection(c, tripped),
        StreamError::StreamError { code, reason, .. } => Failure::new(
            FailureKind::Protocol,
            format!("HTTP/3 protocol error ({})", code_text(code.value())),
        )
        .with_detail(reason.clone()),
        StreamError::HeaderTooBig {
            actual_size,
            max_size,
            ..
        } => Failure::new(
            FailureKind::Protocol,
            "the answer's header section is larger than volley accepts",
        )
        .with_detail(format!("{actual_size} bytes, at most {max_size}")),
        StreamError::RemoteClosing { .. } => Failure::new(
            FailureKind::Reset,
            "connection closing: the server sent GOAWAY",
        ),
        _ => Failure::new(FailureKind::Protocol, "HTTP/3 stream error").with_detail(e.to_string()),
    }
}

/// Whether a request that failed before its stream was open may go again
/// on a new connection: it was never sent.
pub fn stale_unsent(e: &StreamError, closed: bool) -> Stale {
    match e {
        StreamError::RemoteClosing { .. } | StreamError::ConnectionError { .. } => Stale::Unsent,
        _ if closed => Stale::Unsent,
        _ => Stale::No,
    }
}

/// Whether a request that failed after it was sent may go again: refused
/// by the server (unprocessed), or lost with its connection (idempotent
/// requests only).
pub fn stale_sent(e: &StreamError, closed: bool) -> Stale {
    match e {
        StreamError::RemoteTerminate { code, .. } if code.value() == REQUEST_REJECTED => {
            Stale::Unsent
        }
        StreamError::RemoteClosing { .. } => Stale::Unsent,
        StreamError::ConnectionError { .. } => Stale::Sent,
        _ if closed => Stale::Sent,
        _ => Stale::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_with_their_number() {
        assert_eq!(code_text(0x10c), "H3_REQUEST_CANCELLED, 0x10c");
        assert_eq!(code_text(0x100), "H3_NO_ERROR, 0x100");
        assert_eq!(code_text(0x1234), "code 0x1234");
    }

    #[test]
    fn a_server_that_cancels_is_a_reset_and_one_that_breaks_the_protocol_is_protocol() {
        let cancelled = app_closed(0x10c);
        assert_eq!(cancelled.kind, FailureKind::Reset);
        assert_eq!(
            cancelled.reason,
            "connection closed by the server (H3_REQUEST_CANCELLED, 0x10c)"
        );
        assert_eq!(app_closed(0x105).kind, FailureKind::Protocol);
        assert_eq!(app_closed(0x201).kind, FailureKind::Protocol);
        assert_eq!(app_closed(0x100).kind, FailureKind::Reset);
    }

    #[test]
    fn a_handshake_refused_names_the_alert() {
        let closed = |code| {
            quinn::ConnectionError::ConnectionClosed(quinn::ConnectionClose {
                error_code: quinn::TransportErrorCode::crypto(code),
                frame_type: None,
                reason: bytes::Bytes::new(),
            })
        };
        let addr: SocketAddr = ([127, 0, 0, 1], 4433).into();
        let f = handshake(&closed(120), addr, Duration::from_secs(1));
        assert_eq!(f.kind, FailureKind::Tls);
        assert!(f.reason.contains("does not offer HTTP/3"), "{}", f.reason);
        let f = handshake(&closed(48), addr, Duration::from_secs(1));
        assert!(f.reason.ends_with("TLS alert unknown_ca"), "{}", f.reason);
        let f = handshake(
            &quinn::ConnectionError::TimedOut,
            addr,
            Duration::from_secs(1),
        );
        assert_eq!(f.kind, FailureKind::Connect);
        assert!(f.reason.contains("UDP blocked"), "{}", f.reason);
        let f = handshake(
            &quinn::ConnectionError::VersionMismatch,
            addr,
            Duration::from_secs(1),
        );
        assert!(f.reason.contains("version negotiation"), "{}", f.reason);
    }

    #[test]
    fn the_guard_s_reason_comes_first() {
        let tripped = Tripped::default();
        assert!(guarded(&tripped).is_none());
        let _ = tripped.set("a frame of 4611686018427387903 bytes".into());
        let f = guarded(&tripped).unwrap();
        assert_eq!(f.kind, FailureKind::Protocol);
        assert!(
            f.detail
                .as_deref()
                .is_some_and(|d| d.contains("4611686018427387903"))
        );
    }
}
