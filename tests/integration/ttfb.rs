//! Time to first byte: against a target whose answer's head goes at once,
//! its body's first byte after a known pause and the rest after another,
//! once per HTTP version. The `ttfb:NAME` row is at least the first pause
//! and under the whole answer's time; it is in the JSON result (a row and
//! each HTTP name's `ttfb`), the summary, its own CSV file (Locust's stay
//! without it), and thresholds judge it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::common::{self, Dir, ExpectExit, Volley, per_version, read_json, with_version};
use crate::servers::serve_on_own_thread;

/// The pause before the body's first byte, and again before the rest.
const PAUSE: Duration = Duration::from_millis(150);

/// An HTTP target (axum: HTTP/1.1 and h2c) whose `GET /slow` sends its head
/// at once, `first` after [`PAUSE`] and `rest` after another; stopped when
/// the sender is dropped.
fn paused_body() -> (SocketAddr, oneshot::Sender<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let app = axum::Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            let parts = futures_util::stream::unfold(0u8, |k| async move {
                if k == 2 {
                    return None;
                }
                tokio::time::sleep(PAUSE).await;
                let part = if k == 0 { "first " } else { "rest" };
                Some((Ok::<_, std::io::Error>(part), k + 1))
            });
            axum::body::Body::from_stream(parts)
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

fn scenario(addr: SocketAddr, thresholds: &str) -> String {
    format!(
        "thresholds = [{thresholds}]\n[load]\nusers = 2\nrequests = 8\n[http]\nbase_url = \"http://{addr}\"\n[[request]]\nname = \"slow\"\npath = \"/slow\"\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn ttfb_is_the_first_body_byte_in_every_output_and_thresholds_judge_it() {
    per_version(|version| async move {
        let (addr, _stop) = paused_body();
        let dir = Dir::new();
        let text = scenario(addr, "\"ttfb:slow:p50<10s\"");
        let file = dir.write("s.toml", &with_version(&text, version));
        let json = dir.path("out.json");
        let prefix = dir.path("res");
        let out = Volley::run(&file)
            .json(&json)
            .flag("--csv", &prefix)
            .output_async()
            .await;
        let (stdout, _) = common::text(&out);
        out.expect_exit(0);
        assert!(stdout.contains("PASS ttfb:slow:p50<10s"), "{stdout}");
        assert!(stdout.contains("first byte"), "{stdout}");

        let r = read_json(&json);
        let name = &r["names"][0];
        assert_eq!(name["name"], "slow");
        assert_eq!(name["requests"], 8);
        let ttfb = &name["ttfb"];
        assert_eq!(ttfb["count"], 8, "{ttfb}");
        let first = ttfb["p50_us"].as_u64().unwrap();
        let whole = name["p50_us"].as_u64().unwrap();
        let pause = PAUSE.as_micros() as u64;
        assert!(first >= pause, "ttfb {first} us before the body was sent");
        assert!(whole >= 2 * pause, "whole answer {whole} us");
        assert!(
            first < whole,
            "ttfb {first} us not before the end {whole} us"
        );
        // The row itself, with its histogram, for merging.
        let row = &r["ttfb"][0];
        assert_eq!(row["name"], "ttfb:slow");
        assert_eq!(row["requests"], 8);
        assert!(!row["histogram"].as_str().unwrap().is_empty());
        // Times to first byte are not requests.
        assert_eq!(r["totals"]["requests"], 8);

        let ttfb_csv = std::fs::read_to_string(dir.path("res_ttfb.csv")).unwrap();
        let mut lines = ttfb_csv.lines();
        assert!(
            lines.next().unwrap().starts_with("Type,Name,Answer Count"),
            "{ttfb_csv}"
        );
        assert!(
            lines.next().unwrap().starts_with("GET,slow,8,"),
            "{ttfb_csv}"
        );
        let stats = std::fs::read_to_string(dir.path("res_stats.csv")).unwrap();
        assert!(!stats.contains("ttfb:"), "{stats}");
        let history = std::fs::read_to_string(dir.path("res_stats_history.csv")).unwrap();
        assert!(!history.contains("ttfb:"), "{history}");

        // A threshold on it fails the run as any other.
        let strict = dir.write(
            "strict.toml",
            &with_version(&scenario(addr, "\"ttfb:slow:p50<50ms\""), version),
        );
        let out = Volley::run(&strict).output_async().await;
        let (stdout, _) = common::text(&out);
        out.expect_exit(1);
        assert!(stdout.contains("FAIL ttfb:slow:p50<50ms"), "{stdout}");
    })
    .await;
}

#[test]
fn a_ttfb_threshold_must_name_an_http_request() {
    let dir = Dir::new();
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let file = dir.write("s.toml", &scenario(addr, "\"ttfb:nope:p50<1s\""));
    let out = Volley::check(&file).expect_exit(2);
    let (_, stderr) = common::text(&out);
    assert!(stderr.contains("ttfb:NAME named \"ttfb:nope\""), "{stderr}");
    let named = dir.write(
        "named.toml",
        "[http]\nbase_url = \"http://127.0.0.1:9\"\n[[request]]\nname = \"ttfb:x\"\npath = \"/\"\n",
    );
    let out = Volley::check(&named).expect_exit(2);
    let (_, stderr) = common::text(&out);
    assert!(stderr.contains("are times to first byte"), "{stderr}");
}
