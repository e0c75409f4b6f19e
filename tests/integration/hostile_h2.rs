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

/// Streams a connection keeps handles on, at most (so that the server
/// itself stays bounded).
const KEEP: usize = 200_000;

fn early_answers() -> std::net::SocketAddr {
    crate::servers::serve_connections(|sock| async move {
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

/// What an HTTP/2 server saw of volley's requests: ones with a
/// `content-length`, and ones with a header HTTP/2 forbids.
#[derive(Default)]
struct Seen {
    requests: std::sync::atomic::AtomicU64,
    with_length: std::sync::atomic::AtomicU64,
    forbidden: std::sync::atomic::AtomicU64,
    kept: std::sync::atomic::AtomicU64,
}

/// Headers a scenario may give that HTTP/1.1 allows and HTTP/2 forbids
/// (RFC 9113 §8.2.2) are left out on HTTP/2, as hyper's client and curl
/// leave them out, rather than fail every request (h2 refuses to send
/// them); a body's `content-length` is sent, as it was over hyper.
#[test]
fn http2_requests_leave_out_connection_headers_and_carry_their_length() {
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;
    let seen = Arc::new(Seen::default());
    let counts = seen.clone();
    let addr = crate::servers::serve_connections(move |sock| {
        let seen = seen.clone();
        async move {
            let Ok(mut conn) = h2::server::handshake(sock).await else {
                return;
            };
            while let Some(Ok((req, mut respond))) = conn.accept().await {
                seen.requests.fetch_add(1, Relaxed);
                let h = req.headers();
                if h.contains_key("x-kept") {
                    seen.kept.fetch_add(1, Relaxed);
                }
                if h.contains_key("content-length") {
                    seen.with_length.fetch_add(1, Relaxed);
                }
                let forbidden = ["connection", "keep-alive", "upgrade", "x-gone"];
                if forbidden.iter().any(|n| h.contains_key(*n))
                    || h.get("te").is_some_and(|v| v != "trailers")
                {
                    seen.forbidden.fetch_add(1, Relaxed);
                }
                let answer = http::Response::builder().status(200).body(()).unwrap();
                let _ = respond.send_response(answer, true);
            }
        }
    });
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 2\nrequests = 200\n\
         [http]\nbase_url = \"http://{addr}\"\nversion = \"h2c\"\n\
         headers = {{ connection = \"keep-alive, x-gone\", keep-alive = \"timeout=5\", upgrade = \"websocket\", te = \"gzip\", x-gone = \"1\", x-kept = \"1\" }}\n\
         [[request]]\nname = \"post\"\nmethod = \"POST\"\npath = \"/\"\nbody = \"hello\"\n"
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "post");
    assert_eq!(
        (n["requests"].as_u64(), n["failures"].as_u64()),
        (Some(200), Some(0)),
        "{n}"
    );
    assert_eq!(counts.requests.load(Relaxed), 200);
    assert_eq!(
        counts.with_length.load(Relaxed),
        200,
        "content-length on every POST"
    );
    assert_eq!(
        counts.forbidden.load(Relaxed),
        0,
        "no connection-specific header"
    );
    assert_eq!(
        counts.kept.load(Relaxed),
        200,
        "the scenario's other headers"
    );
}

/// A server that reads the whole body of the second request on each
/// connection and then drops the connection unanswered: the request was
/// received, so a POST is not sent again (it fails, as `reset`), and the
/// server sees each request's body once. (The first HTTP/2 client on h2
/// sent such a request again as if the connection had been stale.)
#[test]
fn a_post_the_server_received_before_its_connection_died_is_not_sent_again() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let bodies = Arc::new(AtomicU64::new(0));
    let seen = bodies.clone();
    let addr = crate::servers::serve_connections(move |sock| {
        let bodies = bodies.clone();
        async move {
            let Ok(mut conn) = h2::server::handshake(sock).await else {
                return;
            };
            // The connection is driven by a task of its own (a body is read
            // only while it is); aborted, it drops the socket.
            let (tx, mut streams) = tokio::sync::mpsc::unbounded_channel();
            let driver = tokio::spawn(async move {
                while let Some(Ok(stream)) = conn.accept().await {
                    if tx.send(stream).is_err() {
                        break;
                    }
                }
            });
            for n in 0..2 {
                let Some((req, mut respond)) = streams.recv().await else {
                    break;
                };
                let mut body = req.into_body();
                while let Some(Ok(data)) = body.data().await {
                    let _ = body.flow_control().release_capacity(data.len());
                }
                bodies.fetch_add(1, Relaxed);
                if n == 1 {
                    // Received, never answered: the connection goes.
                    break;
                }
                let answer = http::Response::builder().status(200).body(()).unwrap();
                let _ = respond.send_response(answer, true);
            }
            driver.abort();
        }
    });
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 1\nrequests = 100\ntimeout = \"5s\"\n\
         [http]\nbase_url = \"http://{addr}\"\nversion = \"h2c\"\n\
         [[request]]\nname = \"post\"\nmethod = \"POST\"\npath = \"/\"\nbody = \"hello\"\n"
    );
    let (p, _code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    let n = name(&r, "post");
    assert_eq!(n["requests"], 100, "{}", p.stderr());
    assert_eq!(r["retries"], 0, "{r}");
    // Every other request died with its connection, and counts as failed.
    let failures = n["failures"].as_u64().unwrap();
    assert!((40..=60).contains(&failures), "{n}");
    assert_eq!(
        seen.load(Relaxed),
        100,
        "each POST's body reached the server once"
    );
}

/// An HTTP/2 answer cut by the request's timeout after its head and 250
/// bytes of its body counts those bytes received (it counted none), its
/// head as HTTP/1.1 text, as every HTTP/2 answer is counted.
#[test]
fn an_answer_cut_by_the_timeout_counts_what_had_arrived() {
    let addr = crate::servers::serve_connections(|sock| async move {
        let Ok(mut conn) = h2::server::handshake(sock).await else {
            return;
        };
        while let Some(Ok((req, mut respond))) = conn.accept().await {
            tokio::spawn(async move {
                let answer = http::Response::builder().status(200).body(()).unwrap();
                let Ok(mut s) = respond.send_response(answer, false) else {
                    return;
                };
                let _ = s.send_data(Bytes::from(vec![b'x'; 250]), false);
                // Then nothing more, well past the timeout.
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop(req);
            });
        }
    });
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 2\nrequests = 6\ntimeout = \"200ms\"\n\
         [http]\nbase_url = \"http://{addr}\"\nversion = \"h2c\"\n\
         [[request]]\nname = \"cut\"\npath = \"/\"\n"
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{}", p.stderr());
    let n = name(&r, "cut");
    assert_eq!(n["failures"], n["requests"], "{n}");
    let per = n["bytes_received"].as_u64().unwrap() / n["requests"].as_u64().unwrap().max(1);
    // "HTTP/1.1 200 OK" counted as 17, no header, and the 250 bytes.
    assert_eq!(per, 17 + 250, "{n}");
}
