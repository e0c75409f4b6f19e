//! gRPC calls past their deadline, with the race forced: a server whose
//! answer's headers, message or trailers come after the call's timeout, one
//! that resets the stream (CANCEL) or sends DEADLINE_EXCEEDED when the
//! deadline it was told (`grpc-timeout`) runs out, as grpc-go's does. Each
//! call is counted as kind `timeout` with one reason (or, when the server's
//! status came first, `grpc` DEADLINE_EXCEEDED, as ghz counts it), only its
//! stream is reset, each user's connection carries every call from the
//! start of the run to its end, and a call cut by its timeout counts the
//! bytes that had arrived.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use crate::common::reasons;
use crate::common::{self, Dir};
use crate::hostile::{name, run};

/// How the server answers a call, by its `mode` metadata.
const MODES: [&str; 5] = [
    "late-headers",
    "late-message",
    "late-trailers",
    "cancel-at-deadline",
    "status-at-deadline",
];

/// Well past the calls' 200 ms timeout.
const LATE: Duration = Duration::from_millis(600);

fn answer() -> http::Response<()> {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap()
}

/// The deadline a call's `grpc-timeout` gives (`200m`, `199999u`…).
fn deadline(req: &http::Request<h2::RecvStream>) -> Duration {
    let v = req
        .headers()
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("1S");
    let (n, unit) = v.split_at(v.len() - 1);
    let n: u64 = n.parse().unwrap_or(1);
    match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        _ => Duration::from_nanos(n),
    }
}

async fn call(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> Result<(), h2::Error> {
    let mode = crate::hostile_grpc::mode(&req);
    let by = deadline(&req);
    // A PredictResponse of category 3: a valid message.
    let message = Bytes::from_static(&[0, 0, 0, 0, 2, 8, 3]);
    let mut ok = http::HeaderMap::new();
    ok.insert("grpc-status", http::HeaderValue::from_static("0"));
    match mode.as_str() {
        "late-headers" => {
            tokio::time::sleep(LATE).await;
            let mut s = respond.send_response(answer(), false)?;
            s.send_data(message, false)?;
            s.send_trailers(ok)?;
        }
        "late-message" => {
            let mut s = respond.send_response(answer(), false)?;
            s.send_data(message.slice(..3), false)?;
            tokio::time::sleep(LATE).await;
            s.send_data(message.slice(3..), false)?;
            s.send_trailers(ok)?;
        }
        "late-trailers" => {
            let mut s = respond.send_response(answer(), false)?;
            s.send_data(message, false)?;
            tokio::time::sleep(LATE).await;
            s.send_trailers(ok)?;
        }
        "cancel-at-deadline" => {
            tokio::time::sleep(by).await;
            respond.send_reset(h2::Reason::CANCEL);
        }
        _ => {
            tokio::time::sleep(by).await;
            let mut t = http::HeaderMap::new();
            t.insert("grpc-status", http::HeaderValue::from_static("4"));
            t.insert(
                "grpc-message",
                http::HeaderValue::from_static("context deadline exceeded"),
            );
            let mut s = respond.send_response(answer(), false)?;
            s.send_trailers(t)?;
        }
    }
    Ok(())
}

/// The server, and how many connections it has accepted.
fn late_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let addr = crate::servers::serve_connections(move |sock: TcpStream| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            let Ok(mut conn) = h2::server::handshake(sock).await else {
                return;
            };
            while let Some(Ok((req, respond))) = conn.accept().await {
                tokio::spawn(async move {
                    let _ = call(req, respond).await;
                });
            }
        }
    });
    (addr, accepted)
}

#[test]
fn a_call_past_its_deadline_is_a_timeout_and_its_connection_goes_on() {
    let (addr, accepted) = late_server();
    let dir = Dir::new();
    let proto = common::proto_dir();
    let users = 3;
    let mut text = format!(
        "[load]\nusers = {users}\nrequests = 60\ntimeout = \"200ms\"\n\
         [grpc]\nendpoint = \"http://{addr}\"\nproto = \"{p}/predict/v1/predict.proto\"\n\
         import_paths = [\"{p}\"]\n",
        p = proto.display()
    );
    for mode in MODES {
        text.push_str(&format!(
            "[[request]]\nname = \"{mode}\"\ngrpc = \"predict.v1.Predictor/Predict\"\n\
             message = {{ text = \"late\" }}\nmetadata = {{ mode = \"{mode}\" }}\n"
        ));
    }
    // A bidirectional stream whose answer stops mid-message.
    text.push_str(
        "[[request]]\nname = \"stream\"\ngrpc = \"predict.v1.Predictor/PredictStream\"\n\
         message = { text = \"late\" }\nmetadata = { mode = \"late-message\" }\n\
         [request.stream]\nmessages = 1\n",
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(1), "every call failed: {}", p.stderr());
    assert_eq!(r["totals"]["requests"], 60, "{r}");
    for mode in MODES.into_iter().chain(["stream"]) {
        let n = name(&r, mode);
        assert_eq!(n["failures"], n["requests"], "{mode}: {n}");
        let rs = reasons(&r, mode);
        let timeout = ("timeout".to_owned(), "no answer within 200ms".to_owned());
        let status = ("grpc".to_owned(), "gRPC DEADLINE_EXCEEDED".to_owned());
        assert!(
            rs.iter()
                .all(|r| *r == timeout || (mode == "status-at-deadline" && *r == status)),
            "{mode}: {rs:?}"
        );
    }
    // Bytes as they crossed: every call's request went out; a call cut in
    // its message counts the head and what of the message had arrived, one
    // cut before any answer counts nothing received.
    for mode in MODES.into_iter().chain(["stream"]) {
        assert!(name(&r, mode)["bytes_sent"].as_u64().unwrap() > 0, "{mode}");
    }
    let per_call = |mode: &str| {
        let n = name(&r, mode);
        n["bytes_received"].as_u64().unwrap() / n["requests"].as_u64().unwrap().max(1)
    };
    assert_eq!(per_call("late-headers"), 0, "{r}");
    // "HTTP/1.1 200 OK" (17), "content-type: application/grpc" (32) and 3
    // bytes of the message.
    assert_eq!(per_call("late-message"), 17 + 32 + 3, "{r}");
    assert_eq!(per_call("stream"), 17 + 32 + 3, "{r}");
    // No call's end dropped its connection: one per user, all run long.
    assert_eq!(accepted.load(Ordering::SeqCst), users, "{r}");
}
