//! The REST flavour, served over HTTP/1.1 and HTTP/2 (h2c by prior
//! knowledge, or TLS with ALPN) on one port, with JSON errors:
//!
//! - `POST /predict` with `{"text": "..."}` answers `{"category":N,"label":"..."}`;
//! - `POST /predict/stream` with `{"texts": ["...", ...]}` answers Server-Sent
//!   Events, one per text in order ([`sse`]);
//! - `GET /predict/ws` upgrades to a WebSocket (HTTP/1.1 only) that answers
//!   each text message `{"text": "..."}` with one text message ([`ws`]);
//! - `GET /healthz`, `GET /readyz`.
//!
//! All three answer a text with the same bytes: `answer` is their one path
//! from a text to its JSON, and refuses texts through
//! [`SharedModel::classify`], as gRPC does.

pub mod sse;
pub mod ws;

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::shared::Refusal;
use crate::{MAX_TEXT_BYTES, SharedModel};

/// How long a client may take to send its request head or body, or to finish
/// a TLS handshake, before the connection is dropped.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct PredictBody<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

#[derive(Serialize)]
struct PredictAnswer<'a> {
    category: usize,
    label: &'a str,
}

/// What the handlers share: the model, and the WebSocket sessions open on it.
#[derive(Clone)]
struct AppState {
    model: SharedModel,
    sessions: Arc<ws::Sessions>,
}

/// The routes, over a model that may still be loading. WebSocket sessions
/// opened through this router are never told that a server stops; [`serve`]
/// closes its own.
pub fn router(model: SharedModel) -> Router {
    routes(AppState {
        model,
        sessions: Arc::default(),
    })
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/predict", post(predict))
        .route("/predict/stream", post(sse::predict_stream))
        .route("/predict/ws", get(ws::predict_ws))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The JSON error body every route answers with: `{"error":"..."}`.
fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, axum::Json(body)).into_response()
}

/// The status a refused text gets over HTTP.
fn refusal_status(r: Refusal) -> StatusCode {
    match r {
        Refusal::Loading => StatusCode::SERVICE_UNAVAILABLE,
        Refusal::Empty | Refusal::TooLong(_) => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// What `/predict`, each `/predict/stream` event and each `/predict/ws`
/// message answer for one text: `{"category":N,"label":"..."}`, or the
/// status and message of its refusal. The one path from a text to its bytes,
/// so that the endpoints cannot drift apart.
fn answer(model: &SharedModel, text: &str) -> Result<Vec<u8>, (StatusCode, String)> {
    let p = model
        .classify(text)
        .map_err(|r| (refusal_status(r), r.to_string()))?;
    serde_json::to_vec(&PredictAnswer {
        category: p.category,
        label: p.label,
    })
    // Cannot happen for a number and a string; a 500 rather than a panic.
    .map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the answer: {e}"),
        )
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads a JSON request body of at most `limit` bytes, or answers why not:
/// 400 for another content type, 413 over the limit (declared or read), 408
/// when it does not arrive within [`CLIENT_TIMEOUT`].
async fn read_json_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Response> {
    if !is_json(headers) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "content type must be application/json",
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is over {limit} bytes"),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(CLIENT_TIMEOUT, Limited::new(body, limit).collect()).await;
    match collected {
        Err(_) => Err(error(
            StatusCode::REQUEST_TIMEOUT,
            "request body did not arrive in time",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("reading request body: {e}"),
        )),
        Ok(Ok(c)) => Ok(c.to_bytes()),
    }
}

/// Parses a JSON object into `T`: 400 for a syntax error, 422 for
/// well-formed JSON of the wrong shape (`shape` says what is expected when
/// it is not an object at all).
fn parse_object<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    shape: &str,
) -> Result<T, (StatusCode, String)> {
    // serde would also accept a struct written as an array: only objects do.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => Err((StatusCode::UNPROCESSABLE_ENTITY, shape.to_owned())),
            Err(e) => Err((StatusCode::BAD_REQUEST, format!("malformed JSON: {e}"))),
        };
    }
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        // Well-formed JSON of the wrong shape (a field missing or of another
        // type, too many texts).
        serde_json::error::Category::Data => (StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
        _ => (StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
    })
}

/// Parses `{"text": "..."}`, the body of `/predict` and each message of
/// `/predict/ws`.
fn parse_predict(bytes: &[u8]) -> Result<PredictBody<'_>, (StatusCode, String)> {
    parse_object(bytes, "body must be a JSON object with a \"text\" string")
}

fn json_response(body: Vec<u8>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        Bytes::from(body),
    )
        .into_response()
}

async fn predict(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if state.model.get().is_none() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading",
        );
    }
    let bytes = match read_json_body(&headers, body, MAX_TEXT_BYTES).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let answered = parse_predict(&bytes).and_then(|req| answer(&state.model, &req.text));
    match answered {
        Ok(json) => json_response(json),
        Err((status, message)) => error(status, message),
    }
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.model.get().is_some() {
        axum::Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading",
        )
    }
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no route for {}", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} is not allowed on {}", uri.path()),
    )
}

/// Serves the API on `listener` (TLS when `tls` is given) until `shutdown`
/// completes; then stops accepting, waits for the requests in flight to
/// finish, and closes the WebSocket sessions (1001, going away) and waits for
/// them to end. Callers bound that wait with a timeout.
pub async fn serve(
    listener: TcpListener,
    model: SharedModel,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let sessions = Arc::new(ws::Sessions::default());
    let service = TowerToHyperService::new(routes(AppState {
        model,
        sessions: sessions.clone(),
    }));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(CLIENT_TIMEOUT);
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let builder = builder.clone();
        let service = service.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    let tls_stream =
                        match tokio::time::timeout(CLIENT_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(tls_stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // An upgraded connection leaves hyper (and `graceful`) once its 101 is
    // written: its session is tracked by `sessions` instead.
    sessions.stop();
    graceful.shutdown().await;
    sessions.all_closed().await;
}
