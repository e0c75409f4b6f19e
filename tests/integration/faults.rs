//! A target that misbehaves on purpose: delays, error statuses, resets,
//! garbage, silence, and a refused port. volley counts each as a failure with
//! its reason, and the run goes on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{self, Dir, ExpectExit, read_json, reasons};

/// Counts the requests it receives; answers by path.
struct Faulty {
    addr: std::net::SocketAddr,
    received: Arc<AtomicU64>,
}

async fn handle(mut s: TcpStream, received: Arc<AtomicU64>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Read one request head (these tests send no bodies).
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        received.fetch_add(1, Ordering::SeqCst);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
        match path.as_str() {
            "/ok" => {
                if s.write_all(ok.as_bytes()).await.is_err() {
                    return;
                }
            }
            "/slow" => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if s.write_all(ok.as_bytes()).await.is_err() {
                    return;
                }
            }
            "/error" => {
                let r = "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\ndown";
                if s.write_all(r.as_bytes()).await.is_err() {
                    return;
                }
            }
            "/reset" => {
                let _ = s.set_zero_linger();
                return;
            }
            "/garbage" => {
                let _ = s.write_all(b"SMTP ready? \x00\xff\r\n\r\n").await;
                return;
            }
            "/hang" => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            _ => return,
        }
    }
}

async fn faulty() -> Faulty {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(handle(s, r.clone()));
        }
    });
    Faulty { addr, received }
}

fn scenario(base: &str) -> String {
    let mut s = format!(
        "[load]\nusers = 4\nrequests = 400\ntimeout = \"300ms\"\n[http]\nbase_url = \"{base}\"\n"
    );
    for (name, weight) in [
        ("ok", 4),
        ("slow", 1),
        ("error", 1),
        ("reset", 1),
        ("garbage", 1),
        ("hang", 1),
    ] {
        s.push_str(&format!(
            "[[request]]\nname = \"{name}\"\npath = \"/{name}\"\nweight = {weight}\n"
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_is_counted_with_its_reason_and_the_run_goes_on() {
    let target = faulty().await;
    let dir = Dir::new();
    let file = dir.write("s.toml", &scenario(&format!("http://{}", target.addr)));
    let (out, json) = common::run_with_json(&file, &[]).await;
    let (stdout, _) = common::text(&out);
    // No threshold: the run itself succeeds whatever the target does.
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 400, "{r}");
    let by_name = |n: &str| {
        r["names"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(by_name("ok")["failures"], 0);
    assert_eq!(by_name("slow")["failures"], 0);
    assert!(by_name("slow")["p50_us"].as_u64().unwrap() >= 20_000);
    assert_eq!(by_name("error")["failures"], by_name("error")["requests"]);
    assert_eq!(
        reasons(&r, "error"),
        [("status".into(), "HTTP 503 Service Unavailable".into())]
    );
    for (name, kind) in [
        ("reset", "reset"),
        ("garbage", "protocol"),
        ("hang", "timeout"),
    ] {
        let n = by_name(name);
        assert_eq!(n["failures"], n["requests"], "{name}: {n}");
        let rs = reasons(&r, name);
        assert!(rs.iter().all(|(k, _)| k == kind), "{name}: {rs:?}");
    }
    assert!(stdout.contains("failures:"), "{stdout}");
    assert!(stdout.contains("HTTP 503"), "{stdout}");
    // Every request volley counted reached the target, bar the in-flight ones
    // abandoned at the end (none here: the count limit lets them finish),
    // plus the GETs reset on a kept-alive connection and sent again: the
    // server may have read them, and each is counted as a retry.
    let retries = r["retries"].as_u64().unwrap();
    assert_eq!(target.received.load(Ordering::SeqCst), 400 + retries);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_port_is_a_connect_failure() {
    // Bind then drop: the port is (almost certainly) closed now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = Dir::new();
    let file = dir.write("s.toml", &format!("[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"http://127.0.0.1:{port}\"\n[[request]]\nname = \"down\"\npath = \"/\"\n"));
    let (out, json) = common::run_with_json(&file, &["--threshold", "error_rate<50%"]).await;
    out.expect_exit(1);
    let r = read_json(&json);
    assert_eq!(r["totals"]["failures"], 20);
    assert_eq!(
        reasons(&r, "down"),
        [("connect".into(), "connection refused".into())]
    );
    let (_, stderr) = common::text(&out);
    assert!(
        stderr.contains("threshold failed: error_rate<50%"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn open_model_shows_a_stall_in_p99_and_max() {
    // A target that answers at once, but stalls every request for one second
    // from 1.5 s into the run. At 200 requests/s, about 200 arrivals fall into
    // the stall; measured from their intended start they wait up to 1 s.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let t0 = std::time::Instant::now();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut have = Vec::new();
                loop {
                    while !have.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => have.extend_from_slice(&buf[..n]),
                        }
                    }
                    let end = have.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    have.drain(..end);
                    let stall_start = Duration::from_millis(1500);
                    let stall_end = Duration::from_millis(2500);
                    let now = t0.elapsed();
                    if now >= stall_start && now < stall_end {
                        tokio::time::sleep(stall_end - now).await;
                    }
                    let ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    if s.write_all(ok.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let dir = Dir::new();
    let file = dir.write(
        "s.toml",
        &format!("[load]\nrate = 200\nduration = \"4s\"\n[http]\nbase_url = \"http://{addr}\"\n[[request]]\nname = \"r\"\npath = \"/\"\n"),
    );
    let (out, json) = common::run_with_json(&file, &[]).await;
    out.expect_exit(0);
    let r = read_json(&json);
    let t = &r["totals"];
    let requests = t["requests"].as_u64().unwrap();
    // The schedule is kept: about 200/s for 4 s.
    assert!((700..=820).contains(&requests), "{requests}");
    // The stall is in the percentiles: p99 and max near a second, although
    // the target answers at once outside it.
    assert!(t["max_us"].as_u64().unwrap() >= 900_000, "{t}");
    assert!(t["p99_us"].as_u64().unwrap() >= 800_000, "{t}");
    assert!(t["p50_us"].as_u64().unwrap() < 50_000, "{t}");
    assert_eq!(t["failures"], 0);
}
