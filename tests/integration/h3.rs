//! HTTP/3 targets (`[http] version = "http3"`, and `"auto"` moving to
//! HTTP/3 when `Alt-Svc` offers it) against real QUIC servers on loopback
//! (`h3_server`): counts equal what the server saw, every feature of an
//! HTTP/2 request (checks, captures, redirects, cookies, compression,
//! templates, bodies, `max_body`) over HTTP/3, shared connections, and the
//! failures QUIC adds, each with its kind and reason: a stream reset and a
//! connection closed with their codes, a handshake nobody answers (UDP
//! blocked), a server without HTTP/3, and a frame of 2^62 bytes held in
//! flat memory. Caddy and quic-go's server are in `h3_peers`.

use std::time::Duration;

use crate::common::Dir;
use crate::h3_server::{self, H3Server};
use crate::hostile::{name, run};

/// Failures of row `n` as (kind, reason) pairs.
fn reasons(r: &serde_json::Value, n: &str) -> Vec<(String, String)> {
    name(r, n)["failures_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn head(server: &H3Server, load: &str, extra_http: &str) -> String {
    format!(
        "[load]\n{load}\ntimeout = \"5s\"\n[http]\nbase_url = \"https://127.0.0.1:{}\"\n\
         version = \"http3\"\nca = \"{}\"\n{extra_http}\n",
        server.addr.port(),
        server.ca.display()
    )
}

#[test]
fn requests_go_over_http3_and_every_one_is_counted() {
    let dir = Dir::new();
    let server = h3_server::start(&dir);
    for (shared, connections) in [("", 4), ("connections = 2", 2)] {
        let before = server.requests().len();
        let before_conns = server
            .connections
            .load(std::sync::atomic::Ordering::Relaxed);
        let text = head(&server, "users = 4\nrequests = 400", shared)
            + "[[request]]\nname = \"root\"\npath = \"/\"\n[request.check]\nstatus = [200]\nbody_contains = \"ok\"\n";
        let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
        assert_eq!(code, Some(0), "{shared}: {}", p.stderr());
        let n = name(&r, "root");
        assert_eq!(n["requests"], 400, "{shared}: {n}");
        assert_eq!(n["failures"], 0, "{shared}: {n}");
        let seen = server.requests().len() - before;
        assert_eq!(seen, 400, "{shared}: the server saw {seen}");
        let conns = server
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
            - before_conns;
        assert_eq!(conns, connections, "{shared}: QUIC connections");
    }
}

#[test]
fn checks_captures_redirects_cookies_compression_and_bodies_work_over_http3() {
    let dir = Dir::new();
    let server = h3_server::start(&dir);
    let text = head(
        &server,
        "users = 1\nrequests = 8",
        "cookies = true\nmax_body = \"1KiB\"",
    ) + r#"
[[flow]]
name = "journey"
[[flow.step]]
name = "cookie set"
path = "/set-cookie"
[[flow.step]]
name = "cookie sent"
path = "/cookie"
[flow.step.check]
body_contains = "s=1"
[[flow.step]]
name = "redirected"
path = "/redirect/3"
[flow.step.check]
status = [200]
body_contains = "ok"
[[flow.step]]
name = "gzip"
path = "/gzip"
[flow.step.check]
json = { "/gzipped" = true }
[flow.step.capture]
label = { json = "/label" }
[[flow.step]]
name = "echo"
method = "POST"
path = "/echo"
body = "label={{ label }}"
[flow.step.check]
body_contains = "label=sports"
[[flow.step]]
name = "big"
path = "/bytes/200000"
[flow.step.check]
status = [200]
"#;
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}\n{r}", p.stderr());
    for step in [
        "cookie set",
        "cookie sent",
        "redirected",
        "gzip",
        "echo",
        "big",
    ] {
        let n = name(&r, step);
        assert!(n["requests"].as_u64().unwrap() >= 1, "{step}: {n}");
        assert_eq!(n["failures"], 0, "{step}: {n}");
    }
    // The whole body is counted though 1 KiB of it is kept.
    let big = name(&r, "big");
    let per = big["bytes_received"].as_u64().unwrap() / big["requests"].as_u64().unwrap();
    assert!(per >= 200_000, "{big}");
    // Every hop of the redirect went to the server over HTTP/3.
    let seen = server.requests();
    let journeys = name(&r, "redirected")["requests"].as_u64().unwrap() as usize;
    for hop in ["/redirect/3", "/redirect/2", "/redirect/1"] {
        assert_eq!(
            seen.iter().filter(|s| s.path == hop).count(),
            journeys,
            "{hop}"
        );
    }
    assert!(
        seen.iter()
            .filter(|s| s.path == "/cookie")
            .all(|s| s.cookie.as_deref() == Some("s=1")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .filter(|s| s.path == "/echo")
            .all(|s| s.method == "POST" && s.body_len == "label=sports".len())
    );
}

#[test]
fn resets_and_closes_are_failures_with_their_codes_and_the_run_goes_on() {
    let dir = Dir::new();
    let server = h3_server::start(&dir);
    let text = head(&server, "users = 2\nrequests = 60", "")
        + "[[request]]\nname = \"reset\"\npath = \"/reset\"\n\
           [[request]]\nname = \"close\"\npath = \"/close\"\n\
           [[request]]\nname = \"fine\"\npath = \"/\"\n";
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "reset");
    assert_eq!(n["failures"], n["requests"], "{n}");
    assert_eq!(
        reasons(&r, "reset"),
        vec![(
            "reset".to_owned(),
            "stream reset by the server (H3_REQUEST_CANCELLED, 0x10c)".to_owned()
        )]
    );
    let n = name(&r, "close");
    assert_eq!(n["failures"], n["requests"], "{n}");
    for (kind, reason) in reasons(&r, "close") {
        assert_eq!(kind, "reset");
        assert_eq!(
            reason,
            "connection closed by the server (H3_REQUEST_CANCELLED, 0x10c)"
        );
    }
    // Users go on over new connections.
    let n = name(&r, "fine");
    assert!(n["requests"].as_u64().unwrap() > 0, "{n}");
    assert_eq!(n["failures"], 0, "{n}");
}

#[test]
fn a_handshake_nobody_answers_is_a_connect_failure_that_says_udp_may_be_blocked() {
    let dir = Dir::new();
    let (addr, _t) = h3_server::silent_udp();
    let (ca, _) = h3_server::tls(&dir, &[b"h3"]);
    let text = format!(
        "[scenario]\nallow_all_failed = true\n[load]\nusers = 1\nrequests = 2\ntimeout = \"2s\"\n[http]\nbase_url = \"https://{addr}\"\n\
         version = \"http3\"\nca = \"{}\"\n[[request]]\nname = \"silent\"\npath = \"/\"\n",
        ca.display()
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let got = reasons(&r, "silent");
    assert_eq!(
        got,
        vec![(
            "connect".to_owned(),
            "no QUIC handshake answer (UDP blocked, or no HTTP/3 server on that port)".to_owned()
        )]
    );
    // Nothing bound at all: the same.
    let free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let text = text.replace(&addr.to_string(), &format!("127.0.0.1:{port}"));
    let (_, _, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(reasons(&r, "silent")[0].0, "connect", "{r}");
}

#[test]
fn a_server_without_http3_fails_the_handshake_with_a_reason() {
    let dir = Dir::new();
    // A QUIC server offering only another protocol.
    let (_ca, tls) = h3_server::tls(&dir, &[b"hq-interop"]);
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let endpoint = rt.block_on(async {
        quinn::Endpoint::server(
            quinn::ServerConfig::with_crypto(std::sync::Arc::new(crypto)),
            ([127, 0, 0, 1], 0).into(),
        )
        .unwrap()
    });
    let addr = endpoint.local_addr().unwrap();
    let ep = endpoint.clone();
    rt.spawn(async move {
        while let Some(i) = ep.accept().await {
            tokio::spawn(async move {
                let _ = i.await;
            });
        }
    });
    let text = format!(
        "[scenario]\nallow_all_failed = true\n[load]\nusers = 1\nrequests = 2\ntimeout = \"5s\"\n[http]\nbase_url = \"https://{addr}\"\n\
         version = \"http3\"\ninsecure = true\n[[request]]\nname = \"hq\"\npath = \"/\"\n"
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let got = reasons(&r, "hq");
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "tls", "{got:?}");
    assert!(got[0].1.contains("does not offer HTTP/3"), "{got:?}");
}

#[test]
fn a_server_that_resets_every_stream_gets_reset_failures() {
    let dir = Dir::new();
    let (addr, ca) = h3_server::resets_every_stream(&dir);
    let text = format!(
        "[scenario]\nallow_all_failed = true\n[load]\nusers = 2\nrequests = 200\ntimeout = \"5s\"\n[http]\nbase_url = \"https://{addr}\"\n\
         version = \"http3\"\nca = \"{}\"\n[[request]]\nname = \"r\"\npath = \"/\"\n",
        ca.display()
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "r");
    assert_eq!(n["requests"], 200, "{n}");
    assert_eq!(n["failures"], 200, "{n}");
    for (kind, reason) in reasons(&r, "r") {
        assert!(
            matches!(kind.as_str(), "reset" | "protocol"),
            "{kind}: {reason}"
        );
        assert!(
            reason.contains("0x10c") || reason.contains("HTTP/3"),
            "{reason}"
        );
    }
}

#[test]
fn a_frame_declaring_two_to_the_62_bytes_fails_in_flat_memory() {
    let dir = Dir::new();
    let (addr, ca, streams) = h3_server::endless_frame(&dir);
    let text = format!(
        "[scenario]\nallow_all_failed = true\n[load]\nusers = 4\nduration = \"4s\"\ntimeout = \"2s\"\n[http]\nbase_url = \"https://{addr}\"\n\
         version = \"http3\"\nca = \"{}\"\n[[request]]\nname = \"endless\"\npath = \"/\"\n",
        ca.display()
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "endless");
    let requests = n["requests"].as_u64().unwrap();
    // Without the guard each request held what the server sent until its
    // timeout: hundreds of MiB.
    assert!(
        p.peak_rss_mib() < 60,
        "peak RSS {} MiB over {requests} requests",
        p.peak_rss_mib()
    );
    assert_eq!(n["failures"], requests, "{n}");
    assert!(requests >= 20, "only {requests} requests: {n}");
    for (kind, reason) in reasons(&r, "endless") {
        assert_eq!(kind, "protocol", "{reason}");
        assert_eq!(reason, "HTTP/3 frame too large");
    }
    assert!(streams.load(std::sync::atomic::Ordering::Relaxed) >= requests);
}
