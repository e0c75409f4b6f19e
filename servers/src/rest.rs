//! The REST flavour: `POST /predict`, `GET /healthz`, `GET /readyz`, with JSON
//! errors, served over HTTP/1.1 and HTTP/2 (h2c by prior knowledge, or TLS
//! with ALPN) on one port.

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
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

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

/// The routes, over a model that may still be loading.
pub fn router(model: SharedModel) -> Router {
    Router::new()
        .route("/predict", post(predict))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(model)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, axum::Json(body)).into_response()
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

async fn predict(State(model): State<SharedModel>, headers: HeaderMap, body: Body) -> Response {
    let Some(model) = model.get() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the model is still loading",
        );
    };
    if !is_json(&headers) {
        return error(
            StatusCode::BAD_REQUEST,
            "content type must be application/json",
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body is over {MAX_TEXT_BYTES} bytes"),
        )
    };
    if declared.is_some_and(|n| n > MAX_TEXT_BYTES as u64) {
        return too_large();
    }
    let collected =
        tokio::time::timeout(CLIENT_TIMEOUT, Limited::new(body, MAX_TEXT_BYTES).collect()).await;
    let bytes = match collected {
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "request body did not arrive in time",
            );
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("reading request body: {e}"),
            );
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    // serde would also accept a struct written as an array: only objects do.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            Ok(_) => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "body must be a JSON object with a \"text\" string",
            ),
            Err(e) => error(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
        };
    }
    let req: PredictBody = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        // Well-formed JSON of the wrong shape (no text, text not a string).
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")),
    };
    if req.text.is_empty() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "text must not be empty");
    }
    let p = model.predict(&req.text);
    axum::Json(PredictAnswer {
        category: p.category,
        label: p.label,
    })
    .into_response()
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn readyz(State(model): State<SharedModel>) -> Response {
    if model.get().is_some() {
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
/// completes; then stops accepting and waits for the connections in flight to
/// finish. Callers bound that wait with a timeout.
pub async fn serve(
    listener: TcpListener,
    model: SharedModel,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let service = TowerToHyperService::new(router(model));
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
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
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
                    let conn = builder.serve_connection(TokioIo::new(tls_stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
