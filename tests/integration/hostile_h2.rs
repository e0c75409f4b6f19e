//! A hostile HTTP/2 server: it answers every request (200, the stream
//! ended) before reading its body, on connections whose windows never open
//! (SETTINGS_INITIAL_WINDOW_SIZE 0, no WINDOW_UPDATE ever), and never resets
//! the stream, so no byte of any request body can be sent. What gRPC calls
//! met before they reset their streams (tests/integration/hostile_grpc.rs),
//! plain HTTP/2 requests with bodies meet here: each request is counted, and
//! volley's memory stays flat over thousands of them, on a connection per
//! user and on shared connections.

use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;

use crate::common::Dir;
use crate::hostile::{name, run};
use crate::procs;

/// Streams a connection keeps handles on, at most (so that the server
/// itself stays bounded).
const KEEP: usize = 200_000;

fn early_answers() -> std::net::SocketAddr {
    procs::serve_connections(|sock| async move {
        let _ = connection(sock).await;
    })
}

async fn connection(sock: TcpStream) -> Result<(), h2::Error> {
    let mut conn = h2::server::Builder::new()
        .initial_window_size(0)
        .max_concurrent_streams(1000)
        .handshake::<_, Bytes>(sock)
        .await?;
    // Every stream's handles are kept: dropped, h2 would reset the stream
    // (RST_STREAM NO_ERROR, as RFC 9113 §8.1 asks of a server that answers
    // early) and the client would be told to stop sending.
    let mut kept = Vec::new();
    while let Some(r) = conn.accept().await {
        let (req, mut respond) = r?;
        let answer = http::Response::builder().status(200).body(()).unwrap();
        respond.send_response(answer, true)?;
        if kept.len() < KEEP {
            kept.push((req, respond));
        }
    }
    Ok(())
}

#[test]
fn early_answers_to_bodies_that_cannot_be_sent_are_counted_in_flat_memory() {
    let addr = early_answers();
    // 16 KiB a body: none of it fits a window of 0.
    let body = "x".repeat(16 * 1024);
    for (shared, users) in [("", 8), ("connections = 2\n", 8)] {
        let dir = Dir::new();
        let text = format!(
            "[load]\nusers = {users}\nduration = \"5s\"\ntimeout = \"2s\"\n\
             [http]\nbase_url = \"http://{addr}\"\nversion = \"h2c\"\n{shared}\
             [[request]]\nname = \"post\"\nmethod = \"POST\"\npath = \"/\"\nbody = \"{body}\"\n"
        );
        let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
        assert_eq!(code, Some(0), "{shared:?}: {}", p.stderr());
        let n = name(&r, "post");
        // Answered, so each counts as a success; none waits for a window.
        assert_eq!(n["failures"], 0, "{shared:?}: {n}");
        // On hyper's client each request's unsent body and its stream stayed
        // for as long as the connection lived: 24,038 requests in 5 s grew
        // volley to 106 MiB, and streams stuck open made some time out. Now
        // a request that is answered resets its stream: ~400,000 requests
        // in 16 MiB.
        let requests = n["requests"].as_u64().unwrap();
        assert!(
            requests >= 20_000,
            "{shared:?}: only {requests} requests: {n}"
        );
        assert!(
            p.peak_rss_mib() < 40,
            "{shared:?}: peak RSS {} MiB over {requests} requests",
            p.peak_rss_mib()
        );
    }
}
