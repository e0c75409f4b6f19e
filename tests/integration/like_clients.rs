//! volley's HTTP client sends what users' own clients send and reads what
//! they read: default headers, compressed answers, redirects, cookies,
//! credentials, virtual hosts on HTTP/2, keep-alive off, templated URLs,
//! and exact byte counts. Against an in-test axum server that reports what
//! it received (go-httpbin, which .ci/run installs, covers the same ground
//! in tests/integration/httpbin.rs).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

use crate::common::{
    self, Dir, ExpectExit, VERSIONS, Volley, per_version, read_json, reasons, with_version,
};

/// What the server saw.
#[derive(Default)]
struct Seen {
    /// Requests per path.
    paths: BTreeMap<String, u64>,
    /// The client ports connections came from.
    peers: BTreeSet<u16>,
    /// The last Host (HTTP/1.1) or :authority (HTTP/2) per path.
    authority: HashMap<String, String>,
    /// The request lines' query per path (last seen).
    methods: Vec<(String, String)>,
}

struct Web {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Web {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
    fn count(&self, path: &str) -> u64 {
        self.seen
            .lock()
            .unwrap()
            .paths
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

type St = Arc<Mutex<Seen>>;

/// A JSON text that compresses well and says which coding it came in.
fn doc(coding: &str) -> Vec<u8> {
    let filler = "la".repeat(2000);
    serde_json::to_vec(&json!({ "coding": coding, "ok": true, "filler": filler })).unwrap()
}

fn encode(coding: &str, body: &[u8]) -> Vec<u8> {
    match coding {
        "gzip" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "br" => {
            let mut out = Vec::new();
            {
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
                w.write_all(body).unwrap();
            }
            out
        }
        "zstd" => zstd::encode_all(body, 3).unwrap(),
        _ => body.to_vec(),
    }
}

fn start() -> Web {
    let seen: St = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // 64 MiB of zeros, gzip-compressed once (about 64 KiB on the wire).
    let bomb = Arc::new({
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![b'0'; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        e.finish().unwrap()
    });
    let app = axum::Router::new()
        .route("/headers", any(headers))
        .route("/coded/{coding}", get(coded))
        .route(
            "/bomb",
            get(move || {
                let b = bomb.clone();
                async move { ([(header::CONTENT_ENCODING, "gzip")], b.to_vec()).into_response() }
            }),
        )
        .route("/redirect/{n}", any(redirect))
        .route("/loop", any(|| async { moved(302, "/loop") }))
        .route("/elsewhere", any(elsewhere))
        .route("/see-other", any(|| async { moved(303, "/method") }))
        .route("/temporary", any(|| async { moved(307, "/method") }))
        .route("/method", any(method))
        .route("/cookies/set", get(set_cookies))
        .route("/cookies", get(cookies))
        .route("/cookies/expect/{session}", get(expect_cookie))
        .route("/basic", get(basic))
        .route("/bearer", get(bearer))
        .route("/slow", get(slow))
        .route("/get", get(|| async { "ok" }))
        .layer(axum::middleware::from_fn_with_state(seen.clone(), note))
        .with_state(seen.clone());
    crate::servers::serve_on_own_thread(listener, move |listener| async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async {
            let _ = rx.await;
        })
        .await;
    });
    Web {
        addr,
        seen,
        _stop: tx,
    }
}

/// Counts every request by path, its peer and its authority.
async fn note(
    State(seen): State<St>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    {
        let mut s = seen.lock().unwrap();
        let path = req.uri().path().to_owned();
        *s.paths.entry(path.clone()).or_insert(0) += 1;
        s.peers.insert(peer.port());
        let authority = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .or_else(|| {
                req.headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        s.authority.insert(path.clone(), authority);
        s.methods.push((path, req.method().to_string()));
    }
    next.run(req).await
}

fn moved(status: u16, to: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::LOCATION, to.to_owned())],
    )
        .into_response()
}

/// The request's headers as JSON; on HTTP/2, which has no Host header,
/// `host` is the request's `:authority`, as HTTP/1.1 would have sent it.
async fn headers(req: Request) -> Response {
    let mut map: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    if let Some(a) = req.uri().authority() {
        map.entry("host".to_owned())
            .or_insert_with(|| a.to_string());
    }
    axum::Json(json!({ "headers": map })).into_response()
}

/// The document in the coding asked for, if the client accepts it.
async fn coded(Path(coding): Path<String>, h: HeaderMap) -> Response {
    let accepts = h
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == coding));
    let mut resp = if accepts {
        let mut r = encode(&coding, &doc(&coding)).into_response();
        r.headers_mut()
            .insert(header::CONTENT_ENCODING, coding.parse().unwrap());
        r
    } else {
        doc("identity").into_response()
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    resp
}

async fn redirect(Path(n): Path<u32>) -> Response {
    if n == 0 {
        moved(302, "/get")
    } else {
        // Relative, as servers often write it.
        moved(302, &format!("{}", n - 1))
    }
}

/// A redirect to the same server under another name (127.0.0.1 and
/// localhost are two origins).
async fn elsewhere(req: Request) -> Response {
    // Host on HTTP/1.1, :authority on HTTP/2.
    let authority = req.uri().authority().map(|a| a.to_string()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
    });
    let port = authority
        .as_deref()
        .and_then(|h| h.rsplit(':').next())
        .unwrap_or("80")
        .to_owned();
    moved(302, &format!("http://localhost:{port}/headers"))
}

async fn method(req: Request) -> Response {
    let m = req.method().to_string();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    axum::Json(json!({ "method": m, "body": String::from_utf8_lossy(&body) })).into_response()
}

async fn set_cookies(req: Request) -> Response {
    let mut r = moved(302, "/cookies");
    let query = req.uri().query().unwrap_or("").to_owned();
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        r.headers_mut().append(
            header::SET_COOKIE,
            format!("{k}={v}; Path=/").parse().unwrap(),
        );
    }
    r
}

async fn cookies(h: HeaderMap) -> Response {
    let mut map = BTreeMap::new();
    for v in h.get_all(header::COOKIE) {
        for pair in v.to_str().unwrap_or("").split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                map.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    axum::Json(json!(map)).into_response()
}

/// 200 if the request's `session` cookie is the one in the path, else 409:
/// a user sent another user's cookie (or none).
async fn expect_cookie(Path(session): Path<String>, h: HeaderMap) -> Response {
    let sent = h
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(';'))
        .any(|pair| pair.trim() == format!("session={session}"));
    if sent {
        StatusCode::OK.into_response()
    } else {
        StatusCode::CONFLICT.into_response()
    }
}

async fn basic(h: HeaderMap) -> Response {
    use base64::Engine as _;
    let ok = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .is_some_and(|c| c == b"ann:p@ss:w0rd");
    if ok {
        "welcome".into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

async fn bearer(h: HeaderMap) -> Response {
    match h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) if v.starts_with("Bearer tok-") => "welcome".into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn slow() -> &'static str {
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    "late"
}

async fn run(dir: &Dir, text: &str) -> (i32, Value, String) {
    let file = dir.write("s.toml", text);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    let (stdout, stderr) = common::text(&out);
    let r = read_json(&json);
    (
        out.status.code().unwrap_or(-1),
        r,
        format!("{stdout}\n{stderr}"),
    )
}

/// [`run`] with the scenario under `version`.
async fn run_as(dir: &Dir, text: &str, version: &str) -> (i32, Value, String) {
    run(dir, &with_version(text, version)).await
}

fn name<'a>(r: &'a Value, n: &str) -> &'a Value {
    r["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == n)
        .unwrap_or_else(|| panic!("no {n} in {r}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn default_headers_are_what_clients_send_and_each_can_be_changed() {
    per_version(|v| async move {
        let web = start();
        let dir = Dir::new();
        let version = env!("CARGO_PKG_VERSION");
        {
            let (http_version, extra) = (v, "");
            let text = format!(
                r#"[load]
users = 1
requests = 2
[http]
base_url = "{}"
version = "{http_version}"{extra}
[[request]]
name = "defaults"
path = "/headers"
[request.check.json]
"/headers/user-agent" = "volley/{version}"
"/headers/accept" = "*/*"
"/headers/accept-encoding" = "gzip, deflate, br, zstd"
"#,
                web.base()
            );
            let (code, r, out) = run(&dir, &text).await;
            assert_eq!(code, 0, "{http_version}: {out}\n{r}");
            assert_eq!(r["totals"]["failures"], 0, "{r}");
        }
        // Each default gives way to the scenario's own value; compression off
        // sends no Accept-Encoding at all.
        let text = format!(
            r#"[load]
users = 1
requests = 1
[http]
base_url = "{}"
compression = false
headers = {{ user-agent = "my-agent/2", accept = "application/json" }}
[[request]]
name = "own"
path = "/headers"
[request.check]
body_contains = "my-agent/2"
[request.check.json]
"/headers/accept" = "application/json"
"#,
            web.base()
        );
        let (code, r, out) = run_as(&dir, &text, v).await;
        assert_eq!(code, 0, "{out}\n{r}");
        // A run of only failures passes when the scenario says it may.
        let text = text
            .replace(
                "body_contains = \"my-agent/2\"",
                "body_contains = \"accept-encoding\"",
            )
            .replace("[load]", "[scenario]\nallow_all_failed = true\n[load]");
        let (code, r, _) = run_as(&dir, &text, v).await;
        assert_eq!(
            code, 0,
            "the failure is expected in the counts, not the exit"
        );
        assert_eq!(
            reasons(&r, "own"),
            [(
                "check".to_owned(),
                "body does not contain \"accept-encoding\"".to_owned()
            )]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn compressed_answers_are_decoded_for_checks_and_counted_as_sent() {
    per_version(|v| async move {
        let web = start();
        let dir = Dir::new();
        let mut text = format!(
            "[load]\nusers = 2\nrequests = 40\n[http]\nbase_url = \"{}\"\n",
            web.base()
        );
        for coding in ["gzip", "deflate", "br", "zstd"] {
            text.push_str(&format!(
                "[[request]]\nname = \"{coding}\"\npath = \"/coded/{coding}\"\n\
             [request.check.json]\n\"/coding\" = \"{coding}\"\n\"/ok\" = true\n"
            ));
        }
        let (code, r, out) = run_as(&dir, &text, v).await;
        assert_eq!(code, 0, "{out}\n{r}");
        assert_eq!(r["totals"]["requests"], 40);
        assert_eq!(r["totals"]["failures"], 0, "{r}");
        // The bytes counted are the wire's: far fewer than the 4 KiB document.
        let plain = doc("gzip").len() as u64;
        for coding in ["gzip", "deflate", "br", "zstd"] {
            let n = name(&r, coding);
            let per =
                n["bytes_received"].as_u64().unwrap() / n["requests"].as_u64().unwrap().max(1);
            assert!(per < plain / 4, "{coding}: {per} bytes per answer");
        }
        // Without compression the server sends the document as it is.
        let text = text.replace("[http]\n", "[http]\ncompression = false\n");
        let (_, r, _) = run_as(&dir, &text, v).await;
        assert_eq!(
            reasons(&r, "gzip"),
            [("check".to_owned(), "/coding is not \"gzip\"".to_owned())],
            "{r}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_decompression_bomb_is_a_bounded_failure() {
    per_version(|v| async move {
    let web = start();
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 2\nrequests = 6\n[http]\nbase_url = \"{}\"\nmax_body = \"64KiB\"\n\
         [[request]]\nname = \"bomb\"\npath = \"/bomb\"\n[request.check]\nbody_contains = \"never\"\n",
        web.base()
    );
    let (code, r, out) = run_as(&dir, &text, v).await;
    // Every request failed (bounded): the run fails.
    assert_eq!(code, 1, "{out}");
    assert_eq!(r["totals"]["failures"], 6, "{r}");
    assert_eq!(
        reasons(&r, "bomb")[0].1,
        "body longer than [http] max_body: checked only its first bytes",
        "{r}"
    );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_followed_as_one_request_with_the_final_status() {
    per_version(|v| async move {
        let web = start();
        let dir = Dir::new();
        let text = format!(
            r#"[load]
users = 2
requests = 10
[http]
base_url = "{}"
[[request]]
name = "chain"
path = "/redirect/3"
[request.check]
status = [200]
"#,
            web.base()
        );
        let (code, r, out) = run_as(&dir, &text, v).await;
        assert_eq!(code, 0, "{out}\n{r}");
        assert_eq!(r["totals"]["requests"], 10);
        assert_eq!(r["totals"]["failures"], 0, "{r}");
        // Every hop reached the server; each chain is one request.
        for p in [
            "/redirect/3",
            "/redirect/2",
            "/redirect/1",
            "/redirect/0",
            "/get",
        ] {
            assert_eq!(web.count(p), 10, "{p}");
        }
        // Not followed: the 302 is the answer (a pass: below 400).
        let off = text.replace("[http]\n", "[http]\nfollow_redirects = false\n");
        let off = off.replace("status = [200]", "status = [302]");
        let (code, r, _) = run_as(&dir, &off, v).await;
        assert_eq!((code, &r["totals"]["failures"]), (0, &json!(0)), "{r}");
        assert_eq!(web.count("/get"), 10, "no hop followed");
        // A loop is a failure of its own kind, after the hops allowed.
        let looped = format!(
            "[load]\nusers = 1\nrequests = 2\n[http]\nbase_url = \"{}\"\nfollow_redirects = 5\n\
         [[request]]\nname = \"loop\"\npath = \"/loop\"\n",
            web.base()
        );
        let (_, r, _) = run_as(&dir, &looped, v).await;
        assert_eq!(
            reasons(&r, "loop"),
            [("redirect".to_owned(), "more than 5 redirects".to_owned())]
        );
        assert_eq!(web.count("/loop"), 12, "6 answers per request, then stop");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_change_on_redirects_as_browsers_change_them() {
    per_version(|v| async move {
        let web = start();
        let dir = Dir::new();
        let text = format!(
            r#"[load]
users = 1
requests = 2
[http]
base_url = "{}"
[[flow]]
name = "posts"
  [[flow.step]]
  name = "303"
  method = "POST"
  path = "/see-other"
  body = "payload"
  [flow.step.check.json]
  "/method" = "GET"
  "/body" = ""
  [[flow.step]]
  name = "307"
  method = "POST"
  path = "/temporary"
  body = "payload"
  [flow.step.check.json]
  "/method" = "POST"
  "/body" = "payload"
"#,
            web.base()
        );
        let (code, r, out) = run_as(&dir, &text, v).await;
        assert_eq!(code, 0, "{out}\n{r}");
        assert_eq!(r["totals"]["failures"], 0, "{r}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_to_another_origin_leaves_credentials_home() {
    per_version(|v| async move {
        let web = start();
        let dir = Dir::new();
        let text = format!(
            r#"[load]
users = 1
requests = 3
[http]
base_url = "{}"
headers = {{ x-kept = "yes" }}
auth = {{ bearer = "tok-secret" }}
[[request]]
name = "away"
path = "/elsewhere"
[request.check]
body_contains = "x-kept"
[request.check.json]
"/headers/host" = "localhost:{}"
"#,
            web.base(),
            web.addr.port()
        );
        let (code, r, out) = run_as(&dir, &text, v).await;
        assert_eq!(code, 0, "{out}\n{r}");
        assert_eq!(r["totals"]["failures"], 0, "{r}");
        let with_auth = text.replace(
            "body_contains = \"x-kept\"",
            "body_contains = \"tok-secret\"",
        );
        let (_, r, _) = run_as(&dir, &with_auth, v).await;
        assert_eq!(r["totals"]["failures"], 3, "Authorization stayed home: {r}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_user_keeps_its_own_cookies_unless_told_not_to() {
    per_version(|v| async move {
        let web = start();
        let dir = Dir::new();
        dir.write("ids.txt", "u1\nu2\nu3\n");
        let text = format!(
            r#"[load]
users = 3
duration = "1s"
[http]
base_url = "{}"
[data.ids]
file = "ids.txt"
pick = "per_user"
[[flow]]
name = "session"
  [[flow.step]]
  name = "set"
  path = "/cookies/set?session={{{{ ids }}}}&theme=dark"
  capture = {{ mine = {{ cookie = "session" }} }}
  [flow.step.check.json]
  "/theme" = "dark"
  [[flow.step]]
  name = "again"
  path = "/cookies/expect/{{{{ mine }}}}"
  [flow.step.check]
  status = [200]
"#,
            web.base()
        );
        let (code, r, out) = run_as(&dir, &text, v).await;
        assert_eq!(code, 0, "{out}\n{r}");
        assert!(r["totals"]["requests"].as_u64().unwrap() >= 6, "{r}");
        assert_eq!(r["totals"]["failures"], 0, "{r}");
        let off = text.replace("[http]\n", "[http]\ncookies = false\n");
        let (_, r, _) = run_as(&dir, &off, v).await;
        assert_eq!(
            name(&r, "set")["failures"],
            name(&r, "set")["requests"],
            "no jar, no cookie: {r}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn credentials_in_the_url_are_basic_auth_and_never_printed() {
    per_version(|v| async move {
    let web = start();
    let dir = Dir::new();
    // p@ss:w0rd, percent-encoded in the URL.
    let text = format!(
        "[load]\nusers = 1\nrequests = 3\n[http]\nbase_url = \"http://ann:p%40ss%3Aw0rd@{}\"\n\
         [[request]]\nname = \"basic\"\npath = \"/basic\"\n[request.check]\nstatus = [200]\n\
         [[request]]\nname = \"bearer\"\npath = \"/bearer\"\nauth = {{ bearer = \"tok-{{{{ n }}}}\" }}\n\
         [request.check]\nstatus = [200]\n[data.n]\nfile = \"n.txt\"\n",
        web.addr
    );
    dir.write("n.txt", "1\n2\n");
    let (code, r, out) = run_as(&dir, &text, v).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let file = dir.write("s.toml", &text);
    let checked = Volley::check(&file).output();
    let (stdout, stderr) = common::text(&checked);
    for shown in [&stdout, &stderr, &out, &r.to_string()] {
        assert!(!shown.contains("w0rd"), "the password is printed: {shown}");
    }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_header_is_the_authority_on_http2() {
    let web = start();
    let dir = Dir::new();
    for &version in VERSIONS {
        let text = format!(
            "[load]\nusers = 1\nrequests = 2\n[http]\nbase_url = \"{}\"\nversion = \"{version}\"\n\
             headers = {{ host = \"shop.example\" }}\n[[request]]\nname = \"vhost\"\npath = \"/get\"\n",
            web.base()
        );
        let (code, r, out) = run(&dir, &text).await;
        assert_eq!(code, 0, "{version}: {out}\n{r}");
        assert_eq!(
            web.seen
                .lock()
                .unwrap()
                .authority
                .get("/get")
                .map(String::as_str),
            Some("shop.example"),
            "{version}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_sent_count_the_query_and_a_timed_out_request() {
    let web = start();
    let dir = Dir::new();
    let query = "?q=0123456789012345678901234567890123456789";
    for &version in VERSIONS {
        let mut sent = Vec::new();
        for path in ["/get".to_owned(), format!("/get{query}")] {
            let text = format!(
                "[load]\nusers = 1\nrequests = 1\n[http]\nbase_url = \"{}\"\nversion = \"{version}\"\n\
                 [[request]]\nname = \"g\"\npath = \"{path}\"\n",
                web.base()
            );
            let (_, r, _) = run(&dir, &text).await;
            sent.push(r["totals"]["bytes_sent"].as_u64().unwrap());
        }
        assert_eq!(sent[1] - sent[0], query.len() as u64, "{version}: {sent:?}");
    }
    let text = format!(
        "[load]\nusers = 1\nrequests = 1\ntimeout = \"300ms\"\n[http]\nbase_url = \"{}\"\n\
         [[request]]\nname = \"slow\"\npath = \"/slow\"\n",
        web.base()
    );
    let (_, r, _) = run(&dir, &text).await;
    assert_eq!(r["totals"]["failures"], 1);
    assert!(
        r["totals"]["bytes_sent"].as_u64().unwrap() > 50,
        "the request was written: {r}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_off_opens_a_connection_per_request() {
    let web = start();
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 1\nrequests = 20\n[http]\nbase_url = \"{}\"\nkeep_alive = false\n\
         [[request]]\nname = \"g\"\npath = \"/get\"\n",
        web.base()
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0);
    assert_eq!(web.seen.lock().unwrap().peers.len(), 20);
    let on = text.replace("keep_alive = false\n", "");
    let before = web.seen.lock().unwrap().peers.len();
    run(&dir, &on).await;
    assert_eq!(web.seen.lock().unwrap().peers.len(), before + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_may_hold_placeholders_after_its_host() {
    per_version(|v| async move {
        let web = start();
        let dir = Dir::new();
        dir.write("n.txt", "7\n");
        let text = format!(
            "[load]\nusers = 1\nrequests = 2\n[data.n]\nfile = \"n.txt\"\n\
         [[request]]\nname = \"u\"\nurl = \"{}/redirect/{{{{ n }}}}\"\n",
            web.base()
        );
        let (code, r, out) = run_as(&dir, &text, v).await;
        assert_eq!(code, 0, "{out}\n{r}");
        assert_eq!(web.count("/redirect/7"), 2);
        // The host cannot be templated: it picks the connection.
        let bad =
            "[data.n]\nfile = \"n.txt\"\n[[request]]\nname = \"u\"\nurl = \"http://{{ n }}:1/\"\n";
        let file = dir.write("bad.toml", bad);
        let out = Volley::check(&file).output();
        let (_, stderr) = common::text(&out);
        out.expect_exit(2);
        assert!(stderr.contains("bad.toml:5:"), "{stderr}");
        assert!(stderr.contains("only the path and query"), "{stderr}");
    })
    .await;
}

/// A TLS server on loopback that asks for a client certificate signed by
/// `ca` (when `mutual`), answers every request "ok", and records the server
/// name each handshake asked for (SNI).
struct TlsWeb {
    port: u16,
    names: Arc<Mutex<Vec<String>>>,
}

fn tls_web(dir: &Dir, mutual: bool) -> TlsWeb {
    use std::sync::Arc as A;
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["volley.test".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["client".into()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    dir.write("ca.pem", &ca_cert.pem());
    dir.write("client.pem", &client.pem());
    dir.write("client.key", &client_key.serialize_pem());
    let provider = A::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if mutual {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(A::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let key = rustls::pki_types::PrivateKeyDer::try_from(server_key.serialize_der()).unwrap();
    let config = builder
        .with_single_cert(vec![server.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(A::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let names: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = names.clone();
    crate::servers::serve_on_own_thread(listener, move |listener| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let sni = tls.get_ref().1.server_name().unwrap_or("").to_owned();
                seen.lock().unwrap().push(sni);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..i + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if tls.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    TlsWeb { port, names }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_certificates_server_names_and_connect_to() {
    let dir = Dir::new();
    let web = tls_web(&dir, true);
    let port = web.port;
    // The URL names a host no resolver knows; connect_to sends the
    // connection to loopback, and the name stays in SNI and the check.
    let mutual = format!(
        r#"[load]
users = 2
requests = 20
[http]
base_url = "https://volley.test:{port}"
version = "http1"
ca = "ca.pem"
cert = "client.pem"
key = "client.key"
connect_to = {{ "volley.test:{port}" = "127.0.0.1:{port}" }}
[[request]]
name = "m"
path = "/"
[request.check]
body_contains = "ok"
"#
    );
    let (code, r, out) = run(&dir, &mutual).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert!(
        web.names.lock().unwrap().iter().all(|n| n == "volley.test"),
        "{:?}",
        web.names.lock().unwrap()
    );
    // Without the certificate, the server refuses every request.
    let anonymous = mutual.replace("cert = \"client.pem\"\nkey = \"client.key\"\n", "");
    let (_, r, _) = run(&dir, &anonymous).await;
    assert_eq!(r["totals"]["failures"], 20, "{r}");
    // server_name: the URL's host is an address; TLS asks for (and checks)
    // the name the certificate holds.
    let named = format!(
        "[load]\nusers = 1\nrequests = 5\n[http]\nbase_url = \"https://127.0.0.1:{port}\"\n\
         ca = \"ca.pem\"\ncert = \"client.pem\"\nkey = \"client.key\"\nserver_name = \"volley.test\"\n\
         [[request]]\nname = \"n\"\npath = \"/\"\n"
    );
    let (code, r, out) = run(&dir, &named).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    // A cert without its key is an error at its line.
    let half = named.replace("key = \"client.key\"\n", "");
    let file = dir.write("half.toml", &half);
    let out = Volley::check(&file).output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(
        stderr.contains("half.toml:7:") && stderr.contains("cert needs key"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_share_http2_connections_when_told_to() {
    let web = start();
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 8\nrequests = 400\n[http]\nbase_url = \"{}\"\nversion = \"h2c\"\n\
         connections = 2\n[[request]]\nname = \"g\"\npath = \"/get\"\n",
        web.base()
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["requests"], 400);
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(web.count("/get"), 400);
    assert_eq!(
        web.seen.lock().unwrap().peers.len(),
        2,
        "8 users on 2 connections"
    );
    // HTTP/1.1 cannot share a connection: said when the file is checked.
    let h1 = text.replace("version = \"h2c\"", "version = \"http1\"");
    let file = dir.write("h1.toml", &h1);
    let out = Volley::check(&file).output();
    let (_, stderr) = common::text(&out);
    out.expect_exit(2);
    assert!(
        stderr.contains("h1.toml:7:") && stderr.contains("HTTP/2"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_unix_socket_target_keeps_the_urls_host() {
    let dir = Dir::new();
    let sock = dir.path("app.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    // HTTP/1.1's Host, or HTTP/2's :authority.
    let app = axum::Router::new().route(
        "/authority",
        get(|req: Request| async move {
            req.uri()
                .authority()
                .map(|a| a.to_string())
                .or_else(|| {
                    req.headers()
                        .get(header::HOST)
                        .and_then(|h| h.to_str().ok())
                        .map(str::to_owned)
                })
                .unwrap_or_default()
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // Absolute, and relative: from the scenario's folder, not from where
    // volley runs (the tests run it from the crate's root).
    let absolute = sock.display().to_string();
    for (version, socket) in [
        ("http1", &*absolute),
        ("h2c", &*absolute),
        ("http1", "app.sock"),
    ] {
        let text = format!(
            "[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"http://app.local\"\n\
             version = \"{version}\"\nunix_socket = \"{socket}\"\n[[request]]\nname = \"u\"\npath = \"/authority\"\n\
             [request.check]\nbody_contains = \"app.local\"\n",
        );
        let (code, r, out) = run(&dir, &text).await;
        assert_eq!(code, 0, "{version}: {out}\n{r}");
        assert_eq!(r["totals"]["requests"], 20);
        assert_eq!(r["totals"]["failures"], 0, "{version}: {r}");
    }
}

/// What the in-test proxy saw: each connection's first request line and
/// whether it carried Proxy-Authorization.
#[derive(Default)]
struct ProxySeen {
    lines: Vec<String>,
    auth: Vec<Option<String>>,
}

/// A forward proxy on loopback: `CONNECT host:port` opens a tunnel; an
/// absolute-form request is passed on to its host with what follows.
fn forward_proxy() -> (u16, Arc<Mutex<ProxySeen>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<ProxySeen>> = Arc::default();
    let s = seen.clone();
    crate::servers::serve_on_own_thread(listener, move |listener| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut client, _)) = listener.accept().await {
            let s = s.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut b).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(b[0]);
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let line = text.lines().next().unwrap_or("").to_owned();
                let auth = text
                    .lines()
                    .find_map(|l| l.strip_prefix("proxy-authorization: "))
                    .map(str::to_owned);
                {
                    let mut g = s.lock().unwrap();
                    g.lines.push(line.clone());
                    g.auth.push(auth);
                }
                let mut parts = line.split(' ');
                let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let upstream_addr = if method == "CONNECT" {
                    target.to_owned()
                } else {
                    target
                        .trim_start_matches("http://")
                        .split('/')
                        .next()
                        .unwrap_or("")
                        .to_owned()
                };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&upstream_addr).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if method == "CONNECT" {
                    let _ = client
                        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await;
                } else if upstream.write_all(&head).await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_go_through_a_proxy_forwarded_or_tunnelled() {
    let web = start();
    let dir = Dir::new();
    let (pport, seen) = forward_proxy();
    let text = format!(
        "[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"{}\"\nproxy = \"http://pu:pw@127.0.0.1:{pport}\"\n\
         [[request]]\nname = \"p\"\npath = \"/get\"\n[request.check]\nbody_contains = \"ok\"\n",
        web.base()
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(web.count("/get"), 20);
    {
        let g = seen.lock().unwrap();
        assert!(!g.lines.is_empty());
        let want = format!("GET {}/get HTTP/1.1", web.base());
        assert!(g.lines.iter().all(|l| *l == want), "{:?}", g.lines);
        // pu:pw
        assert!(
            g.auth
                .iter()
                .all(|a| a.as_deref() == Some("Basic cHU6cHc="))
        );
    }
    // https: a CONNECT tunnel, TLS end to end with the target.
    let tls = tls_web(&dir, false);
    let text = format!(
        "[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"https://localhost:{}\"\nca = \"ca.pem\"\n\
         proxy = \"http://127.0.0.1:{pport}\"\n[[request]]\nname = \"t\"\npath = \"/\"\n\
         [request.check]\nbody_contains = \"ok\"\n",
        tls.port
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let want = format!("CONNECT localhost:{} HTTP/1.1", tls.port);
    assert!(seen.lock().unwrap().lines.contains(&want));
    // The environment's proxy is never taken for a loopback target.
    let direct = format!(
        "[load]\nusers = 1\nrequests = 5\n[http]\nbase_url = \"{}\"\n[[request]]\nname = \"d\"\npath = \"/get\"\n",
        web.base()
    );
    let file = dir.write("direct.toml", &direct);
    let before = seen.lock().unwrap().lines.len();
    let out = Volley::run(&file)
        .quiet_status()
        .env("HTTP_PROXY", format!("http://127.0.0.1:{pport}"))
        .output();
    out.expect_exit(0);
    assert_eq!(seen.lock().unwrap().lines.len(), before);
}

/// Digest auth: the first request meets the challenge and goes again with
/// its answer; the user's later requests answer it at once (one round trip
/// each), as python-requests' HTTPDigestAuth does, with credentials from an
/// auth table or from the URL. A challenge volley cannot
/// answer (qop=auth-int alone) fails with a reason that says so. go-httpbin
/// checks the answers themselves (httpbin.rs).
#[tokio::test(flavor = "multi_thread")]
async fn a_digest_challenge_is_answered_once_per_user_and_one_it_cannot_answer_says_why() {
    #[derive(Default)]
    struct Counts {
        challenged: u64,
        answered: u64,
    }
    let counts: Arc<Mutex<Counts>> = Arc::default();
    let c = counts.clone();
    let app = axum::Router::new()
        .route(
            "/auth",
            get(move |headers: HeaderMap| {
                let c = c.clone();
                async move {
                    let digest = headers
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .filter(|v| v.starts_with("Digest ") && v.contains("nc="))
                        .is_some();
                    let mut c = c.lock().unwrap();
                    if digest {
                        c.answered += 1;
                        (StatusCode::OK, HeaderMap::new(), "in")
                    } else {
                        c.challenged += 1;
                        let mut h = HeaderMap::new();
                        h.insert(
                            header::WWW_AUTHENTICATE,
                            "Digest realm=\"r\", nonce=\"abc\", qop=\"auth\", algorithm=SHA-256"
                                .parse()
                                .unwrap(),
                        );
                        (StatusCode::UNAUTHORIZED, h, "who?")
                    }
                }
            }),
        )
        .route(
            "/int",
            get(|| async {
                let mut h = HeaderMap::new();
                h.insert(
                    header::WWW_AUTHENTICATE,
                    "Digest realm=\"r\", nonce=\"abc\", qop=\"auth-int\""
                        .parse()
                        .unwrap(),
                );
                (StatusCode::UNAUTHORIZED, h, "who?")
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let dir = Dir::new();
    let text = format!(
        "[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"http://{addr}\"\n\
         [[request]]\nname = \"auth\"\npath = \"/auth\"\n\
         auth = {{ digest = {{ user = \"dana\", password = \"pw\" }} }}\n"
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["requests"], 20, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let seen = {
        let c = counts.lock().unwrap();
        (c.challenged, c.answered)
    };
    // One challenge per user (2), then every request answered: 20.
    assert_eq!(seen, (2, 20));
    // Credentials in the URL go as Basic (the target's other paths may want
    // it), and a Digest challenge to them is answered when it comes: each
    // of the 20 requests is challenged once, then answered.
    let text = format!(
        "[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"http://dana:pw@{addr}\"\n\
         [[request]]\nname = \"auth\"\npath = \"/auth\"\n"
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let seen = {
        let c = counts.lock().unwrap();
        (c.challenged, c.answered)
    };
    assert_eq!(seen, (2 + 20, 20 + 20));
    let text = format!(
        "[load]\nusers = 1\nrequests = 3\n[http]\nbase_url = \"http://dana:pw@{addr}\"\n\
         [[request]]\nname = \"int\"\npath = \"/int\"\n"
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 1, "{out}\n{r}");
    assert_eq!(
        reasons(&r, "int"),
        [(
            "status".to_owned(),
            "HTTP 401 with a Digest challenge volley cannot answer".to_owned()
        )]
    );
    let detail = r["names"][0]["failures_by_reason"][0]["last_detail"].to_string();
    assert!(detail.contains("qop=auth-int"), "{detail}");
}

/// A `ws://` call through a proxy goes by a CONNECT tunnel (a forward
/// proxy passes requests on, not an upgraded connection's frames), as
/// browsers send WebSocket through proxies.
#[tokio::test(flavor = "multi_thread")]
async fn websocket_calls_go_through_a_proxy_tunnel() {
    let server = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let (pport, seen) = forward_proxy();
    let text = format!(
        "[load]\nusers = 1\nrequests = 3\n[http]\nproxy = \"http://127.0.0.1:{pport}\"\n\
         [[request]]\nname = \"ws\"\nurl = \"ws://{}/predict/ws\"\nmessage = {{ text = \"GOAL\" }}\n\
         [request.stream]\nmessages = 4\n[request.check]\njson = {{ \"/label\" = \"sports\" }}\n",
        server.addr
    );
    let (code, r, out) = run(&dir, &text).await;
    assert_eq!(code, 0, "{out}\n{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let want = format!("CONNECT {} HTTP/1.1", server.addr);
    let g = seen.lock().unwrap();
    assert_eq!(g.lines, vec![want; 3], "one tunnel per call");
}
