//! A hostile HTTP/1.1 target, one mode per path: lengths no memory holds,
//! lengths at the edge of 64 bits, bodies that never end, cut chunks, bad
//! chunk sizes, storms of 1xx answers, floods of headers, and a server that
//! closes kept-alive connections without saying so. Against each, volley
//! (a real process) lives, ends on time, counts every request with a
//! failure kind and reason, and keeps its memory bounded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{Dir, ExpectExit, read_json, reasons};
use crate::procs::{self, Proc};

/// Requests received, by path.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<BTreeMap<String, u64>>>);

impl Seen {
    fn add(&self, path: &str) {
        *self.0.lock().unwrap().entry(path.to_owned()).or_default() += 1;
    }

    fn total(&self) -> u64 {
        self.0.lock().unwrap().values().sum()
    }

    fn of(&self, path: &str) -> u64 {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// Answers `/cookie-flood` gave (each sets cookies of new names).
static FLOOD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

struct Hostile {
    addr: std::net::SocketAddr,
    seen: Seen,
}

/// Starts the target on a thread of its own.
fn hostile() -> Hostile {
    let seen = Seen::default();
    let s = seen.clone();
    let addr = crate::servers::serve_connections(move |sock| {
        let seen = s.clone();
        async move {
            let _ = connection(sock, seen).await;
        }
    });
    Hostile { addr, seen }
}

async fn forever(s: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    loop {
        s.write_all(bytes).await?;
    }
}

async fn connection(mut s: TcpStream, seen: Seen) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut chunk).await? {
                0 => return Ok(()),
                n => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        seen.add(&path);
        let ten = b"0123456789";
        match path.split('?').next().unwrap_or_default() {
            "/ok" => {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await?;
                continue;
            }
            // 100 GB announced, 10 bytes sent, then the close.
            "/huge-length" => {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n")
                    .await?;
                s.write_all(ten).await?;
            }
            "/huge-chunk" => {
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3b9aca00\r\n")
                    .await?;
                s.write_all(ten).await?;
            }
            "/max-length" => {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n")
                    .await?;
                s.write_all(ten).await?;
            }
            "/max-chunk" | "/max-chunk-1" => {
                let size = if path == "/max-chunk" {
                    "ffffffffffffffff"
                } else {
                    "fffffffffffffffe"
                };
                let head =
                    format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\n");
                s.write_all(head.as_bytes()).await?;
                s.write_all(ten).await?;
            }
            "/cut-mid-chunk" => {
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234")
                    .await?;
            }
            "/bad-chunk" => {
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n")
                    .await?;
            }
            // Informational answers, a thousand of them, then silence.
            "/1xx-storm" => {
                for _ in 0..1000 {
                    s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            "/header-flood" => {
                let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
                for i in 0..500 {
                    head.extend_from_slice(format!("X-Flood-{i}: yes\r\n").as_bytes());
                }
                head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
                s.write_all(&head).await?;
            }
            // A head that never ends.
            "/endless-head" => {
                s.write_all(b"HTTP/1.1 200 OK\r\nX-Long: ").await?;
                forever(&mut s, &[b'y'; 4096]).await?;
            }
            // 500 MiB, all of it sent; the connection stays usable.
            "/big-body" => {
                let size = 500u64 << 20;
                s.write_all(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").as_bytes(),
                )
                .await?;
                let block = vec![b'z'; 64 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = left.min(block.len() as u64) as usize;
                    s.write_all(&block[..n]).await?;
                    left -= n as u64;
                }
                continue;
            }
            "/endless-chunked" => {
                s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .await?;
                let mut piece = b"10000\r\n".to_vec();
                piece.extend(std::iter::repeat_n(b'c', 0x10000));
                piece.extend_from_slice(b"\r\n");
                forever(&mut s, &piece).await?;
            }
            "/endless-close" => {
                s.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await?;
                forever(&mut s, &[b'e'; 64 * 1024]).await?;
            }
            // 50 new cookies on every answer (their names never repeat);
            // a request that carries more than a browser would keep, or
            // more than 8 KiB of Cookie, is refused with 431.
            "/cookie-flood" => {
                let sent = head
                    .lines()
                    .find(|l| l.to_ascii_lowercase().starts_with("cookie:"))
                    .map(|l| (l.split("; ").count(), l.len()))
                    .unwrap_or((0, 0));
                if sent.0 > 50 || sent.1 > 8 << 10 {
                    s.write_all(b"HTTP/1.1 431 Too Many Cookies\r\ncontent-length: 0\r\n\r\n")
                        .await?;
                    continue;
                }
                let round = FLOOD.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
                for i in 0..50 {
                    answer.extend_from_slice(
                        format!("Set-Cookie: c{round}_{i}={}; Path=/\r\n", "v".repeat(100))
                            .as_bytes(),
                    );
                }
                answer.extend_from_slice(b"\r\nok");
                s.write_all(&answer).await?;
                continue;
            }
            // An answer that says nothing of closing, then the close: the
            // client's next request on this connection meets a closed one.
            "/close-after-each" => {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await?;
            }
            _ => {}
        }
        return Ok(());
    }
}

/// A scenario against `target` with one request per path (weight 1 each).
fn scenario(target: &Hostile, load: &str, paths: &[&str]) -> String {
    let base = format!("http://{}", target.addr);
    let mut s = format!("[load]\n{load}\n[http]\nbase_url = \"{base}\"\n");
    for p in paths {
        let name = p.trim_start_matches('/');
        s.push_str(&format!("[[request]]\nname = \"{name}\"\npath = \"{p}\"\n"));
    }
    s
}

pub(crate) fn name<'a>(r: &'a serde_json::Value, n: &str) -> &'a serde_json::Value {
    r["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == n)
        .unwrap_or_else(|| panic!("no {n} in {r}"))
}

const TOKEN: &str = "t0ken";

/// A master of the scenario `text` that writes its result to `json`; with
/// its address and certificate fingerprint.
fn master(dir: &Dir, text: &str, json: &std::path::Path, extra: &[&str]) -> (Proc, String, String) {
    let file = dir.write("s.toml", text);
    let mut args = vec!["--json", json.to_str().unwrap(), "--join-timeout", "20s"];
    args.extend_from_slice(extra);
    procs::master(file.to_str().unwrap(), TOKEN, &args)
}

/// Runs `volley run` on `text` to its end (at most `within`); returns the
/// process (for its stderr and peak memory), its exit code and the result.
pub(crate) fn run(
    dir: &Dir,
    text: &str,
    extra: &[&str],
    within: Duration,
) -> (Proc, Option<i32>, serde_json::Value) {
    let file = dir.write("s.toml", text);
    let json = dir.path("r.json");
    let mut args = vec![
        "run",
        "-f",
        file.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
        "--status-every",
        "1h",
    ];
    args.extend_from_slice(extra);
    let mut p = Proc::start(&args, &[]);
    let code = p.wait(within);
    let r = read_json(&json);
    (p, code, r)
}

#[test]
fn lengths_no_memory_holds_and_broken_framing_are_counted_failures() {
    let target = hostile();
    let dir = Dir::new();
    let cases: [(&str, &str, &str); 10] = [
        ("/huge-length", "reset", "connection closed mid-answer"),
        ("/huge-chunk", "reset", "connection closed mid-answer"),
        ("/max-length", "reset", "connection closed mid-answer"),
        ("/max-chunk", "reset", "connection closed mid-answer"),
        ("/max-chunk-1", "reset", "connection closed mid-answer"),
        ("/cut-mid-chunk", "reset", "connection closed mid-answer"),
        ("/bad-chunk", "protocol", "invalid chunk size"),
        (
            "/1xx-storm",
            "protocol",
            "too many informational (1xx) answers",
        ),
        ("/header-flood", "protocol", "invalid HTTP response"),
        ("/endless-head", "protocol", "response head too large"),
    ];
    let paths: Vec<&str> = cases.iter().map(|c| c.0).collect();
    let text = scenario(
        &target,
        "users = 4\nrequests = 400\ntimeout = \"5s\"",
        &paths,
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(90));
    // Every request is there, failed with its own kind and reason; not one
    // succeeded, so the run fails.
    assert_eq!(code, Some(1), "{}", p.stderr());
    assert_eq!(r["totals"]["requests"], 400, "{r}");
    assert_eq!(r["totals"]["failures"], 400, "{r}");
    assert_eq!(
        target.seen.total(),
        400,
        "every request counted reached the target"
    );
    for (path, kind, reason) in cases {
        let n = path.trim_start_matches('/');
        assert_eq!(
            name(&r, n)["requests"].as_u64(),
            Some(target.seen.of(path)),
            "{n}"
        );
        assert_eq!(
            reasons(&r, n),
            [(kind.to_owned(), reason.to_owned())],
            "{n}"
        );
    }
    // Users never pile up: no user task died and was replaced.
    let most_users = r["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["users"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(most_users <= 4, "users {most_users}");
    assert!(p.peak_rss_mib() < 150, "peak RSS {} MiB", p.peak_rss_mib());
}

#[test]
fn endless_and_enormous_bodies_are_read_through_in_bounded_memory() {
    let target = hostile();
    let dir = Dir::new();
    // One flow, its steps in order, so that each kind of body is met by
    // every user (a weighted pick could skip one for the whole run).
    let mut text = format!(
        "[load]\nusers = 3\nduration = \"8s\"\ntimeout = \"2s\"\n[http]\nbase_url = \"http://{}\"\n\
         [[flow]]\nname = \"bodies\"\ncontinue_on_failure = true\n",
        target.addr
    );
    for p in ["/big-body", "/endless-chunked", "/endless-close"] {
        let n = p.trim_start_matches('/');
        text.push_str(&format!("[[flow.step]]\nname = \"{n}\"\npath = \"{p}\"\n"));
    }
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let big = name(&r, "big-body");
    let n = big["requests"].as_u64().unwrap();
    assert!(n >= 1, "{r}");
    assert_eq!(big["failures"], 0, "{big}");
    // Every byte of every body counted, heads included.
    assert!(
        big["bytes_received"].as_u64().unwrap() >= n * (500 << 20),
        "{big}"
    );
    for endless in ["endless-chunked", "endless-close"] {
        let e = name(&r, endless);
        assert!(e["requests"].as_u64().unwrap() >= 1, "{endless}: {r}");
        assert_eq!(e["failures"], e["requests"], "{endless}");
        assert!(
            reasons(&r, endless).iter().all(|(k, _)| k == "timeout"),
            "{endless}: {:?}",
            reasons(&r, endless)
        );
        // Cut by its timeout, a request still counts what had arrived:
        // the head and at least a 64 KiB piece of the body.
        let received = e["bytes_received"].as_u64().unwrap();
        assert!(
            received >= e["requests"].as_u64().unwrap() * (64 << 10),
            "{endless}: {received}"
        );
    }
    assert!(p.peak_rss_mib() < 150, "peak RSS {} MiB", p.peak_rss_mib());
}

#[test]
fn a_server_closing_kept_alive_connections_silently_loses_no_request() {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(
        &target,
        "users = 4\nrequests = 2000",
        &["/close-after-each"],
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    assert_eq!(r["totals"]["requests"], 2000, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    // Each request reached the server exactly once.
    assert_eq!(target.seen.total(), 2000);
    // The races were met and retried (on 2,000 requests, some are).
    assert!(r["retries"].as_u64().unwrap() > 0, "{r}");
}

#[test]
fn a_run_that_sends_nothing_fails_unless_allowed() {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(&target, "users = 0\nduration = \"1s\"", &["/ok"]);
    let (p, code, r) = run(
        &dir,
        &text,
        &["--threshold", "p99<250ms"],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{}", p.stderr());
    assert!(
        p.stderr()
            .contains("threshold failed: p99<250ms (observed no requests)"),
        "{}",
        p.stderr()
    );
    assert_eq!(r["passed"], false);
    // Without a threshold, the implicit one fails.
    let (p, code, _) = run(&dir, &text, &[], Duration::from_secs(30));
    assert_eq!(code, Some(1), "{}", p.stderr());
    assert!(p.stderr().contains("requests>0"), "{}", p.stderr());
    // Said explicitly, an empty run passes.
    let allowed = format!("[scenario]\nallow_empty = true\n{text}");
    let (p, code, r) = run(
        &dir,
        &allowed,
        &["--threshold", "p99<250ms"],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{}", p.stderr());
    assert_eq!(r["passed"], true);
}

#[test]
fn sigterm_stops_a_run_that_still_reports_and_writes_everything() {
    stopped_by(libc::SIGTERM, "SIGTERM");
}

/// A closed terminal or ssh session: the run ends as on SIGTERM.
#[test]
fn sighup_stops_a_run_that_still_reports_and_writes_everything() {
    stopped_by(libc::SIGHUP, "SIGHUP");
}

fn stopped_by(sig: i32, sig_name: &str) {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(
        &target,
        "users = 2\nduration = \"60s\"\nthink_time = \"10ms\"",
        &["/ok"],
    );
    let file = dir.write("s.toml", &text);
    let json = dir.path("r.json");
    let csv = dir.path("r");
    let mut p = Proc::start(
        &[
            "run",
            "-f",
            file.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--csv",
            csv.to_str().unwrap(),
        ],
        &[],
    );
    std::thread::sleep(Duration::from_secs(3));
    p.signal(sig);
    // Stopped, merged and written well before the 60 s.
    let code = p.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let r = read_json(&json);
    assert!(r["totals"]["requests"].as_u64().unwrap() > 10, "{r}");
    assert!(r["duration_s"].as_f64().unwrap() < 30.0, "{r}");
    let notes = r["notes"].to_string();
    assert!(notes.contains(&format!("stopped by {sig_name}")), "{notes}");
    assert!(dir.path("r_stats.csv").exists());
    assert!(p.stdout().contains("ok"), "the summary is printed");
}

#[test]
fn a_master_stopped_by_sigterm_reports_and_one_left_alone_by_its_worker_exits_3() {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(
        &target,
        "users = 2\nduration = \"60s\"\nthink_time = \"10ms\"",
        &["/ok"],
    );
    // SIGTERM to the master: it stops the worker, merges, writes, exits 0.
    let json = dir.path("m.json");
    let (mut m, addr, fp) = master(&dir, &text, &json, &[]);
    let mut w = procs::worker(&addr, &fp, TOKEN, "w1");
    w.wait_for("joined master", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    m.signal(libc::SIGTERM);
    assert_eq!(m.wait(Duration::from_secs(20)), Some(0), "{}", m.stderr());
    let r = read_json(&json);
    assert!(r["totals"]["requests"].as_u64().unwrap() > 10, "{r}");
    assert!(r["notes"].to_string().contains("stopped by SIGTERM"), "{r}");
    assert!(w.is_running(), "a remote worker outlives its master");
    drop(w);

    // The only worker killed mid-run: its load is lost, the run broke.
    let json = dir.path("lost.json");
    let (mut m, addr, fp) = master(&dir, &text, &json, &[]);
    let w = procs::worker(&addr, &fp, TOKEN, "w2");
    w.wait_for("joined master", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(3));
    w.signal(libc::SIGKILL);
    assert_eq!(m.wait(Duration::from_secs(30)), Some(3), "{}", m.stderr());
    let r = read_json(&json);
    assert!(
        r["totals"]["requests"].as_u64().unwrap() > 10,
        "measured before the loss: {r}"
    );
    assert!(r["errors"].to_string().contains("no other worker"), "{r}");
    assert_eq!(r["passed"], false);
}

#[test]
fn a_worker_stopped_by_sigterm_hands_its_share_over_and_leaves() {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(
        &target,
        "users = 4\nduration = \"8s\"\nthink_time = \"10ms\"",
        &["/ok"],
    );
    let json = dir.path("r.json");
    let (mut m, addr, fp) = master(&dir, &text, &json, &["--expect-workers", "2"]);
    let mut a = procs::worker(&addr, &fp, TOKEN, "a");
    let b = procs::worker(&addr, &fp, TOKEN, "b");
    a.wait_for("joined master", Duration::from_secs(20));
    b.wait_for("joined master", Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(2));
    a.signal(libc::SIGTERM);
    // The worker leaves cleanly (exit 0) and the run completes on the other.
    assert_eq!(a.wait(Duration::from_secs(15)), Some(0), "{}", a.stderr());
    assert_eq!(m.wait(Duration::from_secs(30)), Some(0), "{}", m.stderr());
    let r = read_json(&json);
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("worker a") && notes.contains("its share went to the others"),
        "{notes}"
    );
    let states: Vec<&str> = r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"left") && states.contains(&"done"),
        "{states:?}"
    );
}

#[test]
fn a_remote_worker_lives_through_a_hostile_target() {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(
        &target,
        "users = 4\nrequests = 200\ntimeout = \"2s\"",
        &["/huge-length", "/max-chunk", "/ok"],
    );
    let json = dir.path("r.json");
    let (mut m, addr, fp) = master(&dir, &text, &json, &[]);
    let mut w = procs::worker(&addr, &fp, TOKEN, "w");
    assert_eq!(m.wait(Duration::from_secs(60)), Some(0), "{}", m.stderr());
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 200, "{r}");
    assert_eq!(target.seen.total(), 200);
    assert_eq!(name(&r, "ok")["failures"], 0);
    assert!(w.is_running(), "the worker lives on: {}", w.stderr());
    assert!(
        w.peak_rss_mib() < 150,
        "worker peak RSS {} MiB",
        w.peak_rss_mib()
    );
}

/// A body of `left` bytes (or endless), served frame by frame.
struct Zeros {
    left: Option<u64>,
}

impl hyper::body::Body for Zeros {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        static BLOCK: [u8; 64 * 1024] = [b'h'; 64 * 1024];
        let n = match self.left {
            Some(0) => return std::task::Poll::Ready(None),
            Some(left) => left.min(BLOCK.len() as u64) as usize,
            None => BLOCK.len(),
        };
        if let Some(left) = self.left.as_mut() {
            *left -= n as u64;
        }
        let frame = hyper::body::Frame::data(bytes::Bytes::from_static(&BLOCK[..n]));
        std::task::Poll::Ready(Some(Ok(frame)))
    }
}

#[test]
fn http2_bodies_are_read_through_in_bounded_memory() {
    let addr = crate::servers::serve_connections(|sock| async move {
        let service =
            hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                let left = (req.uri().path() == "/big").then_some(300u64 << 20);
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Zeros { left }))
            });
        let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(hyper_util::rt::TokioIo::new(sock), service)
            .await;
    });
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 2\nduration = \"6s\"\ntimeout = \"3s\"\n[http]\nbase_url = \"http://{addr}\"\nversion = \"h2c\"\n\
         [[flow]]\nname = \"bodies\"\ncontinue_on_failure = true\n\
         [[flow.step]]\nname = \"big\"\npath = \"/big\"\n[[flow.step]]\nname = \"endless\"\npath = \"/endless\"\n"
    );
    // One flow, its steps in order: every user meets both bodies (a
    // weighted pick could skip one for the whole run).
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let big = name(&r, "big");
    let n = big["requests"].as_u64().unwrap();
    assert!(n >= 1 && big["failures"] == 0, "{big}");
    assert!(
        big["bytes_received"].as_u64().unwrap() >= n * (300 << 20),
        "{big}"
    );
    let endless = name(&r, "endless");
    assert!(endless["requests"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(endless["failures"], endless["requests"]);
    assert!(reasons(&r, "endless").iter().all(|(k, _)| k == "timeout"));
    assert!(p.peak_rss_mib() < 150, "peak RSS {} MiB", p.peak_rss_mib());
}

/// Forged results: a sum that would wrap, and results that contradict
/// themselves (more failures than requests, a histogram that holds other
/// than the requests, a run of requests that lasted no time). `volley
/// report` and `volley compare` refuse each with exit 2, naming the file
/// and the field.
#[test]
fn volley_report_refuses_forged_and_self_contradicting_results() {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(&target, "users = 1\nrequests = 5", &["/ok"]);
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let forged = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut f = r.clone();
        change(&mut f);
        dir.write("forged.json", &f.to_string())
    };
    let good = dir.path("r.json");
    type Forge<'a> = &'a dyn Fn(&mut serde_json::Value);
    let cases: [(Forge, &str); 4] = [
        (
            &|f| f["names"][0]["failures"] = serde_json::json!(10_000_000),
            "\"ok\" failures: 10000000 failures in 5 requests",
        ),
        (
            &|f| f["names"][0]["requests"] = serde_json::json!(u64::MAX),
            "\"ok\" histogram: it holds 5 latencies for 18446744073709551615 requests",
        ),
        (
            &|f| f["totals"]["failures"] = serde_json::json!(6),
            "totals failures: 6 failures in 5 requests",
        ),
        (
            &|f| f["duration_s"] = serde_json::json!(0.0),
            "duration_s: a run of 5 requests that lasted 0 s",
        ),
    ];
    for (change, says) in cases {
        let a = forged(change);
        for cmd in [
            vec!["report", a.to_str().unwrap(), good.to_str().unwrap()],
            vec!["compare", good.to_str().unwrap(), a.to_str().unwrap()],
        ] {
            let out = crate::common::volley(&cmd);
            let (_, stderr) = crate::common::text(&out);
            out.expect_exit_in(2, format_args!("{cmd:?}"));
            assert!(
                stderr.contains("forged.json") && stderr.contains(says),
                "{cmd:?}: expected {says:?} in {stderr}"
            );
        }
    }
}

/// A result of 100,000 names (a real run's name copied under new names):
/// `volley report` reads it in less memory than three times its size,
/// and reports every name. Each name's histogram was decoded into a dense
/// one of 16 KB or more: 200,000 names did not fit in 6 GiB.
#[test]
fn a_result_of_many_names_is_read_in_memory_near_its_size() {
    const NAMES: usize = 100_000;
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(&target, "users = 4\nrequests = 300", &["/ok"]);
    let (p, code, mut r) = run(&dir, &text, &[], Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let one = r["names"][0].clone();
    r["names"] = (0..NAMES)
        .map(|i| {
            let mut n = one.clone();
            n["name"] = serde_json::json!(format!("name-{i:06}"));
            n
        })
        .collect();
    let big = dir.write("big.json", &r.to_string());
    drop(r);
    let size_mib = std::fs::metadata(&big).unwrap().len() / (1 << 20);
    assert!(size_mib >= 40, "the result is only {size_mib} MiB");
    let mut p = Proc::start(&["report", big.to_str().unwrap()], &[]);
    assert_eq!(p.wait(Duration::from_secs(120)), Some(0), "{}", p.stderr());
    let out = p.stdout();
    assert!(out.contains("name-000000") && out.contains("name-099999"));
    assert!(
        p.peak_rss_mib() < 3 * size_mib,
        "peak RSS {} MiB for a result of {size_mib} MiB",
        p.peak_rss_mib()
    );
}

#[test]
fn a_thousand_request_names_cost_little_memory() {
    let target = hostile();
    let dir = Dir::new();
    let paths: Vec<String> = (0..1000).map(|i| format!("/ok?n={i}")).collect();
    let mut text = format!(
        "[load]\nusers = 4\nduration = \"3s\"\n[http]\nbase_url = \"http://{}\"\n",
        target.addr
    );
    for (i, p) in paths.iter().enumerate() {
        text.push_str(&format!("[[request]]\nname = \"r{i}\"\npath = \"{p}\"\n"));
    }
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    assert_eq!(r["names"].as_array().unwrap().len(), 1000);
    assert!(
        r["totals"]["requests"].as_u64().unwrap() > 1000,
        "{}",
        r["totals"]
    );
    // It took 1.15 GB when every name held dense histograms up front.
    assert!(p.peak_rss_mib() < 200, "peak RSS {} MiB", p.peak_rss_mib());
}

#[test]
fn the_highest_rate_allowed_still_stops_on_sigint_and_reports() {
    // Ten million arrivals a second and four slots: nearly every arrival is
    // missed, counted in bulk, and the dispatcher keeps yielding, so the
    // first SIGINT stops the run and it reports.
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(
        &target,
        "rate = 10000000\nmax_in_flight = 4\nduration = \"60s\"",
        &["/ok"],
    );
    let file = dir.write("s.toml", &text);
    let json = dir.path("r.json");
    let mut p = Proc::start(
        &[
            "run",
            "-f",
            file.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[],
    );
    std::thread::sleep(Duration::from_secs(3));
    p.signal(libc::SIGINT);
    // Millions of missed arrivals: the generator could not keep the
    // schedule, and the run says so (INVALID, exit 4), not pass.
    assert_eq!(p.wait(Duration::from_secs(20)), Some(4), "{}", p.stderr());
    let r = read_json(&json);
    assert_eq!(r["verdict"], "invalid", "{r}");
    assert!(
        r["invalid"].to_string().contains("arrivals missed"),
        "{}",
        r["invalid"]
    );
    assert!(r["totals"]["requests"].as_u64().unwrap() > 0, "{r}");
    assert!(
        r["missed_starts"].as_u64().unwrap() > 1_000_000,
        "{}",
        r["missed_starts"]
    );
    assert!(
        r["notes"].to_string().contains("stopped by SIGINT"),
        "{}",
        r["notes"]
    );
}

/// A server that sets 50 new cookies on every answer: each user keeps the
/// 50 most recently set (a browser's bound for one domain), sends no more,
/// and the run counts what was dropped; memory stays flat.
#[test]
fn a_cookie_flood_keeps_each_users_jar_within_browsers_bounds() {
    let target = hostile();
    let dir = Dir::new();
    let text = scenario(&target, "users = 4\nduration = \"4s\"", &["/cookie-flood"]);
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "cookie-flood");
    let requests = n["requests"].as_u64().unwrap();
    // Every request carried at most 50 cookies (or the server said 431).
    assert_eq!(n["failures"], 0, "{n}");
    assert!(requests >= 40, "{n}");
    // Each user's first answer fills its jar; every later one replaces the
    // 50 it held.
    assert_eq!(r["cookies_dropped"], (requests - 4) * 50, "{r}");
    assert!(
        p.stdout().contains("cookies were dropped"),
        "{}",
        p.stdout()
    );
    assert!(p.peak_rss_mib() < 100, "peak RSS {} MiB", p.peak_rss_mib());
}

/// A thread that cannot be spawned (`--threads 1024` under a limit of 64
/// processes) ends the run before it starts: exit 2 with the reason (as
/// for every engine that fails before measuring anything), never a hang. The
/// limit is RLIMIT_NPROC, which binds every user but root and counts all
/// of a user's threads: the test runs volley as a user id of its own, which
/// no other process has, so it needs root to start it.
#[test]
fn threads_that_cannot_be_spawned_end_the_run_with_exit_2_and_the_reason() {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::process::CommandExt as _;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: starting volley as nobody under a process limit needs root");
        return;
    }
    let target = hostile();
    let dir = Dir::new();
    std::fs::set_permissions(dir.dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let text = scenario(&target, "users = 4\nduration = \"5s\"", &["/ok"]);
    let file = dir.write("s.toml", &text);
    let json = dir.path("r.json");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_volley"));
    cmd.args(["run", "-f", file.to_str().unwrap(), "--threads", "1024"])
        .args(["--json", json.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // A user id nothing else runs as (no account needs to exist for it).
    let uid = 0x7ff0_0000 + (std::process::id() & 0xffff);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0
                || libc::setgid(uid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "volley hung on threads it could not spawn:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the OS refused the engine's load threads past")
            && stderr.contains("of 1024"),
        "{stderr}"
    );
}

/// A data file of eight million short lines (88 MB), run by two local
/// workers, costs the whole process less than twice the file: the file is
/// held once (the workers borrow the master's copy, and its lines are
/// spans of it), not once per worker and per plan (a file of 105 MiB took
/// 912 MiB with one local worker and 1.2 GiB with two before; 195 MiB now).
#[test]
fn a_big_data_file_costs_less_than_twice_its_size() {
    const LINES: usize = 8_000_000;
    let target = hostile();
    let dir = Dir::new();
    let lines: String = (0..LINES).map(|i| format!("u{i:09}\n")).collect();
    let size_mib = (lines.len() / (1 << 20)) as u64;
    dir.write("users.txt", &lines);
    drop(lines);
    let text = format!(
        "[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"http://{}\"\n\
         [data.users]\nfile = \"users.txt\"\n\
         [[request]]\nname = \"ok\"\npath = \"/ok?u={{{{ users }}}}\"\n",
        target.addr
    );
    let (p, code, r) = run(
        &dir,
        &text,
        &["--local-workers", "2"],
        Duration::from_secs(60),
    );
    assert_eq!(code, Some(0), "{}", p.stderr());
    assert_eq!(r["totals"]["requests"], 20, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(r["workers"].as_array().map(Vec::len), Some(2), "{r}");
    assert!(
        p.peak_rss_mib() < 2 * size_mib,
        "peak RSS {} MiB for a file of {size_mib} MiB",
        p.peak_rss_mib()
    );
}
