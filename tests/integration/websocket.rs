//! WebSocket calls (`url = "ws://..."`) against servers written here on
//! tokio-tungstenite's server side: an echo in ping-pong and pipelined,
//! every message and answer counted and checked, over plain TCP and TLS
//! (`wss://`, HTTP/1.1 by ALPN beside an event stream over h2); and the
//! servers that misbehave, each a failure with its kind and reason: a
//! refused upgrade (`status`), a close with 1011 (`close`), a close never
//! answered (`close`), a connection dropped without one (`close`, 1006),
//! frames announcing 2^62 and 2^63 bytes (`limit`, nothing
//! allocated), a flood of pings (answered; the call passes), all in
//! bounded memory; and two workers merging the rows of WebSocket and
//! event-stream calls exactly.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::common::reasons;
use crate::common::{self, Dir, ExpectExit, Volley, read_json};
use crate::hostile::{name, run};
use crate::servers::serve_on_own_thread;

/// One connection of the test server: what its path asks for.
// tungstenite's callback type is its own: its error is an HTTP response.
#[allow(clippy::result_large_err)]
async fn serve_one(tcp: tokio::net::TcpStream) {
    let mut path = String::new();
    let accepted = tokio_tungstenite::accept_hdr_async(tcp, |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        let bearer = req
            .headers()
            .get("authorization")
            .is_some_and(|v| v == "Bearer t0k");
        if path == "/refuse" || (path == "/auth-echo" && !bearer) {
            let mut e = ErrorResponse::new(Some("no upgrade for you".into()));
            *e.status_mut() = http::StatusCode::FORBIDDEN;
            return Err(e);
        }
        Ok(resp)
    })
    .await;
    let Ok(mut ws) = accepted else {
        return;
    };
    match path.as_str() {
        "/huge-frame" | "/frame-2-63" => {
            // A binary frame announcing 2^62 (or 2^63: RFC 6455 says its
            // top bit must be 0) bytes, then a few of them.
            let mut frame = vec![0x82u8, 0x7f];
            let len = if path == "/huge-frame" {
                1u64 << 62
            } else {
                1u64 << 63
            };
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&[0u8; 1024]);
            let _ = ws.get_mut().write_all(&frame).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        "/ping-flood" => {
            // Ten thousand pings before each answer.
            while let Some(Ok(m)) = ws.next().await {
                match m {
                    Message::Text(t) => {
                        for _ in 0..10_000 {
                            if ws.feed(Message::Ping(vec![7u8; 100].into())).await.is_err() {
                                return;
                            }
                        }
                        if ws.send(Message::Text(t)).await.is_err() {
                            return;
                        }
                    }
                    Message::Close(_) => {
                        let _ = ws.flush().await;
                        return;
                    }
                    _ => {}
                }
            }
        }
        _ => {
            let mut seen = 0u64;
            while let Some(Ok(m)) = ws.next().await {
                match m {
                    Message::Text(_) | Message::Binary(_) => {
                        seen += 1;
                        if path == "/drop" && seen == 2 {
                            // Gone, with no close frame.
                            return;
                        }
                        if path == "/close-1011" && seen == 2 {
                            let frame = CloseFrame {
                                code: CloseCode::Error,
                                reason: "model crashed".into(),
                            };
                            let _ = ws.close(Some(frame)).await;
                            return;
                        }
                        if ws.send(m).await.is_err() {
                            return;
                        }
                    }
                    Message::Close(_) if path == "/no-close" => {
                        // The close is never answered; the connection stays.
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        return;
                    }
                    Message::Close(_) => {
                        // tungstenite queued the close's answer: sent here.
                        let _ = ws.flush().await;
                        return;
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The test server; stopped when the sender is dropped.
fn server() -> (SocketAddr, oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = oneshot::channel::<()>();
    serve_on_own_thread(listener, move |listener| async move {
        loop {
            tokio::select! {
                _ = &mut rx => return,
                a = listener.accept() => {
                    if let Ok((tcp, _)) = a {
                        tokio::spawn(serve_one(tcp));
                    }
                }
            }
        }
    });
    (addr, tx)
}

/// A streaming call's row (`sent:`, `first:`, `msg:NAME`).
fn row<'a>(r: &'a serde_json::Value, n: &str) -> &'a serde_json::Value {
    common::row(r, "streams", n)
}

/// Ping-pong and pipelined echoes: every message sent is answered, each
/// answer checked, the rows counted; a threshold on the answers passes.
#[tokio::test(flavor = "multi_thread")]
async fn every_message_and_answer_is_counted_in_ping_pong_and_pipelined() {
    let (addr, _stop) = server();
    let dir = Dir::new();
    let text = format!(
        "thresholds = [\"msg:pong:requests>=40\"]\n[load]\nusers = 2\nrequests = 10\n\
         [[request]]\nname = \"pong\"\nurl = \"ws://{addr}/echo\"\n\
         message = [\"hello {{{{ int(1, 9) }}}}\", {{ text = \"a \\\"quoted\\\" {{{{ int(1, 3) }}}}\" }}]\n\
         [request.stream]\nmessages = 8\nping_pong = true\n\
         [request.check]\nbody_contains = \"\\\"\"\n\
         [[request]]\nname = \"pipe\"\nurl = \"ws://{addr}/echo\"\nmessage = \"x\"\n\
         [request.stream]\nmessages = 20\nbinary = true\n"
    );
    let file = dir.write("s.toml", &text);
    let json = dir.path("r.json");
    let out = Volley::run(&file).json(&json).output_async().await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // The first message has no quote: body_contains fails it, which ends
    // pong's calls at their first answer.
    out.expect_exit(1);
    assert!(stdout.contains("FAIL msg:pong:requests>=40"), "{stdout}");
    let r = read_json(&json);
    let pong = name(&r, "pong");
    let pipe = name(&r, "pipe");
    let (calls_pong, calls_pipe) = (
        pong["requests"].as_u64().unwrap(),
        pipe["requests"].as_u64().unwrap(),
    );
    assert_eq!(calls_pong + calls_pipe, 10, "{r}");
    assert_eq!(pong["failures"].as_u64(), Some(calls_pong), "{r}");
    assert_eq!(
        reasons(&r, "pong"),
        [(
            "check".to_owned(),
            "body does not contain \"\\\"\"".to_owned()
        )]
    );
    assert_eq!(row(&r, "msg:pong")["requests"].as_u64(), Some(calls_pong));
    assert_eq!(pipe["failures"], 0, "{r}");
    assert_eq!(
        row(&r, "sent:pipe")["requests"].as_u64(),
        Some(20 * calls_pipe)
    );
    assert_eq!(
        row(&r, "msg:pipe")["requests"].as_u64(),
        Some(20 * calls_pipe)
    );
    assert_eq!(row(&r, "first:pipe")["requests"].as_u64(), Some(calls_pipe));
    // Each answer is its message's one byte.
    assert_eq!(
        row(&r, "msg:pipe")["bytes_received"].as_u64(),
        Some(20 * calls_pipe)
    );
    // The call's bytes are the wire's: handshake, frames and close.
    assert!(
        pipe["bytes_sent"].as_u64().unwrap() > 20 * 7 * calls_pipe,
        "{pipe}"
    );
}

/// A ping-pong whose every answer passes its check, against the same
/// echo (which wants the request's bearer token on its upgrade): the
/// messages' JSON is rendered valid and each answer is its own.
#[tokio::test(flavor = "multi_thread")]
async fn ping_pong_answers_are_their_messages() {
    let (addr, _stop) = server();
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 1\nrequests = 3\n\
         [[request]]\nname = \"json\"\nurl = \"ws://{addr}/auth-echo\"\nauth = {{ bearer = \"t0k\" }}\n\
         message = {{ text = \"say \\\"{{{{ int(1, 3) }}}}\\\"\", n = 1 }}\n\
         [request.stream]\nmessages = 5\nping_pong = true\ninterval = \"5ms\"\n\
         [request.check]\njson = {{ \"/n\" = 1 }}\n"
    );
    let file = dir.write("s.toml", &text);
    let r = common::run_ok(&file).await;
    assert_eq!(name(&r, "json")["failures"], 0, "{r}");
    assert_eq!(row(&r, "msg:json")["requests"], 15);
    // Four pauses of 5 ms between five messages.
    assert!(
        name(&r, "json")["p50_us"].as_u64().unwrap() >= 20_000,
        "{r}"
    );
}

/// Servers that misbehave: each call a failure with its kind and reason,
/// in bounded memory; a flood of pings is answered and passes.
#[test]
fn refused_upgrades_bad_closes_huge_frames_and_ping_floods() {
    let (addr, _stop) = server();
    let dir = Dir::new();
    // Every case once per iteration, twice.
    let mut text =
        "[load]\nusers = 1\nrequests = 14\ntimeout = \"5s\"\n[http]\nmax_body = \"1MiB\"\n\
                    [[flow]]\nname = \"all\"\ncontinue_on_failure = true\n"
            .to_owned();
    for (n, stream) in [
        ("refuse", "messages = 1"),
        ("close-1011", "messages = 3\nping_pong = true"),
        ("no-close", "messages = 1"),
        ("drop", "messages = 3\nping_pong = true"),
        ("huge-frame", "messages = 1"),
        ("frame-2-63", "messages = 1"),
        ("ping-flood", "messages = 3\nping_pong = true"),
    ] {
        text.push_str(&format!(
            "[[flow.step]]\nname = \"{n}\"\nurl = \"ws://{addr}/{n}\"\nmessage = \"m\"\n[flow.step.stream]\n{stream}\n"
        ));
    }
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert!(code.is_some(), "{}", p.stderr());
    for (n, kind, reason) in [
        (
            "refuse",
            "status",
            "HTTP 403: the WebSocket upgrade was refused",
        ),
        ("close-1011", "close", "closed with 1011"),
        (
            "drop",
            "close",
            "closed with 1006: the connection ended without a close frame",
        ),
        (
            "no-close",
            "close",
            "the server did not answer the close within 2s",
        ),
        (
            "huge-frame",
            "limit",
            "WebSocket message over [http] max_body",
        ),
        (
            "frame-2-63",
            "limit",
            "WebSocket message over [http] max_body",
        ),
    ] {
        let row = name(&r, n);
        assert_eq!(row["requests"], 2, "{n}: {r}");
        assert_eq!(row["failures"], 2, "{n}: {r}");
        assert_eq!(
            reasons(&r, n),
            [(kind.to_owned(), reason.to_owned())],
            "{n}"
        );
    }
    let flood = name(&r, "ping-flood");
    assert_eq!(flood["requests"], 2, "{r}");
    assert_eq!(flood["failures"], 0, "{:?}", reasons(&r, "ping-flood"));
    assert!(p.peak_rss_mib() < 150, "peak RSS {} MiB", p.peak_rss_mib());
}

/// The prediction server's `GET /predict/ws`: each text message answered
/// by its prediction, in ping-pong and pipelined.
#[tokio::test(flavor = "multi_thread")]
async fn the_prediction_servers_websocket_answers_every_text() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let url = format!("ws://{}/predict/ws", server.addr);
    let text = format!(
        "[load]\nusers = 1\nrequests = 6\n\
         [[flow]]\nname = \"both\"\n\
         [[flow.step]]\nname = \"pong\"\nurl = \"{url}\"\nmessage = {{ text = \"goal {{{{ int(1, 9) }}}}\" }}\n\
         [flow.step.stream]\nmessages = 10\nping_pong = true\n\
         [flow.step.check]\nbody_contains = \"\\\"label\\\"\"\n\
         [[flow.step]]\nname = \"pipe\"\nurl = \"{url}\"\nmessage = [{{ text = \"a\" }}, {{ text = \"b\" }}]\n\
         [flow.step.stream]\nmessages = 40\n"
    );
    let file = dir.write("s.toml", &text);
    let r = common::run_ok(&file).await;
    for n in ["pong", "pipe"] {
        assert_eq!(name(&r, n)["requests"], 3, "{n}: {r}");
        assert_eq!(name(&r, n)["failures"], 0, "{n}: {r}");
    }
    assert_eq!(row(&r, "msg:pong")["requests"], 30);
    assert_eq!(row(&r, "msg:pipe")["requests"], 120);
}

const TOKEN: &str = "streams-test-token";

/// A master and two workers: WebSocket and event-stream calls' rows merged
/// exactly, every message of every call counted once.
#[test]
fn two_workers_merge_websocket_and_event_stream_rows() {
    let (ws, _stop_ws) = server();
    let (sse, _stop_sse) = crate::sse::target();
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!(
            "[load]\nusers = 4\nrequests = 40\n\
             [[request]]\nname = \"echo\"\nurl = \"ws://{ws}/echo\"\nmessage = \"m\"\n\
             [request.stream]\nmessages = 7\n\
             [[request]]\nname = \"ev\"\nurl = \"http://{sse}/events?n=3\"\n[request.sse]\n"
        ),
    );
    let json = dir.path("r.json");
    let (mut master, addr, fp) = crate::procs::master(
        file.to_str().unwrap(),
        TOKEN,
        &["--expect-workers", "2", "--json", json.to_str().unwrap()],
    );
    let _w1 = crate::procs::worker(&addr, &fp, TOKEN, "w1");
    let _w2 = crate::procs::worker(&addr, &fp, TOKEN, "w2");
    master.succeeds();
    let r = read_json(&json);
    assert_eq!(r["config"]["workers"], 2);
    assert_eq!(r["totals"]["requests"], 40, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let (echo, ev) = (
        name(&r, "echo")["requests"].as_u64().unwrap(),
        name(&r, "ev")["requests"].as_u64().unwrap(),
    );
    assert_eq!(row(&r, "msg:echo")["requests"].as_u64(), Some(7 * echo));
    assert_eq!(row(&r, "sent:echo")["requests"].as_u64(), Some(7 * echo));
    assert_eq!(row(&r, "msg:ev")["requests"].as_u64(), Some(3 * ev));
    assert_eq!(row(&r, "first:ev")["requests"].as_u64(), Some(ev));
}

/// `wss://` to the prediction server over TLS (its certificate checked
/// against `ca`), though `[http]` asks for HTTP/2: the upgrade goes over
/// HTTP/1.1 by ALPN, while the same file's event stream goes over h2.
#[tokio::test(flavor = "multi_thread")]
async fn wss_upgrades_over_tls_beside_an_event_stream_over_h2() {
    let dir = Dir::new();
    let (cert_path, key_path) = common::self_signed(&dir);
    let config = predict::tls::server_config(&cert_path, &key_path).unwrap();
    let server = crate::servers::predict_rest(Some(tokio_rustls::TlsAcceptor::from(config))).await;
    let port = server.addr.port();
    let text = format!(
        "[load]\nusers = 1\nrequests = 4\n[http]\nbase_url = \"https://localhost:{port}\"\nversion = \"http2\"\nca = \"cert.pem\"\n\
         [[flow]]\nname = \"both\"\n\
         [[flow.step]]\nname = \"wss\"\nurl = \"wss://localhost:{port}/predict/ws\"\nmessage = {{ text = \"GOAL\" }}\n\
         [flow.step.stream]\nmessages = 5\nping_pong = true\n\
         [flow.step.check]\njson = {{ \"/label\" = \"sports\" }}\n\
         [[flow.step]]\nname = \"sse\"\nmethod = \"POST\"\npath = \"/predict/stream\"\njson = {{ texts = [\"GOAL\", \"GOAL\"] }}\n\
         [flow.step.sse]\nuntil = \"[DONE]\"\n\
         [flow.step.check]\njson = {{ \"/label\" = \"sports\" }}\n"
    );
    let file = dir.write("s.toml", &text);
    let r = common::run_ok(&file).await;
    for n in ["wss", "sse"] {
        assert_eq!(name(&r, n)["requests"], 2, "{n}: {r}");
        assert_eq!(name(&r, n)["failures"], 0, "{n}: {r}");
    }
    assert_eq!(row(&r, "msg:wss")["requests"], 10);
    assert_eq!(row(&r, "msg:sse")["requests"], 4);
}
