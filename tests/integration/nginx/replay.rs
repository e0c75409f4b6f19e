//! `volley replay` of a real nginx's own access log: a run of known timing
//! goes through one server block, which logs it (`$msec` less
//! `$request_time`, and the default `combined` format); the log replayed
//! against a second server block arrives whole, on the same timeline (the
//! second block's log says so), twice as fast with `--speed 2`, and the
//! statuses that differ between the two blocks are named. Sessions split
//! over three local workers reach a third block in order, by its log.

use std::time::Duration;

use super::Nginx;
use crate::common::{Dir, Volley, read_json, text};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const TIMED: &str = r#"$msec $request_time "$request" $status "$http_user_agent""#;

/// Each line's start (`$msec` less `$request_time`) in milliseconds.
fn starts(log: &str) -> Vec<f64> {
    log.lines()
        .map(|l| {
            let mut f = l.split(' ');
            let msec: f64 = f.next().unwrap().parse().unwrap();
            let took: f64 = f.next().unwrap().parse().unwrap();
            (msec - took) * 1e3
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nginx: .ci/third-party installs it and runs this test"]
async fn nginx_log_replayed_arrives_whole_on_its_timeline() {
    let bin = std::env::var("VOLLEY_NGINX")
        .expect("VOLLEY_NGINX names the nginx binary (.ci/third-party sets it)");
    let dir = Dir::new();
    let (first, second, third) = (free_port(), free_port(), free_port());
    let d = dir.path("").display().to_string();
    let d = d.trim_end_matches('/');
    let conf = format!(
        r#"worker_processes 1;
error_log {d}/error.log;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  log_format timed '{TIMED}';
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{first};
    access_log {d}/first.log timed;
    access_log {d}/first-combined.log combined;
    location / {{ return 200 "ok\n"; }}
    location /gone/ {{ return 404; }}
  }}
  server {{
    listen 127.0.0.1:{second};
    access_log {d}/second.log timed;
    location / {{ return 200 "ok\n"; }}
  }}
  log_format sessions '$msec "$request" $http_x_session';
  server {{
    listen 127.0.0.1:{third};
    access_log {d}/third.log sessions;
    location / {{ return 200 "ok\n"; }}
  }}
}}
"#
    );
    let _nginx = Nginx::start(&bin, &dir, &conf, first);
    let scenario = dir.write(
        "known.toml",
        &format!(
            r#"[http]
base_url = "http://127.0.0.1:{first}"
[load]
rate = 1000
duration = "2s"
[[request]]
name = "item"
path = "/items/42?x=1"
[[request]]
name = "gone"
path = "/gone/7"
check = {{ status = [404] }}
"#
        ),
    );
    Volley::run(&scenario)
        .headless()
        .quiet_status()
        .expect_exit(0);
    let first_log = std::fs::read_to_string(dir.path("first.log")).unwrap();
    let n = first_log.lines().count();
    assert!(n > 1500, "{n} requests went through nginx");
    // The timed log, replayed against the second block.
    let json = dir.path("replay.json");
    let out = Volley::sub("replay")
        .arg(dir.path("first.log"))
        .flag("--target", format!("http://127.0.0.1:{second}"))
        .flag("--log-format", TIMED)
        .headless()
        .quiet_status()
        .json(&json)
        .expect_exit(0);
    let second_log = std::fs::read_to_string(dir.path("second.log")).unwrap();
    assert_eq!(second_log.lines().count(), n, "{}", text(&out).1);
    // The same timeline: each request's offset from the first, in nginx's
    // milliseconds, as in the source's.
    let (a, b) = (starts(&first_log), starts(&second_log));
    let mut off: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(x, y)| ((x - a[0]) - (y - b[0])).abs())
        .collect();
    off.sort_by(f64::total_cmp);
    let p50 = off[off.len() / 2];
    let p99 = off[off.len() * 99 / 100];
    assert!(
        p50 <= 1.5 && p99 <= 5.0,
        "off the timeline: p50 {p50} ms, p99 {p99} ms"
    );
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"].as_u64(), Some(n as u64));
    let notes = r["notes"].to_string();
    assert!(notes.contains("where the source had 404"), "{notes}");
    assert!(
        notes.contains("replay statuses, GET /gone/{id}: the source had 404×"),
        "{notes}"
    );

    // The combined log (whole seconds, spread over each), twice as fast.
    std::fs::write(dir.path("second.log"), "").unwrap();
    // nginx reopens nothing: the file it writes to is truncated in place.
    Volley::sub("replay")
        .arg(dir.path("first-combined.log"))
        .flag("--target", format!("http://127.0.0.1:{second}"))
        .flag("--speed", "2")
        .flag("--statuses", "any")
        .headless()
        .quiet_status()
        .expect_exit(0);
    std::thread::sleep(Duration::from_millis(200));
    let again = std::fs::read_to_string(dir.path("second.log")).unwrap();
    let c = starts(again.trim_start_matches('\0'));
    assert_eq!(c.len(), n);
    let span = c[c.len() - 1] - c[0];
    let source_span = a[a.len() - 1] - a[0];
    assert!(
        span < source_span * 0.5 + 600.0 && span > source_span * 0.5 - 600.0,
        "span {span} ms at speed 2 of {source_span} ms"
    );

    // Sessions over three local workers: each session's requests reach
    // nginx in order, by nginx's own log and the session's header.
    let mut lines = String::new();
    for k in 0..400u64 {
        let (sess, i) = (k % 20, k / 20);
        lines.push_str(&format!(
            r#"{{"t":{},"url":"/s/{sess}/{i}","headers":{{"x-session":"u{sess}"}},"session":"u{sess}"}}"#,
            k as f64 * 0.002
        ));
        lines.push('\n');
    }
    let sessions = dir.write("sessions.jsonl", &lines);
    Volley::sub("replay")
        .arg(&sessions)
        .flag("--target", format!("http://127.0.0.1:{third}"))
        .flag("--local-workers", "3")
        .flag("--connections", "9")
        .headless()
        .quiet_status()
        .expect_exit(0);
    std::thread::sleep(Duration::from_millis(200));
    let third_log = std::fs::read_to_string(dir.path("third.log")).unwrap();
    assert_eq!(third_log.lines().count(), 400);
    // 1700000000.123 "GET /s/3/7 HTTP/1.1" u3
    let last = crate::replay::in_session_order(
        third_log.lines().map(|l| {
            let path = l.split('"').nth(1).unwrap().split(' ').nth(1).unwrap();
            let i = path.rsplit('/').next().unwrap().parse().unwrap();
            (l.rsplit(' ').next().unwrap().to_owned(), i)
        }),
        false,
    );
    assert_eq!(last.len(), 20);
}
