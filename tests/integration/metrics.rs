//! `--metrics-addr`: Prometheus scrapes a master while it waits for its
//! workers, while they run, and sees what the final result says.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use prometheus_parse::{Sample, Scrape, Value};

use crate::common::{Dir, read_json};
use crate::procs;

const TOKEN: &str = "metrics-test-token";

/// One scrape over a plain HTTP/1.1 connection.
fn scrape(addr: &str) -> (String, Scrape) {
    let mut s = std::net::TcpStream::connect(addr).expect("connecting to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition");
    (body.to_owned(), scrape)
}

fn value(s: &Sample) -> f64 {
    match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{}: not a plain value: {other:?}", s.metric),
    }
}

/// The sample `metric` whose labels include `labels`.
fn get(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(value)
}

/// The p99 of request "ok" (the parser folds a summary's quantile lines
/// into one sample).
fn p99(scrape: &Scrape) -> Option<f64> {
    scrape.samples.iter().find_map(|s| match &s.value {
        Value::Summary(q)
            if s.metric == "volley_request_duration_seconds"
                && s.labels.get("name") == Some("ok") =>
        {
            q.iter().find(|c| c.quantile == 0.99).map(|c| c.count)
        }
        _ => None,
    })
}

#[test]
fn prometheus_scrapes_a_master_while_it_runs() {
    let target = crate::servers::request_counter();
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!(
            "[load]\nusers = 4\nspawn_rate = 100\nthink_time = \"20ms\"\nduration = \"4s\"\n\
             [http]\nbase_url = \"http://{}\"\n[[request]]\nname = \"ok\"\npath = \"/ok\"\n",
            target.addr
        ),
    );
    let json = dir.path("r.json");
    let (mut master, addr, fp) = procs::master(
        file.to_str().unwrap(),
        TOKEN,
        &[
            "--expect-workers",
            "2",
            "--headless",
            "--metrics-addr",
            "127.0.0.1:0",
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let line = master.wait_for("Prometheus metrics on http://", Duration::from_secs(10));
    let metrics = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.strip_suffix("/metrics"))
        .expect("the endpoint's address")
        .to_owned();

    // Waiting for workers: the phase says so; nothing measured yet.
    let (_, s) = scrape(&metrics);
    assert_eq!(
        get(&s, "volley_run_phase", &[("phase", "waiting")]),
        Some(1.0)
    );
    assert_eq!(get(&s, "volley_workers_expected", &[]), Some(2.0));
    assert_eq!(
        get(&s, "volley_requests_total", &[("name", "ok")]),
        Some(0.0)
    );

    let _w1 = procs::worker(&addr, &fp, TOKEN, "w1");
    let _w2 = procs::worker(&addr, &fp, TOKEN, "w2");

    // Running: counters, the latency summary, users and both workers.
    let end = Instant::now() + Duration::from_secs(15);
    let (text, s) = loop {
        let (text, s) = scrape(&metrics);
        let running = get(&s, "volley_run_phase", &[("phase", "running")]) == Some(1.0);
        if running && p99(&s).is_some() {
            break (text, s);
        }
        assert!(
            Instant::now() < end,
            "never running with latencies:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let requests = get(&s, "volley_requests_total", &[("name", "ok")]).unwrap();
    assert!(requests > 0.0, "{text}");
    assert_eq!(
        get(&s, "volley_workers", &[("state", "running")]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(get(&s, "volley_users", &[]), Some(4.0), "{text}");
    assert!(
        get(&s, "volley_worker_users", &[("worker", "w1")]).is_some(),
        "{text}"
    );
    assert_eq!(get(&s, "volley_info", &[]), Some(1.0), "{text}");
    // A summary: quantiles in seconds (the target answers in far less than
    // a second), with its count.
    let p99 = p99(&s).unwrap();
    assert!(p99 > 0.0 && p99 < 1.0, "{text}");
    assert!(
        text.contains("volley_request_duration_seconds_count{name=\"ok\"}"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE volley_requests_total counter"),
        "{text}"
    );

    master.succeeds();
    // The counters only grow: the result holds at least what was scraped.
    let r = read_json(&json);
    assert!(r["totals"]["requests"].as_f64().unwrap() >= requests);
}
