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
    let Some(driver) = Driver::start() else {
        assert!(
            std::env::var_os("VOLLEY_REQUIRE_BROWSER").is_none(),
            "VOLLEY_REQUIRE_BROWSER is set but chromedriver cannot be started"
        );
        common::skipped(
            "browser",
            "chromedriver is not installed (.ci/run installs chromium and chromium-driver)",
        );
        return;
    };
    assert!(driver.ready().await, "chromedriver did not become ready");

    let dir = Dir::new();
    let html = dir.path("report.html");
    let out = Volley::demo()
        .headless()
        .flag("--duration", "6s")
        .flag("--html", &html)
        .output_async()
        .await;
    out.expect_exit(0);

    let session = driver
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
                "goog:loggingPrefs": {"browser": "ALL"}
            }}})),
        )
        .await
        .expect("starting a Chromium session");
    let id = session["sessionId"]
        .as_str()
        .expect("a session id")
        .to_owned();
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
