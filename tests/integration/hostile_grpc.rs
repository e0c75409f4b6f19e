//! A hostile gRPC server: it answers every call before reading its request,
//! on connections whose windows never open (SETTINGS_INITIAL_WINDOW_SIZE 0,
//! no WINDOW_UPDATE ever) and whose streams it never resets, so no request
//! body is ever sent. Each call's `mode` metadata picks the answer: a
//! trailers-only OK, a status no gRPC code has, a length prefix of 4 GiB, a
//! compressed message without `grpc-encoding`, a stream that ends without
//! a status, a RST_STREAM with FLOW_CONTROL_ERROR. Against each, volley (a
//! real process) counts every call with a kind and a reason, and its memory
//! stays flat over thousands of calls: a call that ends resets what of its
//! stream is still open instead of keeping its unsent body for as long as
//! the connection lives.

use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use crate::common::reasons;
use crate::common::{self, Dir};
use crate::hostile::{name, run};

/// Each mode and the failure kind its calls must be counted as.
const MODES: [(&str, &str); 6] = [
    ("trailers-only", "grpc"),
    ("huge-status", "grpc"),
    ("huge-length", "limit"),
    ("compressed-flag", "grpc"),
    ("no-status", "grpc"),
    ("flow-control-reset", "protocol"),
];

/// Streams a connection keeps unanswered handles on, at most (so that the
/// server itself stays bounded).
const KEEP: usize = 200_000;

fn hostile_grpc() -> std::net::SocketAddr {
    crate::servers::serve_connections(|sock| async move {
        let _ = connection(sock).await;
    })
}

/// A call's `mode` metadata: how the test's server answers it.
pub(crate) fn mode<B>(req: &http::Request<B>) -> String {
    req.headers()
        .get("mode")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

fn answer(status: Option<&str>) -> http::Response<()> {
    let mut b = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc");
    if let Some(s) = status {
        b = b.header("grpc-status", s);
    }
    b.body(()).unwrap()
}

async fn connection(sock: TcpStream) -> Result<(), h2::Error> {
    let mut conn = h2::server::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(sock)
        .await?;
    // Every stream's handles are kept: dropped, h2 would reset the stream
    // (RST_STREAM NO_ERROR, as RFC 9113 §8.1 asks of a server that answers
    // early), and the client would be told to stop.
    let mut kept = Vec::new();
    while let Some(r) = conn.accept().await {
        let (req, mut respond) = r?;
        let mode = mode(&req);
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let stream = match mode.as_str() {
            "trailers-only" => {
                respond.send_response(answer(Some("0")), true)?;
                None
            }
            "huge-status" => {
                respond.send_response(answer(Some("99999999999")), true)?;
                None
            }
            "huge-length" => {
                // A prefix announcing 4 GiB - 1, then nothing.
                let mut s = respond.send_response(answer(None), false)?;
                s.send_data(Bytes::from_static(&[0, 0xff, 0xff, 0xff, 0xff]), false)?;
                Some(s)
            }
            "compressed-flag" => {
                let mut s = respond.send_response(answer(None), false)?;
                s.send_data(Bytes::from_static(&[1, 0, 0, 0, 2, b'x', b'y']), false)?;
                s.send_trailers(trailers)?;
                Some(s)
            }
            "no-status" => {
                // An empty message (a valid PredictResponse), then the end.
                let mut s = respond.send_response(answer(None), false)?;
                s.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), true)?;
                Some(s)
            }
            _ => {
                respond.send_reset(h2::Reason::FLOW_CONTROL_ERROR);
                None
            }
        };
        if kept.len() < KEEP {
            kept.push((req, respond, stream));
        }
    }
    Ok(())
}

#[test]
fn every_early_grpc_answer_on_a_window_that_never_opens_is_counted_in_flat_memory() {
    let addr = hostile_grpc();
    let dir = Dir::new();
    let proto = common::proto_dir();
    let mut text = format!(
        "[load]\nusers = 8\nduration = \"5s\"\ntimeout = \"2s\"\n\
         [grpc]\nendpoint = \"http://{addr}\"\nproto = \"{p}/predict/v1/predict.proto\"\n\
         import_paths = [\"{p}\"]\n",
        p = proto.display()
    );
    for (mode, _) in MODES {
        text.push_str(&format!(
            "[[request]]\nname = \"{mode}\"\ngrpc = \"predict.v1.Predictor/Predict\"\n\
             message = {{ text = \"the window never opens\" }}\nmetadata = {{ mode = \"{mode}\" }}\n"
        ));
    }
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    // Not one call succeeded: the run fails (exit 1), and says so.
    assert_eq!(code, Some(1), "{}", p.stderr());
    let mut total = 0;
    for (mode, kind) in MODES {
        let n = name(&r, mode);
        let requests = n["requests"].as_u64().unwrap();
        total += requests;
        assert!(requests >= 200, "{mode}: {n}");
        assert_eq!(n["failures"], n["requests"], "{mode}: {n}");
        let rs = reasons(&r, mode);
        assert!(
            rs.iter().all(|(k, _)| k == kind),
            "{mode}: expected every failure as {kind}: {rs:?}"
        );
    }
    // Before each call reset its stream, volley sent 1,750 calls/s here
    // (every stream stuck open slowed the connection) and grew to 88 MiB
    // in 5 s; now it sends tens of thousands a second in ~20 MiB.
    assert!(total >= 20_000, "only {total} calls: {r}");
    assert_eq!(
        reasons(&r, "flow-control-reset"),
        [(
            "protocol".to_owned(),
            "stream reset by the server (FLOW_CONTROL_ERROR)".to_owned()
        )]
    );
    assert_eq!(
        reasons(&r, "huge-length")[0].1,
        "message larger than [grpc] max_message_size"
    );
    assert!(p.peak_rss_mib() < 60, "peak RSS {} MiB", p.peak_rss_mib());
}
