//! volley's HTTP/3 client against two servers nobody here wrote, each
//! checked on what the server itself logged, request by request:
//!
//! - **Caddy** (`VOLLEY_CADDY`), serving HTTP/1.1, HTTP/2 and HTTP/3 on
//!   one port of 127.0.0.1 (TCP and UDP) with a certificate from its own
//!   local CA (`tls internal`), and offering HTTP/3 in `Alt-Svc` on its
//!   TCP answers, as deployed sites do. Its JSON access log says which
//!   protocol carried each request (`request.proto`: `HTTP/3.0`,
//!   `HTTP/2.0`, `HTTP/1.1`): `version = "http3"` is HTTP/3 on every
//!   line, with a connection per user or shared ones, redirects, cookies
//!   and gzip included; `http2` and `http1` are never HTTP/3 although
//!   offered; `auto` starts on HTTP/2 and moves to HTTP/3 once offered.
//! - **h3-httpbin** (`VOLLEY_H3_HTTPBIN`, our Go program in
//!   `tests/integration/h3_peers/h3-httpbin`): go-httpbin's handler served over
//!   HTTP/3 only by quic-go (the HTTP/3 stack Caddy uses too), with a
//!   self-signed certificate it writes at start and a JSON line per request
//!   (`method`, `uri`, `proto`, `status`). httpbin's redirects (every hop
//!   HTTP/3), cookies, gzip, templates, a 503, a POST echoed, `max_body`;
//!   and routes of its own that misbehave, in front of httpbin's:
//!   `/h3/reset` sends the head and 100 of 1,000 bytes, then resets the
//!   stream with H3_REQUEST_CANCELLED (0x10c); `/h3/abort` panics with
//!   `http.ErrAbortHandler` before any head, which quic-go turns into a
//!   reset with H3_INTERNAL_ERROR (0x102); `/h3/close` closes the whole
//!   QUIC connection with application error 0x10c; `/h3/slow?ms=N`
//!   answers after N ms. A misbehaving route logs status 0.
//!
//! Both are Go programs: `.ci/third-party` installs Caddy (pinned), builds
//! h3-httpbin (its go.mod pins go-httpbin and quic-go) and runs these tests
//! with the two variables naming the binaries. Without them the tests are
//! ignored (the README's test command needs only Rust). Each test starts
//! its own server on 127.0.0.1 with its files in a temporary folder, and
//! waits for its UDP port to answer a QUIC packet; every run is bounded by
//! a count of requests and its duration.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{self, Dir, ExpectExit, read_json, reasons};

/// A port free on 127.0.0.1 over both UDP and TCP (Caddy serves HTTP/3 and
/// HTTP/1.1 and 2 on the same number).
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether a QUIC server answers on `port` of 127.0.0.1: a long-header
/// packet of a version no server speaks (0x?a?a?a?a, reserved to force
/// version negotiation, RFC 9000 15), padded to the 1,200 bytes a server
/// needs before it answers, draws a Version Negotiation packet (version
/// 0). Binding the port to probe it would race the server for it; this
/// only sends.
fn quic_answers(port: u16) -> bool {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut probe = vec![0u8; 1200];
    probe[0] = 0xc0;
    probe[1..5].copy_from_slice(&[0x1a, 0x2a, 0x3a, 0x4a]);
    probe[5] = 8;
    probe[6..14].copy_from_slice(b"volleyd0");
    probe[14] = 8;
    probe[15..23].copy_from_slice(b"volleys0");
    if sock.send_to(&probe, ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 1500];
    matches!(sock.recv_from(&mut buf), Ok((n, _)) if n >= 5 && buf[0] & 0x80 != 0 && buf[1..5] == [0; 4])
}

/// Waits until `ready` holds, or panics with `what` after 20 s.
fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < end, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server process, stopped with SIGTERM to its own pid (killed if it has
/// not exited 5 s later).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid, not yet waited for.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A server's JSON access log once it holds at least `expected` lines (a
/// server may log a request just after its answer left), or after 10 s:
/// the lines as JSON, in the order written.
fn log_lines(path: &Path, expected: usize) -> Vec<Value> {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        if lines.len() >= expected || Instant::now() >= end {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A name's requests in a JSON result.
fn requests(r: &Value, name: &str) -> u64 {
    common::row(r, "names", name)["requests"].as_u64().unwrap()
}

/// Requests volley sent again on a new connection (each reached the
/// server twice; see docs/scenario.md, "Checks and failure kinds").
fn retries(r: &Value) -> u64 {
    r["retries"].as_u64().unwrap()
}

// ---- Caddy ----

struct Caddy {
    _proc: Server,
    port: u16,
    /// Caddy's local CA, which signed the site's certificate: `[http] ca`.
    root: PathBuf,
    log: PathBuf,
}

/// A JSON document of about 6 KiB, which gzip shrinks well.
fn doc() -> String {
    let items: Vec<String> = (0..200)
        .map(|i| format!("{{\"id\":{i},\"name\":\"item {i}\"}}"))
        .collect();
    format!("{{\"ok\":true,\"items\":[{}]}}", items.join(","))
}

impl Caddy {
    /// Caddy with its home, data and config in `dir` (its CA's key among
    /// them: nothing of the machine's is read or written), serving:
    /// `/` "ok"; `/doc.json` ([`doc`]) gzipped; `/redir`, a 302 to `/`;
    /// `/cookie/set`, which sets `k=v`; `/cookie/get`, "k=" and the `k`
    /// cookie the request carried.
    fn start(dir: &Dir) -> Caddy {
        let bin = std::env::var("VOLLEY_CADDY")
            .expect("VOLLEY_CADDY names the caddy binary (.ci/third-party sets it)");
        let port = free_port();
        // Redirects from HTTP are off, but the port is Caddy's to bind:
        // a free one, not the HTTPS one.
        let http_port = loop {
            let p = free_port();
            if p != port {
                break p;
            }
        };
        let d = dir.path("").display().to_string();
        let d = d.trim_end_matches('/').to_owned();
        dir.write("www/doc.json", &doc());
        let log = dir.path("access.log");
        // `grace_period`: SIGTERM waits for no idle QUIC connection (30 s
        // otherwise). `persist_config off` and `admin off`: no autosave,
        // no admin port. `skip_install_trust`: the CA stays in the folder.
        let caddyfile = format!(
            r#"{{
	admin off
	persist_config off
	auto_https disable_redirects
	skip_install_trust
	local_certs
	grace_period 1s
	http_port {http_port}
	https_port {port}
	servers {{
		protocols h1 h2 h3
	}}
}}

https://127.0.0.1:{port} {{
	bind 127.0.0.1
	tls internal
	log {{
		output file {log}
		format json
	}}
	handle / {{
		respond "ok" 200
	}}
	handle /doc.json {{
		root * {d}/www
		encode gzip
		file_server
	}}
	handle /redir {{
		redir * / 302
	}}
	handle /cookie/set {{
		header Set-Cookie "k=v; Path=/"
		respond "set" 200
	}}
	handle /cookie/get {{
		respond "k={{http.request.cookie.k}}" 200
	}}
	handle {{
		respond "not here" 404
	}}
}}
"#,
            log = log.display()
        );
        let file = dir.write("Caddyfile", &caddyfile);
        for sub in ["home", "data", "config"] {
            std::fs::create_dir_all(dir.path(sub)).unwrap();
        }
        let proc = Server(
            Command::new(bin)
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&file)
                .env("HOME", dir.path("home"))
                .env("XDG_DATA_HOME", dir.path("data"))
                .env("XDG_CONFIG_HOME", dir.path("config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let root = dir.path("data/caddy/pki/authorities/local/root.crt");
        wait_for("Caddy wrote no root certificate", || root.exists());
        wait_for("Caddy does not accept on TCP", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        wait_for("Caddy does not answer QUIC", || quic_answers(port));
        Caddy {
            _proc: proc,
            port,
            root,
            log,
        }
    }

    /// The access log's lines as (proto, status, uri), once it holds at
    /// least `expected` lines.
    fn lines(&self, expected: usize) -> Vec<(String, u64, String)> {
        log_lines(&self.log, expected)
            .iter()
            .map(|l| {
                (
                    l["request"]["proto"].as_str().unwrap_or("?").to_owned(),
                    l["status"].as_u64().unwrap_or(0),
                    l["request"]["uri"].as_str().unwrap_or("?").to_owned(),
                )
            })
            .collect()
    }
}

/// The scenario every Caddy run sends: `users` closed-loop users, `count`
/// requests, over `[http] version = VERSION` and `extra` `[http]` lines;
/// each request checks what Caddy answered, after the redirect, the gzip
/// and the cookie jar.
fn caddy_scenario(caddy: &Caddy, version: &str, extra: &str, users: u32, count: u32) -> String {
    format!(
        r#"[load]
users = {users}
requests = {count}
duration = "60s"
[http]
base_url = "https://127.0.0.1:{port}"
version = "{version}"
ca = "{root}"
{extra}

[[request]]
name = "ok"
path = "/"
[request.check]
body_contains = "ok"

[[request]]
name = "doc"
path = "/doc.json"
[request.check.json]
"/ok" = true
"/items/199/name" = "item 199"

[[request]]
name = "redir"
path = "/redir"
[request.check]
status = [200]
body_contains = "ok"

[[flow]]
name = "cookie"
  [[flow.step]]
  name = "cookie-set"
  path = "/cookie/set"
  [[flow.step]]
  name = "cookie-get"
  path = "/cookie/get"
  [flow.step.check]
  body_contains = "k=v"
"#,
        port = caddy.port,
        root = caddy.root.display(),
    )
}

/// Runs [`caddy_scenario`] against a Caddy of its own, which must pass
/// every request: the JSON result and Caddy's log, checked to hold one
/// line per request, per redirect hop and per request sent again.
async fn run_against_caddy(
    version: &str,
    extra: &str,
    users: u32,
    count: u32,
) -> (Value, Vec<(String, u64, String)>) {
    let dir = Dir::new();
    let caddy = Caddy::start(&dir);
    let file = dir.write(
        "s.toml",
        &caddy_scenario(&caddy, version, extra, users, count),
    );
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    out.expect_exit_in(0, format_args!("version {version} {extra}"));
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], count, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    // Each redirect is one request of volley's and two lines of Caddy's.
    let expected = count as u64 + requests(&r, "redir") + retries(&r);
    let lines = caddy.lines(expected as usize);
    assert_eq!(
        lines.len() as u64,
        expected,
        "{version} {extra}: {lines:?}\n{r}"
    );
    // Every answer was Caddy's 200, but the redirects' own 302s.
    let redirects = lines.iter().filter(|(_, s, _)| *s == 302).count() as u64;
    assert_eq!(redirects, requests(&r, "redir"), "{lines:?}");
    assert!(
        lines.iter().all(|(_, s, _)| *s == 200 || *s == 302),
        "{lines:?}"
    );
    // Bytes are the wire's: the gzipped document, not its 6 KiB.
    let doc_row = common::row(&r, "names", "doc");
    if let Some(n) = doc_row["requests"].as_u64().filter(|n| *n > 0) {
        let per = doc_row["bytes_received"].as_u64().unwrap() / n;
        assert!(per < doc().len() as u64 / 2, "{per} bytes per answer");
    }
    (r, lines)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Caddy and h3-httpbin: .ci/third-party installs them"]
async fn caddy_over_http3_counts_alike_and_logs_every_request_as_http3() {
    // A connection per user, then two that the users share (each request a
    // stream of one of them).
    for extra in ["", "connections = 2"] {
        let (r, lines) = run_against_caddy("http3", extra, 4, 200).await;
        let other: Vec<_> = lines.iter().filter(|(p, _, _)| p != "HTTP/3.0").collect();
        assert!(other.is_empty(), "{extra}: not over HTTP/3: {other:?}");
        // The result says so too.
        assert_eq!(
            r["totals"]["protocols"],
            serde_json::json!({"HTTP/3": 200}),
            "{extra}"
        );
    }
}

/// The same Caddy offers HTTP/3 in `Alt-Svc` on every TCP answer; a
/// version named is the version spoken all the same, so the log tells the
/// versions apart (and the HTTP/3 test's lines are not HTTP/2's).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Caddy and h3-httpbin: .ci/third-party installs them"]
async fn caddy_over_http2_and_http1_logs_them_so_despite_alt_svc() {
    for (version, proto) in [("http2", "HTTP/2.0"), ("http1", "HTTP/1.1")] {
        let (r, lines) = run_against_caddy(version, "", 4, 100).await;
        let other: Vec<_> = lines.iter().filter(|(p, _, _)| p != proto).collect();
        assert!(other.is_empty(), "{version}: not over {proto}: {other:?}");
        let label = if version == "http2" {
            "HTTP/2"
        } else {
            "HTTP/1.1"
        };
        assert_eq!(r["totals"]["protocols"], serde_json::json!({ label: 100 }));
    }
}

/// `version = "auto"` on https: ALPN picks HTTP/2 for the first request,
/// whose answer's `Alt-Svc` offers HTTP/3 on the same port; volley then
/// moves to HTTP/3. One user, so that the log's order is the user's: a
/// run of HTTP/2 lines, then HTTP/3 only, most of the run.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Caddy and h3-httpbin: .ci/third-party installs them"]
async fn caddy_auto_starts_on_http2_and_moves_to_http3_offered_by_alt_svc() {
    let (r, lines) = run_against_caddy("auto", "", 1, 60).await;
    let protos: Vec<&str> = lines.iter().map(|(p, _, _)| p.as_str()).collect();
    assert_eq!(protos.first(), Some(&"HTTP/2.0"), "{protos:?}");
    let h2 = protos.iter().take_while(|p| **p == "HTTP/2.0").count();
    assert!(
        protos[h2..].iter().all(|p| *p == "HTTP/3.0"),
        "HTTP/2 after HTTP/3, or another protocol: {protos:?}"
    );
    let h3 = protos.len() - h2;
    assert!(h3 > h2, "{h2} lines over HTTP/2, {h3} over HTTP/3");
    // The result counts what Caddy's log says (a redirect's two lines are
    // one request: counted by its final answer's protocol).
    let counted = &r["totals"]["protocols"];
    assert_eq!(
        counted["HTTP/2"].as_u64().unwrap_or(0) + counted["HTTP/3"].as_u64().unwrap_or(0),
        60,
        "{counted}"
    );
    assert!(
        counted["HTTP/2"].as_u64().unwrap_or(0) as usize <= h2,
        "{counted} against {h2} HTTP/2 lines"
    );
}

// ---- h3-httpbin ----

struct H3bin {
    _proc: Server,
    port: u16,
    /// Its self-signed certificate: `[http] ca`.
    cert: PathBuf,
    log: PathBuf,
}

impl H3bin {
    /// h3-httpbin on a free UDP port of 127.0.0.1, its certificate and log
    /// in `dir`, once it answers QUIC.
    fn start(dir: &Dir) -> H3bin {
        let bin = std::env::var("VOLLEY_H3_HTTPBIN")
            .expect("VOLLEY_H3_HTTPBIN names the h3-httpbin binary (.ci/third-party builds it)");
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cert = dir.path("h3-httpbin.pem");
        let log = dir.path("h3-httpbin.log");
        let proc = Server(
            Command::new(bin)
                .arg("-addr")
                .arg(format!("127.0.0.1:{port}"))
                .arg("-cert-out")
                .arg(&cert)
                .arg("-log")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        // The certificate is written once the port is bound.
        wait_for("h3-httpbin wrote no certificate", || cert.exists());
        wait_for("h3-httpbin does not answer QUIC", || quic_answers(port));
        H3bin {
            _proc: proc,
            port,
            cert,
            log,
        }
    }

    /// `[load]` and `[http]` for a run of `users` and `count` requests
    /// over HTTP/3.
    fn head(&self, users: u32, count: u32) -> String {
        format!(
            "[load]\nusers = {users}\nrequests = {count}\nduration = \"60s\"\n\
             [http]\nbase_url = \"https://127.0.0.1:{}\"\nversion = \"http3\"\nca = \"{}\"\n",
            self.port,
            self.cert.display()
        )
    }

    /// The log's lines as (method, uri, proto, status), once it holds at
    /// least `expected`.
    fn lines(&self, expected: u64) -> Vec<(String, String, String, u64)> {
        log_lines(&self.log, expected as usize)
            .iter()
            .map(|l| {
                (
                    l["method"].as_str().unwrap().to_owned(),
                    l["uri"].as_str().unwrap().to_owned(),
                    l["proto"].as_str().unwrap().to_owned(),
                    l["status"].as_u64().unwrap(),
                )
            })
            .collect()
    }
}

/// Runs `text`, which must exit 0: its JSON result.
async fn run_ok(dir: &Dir, text: &str) -> Value {
    let file = dir.write("s.toml", text);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    out.expect_exit(0);
    read_json(&json)
}

/// httpbin's routes over HTTP/3, one flow whose steps run in order
/// whatever fails (so each runs in every iteration): redirects of three
/// kinds (one request each, every hop in the log as HTTP/3), a cookie set
/// through a redirect, read back and captured into a path, a path from a
/// data file, gzip decoded for its check, a POST echoed, a 503 failing as
/// `status`, and 200,000 bytes under a 16 KiB `max_body` (read to the end
/// and counted, not kept).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Caddy and h3-httpbin: .ci/third-party installs them"]
async fn h3_httpbin_redirects_cookies_gzip_templates_and_bodies() {
    let dir = Dir::new();
    let hb = H3bin::start(&dir);
    let port = hb.port;
    dir.write("words.txt", "crème brûlée\n");
    let text = format!(
        r#"{head}max_body = "16KiB"

[data.words]
file = "words.txt"

[[flow]]
name = "tour"
continue_on_failure = true

  [[flow.step]]
  name = "redirect"
  path = "/redirect/3"
  [flow.step.check]
  status = [200]
  json = {{ "/url" = "https://127.0.0.1:{port}/get" }}

  [[flow.step]]
  name = "relative-redirect"
  path = "/relative-redirect/2"
  [flow.step.check]
  status = [200]
  json = {{ "/url" = "https://127.0.0.1:{port}/get" }}

  [[flow.step]]
  name = "absolute-redirect"
  path = "/absolute-redirect/2"
  [flow.step.check]
  status = [200]
  json = {{ "/url" = "https://127.0.0.1:{port}/get" }}

  [[flow.step]]
  name = "cookies-set"
  path = "/cookies/set?k=v"
  capture = {{ k = {{ cookie = "k" }} }}
  [flow.step.check.json]
  "/cookies/k" = "v"

  [[flow.step]]
  name = "cookies-read"
  path = "/cookies"
  [flow.step.check.json]
  "/cookies/k" = "v"

  [[flow.step]]
  name = "template"
  path = "/anything/{{{{ words }}}}?k={{{{ k }}}}"
  [flow.step.check.json]
  "/url" = "https://127.0.0.1:{port}/anything/cr%C3%A8me%20br%C3%BBl%C3%A9e?k=v"
  "/args/k/0" = "v"

  [[flow.step]]
  name = "gzip"
  path = "/gzip"
  [flow.step.check.json]
  "/gzipped" = true

  [[flow.step]]
  name = "post"
  method = "POST"
  path = "/anything"
  json = {{ hello = "h3", n = 3 }}
  [flow.step.check.json]
  "/method" = "POST"
  "/json/hello" = "h3"
  "/json/n" = 3

  [[flow.step]]
  name = "unavailable"
  path = "/status/503"

  [[flow.step]]
  name = "bytes"
  path = "/bytes/200000"
"#,
        head = hb.head(2, 100)
    );
    let r = run_ok(&dir, &text).await;
    assert_eq!(r["totals"]["requests"], 100, "{r}");
    for n in r["names"].as_array().unwrap() {
        let name = n["name"].as_str().unwrap();
        if name != "unavailable" {
            assert_eq!(n["failures"], 0, "{name}: {}", n["failures_by_reason"]);
        }
        assert!(n["requests"].as_u64().unwrap() > 0, "{name}: {r}");
    }
    let unavailable = common::row(&r, "names", "unavailable");
    assert_eq!(unavailable["failures"], unavailable["requests"], "{r}");
    assert_eq!(
        reasons(&r, "unavailable"),
        [("status".into(), "HTTP 503 Service Unavailable".into())]
    );
    let bytes = common::row(&r, "names", "bytes");
    let per = bytes["bytes_received"].as_u64().unwrap() / bytes["requests"].as_u64().unwrap();
    assert!(per >= 200_000, "{per} bytes per answer");
    // Every hop was a request of its own on the server, over HTTP/3:
    // /redirect/3 is four, the others' 2 are three, a cookie set and its
    // redirect to /cookies two.
    let hops = |name: &str| match name {
        "redirect" => 4,
        "relative-redirect" | "absolute-redirect" => 3,
        "cookies-set" => 2,
        _ => 1,
    };
    let expected: u64 = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| hops(n["name"].as_str().unwrap()) * n["requests"].as_u64().unwrap())
        .sum::<u64>()
        + retries(&r);
    let lines = hb.lines(expected);
    assert_eq!(lines.len() as u64, expected, "{lines:?}\n{r}");
    let other: Vec<_> = lines.iter().filter(|l| l.2 != "HTTP/3.0").collect();
    assert!(other.is_empty(), "not over HTTP/3: {other:?}");
    let hop_lines = |prefix: &str| lines.iter().filter(|l| l.1.starts_with(prefix)).count() as u64;
    assert_eq!(
        hop_lines("/absolute-redirect/"),
        2 * requests(&r, "absolute-redirect"),
        "{lines:?}"
    );
}

/// A known latency over HTTP/3: `/h3/slow?ms=200` answers after 200 ms, so
/// every request, and its time to first byte, takes at least that.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Caddy and h3-httpbin: .ci/third-party installs them"]
async fn h3_httpbin_slow_route_is_the_latency_measured() {
    let dir = Dir::new();
    let hb = H3bin::start(&dir);
    let text = format!(
        "{}\n[[request]]\nname = \"slow\"\npath = \"/h3/slow?ms=200\"\n[request.check]\nbody_contains = \"slow\"\n",
        hb.head(2, 6)
    );
    let r = run_ok(&dir, &text).await;
    let slow = common::row(&r, "names", "slow");
    assert_eq!(
        (slow["requests"].as_u64(), slow["failures"].as_u64()),
        (Some(6), Some(0)),
        "{r}"
    );
    assert!(slow["min_us"].as_u64().unwrap() >= 200_000, "{slow}");
    assert_eq!(slow["ttfb"]["count"], 6, "{slow}");
    assert!(
        slow["ttfb"]["p50_us"].as_u64().unwrap() >= 200_000,
        "{slow}"
    );
    let lines = hb.lines(6 + retries(&r));
    assert!(
        lines.iter().all(|l| l.2 == "HTTP/3.0" && l.3 == 200),
        "{lines:?}"
    );
}

/// Whether `kind` and `reason` are a reset or a close naming `code`, as
/// volley reports a peer's HTTP/3 error (`stream reset by the server
/// (H3_REQUEST_CANCELLED, 0x10c)`, `connection closed by the server
/// (…)`): kind `reset` or `protocol`, the code in the reason.
fn names_code(kind: &str, reason: &str, code: &str) -> bool {
    (kind == "reset" || kind == "protocol") && reason.contains(code)
}

/// Streams reset by the server, mid-body (`/h3/reset`, H3_REQUEST_CANCELLED)
/// and before any head (`/h3/abort`, H3_INTERNAL_ERROR): every such request
/// fails with the code in its reason, and the requests between them pass.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Caddy and h3-httpbin: .ci/third-party installs them"]
async fn h3_httpbin_stream_resets_fail_with_their_code() {
    let dir = Dir::new();
    let hb = H3bin::start(&dir);
    let text = format!(
        r#"{}
[[flow]]
name = "resets"
continue_on_failure = true
  [[flow.step]]
  name = "reset"
  path = "/h3/reset"
  [[flow.step]]
  name = "abort"
  path = "/h3/abort"
  [[flow.step]]
  name = "get"
  path = "/get"
"#,
        hb.head(2, 30)
    );
    let r = run_ok(&dir, &text).await;
    assert_eq!(r["totals"]["requests"], 30, "{r}");
    for (name, code) in [("reset", "0x10c"), ("abort", "0x102")] {
        let row = common::row(&r, "names", name);
        assert!(row["requests"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(row["failures"], row["requests"], "{name}: {r}");
        let rs = reasons(&r, name);
        assert!(
            rs.iter().all(|(k, why)| names_code(k, why, code)),
            "{name}: {rs:?}"
        );
    }
    // What arrived before the mid-body reset (the head and 100 bytes of
    // body) is counted, not lost with the request.
    let reset = common::row(&r, "names", "reset");
    assert!(
        reset["bytes_received"].as_u64().unwrap() >= 100 * reset["requests"].as_u64().unwrap(),
        "{reset}"
    );
    let get = common::row(&r, "names", "get");
    assert!(get["requests"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(get["failures"], 0, "{r}");
    // Every request reached the server and was logged as HTTP/3.
    let lines = hb.lines(30 + retries(&r));
    assert_eq!(lines.len() as u64, 30 + retries(&r), "{lines:?}\n{r}");
    assert!(lines.iter().all(|l| l.2 == "HTTP/3.0"), "{lines:?}");
}

/// The server closes the whole QUIC connection (`/h3/close`, application
/// error 0x10c) under a request: the request fails naming the code, and
/// the user's next request (`/get`, the flow's next step) passes on a new
/// connection.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Caddy and h3-httpbin: .ci/third-party installs them"]
async fn h3_httpbin_connection_close_fails_its_request_and_volley_goes_on() {
    let dir = Dir::new();
    let hb = H3bin::start(&dir);
    let text = format!(
        r#"{}
[[flow]]
name = "close-then-get"
continue_on_failure = true
  [[flow.step]]
  name = "close"
  path = "/h3/close"
  [[flow.step]]
  name = "get"
  path = "/get"
  [flow.step.check]
  json = {{ "/url" = "https://127.0.0.1:{}/get" }}
"#,
        hb.head(2, 20),
        hb.port
    );
    let r = run_ok(&dir, &text).await;
    assert_eq!(r["totals"]["requests"], 20, "{r}");
    let close = common::row(&r, "names", "close");
    assert!(close["requests"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(close["failures"], close["requests"], "{r}");
    let rs = reasons(&r, "close");
    assert!(
        rs.iter().all(|(k, why)| names_code(k, why, "0x10c")),
        "{rs:?}"
    );
    let get = common::row(&r, "names", "get");
    assert!(get["requests"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(get["failures"], 0, "{r}");
    // A GET the close cut may be sent again once (it is idempotent), and
    // then closed again: the log holds it twice, counted in `retries`.
    let lines = hb.lines(20 + retries(&r));
    assert_eq!(lines.len() as u64, 20 + retries(&r), "{lines:?}\n{r}");
    let gets = lines.iter().filter(|l| l.1 == "/get" && l.3 == 200).count() as u64;
    assert_eq!(gets, requests(&r, "get"), "{lines:?}");
}
