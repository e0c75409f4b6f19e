//! `GET /predict/ws`: a WebSocket (RFC 6455, over HTTP/1.1) that classifies
//! one text per message.
//!
//! Each text message `{"text": "..."}` is answered, in order, by one text
//! message: byte for byte what `/predict` answers for that text
//! (`{"category":3,"label":"sports"}`), or `{"error":"..."}` with
//! `/predict`'s message for a message that is not such an object or whose
//! text is refused; the session goes on either way. A binary message is
//! answered with a close, code 1003 (unsupported data). Messages and frames
//! are at most [`MAX_WS_MESSAGE_BYTES`]: a longer one, even only announced
//! in a frame header, closes with 1009 before anything of that size is
//! allocated. Pings are answered with pongs, a close with a close. A session
//! idle for [`WS_IDLE_TIMEOUT`] is closed (1000), and a stopping server
//! closes its sessions (1001).
//!
//! Before the upgrade, the request gets the same JSON errors as every other
//! route: 503 while the model loads, 400 for a request that is not a
//! WebSocket handshake, and 400 over HTTP/2 (its extended CONNECT is not
//! offered).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{StatusCode, Version};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, watch};
use tokio_tungstenite::tungstenite;

use super::{AppState, answer, error, error_json, parse_predict};
use crate::{MAX_TEXT_BYTES, SharedModel};

/// The largest message (and frame) a session reads: `/predict`'s body limit.
pub const MAX_WS_MESSAGE_BYTES: usize = MAX_TEXT_BYTES;

/// How long a session may stay without a message before it is closed.
pub const WS_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Why an HTTP/2 request to `/predict/ws` is a 400.
pub const HTTP2_REFUSED: &str =
    "WebSocket needs HTTP/1.1 here: HTTP/2's extended CONNECT is not offered";

/// How long a session waits for the client's close after sending its own.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// The sessions open on one server: a hyper connection leaves the server's
/// graceful shutdown once upgraded, so sessions are counted here instead,
/// and told here when the server stops.
pub(super) struct Sessions {
    open: AtomicUsize,
    closed: Notify,
    stopping: watch::Sender<bool>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            open: AtomicUsize::new(0),
            closed: Notify::new(),
            stopping: watch::Sender::new(false),
        }
    }
}

impl Sessions {
    fn open(self: &Arc<Self>) -> Open {
        self.open.fetch_add(1, Ordering::SeqCst);
        Open(self.clone())
    }

    /// Tells every session, open or yet to open, to close.
    pub(super) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Waits until no session is open (or about to open: an upgrade answered
    /// but not yet taken over counts).
    pub(super) async fn all_closed(&self) {
        // Each turn follows a session's end; there are finitely many.
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            if self.open.load(Ordering::SeqCst) == 0 {
                return;
            }
            closed.await;
        }
    }
}

/// One session counted open until dropped.
struct Open(Arc<Sessions>);

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.closed.notify_waiters();
        }
    }
}

pub(super) async fn predict_ws(
    State(state): State<AppState>,
    version: Version,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if state.model.get().is_none() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading",
        );
    }
    // Over HTTP/2 axum would ask for CONNECT, which this route does not take.
    if version >= Version::HTTP_2 {
        return error(StatusCode::BAD_REQUEST, HTTP2_REFUSED);
    }
    let upgrade = match upgrade {
        Ok(u) => u,
        // axum's own rejections are plain text: the API answers JSON.
        Err(rejection) => return error(rejection.status(), rejection.body_text()),
    };
    // Counted from here, so that a stop cannot miss a session whose 101 is
    // on its way.
    let open = state.sessions.open();
    let model = state.model;
    upgrade
        .max_message_size(MAX_WS_MESSAGE_BYTES)
        .max_frame_size(MAX_WS_MESSAGE_BYTES)
        .on_upgrade(move |socket| session(socket, model, open))
        .into_response()
}

/// How a session ends from its side.
struct Ending {
    code: u16,
    reason: String,
    /// Whether reading on is safe to wait for the client's close: not after
    /// a read error, which may have left a huge frame half read.
    await_reply: bool,
}

async fn session(mut socket: WebSocket, model: SharedModel, open: Open) {
    let mut stopping = open.0.stopping.subscribe();
    // One message per turn; ends with the connection, an error or a close.
    let ending = loop {
        let received = tokio::select! {
            r = tokio::time::timeout(WS_IDLE_TIMEOUT, socket.recv()) => r,
            _ = stopping.wait_for(|s| *s) => break Ending {
                code: close_code::AWAY,
                reason: "the server is stopping".into(),
                await_reply: true,
            },
        };
        let message = match received {
            Err(_) => {
                break Ending {
                    code: close_code::NORMAL,
                    reason: format!("idle for {} s", WS_IDLE_TIMEOUT.as_secs()),
                    await_reply: true,
                };
            }
            // The client closed (tungstenite has answered its close) or the
            // connection is gone.
            Ok(None) => return,
            Ok(Some(Err(e))) => break read_error(&e),
            Ok(Some(Ok(m))) => m,
        };
        let reply = match message {
            Message::Text(text) => {
                let answered =
                    parse_predict(text.as_bytes()).and_then(|req| answer(&model, &req.text));
                match answered {
                    Ok(json) => json,
                    Err((_, message)) => error_json(&message).into_bytes(),
                }
            }
            Message::Binary(_) => {
                break Ending {
                    code: close_code::UNSUPPORTED,
                    reason: "binary messages are not supported: send {\"text\": ...} as text"
                        .into(),
                    await_reply: true,
                };
            }
            // tungstenite has queued the pong, or the answer to a close; the
            // next read writes it out.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => continue,
        };
        // Serializing writes only valid UTF-8, so this conversion cannot fail.
        let Ok(reply) = String::from_utf8(reply) else {
            return;
        };
        if socket.send(Message::Text(reply.into())).await.is_err() {
            return;
        }
    };
    close(socket, ending).await;
}

/// The close that answers a read error: 1009 for a message or frame over the
/// limit, 1007 for a text that is not UTF-8, 1002 for other protocol errors.
fn read_error(e: &axum::Error) -> Ending {
    let inner = std::error::Error::source(e).and_then(|s| s.downcast_ref::<tungstenite::Error>());
    let (code, reason) = match inner {
        Some(tungstenite::Error::Capacity(_)) => (
            close_code::SIZE,
            format!("message over {MAX_WS_MESSAGE_BYTES} bytes"),
        ),
        Some(tungstenite::Error::Utf8(_)) => (close_code::INVALID, "text is not UTF-8".into()),
        _ => (close_code::PROTOCOL, "protocol error".into()),
    };
    tracing::debug!(error = %e, code, "WebSocket read failed");
    Ending {
        code,
        reason,
        await_reply: false,
    }
}

/// Sends a close and, where reading on is safe, waits a bounded time for the
/// client's, dropping whatever else arrives.
async fn close(mut socket: WebSocket, ending: Ending) {
    let frame = CloseFrame {
        code: ending.code,
        reason: ending.reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() || !ending.await_reply {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        // Frames are bounded by max_frame_size; ends at the client's close.
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}
