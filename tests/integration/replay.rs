//! `volley replay` against a target written here that keeps every request
//! it got (method, path, session header, body, when it came): the sources'
//! requests arrive all and once, with their bodies and headers, on their
//! timeline (faster with --speed), each session's in order across three
//! workers; statuses other than the sources' are named; lines that are not
//! requests are counted with their line numbers. The replay of a real
//! nginx's own log is in nginx.rs.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{Dir, Volley, read_json, text};
use crate::servers::serve_on_own_thread;

/// One request as the target got it.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    path: String,
    session: Option<String>,
    agent: Option<String>,
    cookie: Option<String>,
    body: Vec<u8>,
    at: Instant,
}

type Log = Arc<Mutex<Vec<Got>>>;

/// The target: answers `?status=N` with N, else 200, sets the cookie
/// `sid=V` for `?set=V`, and keeps each request.
fn target() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let kept = log.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let kept = kept.clone();
        async move {
            let at = Instant::now();
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let header = |n: &str| {
                parts
                    .headers
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let query = parts.uri.query().unwrap_or("");
            let status = query
                .strip_prefix("status=")
                .and_then(|s| s.parse::<u16>().ok())
                .unwrap_or(200);
            let set = query
                .strip_prefix("set=")
                .map(|v| format!("sid={v}; Path=/"));
            kept.lock().unwrap().push(Got {
                method: parts.method.to_string(),
                path: parts.uri.to_string(),
                session: header("x-session"),
                agent: header("user-agent"),
                cookie: header("cookie"),
                body: body.to_vec(),
                at,
            });
            let mut answer = axum::http::Response::new(axum::body::Body::empty());
            *answer.status_mut() = axum::http::StatusCode::from_u16(status).unwrap();
            if let Some(c) = set {
                answer
                    .headers_mut()
                    .insert("set-cookie", c.parse().unwrap());
            }
            answer
        }
    });
    serve_on_own_thread(listener, |l| async move {
        let _ = axum::serve(l, app).await;
    });
    (addr, log)
}

/// `n` requests 5 ms apart: GETs of /items/K, every fifth a POST with a
/// body, every tenth recorded as 200 but answered 500 by the target.
fn source(dir: &Dir, n: u64) -> std::path::PathBuf {
    let mut lines = String::new();
    for k in 0..n {
        let t = 1000.0 + k as f64 * 0.005;
        let line = if k.is_multiple_of(5) {
            format!(
                r#"{{"t":{t},"method":"POST","url":"http://prod.example/items/{k}","headers":{{"content-type":"application/json","user-agent":"agent {k}","cookie":"secret=1"}},"body":"{{\"k\":{k}}}","status":201}}"#
            )
        } else if k % 10 == 1 {
            format!(r#"{{"t":{t},"url":"/items/{k}?status=500","status":200}}"#)
        } else {
            format!(r#"{{"t":{t},"url":"/items/{k}","status":200}}"#)
        };
        lines.push_str(&line);
        lines.push('\n');
    }
    dir.write("source.jsonl", &lines)
}

/// How sessions' requests `(session, i)` arrived, in arrival order: each
/// session's `i` goes up by one (`gaps`: goes up, some may be missing);
/// the last `i` of each session.
pub(crate) fn in_session_order(
    arrived: impl IntoIterator<Item = (String, i64)>,
    gaps: bool,
) -> std::collections::HashMap<String, i64> {
    let mut last: std::collections::HashMap<String, i64> = Default::default();
    for (s, i) in arrived {
        let prev = last.insert(s.clone(), i).unwrap_or(-1);
        if gaps {
            assert!(i > prev, "session {s}: {i} after {prev}");
        } else {
            assert_eq!(i, prev + 1, "session {s}: {i} after {prev}");
        }
    }
    last
}

/// The `i` of `/s/SESSION/i?…`.
fn step(path: &str) -> i64 {
    let last = path.rsplit('/').next().unwrap();
    last.split('?').next().unwrap().parse().unwrap()
}

/// The rows' names of a result.
fn row_names(r: &serde_json::Value) -> Vec<&str> {
    r["names"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect()
}

/// From the first request the target got to the last.
fn span(got: &[Got]) -> Duration {
    let first = got.iter().map(|g| g.at).min().unwrap();
    got.iter()
        .map(|g| g.at)
        .max()
        .unwrap()
        .duration_since(first)
}

/// The k of `/items/K`.
fn item(path: &str) -> u64 {
    path.trim_start_matches("/items/")
        .split('?')
        .next()
        .and_then(|k| k.parse().ok())
        .unwrap()
}

fn replay(
    src: &std::path::Path,
    addr: SocketAddr,
    extra: &[&str],
    json: &std::path::Path,
) -> std::process::Output {
    Volley::sub("replay")
        .arg(src)
        .flag("--target", format!("http://{addr}"))
        .args(extra)
        .headless()
        .quiet_status()
        .json(json)
        .expect_exit(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_arrives_once_with_its_body_and_headers_on_its_timeline() {
    let dir = Dir::new();
    let (addr, log) = target();
    let src = source(&dir, 200);
    let json = dir.path("out.json");
    let out = replay(&src, addr, &[], &json);
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 200, "{}", text(&out).1);
    let mut seen: Vec<u64> = got.iter().map(|g| item(&g.path)).collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
    for g in &got {
        let k = item(&g.path);
        if k.is_multiple_of(5) {
            assert_eq!(g.method, "POST");
            assert_eq!(g.body, format!("{{\"k\":{k}}}").as_bytes());
            assert_eq!(g.agent.as_deref(), Some(format!("agent {k}").as_str()));
            // Credentials from the source are not sent.
            assert_eq!(g.cookie, None);
        } else {
            assert_eq!(g.method, "GET");
            assert!(g.body.is_empty());
            assert!(g.agent.as_deref().unwrap().starts_with("volley/"));
        }
    }
    // On the timeline: each arrives about k × 5 ms after the first.
    let first = got.iter().map(|g| g.at).min().unwrap();
    let mut lag: Vec<f64> = got
        .iter()
        .map(|g| {
            let want = item(&g.path) as f64 * 5.0;
            (g.at.duration_since(first).as_secs_f64() * 1e3 - want).abs()
        })
        .collect();
    lag.sort_by(f64::total_cmp);
    assert!(
        lag[lag.len() / 2] < 3.0,
        "median {} ms off the timeline",
        lag[lag.len() / 2]
    );
    let span = span(&got);
    assert!(
        span > Duration::from_millis(900) && span < Duration::from_millis(1500),
        "{span:?}"
    );
    // The rows are the names with ids folded; the statuses that differ
    // from the source's are failures that say so.
    let r = read_json(&json);
    let names = row_names(&r);
    assert!(names.contains(&"GET /items/{id}"), "{names:?}");
    assert!(names.contains(&"POST /items/{id}"), "{names:?}");
    let (stdout, _) = text(&out);
    assert!(
        stdout.contains("HTTP 500 Internal Server Error where the source had 200"),
        "{stdout}"
    );
    assert!(stdout.contains("200 of 200 requests answered"), "{stdout}");
    // How far behind its timeline it fell: the summary's first line, and
    // in the result, which merges exactly.
    assert!(
        stdout.starts_with("replay: behind its timeline by p50 "),
        "{stdout}"
    );
    assert_eq!(r["start_lag"]["starts"], 200, "{}", r["start_lag"]);
    let merged = dir.path("merged.json");
    Volley::report(&json)
        .arg(&json)
        .json(&merged)
        .expect_exit(0);
    assert_eq!(read_json(&merged)["start_lag"]["starts"], 400);
    let notes = r["notes"].to_string();
    assert!(notes.contains("replay statuses, GET /items/{id}: the source had 200×160; the target answered 140 as the source, HTTP 500 Internal Server Error where the source had 200 ×20"), "{notes}");
}

#[tokio::test(flavor = "multi_thread")]
async fn speed_two_halves_the_span_and_loops_send_it_again() {
    let dir = Dir::new();
    let (addr, log) = target();
    let src = source(&dir, 100);
    let json = dir.path("out.json");
    replay(
        &src,
        addr,
        &["--speed", "2", "--loop", "2", "--statuses", "any"],
        &json,
    );
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 200);
    // One pass spans 495 ms of the source; two at speed 2: about 500 ms.
    let span = span(&got);
    assert!(
        span > Duration::from_millis(450) && span < Duration::from_millis(800),
        "{span:?}"
    );
    let r = read_json(&json);
    assert_eq!(r["totals"]["failures"], 0, "{}", r["notes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_session_keeps_its_order_across_three_workers() {
    let dir = Dir::new();
    let (addr, log) = target();
    // 30 sessions of 20 requests, interleaved 1 ms apart; each session's
    // first request is answered with a cookie of its own.
    let mut lines = String::new();
    for k in 0..600u64 {
        let (s, i) = (k % 30, k / 30);
        let set = if i == 0 {
            format!("?set=s{s}")
        } else {
            String::new()
        };
        lines.push_str(&format!(
            r#"{{"t":{},"url":"/s/{s}/{i}{set}","headers":{{"x-session":"s{s}"}},"session":"s{s}"}}"#,
            k as f64 * 0.001
        ));
        lines.push('\n');
    }
    let src = dir.write("sessions.jsonl", &lines);
    let json = dir.path("out.json");
    replay(
        &src,
        addr,
        &["--local-workers", "3", "--connections", "12"],
        &json,
    );
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 600);
    let last = in_session_order(
        got.iter()
            .map(|g| (g.session.clone().unwrap(), step(&g.path))),
        false,
    );
    assert_eq!(last.len(), 30);
    // Each its own cookie, never another session's, though sessions share
    // executors (30 sessions, 12 connections).
    for g in got.iter().filter(|g| step(&g.path) > 0) {
        let want = format!("sid={}", g.session.as_deref().unwrap());
        assert_eq!(g.cookie.as_deref(), Some(want.as_str()), "{g:?}");
    }
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 600);
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_that_are_not_requests_are_counted_by_line_and_a_log_of_none_cannot_start() {
    let dir = Dir::new();
    let (addr, log) = target();
    let good = |s: u32, p: &str| {
        format!(
            "127.0.0.1 - - [10/Oct/2000:13:55:{s:02} +0000] \"GET {p} HTTP/1.1\" 200 5 \"-\" \"curl/8\"\n"
        )
    };
    let text_log = format!(
        "{}this is no log line\n{}\"\\x16\\x03\\x01\" 400 0\n{}127.0.0.1 - - [10/Oct/2000:13:55:02 +0000] \"POST /form HTTP/1.1\" 200 5 \"-\" \"-\"\n",
        good(0, "/a"),
        good(1, "/b"),
        good(1, "/c")
    );
    let src = dir.write("access.log", &text_log);
    let json = dir.path("out.json");
    let out = replay(&src, addr, &[], &json);
    assert_eq!(log.lock().unwrap().len(), 3);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains(&format!(
            "2 lines of the sources are not requests and were not sent; the first: {}:2:",
            src.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("1 requests not sent: sends a body the source does not hold"),
        "{stdout}"
    );
    assert!(stderr.contains("replaying 3 requests"), "{stderr}");
    // A folder of bodies by path gives the log's POST its body.
    log.lock().unwrap().clear();
    dir.write("bodies/form", "a=1&b=2");
    replay(
        &src,
        addr,
        &["--bodies", dir.path("bodies").to_str().unwrap()],
        &json,
    );
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 4);
    let post = got.iter().find(|g| g.method == "POST").unwrap();
    assert_eq!(
        (post.path.as_str(), &post.body[..]),
        ("/form", &b"a=1&b=2"[..])
    );
    // Only bad lines: nothing to send, a clear error, exit 2.
    let none = dir.write("none.log", "garbage\nmore garbage\n");
    let out = Volley::sub("replay")
        .arg(&none)
        .flag("--target", format!("http://{addr}"))
        .headless()
        .expect_exit(2);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("hold no request to send"), "{stderr}");
    assert!(stderr.contains("none.log:1:"), "{stderr}");
    // A source that is not there is named.
    let out = Volley::sub("replay")
        .arg(dir.path("missing.log"))
        .flag("--target", format!("http://{addr}"))
        .headless()
        .expect_exit(2);
    assert!(text(&out).1.contains("missing.log"), "{}", text(&out).1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_run_replays_exactly_under_its_own_names() {
    let dir = Dir::new();
    let (addr, log) = target();
    let scenario = dir.write(
        "run.toml",
        &format!(
            r#"[http]
base_url = "http://{addr}"
[load]
rate = 300
duration = "1s"
[[request]]
name = "item"
path = "/items/{{{{ int(1, 99999) }}}}?q=a%20b"
[[request]]
name = "order"
method = "POST"
path = "/orders"
body = '{{"n": {{{{ int(1, 9) }}}}}}'
headers = {{ "content-type" = "application/json", "x-tenant" = "t1" }}
"#
        ),
    );
    let recorded = dir.path("run.jsonl");
    Volley::run(&scenario)
        .headless()
        .quiet_status()
        .arg("--local-workers")
        .arg("2")
        .flag("--record", &recorded)
        .expect_exit(0);
    let first: Vec<Got> = std::mem::take(&mut *log.lock().unwrap());
    let lines = std::fs::read_to_string(&recorded).unwrap();
    assert_eq!(
        lines.lines().count(),
        first.len(),
        "one line per request sent"
    );
    let json = dir.path("replay.json");
    replay(&recorded, addr, &[], &json);
    let second = log.lock().unwrap().clone();
    // The same requests: method, path and query, body, headers.
    let key = |g: &Got| {
        (
            g.method.clone(),
            g.path.clone(),
            g.body.clone(),
            g.agent.clone(),
        )
    };
    let mut a: Vec<_> = first.iter().map(key).collect();
    let mut b: Vec<_> = second.iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
    assert!(
        second
            .iter()
            .any(|g| g.method == "POST" && g.body.starts_with(b"{\"n\": "))
    );
    // Under the run's own names.
    let r = read_json(&json);
    let names = row_names(&r);
    assert!(
        names.contains(&"item") && names.contains(&"order"),
        "{names:?}"
    );
    assert_eq!(r["totals"]["failures"], 0, "{}", r["notes"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scenario_form_checks_its_settings_and_takes_thresholds() {
    let dir = Dir::new();
    let (addr, log) = target();
    source(&dir, 50);
    let ok = dir.write(
        "replay.toml",
        &format!(
            r#"thresholds = ["error_rate<1%"]
[http]
base_url = "http://{addr}"
[load]
connections = 8
[replay]
sources = ["source.jsonl"]
exclude = ["POST"]
speed = 4
"#
        ),
    );
    let out = Volley::check_bare(&ok).expect_exit(0);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("40 requests spanning"), "{stdout}");
    assert!(
        stdout.contains("10 requests will not be sent: left out by include/exclude"),
        "{stdout}"
    );
    assert!(
        stdout.contains("name \"GET /items/{id}\": the source's server answered 200×40"),
        "{stdout}"
    );
    // Statuses that differ (every tenth) fail requests: the threshold
    // breaks, exit 1.
    Volley::run(&ok).headless().quiet_status().expect_exit(1);
    assert_eq!(log.lock().unwrap().len(), 40);
    for (body, want) in [
        (
            "[replay]\nsources = [\"source.jsonl\"]\n[[request]]\nname = \"a\"\npath = \"/\"\n",
            "no [[request]] or [[flow]]",
        ),
        (
            "[replay]\nsources = [\"source.jsonl\"]\nspeed = 2\nrate = 5\n",
            "not both",
        ),
        (
            "[replay]\nsources = [\"source.jsonl\"]\nformat = \"$request $status\"\n",
            "the format has no time",
        ),
        (
            "[replay]\nsources = [\"source.jsonl\"]\nspeed = 0\n",
            "speed must be",
        ),
        (
            "[replay]\nsources = [\"source.jsonl\"]\nsession = \"ip\"\n",
            "session \"ip\"",
        ),
        ("[replay]\nsources = [\"missing.log\"]\n", "missing.log"),
        (
            "[load]\nusers = 5\n[replay]\nsources = [\"source.jsonl\"]\n",
            "users do not apply",
        ),
    ] {
        let f = dir.write(
            "bad.toml",
            &format!("[http]\nbase_url = \"http://{addr}\"\n{body}"),
        );
        let out = Volley::check_bare(&f).expect_exit(2);
        let (_, stderr) = text(&out);
        assert!(stderr.contains(want), "{body}: {stderr}");
        assert!(stderr.contains("bad.toml:"), "{body}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_har_replays_in_order_and_imports_as_a_weighted_scenario() {
    let dir = Dir::new();
    let (addr, log) = target();
    let entry = |ms: u32, method: &str, path: &str, body: Option<&str>| {
        let post = body
            .map(|b| {
                format!(
                    r#","postData":{{"mimeType":"application/json","text":{}}}"#,
                    serde_json::to_string(b).unwrap()
                )
            })
            .unwrap_or_default();
        format!(
            r#"{{"startedDateTime":"2026-12-06T10:00:00.{ms:03}Z","time":1,"request":{{"method":"{method}","url":"http://shop.example:8080{path}","httpVersion":"HTTP/1.1","headers":[{{"name":"Accept","value":"application/json"}},{{"name":"Cookie","value":"sid=secret"}}]{post}}},"response":{{"status":200}}}}"#
        )
    };
    let har = format!(
        r#"{{"log":{{"version":"1.2","creator":{{"name":"test","version":"1"}},"entries":[{},{},{},{}]}}}}"#,
        entry(0, "GET", "/items/1?x=1", None),
        entry(120, "POST", "/orders", Some(r#"{"n":1}"#)),
        entry(60, "GET", "/items/2", None),
        entry(200, "GET", "/items/3", None),
    );
    let file = dir.write("shop.har", &har);
    let json = dir.path("out.json");
    replay(&file, addr, &[], &json);
    let got = log.lock().unwrap().clone();
    let seen: Vec<(&str, &str)> = got
        .iter()
        .map(|g| (g.method.as_str(), g.path.as_str()))
        .collect();
    // In startedDateTime's order, not the file's; the HAR's host replaced.
    assert_eq!(
        seen,
        [
            ("GET", "/items/1?x=1"),
            ("GET", "/items/2"),
            ("POST", "/orders"),
            ("GET", "/items/3")
        ]
    );
    assert_eq!(got[2].body, br#"{"n":1}"#);
    assert!(
        got.iter().all(|g| g.cookie.is_none()),
        "credentials are not replayed"
    );
    log.lock().unwrap().clear();
    // Imported: a scenario that check accepts and that runs.
    let scenario = dir.path("shop.toml");
    Volley::sub("import")
        .arg("har")
        .arg(&file)
        .flag("--base-url", "http://shop.example:8080")
        .flag("-o", &scenario)
        .expect_exit(0);
    let text = std::fs::read_to_string(&scenario).unwrap();
    assert!(text.contains("weight = 3"), "{text}");
    let text = text.replace("http://shop.example:8080", &format!("http://{addr}"));
    std::fs::write(&scenario, text).unwrap();
    Volley::check_bare(&scenario).expect_exit(0);
    Volley::run(&scenario)
        .headless()
        .quiet_status()
        .flag("-n", "40")
        .expect_exit(0);
    let got = log.lock().unwrap().clone();
    assert_eq!(got.len(), 40);
    let posts = got.iter().filter(|g| g.method == "POST").count();
    assert!((2..=20).contains(&posts), "about one in four: {posts}");
}

/// A master and three worker processes replay 30 sessions; one worker is
/// killed (SIGKILL) early: once the master finds it lost (a few seconds),
/// its sessions go on, in order, on the two left, and every session's last
/// request arrives. What fell due in between was the lost worker's.
#[test]
fn a_killed_workers_sessions_go_on_in_order_on_the_others() {
    const TOKEN: &str = "replay-cluster-token";
    let dir = Dir::new();
    let (addr, log) = target();
    // 30 sessions of 100 requests, 5 ms apart: 15 s.
    let mut lines = String::new();
    for k in 0..3000u64 {
        let (s, i) = (k % 30, k / 30);
        lines.push_str(&format!(
            r#"{{"t":{},"url":"/s/{s}/{i}","headers":{{"x-session":"s{s}"}},"session":"s{s}"}}"#,
            k as f64 * 0.005
        ));
        lines.push('\n');
    }
    dir.write("sessions.jsonl", &lines);
    let file = dir.write(
        "replay.toml",
        &format!(
            "[http]\nbase_url = \"http://{addr}\"\n[load]\nconnections = 12\n[replay]\nsources = [\"sessions.jsonl\"]\n"
        ),
    );
    let json = dir.path("r.json");
    let (mut master, maddr, fp) = crate::procs::master(
        file.to_str().unwrap(),
        TOKEN,
        &["--expect-workers", "3", "--json", json.to_str().unwrap()],
    );
    let _w1 = crate::procs::worker(&maddr, &fp, TOKEN, "w1");
    let _w2 = crate::procs::worker(&maddr, &fp, TOKEN, "w2");
    let w3 = crate::procs::worker(&maddr, &fp, TOKEN, "w3");
    w3.wait_for("joined master", Duration::from_secs(20));
    // A sixth of the way in.
    let end = Instant::now() + Duration::from_secs(20);
    while log.lock().unwrap().len() < 500 {
        assert!(Instant::now() < end, "the replay did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    w3.signal(libc::SIGKILL);
    master.wait_for("was lost", Duration::from_secs(8));
    master.succeeds();
    let got = log.lock().unwrap().clone();
    // In order; a request the killed worker had in hand is lost.
    let last = in_session_order(
        got.iter()
            .map(|g| (g.session.clone().unwrap(), step(&g.path))),
        true,
    );
    assert_eq!(last.len(), 30);
    assert!(
        last.values().all(|&i| i == 99),
        "every session went on to its end: {last:?}"
    );
    // Only the lost worker's part until it was found lost went missing.
    assert!(got.len() > 2000, "{} of 3000", got.len());
    let r = read_json(&json);
    assert!(
        r["notes"].to_string().contains("was lost"),
        "{}",
        r["notes"]
    );
}
