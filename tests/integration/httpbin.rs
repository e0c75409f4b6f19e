//! volley against go-httpbin, a server nobody here wrote: time to first
//! byte on its `/drip`, Server-Sent Events on its `/sse`, WebSocket on its
//! `/websocket/echo`, compression,
//! redirects (relative, absolute, 307), cookies, Basic, Bearer and Digest
//! auth (MD5 and SHA-256, from an auth table or the URL's credentials), the
//! default headers, and paths and queries with spaces, accents and a stray
//! `%` (percent-encoded as requests and browsers send them, static or from a
//! template), each checked on what go-httpbin says it received.
//!
//! go-httpbin is a Go program: `.ci/third-party` installs it and runs this test
//! with `VOLLEY_HTTPBIN` naming the binary. Without it the test is ignored
//! (the README's test command needs only Rust).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Dir, ExpectExit, Volley, read_json};

struct Httpbin {
    child: Child,
    port: u16,
}

impl Drop for Httpbin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Httpbin {
    let bin = std::env::var("VOLLEY_HTTPBIN")
        .expect("VOLLEY_HTTPBIN names the go-httpbin binary (.ci/third-party sets it)");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-host", "127.0.0.1", "-port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "go-httpbin did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Httpbin { child, port }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs go-httpbin: .ci/third-party installs it and runs this test"]
async fn behaves_like_the_clients_httpbin_was_made_for() {
    let hb = start();
    let dir = Dir::new();
    let version = env!("CARGO_PKG_VERSION");
    let port = hb.port;
    let text = format!(
        r#"[load]
users = 2
requests = 200
[http]
base_url = "http://ann:s3cret@127.0.0.1:{port}"

[[request]]
name = "headers"
path = "/headers"
[request.check.json]
"/headers/User-Agent/0" = "volley/{version}"
"/headers/Accept/0" = "*/*"
"/headers/Accept-Encoding/0" = "gzip, deflate, br, zstd"

[[request]]
name = "gzip"
path = "/gzip"
[request.check.json]
"/gzipped" = true

[[request]]
name = "deflate"
path = "/deflate"
[request.check.json]
"/deflated" = true

[[request]]
name = "relative-redirect"
path = "/relative-redirect/3"
[request.check]
status = [200]
json = {{ "/url" = "http://127.0.0.1:{port}/get" }}

[[request]]
name = "absolute-redirect"
path = "/absolute-redirect/2"
[request.check]
status = [200]

[[request]]
name = "redirect-307"
method = "POST"
path = "/redirect-to?url=/anything&status_code=307"
json = {{ kept = "body" }}
[request.check.json]
"/method" = "POST"
"/json/kept" = "body"

[[request]]
name = "redirect-303"
method = "POST"
path = "/redirect-to?url=/anything&status_code=303"
json = {{ dropped = "body" }}
[request.check.json]
"/method" = "GET"
"/data" = ""

[[request]]
name = "basic"
path = "/basic-auth/ann/s3cret"
[request.check.json]
"/authorized" = true

[[request]]
name = "bearer"
path = "/bearer"
auth = {{ bearer = "t0ken" }}
[request.check.json]
"/token" = "t0ken"

[[request]]
name = "encoded-path"
path = "/anything/a b/é?q=caf é&r=100%&s=%41"
[request.check.json]
"/url" = "http://127.0.0.1:{port}/anything/a%20b/%C3%A9?q=caf%20%C3%A9&r=100%25&s=%41"
"/args/q/0" = "caf é"
"/args/r/0" = "100%"
"/args/s/0" = "A"

[[request]]
name = "digest-md5"
path = "/digest-auth/auth/dana/t0ps3cret/MD5"
auth = {{ digest = {{ user = "dana", password = "t0ps3cret" }} }}
[request.check.json]
"/authorized" = true
"/user" = "dana"

[[request]]
name = "digest-sha256"
path = "/digest-auth/auth/dana/t0ps3cret/SHA-256"
auth = {{ digest = {{ user = "dana", password = "t0ps3cret" }} }}
[request.check.json]
"/authorized" = true

# The URL's credentials answer a Digest challenge too (curl's --anyauth).
[[request]]
name = "digest-from-url"
path = "/digest-auth/auth/ann/s3cret"
[request.check.json]
"/authorized" = true
"/user" = "ann"

[data.words]
file = "words.txt"

[[request]]
name = "encoded-template"
path = "/anything/{{{{ words }}}}?w={{{{ words }}}}"
[request.check.json]
"/url" = "http://127.0.0.1:{port}/anything/cr%C3%A8me%20br%C3%BBl%C3%A9e?w=cr%C3%A8me%20br%C3%BBl%C3%A9e"
"/args/w/0" = "crème brûlée"

[[flow]]
name = "cookies"
  [[flow.step]]
  name = "cookies-set"
  path = "/cookies/set?flavour=oat"
  [flow.step.check.json]
  "/cookies/flavour" = "oat"
  [[flow.step]]
  name = "cookies-read"
  path = "/cookies"
  [flow.step.check.json]
  "/cookies/flavour" = "oat"
"#
    );
    dir.write("words.txt", "crème brûlée\n");
    let file = dir.write("s.toml", &text);
    // What run sends, check accepts (it refused such paths once, and run
    // exited 2 on them).
    let checked = Volley::check(&file).offline().output();
    checked.expect_exit(0);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    let (stdout, stderr) = common::text(&out);
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 200, "{r}");
    for n in r["names"].as_array().unwrap() {
        assert_eq!(
            n["failures"], 0,
            "{}: {}",
            n["name"], n["failures_by_reason"]
        );
        assert!(n["requests"].as_u64().unwrap() > 0, "{}", n["name"]);
    }
    assert!(!stdout.contains("s3cret") && !stderr.contains("s3cret"));
}

/// Time to first byte against go-httpbin's `/drip`, which sends its head
/// and the first byte after `delay` and the rest over `duration`: volley's
/// `ttfb:drip` is at least the delay, and the whole answer comes well after
/// it (the drip's remaining bytes take about 270 ms more here).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs go-httpbin: .ci/third-party installs it and runs this test"]
async fn ttfb_is_the_drips_first_byte() {
    let hb = start();
    let dir = Dir::new();
    let port = hb.port;
    let file = dir.write(
        "drip.toml",
        &format!(
            "[load]\nusers = 2\nrequests = 4\n[http]\nbase_url = \"http://127.0.0.1:{port}\"\n[[request]]\nname = \"drip\"\npath = \"/drip?duration=400ms&numbytes=4&delay=300ms\"\n"
        ),
    );
    let json = dir.path("drip.json");
    Volley::run(&file)
        .json(&json)
        .output_async()
        .await
        .expect_exit(0);
    let r = read_json(&json);
    let name = &r["names"][0];
    assert_eq!(name["requests"], 4, "{name}");
    let first = name["ttfb"]["p50_us"].as_u64().unwrap();
    let whole = name["p50_us"].as_u64().unwrap();
    assert!(first >= 300_000, "ttfb {first} us before the drip's delay");
    assert!(
        whole >= first + 250_000,
        "ttfb {first} us, whole {whole} us"
    );
    assert_eq!(r["ttfb"][0]["requests"], 4);
}

/// go-httpbin's `/sse` sends `count` events (`event: ping`, JSON data with
/// an `id` from 0) over `duration`, after `delay`: volley counts every one,
/// the last one's id is count-1, the first comes after the delay, and a
/// call ended after 3 events passes with 3.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs go-httpbin: .ci/third-party installs it and runs this test"]
async fn sse_events_are_go_httpbins_events() {
    let hb = start();
    let dir = Dir::new();
    let port = hb.port;
    let file = dir.write(
        "sse.toml",
        &format!(
            "[load]\nusers = 2\nrequests = 8\n[http]\nbase_url = \"http://127.0.0.1:{port}\"\n\
             [[request]]\nname = \"all\"\npath = \"/sse?count=7&duration=140ms&delay=100ms\"\n\
             [request.sse]\ncheck = \"last\"\n\
             [request.check]\njson = {{ \"/id\" = 6 }}\n\
             [[request]]\nname = \"three\"\npath = \"/sse?count=50&duration=500ms\"\n\
             [request.sse]\nevents = 3\n"
        ),
    );
    let json = dir.path("sse.json");
    Volley::run(&file)
        .json(&json)
        .output_async()
        .await
        .expect_exit(0);
    let r = read_json(&json);
    let row = |group: &str, n: &str| common::row(&r, group, n).clone();
    let all = row("names", "all");
    let three = row("names", "three");
    let calls = all["requests"].as_u64().unwrap();
    let short = three["requests"].as_u64().unwrap();
    assert_eq!(calls + short, 8, "{r}");
    assert_eq!(
        (all["failures"].as_u64(), three["failures"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(
        row("streams", "msg:all")["requests"].as_u64(),
        Some(7 * calls)
    );
    assert_eq!(
        row("streams", "msg:three")["requests"].as_u64(),
        Some(3 * short)
    );
    if calls > 0 {
        let first = row("streams", "first:all")["p50_us"].as_u64().unwrap();
        assert!(first >= 100_000, "first event {first} us before the delay");
        assert!(all["p50_us"].as_u64().unwrap() >= 240_000, "{all}");
    }
}

/// go-httpbin's `/websocket/echo` answers each message with itself: in
/// ping-pong and pipelined, every message sent is answered and each answer
/// checked; its message limit refuses a larger one with a close of its
/// own (1009, message too big).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs go-httpbin: .ci/third-party installs it and runs this test"]
async fn websocket_echoes_are_go_httpbins() {
    let hb = start();
    let dir = Dir::new();
    let url = format!("ws://127.0.0.1:{}/websocket/echo", hb.port);
    let big = "z".repeat(300);
    let text = format!(
        r#"[load]
users = 2
requests = 12

[[request]]
name = "pong"
url = "{url}"
message = {{ text = "t{{{{ int(1, 9) }}}}", n = 7 }}
[request.stream]
messages = 10
ping_pong = true
[request.check]
json = {{ "/n" = 7 }}

[[request]]
name = "pipe"
url = "{url}"
message = ["a", "b"]
[request.stream]
messages = 50

[[request]]
name = "big"
url = "{url}?max_fragment_size=100&max_message_size=100"
message = "{big}"
"#
    );
    let file = dir.write("ws.toml", &text);
    let json = dir.path("ws.json");
    Volley::run(&file)
        .json(&json)
        .output_async()
        .await
        .expect_exit(0);
    let r = read_json(&json);
    let row = |group: &str, n: &str| common::row(&r, group, n).clone();
    let calls = |n: &str| row("names", n)["requests"].as_u64().unwrap();
    assert_eq!(calls("pong") + calls("pipe") + calls("big"), 12, "{r}");
    for n in ["pong", "pipe"] {
        assert_eq!(row("names", n)["failures"], 0, "{n}: {r}");
    }
    assert_eq!(
        row("streams", "msg:pong")["requests"].as_u64(),
        Some(10 * calls("pong"))
    );
    assert_eq!(
        row("streams", "msg:pipe")["requests"].as_u64(),
        Some(50 * calls("pipe"))
    );
    assert_eq!(
        row("streams", "sent:pipe")["requests"].as_u64(),
        Some(50 * calls("pipe"))
    );
    if calls("big") > 0 {
        let big = row("names", "big");
        assert_eq!(big["failures"].as_u64(), Some(calls("big")), "{big}");
        let reason = &big["failures_by_reason"][0];
        assert_eq!(reason["kind"], "close", "{big}");
        assert_eq!(reason["reason"], "closed with 1009", "{big}");
    }
}
