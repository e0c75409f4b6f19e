//! The HTML report in a real browser: `volley demo` writes one, headless
//! Chromium opens it through chromedriver (WebDriver), and the test checks
//! that it renders without console errors, fetches nothing, and shows its
//! charts. Skips (saying so) where chromedriver is missing; .ci/run installs
//! Debian's chromium and chromium-driver and sets VOLLEY_REQUIRE_BROWSER,
//! which turns the skip into a failure. With VOLLEY_SCREENSHOT=FILE the
//! page's screenshot is kept there (docs/report.png is made this way).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use axum::response::IntoResponse;

use crate::common::{self, Dir, ExpectExit, Volley};

struct Driver {
    child: Child,
    base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<bytes::Bytes>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Option<Driver> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        Some(Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// One WebDriver command; the answer's `value`.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .map_err(|e| e.to_string())?;
        let res = self.client.request(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let v: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{method} {path}: {status} {v}"));
        }
        Ok(v["value"].clone())
    }

    /// A headless Chromium session logging `log` (browser, performance)
    /// events; its id.
    async fn session(&self, log: &str) -> String {
        let session = self
            .call(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {"args": [
                        "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--hide-scrollbars",
                        "--disable-dev-shm-usage"
                    ]},
                    "goog:loggingPrefs": {log: "ALL"}
                }}})),
            )
            .await
            .expect("starting a Chromium session");
        session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned()
    }

    /// A chromedriver ready for sessions; None (the test skipped, saying
    /// so) where it is not installed, unless VOLLEY_REQUIRE_BROWSER asks
    /// for it.
    async fn ready_or_skip() -> Option<Driver> {
        let Some(driver) = Driver::start() else {
            assert!(
                std::env::var_os("VOLLEY_REQUIRE_BROWSER").is_none(),
                "VOLLEY_REQUIRE_BROWSER is set but chromedriver cannot be started"
            );
            common::skipped(
                "browser",
                "chromedriver is not installed (.ci/run installs chromium and chromium-driver)",
            );
            return None;
        };
        assert!(driver.ready().await, "chromedriver did not become ready");
        Some(driver)
    }

    async fn ready(&self) -> bool {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(v) = self.call("GET", "/status", None).await
                && v["ready"] == true
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_report_renders_in_headless_chromium() {
    let Some(driver) = Driver::ready_or_skip().await else {
        return;
    };

    let dir = Dir::new();
    let html = dir.path("report.html");
    let out = Volley::demo()
        .headless()
        .flag("--duration", "6s")
        .flag("--html", &html)
        .output_async()
        .await;
    out.expect_exit(0);

    let id = driver.session("browser").await;
    let s = |p: &str| format!("/session/{id}{p}");
    driver
        .call(
            "POST",
            &s("/window/rect"),
            Some(json!({"width": 1280, "height": 1700})),
        )
        .await
        .expect("sizing the window");
    driver
        .call(
            "POST",
            &s("/url"),
            Some(json!({"url": format!("file://{}", html.display())})),
        )
        .await
        .expect("opening the report");

    let page = driver
        .call(
            "POST",
            &s("/execute/sync"),
            Some(json!({"script": r#"
                const charts = [...document.querySelectorAll('figure.chart svg')].map(svg => {
                    const r = svg.getBoundingClientRect();
                    return { id: svg.parentElement.id, width: r.width, height: r.height,
                             lines: svg.querySelectorAll('polyline, path').length,
                             texts: svg.querySelectorAll('text').length };
                });
                return { title: document.title,
                         verdict: document.getElementById('verdict').textContent,
                         rows: document.querySelectorAll('table.stats tbody tr').length,
                         resources: performance.getEntriesByType('resource').length,
                         charts };
            "#, "args": []})),
        )
        .await
        .expect("reading the page");
    let logs = driver
        .call("POST", &s("/se/log"), Some(json!({"type": "browser"})))
        .await
        .expect("reading the browser's console");
    let shot = driver.call("GET", &s("/screenshot"), None).await;
    let _ = driver.call("DELETE", &s(""), None).await;

    assert_eq!(page["title"], "volley: predict-mixed", "{page}");
    assert_eq!(page["verdict"], "PASSED", "{page}");
    // Two requests and the total, then the REST request's time to first
    // byte (the gRPC call has none).
    assert_eq!(page["rows"], 4, "{page}");
    assert_eq!(page["resources"], 0, "the page fetched something: {page}");
    let charts = page["charts"].as_array().expect("charts");
    let ids: Vec<&str> = charts.iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(
        ids,
        ["chart-throughput", "chart-latency", "chart-distribution"],
        "{page}"
    );
    for c in charts {
        assert!(c["width"].as_f64().unwrap_or(0.0) > 400.0, "{c}");
        assert!(c["height"].as_f64().unwrap_or(0.0) > 100.0, "{c}");
        assert!(c["lines"].as_u64().unwrap_or(0) >= 3, "no lines drawn: {c}");
        assert!(
            c["texts"].as_u64().unwrap_or(0) >= 10,
            "no axis labels: {c}"
        );
    }
    let errors: Vec<&Value> = logs
        .as_array()
        .expect("log entries")
        .iter()
        .filter(|e| e["level"] == "SEVERE" || e["level"] == "WARNING")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    let png = base64::engine::general_purpose::STANDARD
        .decode(shot.expect("a screenshot").as_str().unwrap_or(""))
        .expect("a base64 screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000);
    if let Ok(path) = std::env::var("VOLLEY_SCREENSHOT") {
        std::fs::write(&path, &png).expect("writing the screenshot");
    }
}

/// The API requests a page's target got: method, path and query, body.
type Kept = std::sync::Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A page whose script fetches the API (a GET with a query, a JSON POST,
/// another GET), then titles itself "done"; every request but the page's
/// own is kept.
fn page_target() -> (std::net::SocketAddr, Kept) {
    let kept = Kept::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let log = kept.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
            if parts.uri.path() == "/" {
                return axum::response::Html(
                    r#"<!doctype html><title>loading</title><script>
(async () => {
  await fetch('/api/items/7?x=1');
  await fetch('/api/orders', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({n: 3})});
  await fetch('/api/items/8');
  document.title = 'done';
})();
</script>"#,
                )
                .into_response();
            }
            if parts.uri.path().starts_with("/api/") {
                log.lock().unwrap().push((
                    parts.method.to_string(),
                    parts.uri.to_string(),
                    body.to_vec(),
                ));
            }
            axum::http::StatusCode::OK.into_response()
        }
    });
    crate::servers::serve_on_own_thread(listener, |l| async move {
        let _ = axum::serve(l, app).await;
    });
    (addr, kept)
}

/// `wallTime` (seconds since the epoch) as HAR's ISO 8601 with milliseconds.
fn iso(wall: f64) -> String {
    let ms = (wall * 1000.0).round() as i128;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// A HAR 1.2 document from Chromium's performance log (DevTools' Network
/// events, as its own HAR export reads them): each request's method, URL,
/// headers and body, its start, and its answer's status.
fn har_of(events: &[Value]) -> Value {
    let mut entries: Vec<(f64, Value)> = Vec::new();
    let mut statuses = std::collections::HashMap::new();
    for e in events {
        let Some(text) = e["message"].as_str() else {
            continue;
        };
        let Ok(m) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        let (method, p) = (&m["message"]["method"], &m["message"]["params"]);
        if method == "Network.responseReceived" {
            statuses.insert(p["requestId"].to_string(), p["response"]["status"].clone());
        }
        if method != "Network.requestWillBeSent" {
            continue;
        }
        let r = &p["request"];
        let headers: Vec<Value> = r["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| json!({"name": k, "value": v}))
                    .collect()
            })
            .unwrap_or_default();
        let mut request = json!({
            "method": r["method"], "url": r["url"], "httpVersion": "HTTP/1.1",
            "headers": headers, "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1
        });
        if let Some(body) = r["postData"].as_str() {
            let mime = r["headers"]["content-type"].as_str().unwrap_or("");
            request["postData"] = json!({"mimeType": mime, "text": body});
        }
        let wall = p["wallTime"].as_f64().unwrap();
        entries.push((
            wall,
            json!({"startedDateTime": iso(wall), "time": 0, "request": request,
                   "_id": p["requestId"].to_string()}),
        ));
    }
    entries.sort_by(|a, b| a.0.total_cmp(&b.0));
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|(_, mut e)| {
            let id = e["_id"].as_str().unwrap().to_owned();
            let status = statuses.get(&id).cloned().unwrap_or(json!(0));
            e["response"] = json!({"status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                "headers": [], "cookies": [], "content": {"size": 0, "mimeType": ""},
                "redirectURL": "", "headersSize": -1, "bodySize": -1});
            e.as_object_mut().unwrap().remove("_id");
            e
        })
        .collect();
    json!({"log": {"version": "1.2", "creator": {"name": "chromium performance log", "version": "1"},
                   "pages": [], "entries": entries}})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_har_of_what_chromium_sent_replays_the_same_requests() {
    let Some(driver) = Driver::ready_or_skip().await else {
        return;
    };
    let (addr, kept) = page_target();
    let id = driver.session("performance").await;
    let s = |p: &str| format!("/session/{id}{p}");
    driver
        .call(
            "POST",
            &s("/url"),
            Some(json!({"url": format!("http://{addr}/")})),
        )
        .await
        .expect("opening the page");
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let title = driver
            .call("GET", &s("/title"), None)
            .await
            .unwrap_or_default();
        if title == "done" {
            break;
        }
        assert!(
            Instant::now() < end,
            "the page's fetches did not end: {title}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = driver
        .call("POST", &s("/se/log"), Some(json!({"type": "performance"})))
        .await
        .expect("the performance log");
    let _ = driver.call("DELETE", &s(""), None).await;
    let har = har_of(events.as_array().expect("log entries"));
    let first: Vec<(String, String, Vec<u8>)> = std::mem::take(&mut *kept.lock().unwrap());
    assert_eq!(first.len(), 3, "{first:?}");
    let dir = Dir::new();
    let file = dir.write("page.har", &har.to_string());
    let json = dir.path("out.json");
    Volley::sub("replay")
        .arg(&file)
        .flag("--target", format!("http://{addr}"))
        .flag("--include", "/api/")
        .headless()
        .quiet_status()
        .json(&json)
        .expect_exit(0);
    let second = kept.lock().unwrap().clone();
    assert_eq!(
        second, first,
        "the replay sent what Chromium sent, in order"
    );
    let r = common::read_json(&json);
    assert_eq!(r["totals"]["requests"], 3);
    assert_eq!(r["totals"]["failures"], 0, "{}", r["notes"]);
}
