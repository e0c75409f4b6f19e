//! Server-Sent Events calls (`[request.sse]`) against a target written
//! here (axum, HTTP/1.1 and h2c), whose every event volley must count:
//! events split across writes, several data lines, ids, comments and
//! CRLF line ends; calls ended by `events`, `until`, `duration` or the
//! server; and the streams that fail, each with its kind and reason (not
//! an event stream, ended before `until` or mid-event, fewer events than
//! waited for, a check on an event). Hostile streams (no line end ever, an
//! event of 1 GiB) are failures of their own in bounded memory.

use std::net::SocketAddr;
use std::time::Duration;

use axum::response::IntoResponse;
use tokio::sync::oneshot;

use crate::common::reasons;
use crate::common::{self, Dir, ExpectExit, Volley, per_version, read_json, with_version};
use crate::hostile::{name, run};
use crate::servers::serve_on_own_thread;

/// Event `k` of `/events`: a comment, an id, data over two lines (JSON
/// with a line end inside), CRLF line ends; written in two pieces cut
/// inside a line.
fn event(k: u64) -> (String, String) {
    let whole =
        format!(": comment {k}\r\nid: {k}\r\ndata: {{\"k\":{k},\r\ndata: \"x\":1}}\r\n\r\n");
    let cut = whole.len() / 2;
    (whole[..cut].to_owned(), whole[cut..].to_owned())
}

fn stream_of<S>(parts: S) -> axum::response::Response
where
    S: futures_util::Stream<Item = String> + Send + 'static,
{
    let body =
        axum::body::Body::from_stream(futures_util::StreamExt::map(parts, Ok::<_, std::io::Error>));
    ([("content-type", "text/event-stream")], body).into_response()
}

/// Pieces written one at a time, `gap` apart.
fn paced(pieces: Vec<String>, gap: Duration) -> axum::response::Response {
    stream_of(futures_util::stream::unfold(
        pieces.into_iter(),
        move |mut it| async move {
            let next = it.next()?;
            tokio::time::sleep(gap).await;
            Some((next, it))
        },
    ))
}

/// `n` of a query `n=N`.
fn count(uri: &axum::http::Uri) -> u64 {
    uri.query()
        .and_then(|q| q.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The target; stopped when the sender is dropped.
pub(crate) fn target() -> (SocketAddr, oneshot::Sender<()>) {
    use axum::routing::{get, post};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let gap = Duration::from_millis(2);
    let app = axum::Router::new()
        .route(
            "/events",
            get(
                move |uri: axum::http::Uri| async move {
                    let pieces = (0..count(&uri))
                        .flat_map(|k| {
                            let (a, b) = event(k);
                            [a, b]
                        })
                        .collect();
                    paced(pieces, gap)
                },
            ),
        )
        .route(
            "/endless",
            get(|| async {
                stream_of(futures_util::stream::unfold(0u64, |k| async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Some((format!("data: {k}\n\n"), k + 1))
                }))
            }),
        )
        .route(
            "/chat",
            post(move |body: String| async move {
                // As language-model servers stream: tokens, then [DONE].
                if !body.contains("\"stream\":true") {
                    return (axum::http::StatusCode::BAD_REQUEST, "no stream").into_response();
                }
                let mut pieces: Vec<String> = ["Hel", "lo", " wor", "ld"]
                    .iter()
                    .map(|t| format!("data: {{\"token\":\"{t}\"}}\n\n"))
                    .collect();
                pieces.push("data: [DONE]\n\n".into());
                paced(pieces, gap)
            }),
        )
        .route(
            "/no-done",
            get(move || async move { paced(vec!["data: a\n\n".into(), "data: b\n\n".into()], gap) }),
        )
        .route(
            "/cut",
            get(move || async move {
                paced(vec!["data: a\n\n".into(), "data: half\n".into()], gap)
            }),
        )
        .route(
            "/json",
            get(|| async { axum::Json(serde_json::json!({"data": "not a stream"})) }),
        )
        .route(
            "/no-newline",
            get(|| async {
                // One line that never ends, 64 KiB at a time.
                let piece = "x".repeat(64 << 10);
                stream_of(futures_util::stream::repeat(piece))
            }),
        )
        .route(
            "/huge-event",
            get(|| async {
                // One event of 1 GiB of data lines, never dispatched.
                let line = format!("data: {}\n", "y".repeat((64 << 10) - 7));
                stream_of(futures_util::stream::iter(
                    std::iter::repeat_n(line, 1 << 14),
                ))
            }),
        );
    serve_on_own_thread(listener, move |listener| async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (addr, tx)
}

/// A streaming call's row (`sent:`, `first:`, `msg:NAME`).
fn row<'a>(r: &'a serde_json::Value, n: &str) -> &'a serde_json::Value {
    common::row(r, "streams", n)
}

/// Every event of every call counted, over both HTTP versions: 6 calls of
/// 5 events split across writes; each event checked; the rows in the JSON
/// result, the summary and a threshold.
#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_counted_and_checked_as_it_arrives() {
    per_version(|version| async move {
        let (addr, _stop) = target();
        let dir = Dir::new();
        let text = format!(
            "thresholds = [\"msg:ev:requests>=30\", \"first:ev:p99<10s\"]\n\
             [load]\nusers = 2\nrequests = 6\n[http]\nbase_url = \"http://{addr}\"\n\
             [[request]]\nname = \"ev\"\npath = \"/events?n=5\"\n\
             [request.sse]\ncheck = \"each\"\n\
             [request.check]\njson = {{ \"/x\" = 1 }}\n"
        );
        let file = dir.write("s.toml", &with_version(&text, version));
        let json = dir.path("r.json");
        let out = Volley::run(&file).json(&json).output_async().await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        out.expect_exit(0);
        assert!(stdout.contains("PASS msg:ev:requests>=30"), "{stdout}");
        assert!(stdout.contains("msg:ev"), "{stdout}");
        let r = read_json(&json);
        let call = name(&r, "ev");
        assert_eq!(
            (call["requests"].as_u64(), call["failures"].as_u64()),
            (Some(6), Some(0)),
            "{r}"
        );
        assert_eq!(row(&r, "sent:ev")["requests"], 6);
        assert_eq!(row(&r, "first:ev")["requests"], 6);
        assert_eq!(row(&r, "msg:ev")["requests"], 30);
        assert_eq!(row(&r, "msg:ev")["failures"], 0);
        // Each event's data counted as its row's bytes: `{"k":K,\n"x":1}`.
        assert_eq!(row(&r, "msg:ev")["bytes_received"], 6 * 5 * 14);
        // Ten writes 2 ms apart: the call lasts at least the nine gaps;
        // the first event is its second write, after two gaps.
        assert!(call["p50_us"].as_u64().unwrap() >= 18_000, "{call}");
        assert!(
            row(&r, "first:ev")["p50_us"].as_u64().unwrap() >= 4_000,
            "{r}"
        );
        // The answer's first byte came with the first write, before the
        // first whole event.
        assert!(
            call["ttfb"]["p50_us"].as_u64().unwrap()
                <= row(&r, "first:ev")["p50_us"].as_u64().unwrap()
        );
    })
    .await;
}

/// How calls end: `events` and `duration` on an endless stream and `until`
/// on a model server's tokens pass; a stream that ends before `until`,
/// mid-event, with fewer events than waited for, or is no event stream
/// fails with kind `stream`; a check on an event fails with kind `check`.
#[tokio::test(flavor = "multi_thread")]
async fn calls_end_by_count_time_or_marker_and_broken_streams_fail_with_their_reason() {
    per_version(|version| async move {
        let (addr, _stop) = target();
        let dir = Dir::new();
        let steps = [
            ("count", "/endless", "events = 3"),
            ("timed", "/endless", "duration = \"150ms\""),
            ("chat", "/chat", "until = \"[DONE]\""),
            ("no-done", "/no-done", "until = \"[DONE]\""),
            ("cut", "/cut", ""),
            ("fewer", "/events?n=2", "events = 5"),
            ("not-sse", "/json", ""),
            ("bad-event", "/events?n=3", "check = \"each\""),
        ];
        let mut text = format!(
            "[load]\nusers = 1\nrequests = {}\n[http]\nbase_url = \"http://{addr}\"\n\
             [[flow]]\nname = \"all\"\ncontinue_on_failure = true\n",
            steps.len() * 2
        );
        for (n, path, sse) in steps {
            text.push_str(&format!(
                "[[flow.step]]\nname = \"{n}\"\npath = \"{path}\"\n"
            ));
            if n == "chat" {
                text.push_str("method = \"POST\"\njson = { model = \"m\", stream = true }\n");
            }
            text.push_str(&format!("[flow.step.sse]\n{sse}\n"));
            if n == "bad-event" {
                text.push_str("[flow.step.check]\njson = { \"/k\" = 0 }\n");
            }
        }
        let file = dir.write("s.toml", &with_version(&text, version));
        let json = dir.path("r.json");
        let out = Volley::run(&file).json(&json).output_async().await;
        // Failures without thresholds: the run itself went well.
        out.expect_exit(0);
        let r = read_json(&json);
        for passing in ["count", "timed", "chat"] {
            assert_eq!(name(&r, passing)["requests"], 2, "{passing}: {r}");
            assert_eq!(
                name(&r, passing)["failures"],
                0,
                "{passing}: {:?}",
                reasons(&r, passing)
            );
        }
        assert_eq!(row(&r, "msg:count")["requests"], 6);
        assert_eq!(
            row(&r, "msg:chat")["requests"],
            8,
            "[DONE] is not a message"
        );
        let timed = name(&r, "timed");
        assert!(timed["p50_us"].as_u64().unwrap() >= 150_000, "{timed}");
        assert!(timed["p50_us"].as_u64().unwrap() < 5_000_000, "{timed}");
        // About one event per 10 ms for 150 ms.
        let timed_events = row(&r, "msg:timed")["requests"].as_u64().unwrap();
        assert!((10..=32).contains(&timed_events), "{timed_events}");
        let expect = [
            (
                "no-done",
                "stream",
                "the event stream ended before \"[DONE]\"",
            ),
            ("cut", "stream", "the event stream ended mid-event"),
            (
                "fewer",
                "stream",
                "5 events expected, the stream ended after 2",
            ),
            ("not-sse", "stream", "the answer is not an event stream"),
            ("bad-event", "check", "/k is not 0"),
        ];
        for (n, kind, reason) in expect {
            assert_eq!(name(&r, n)["failures"], 2, "{n}: {r}");
            assert_eq!(
                reasons(&r, n),
                [(kind.to_owned(), reason.to_owned())],
                "{n}"
            );
        }
        // The check failed at the second event, which ended the call.
        assert_eq!(row(&r, "msg:bad-event")["requests"], 4);
    })
    .await;
}

/// A line that never ends and an event of 1 GiB are each refused at
/// `[http] max_body` (kind `limit`), in bounded memory, while volley goes
/// on sending.
#[test]
fn an_endless_line_and_a_huge_event_are_limits_in_bounded_memory() {
    let (addr, _stop) = target();
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 4\nduration = \"3s\"\ntimeout = \"20s\"\n[http]\nbase_url = \"http://{addr}\"\nmax_body = \"1MiB\"\n\
         [[request]]\nname = \"no-newline\"\npath = \"/no-newline\"\n[request.sse]\n\
         [[request]]\nname = \"huge-event\"\npath = \"/huge-event\"\n[request.sse]\n"
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{}", p.stderr());
    for (n, reason) in [
        (
            "no-newline",
            "event stream line longer than 1048576 bytes without a line end",
        ),
        (
            "huge-event",
            "event stream event with more than 1048576 bytes of data",
        ),
    ] {
        let row = name(&r, n);
        assert!(row["requests"].as_u64().unwrap() >= 4, "{n}: {r}");
        assert_eq!(row["failures"], row["requests"], "{n}");
        assert_eq!(
            reasons(&r, n),
            [("limit".to_owned(), reason.to_owned())],
            "{n}"
        );
    }
    assert!(p.peak_rss_mib() < 150, "peak RSS {} MiB", p.peak_rss_mib());
}

/// The prediction server's `POST /predict/stream`: one event per text of
/// the request, then `[DONE]`; every text's event counted and checked.
#[tokio::test(flavor = "multi_thread")]
async fn the_prediction_servers_stream_answers_every_text() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 2\nrequests = 6\n[http]\nbase_url = \"http://{}\"\n\
         [[request]]\nname = \"stream\"\nmethod = \"POST\"\npath = \"/predict/stream\"\n\
         json = {{ texts = [\"the match ended in a draw\", \"rates rose {{{{ int(1, 9) }}}}%\", \"a new phone\", \"an election\"] }}\n\
         [request.sse]\nuntil = \"[DONE]\"\n\
         [request.check]\nbody_contains = \"\\\"label\\\"\"\n",
        server.addr
    );
    let file = dir.write("s.toml", &text);
    let r = common::run_ok(&file).await;
    assert_eq!(name(&r, "stream")["failures"], 0, "{r}");
    assert_eq!(row(&r, "msg:stream")["requests"], 24);
    assert_eq!(row(&r, "first:stream")["requests"], 6);
}
