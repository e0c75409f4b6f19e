//! HTTP/3 targets (`[http] version = "http3"`, and `"auto"` moving to
//! HTTP/3 when `Alt-Svc` offers it) against real QUIC servers on loopback
//! (`h3_server`): counts equal what the server saw, every feature of an
//! HTTP/2 request (checks, captures, redirects, cookies, compression,
//! templates, bodies, `max_body`) over HTTP/3, shared connections, and the
//! failures QUIC adds, each with its kind and reason: a stream reset and a
//! connection closed with their codes, a handshake nobody answers (UDP
//! blocked), a server without HTTP/3, another QUIC version, answers that
//! are not HTTP/3, and a frame of 2^62 bytes held in flat memory. Also the
//! open model, Server-Sent Events, one-line runs and replays over HTTP/3,
//! a request's own version, and ::1. Caddy and quic-go's server are in `h3_peers`.

use std::time::Duration;

use crate::common::{Dir, reasons};
use crate::h3_server::{self, H3Server};
use crate::hostile::{name, run};

/// The JSON result of volley run with `args` (a one-line run, a replay),
/// which must exit 0.
fn totals_of(dir: &Dir, args: &[&str]) -> serde_json::Value {
    let json = dir.path("r.json");
    let mut all = args.to_vec();
    all.extend(["--json", json.to_str().unwrap()]);
    let mut p = crate::procs::Proc::start(&all, &[]);
    assert_eq!(p.wait(Duration::from_secs(60)), Some(0), "{}", p.stderr());
    crate::common::read_json(&json)
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
        // Every answer came over HTTP/3, and the result says so.
        assert_eq!(n["protocols"], serde_json::json!({"HTTP/3": 400}), "{n}");
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
fn a_handshake_nobody_answers_is_a_connect_failure_that_says_udp_may_be_blocked_and_a_closed_port_is_refused()
 {
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
    // Nothing bound at all: the host says so (ICMP port unreachable), and
    // the failure is a refusal, as a TCP connect's, not a wait for the
    // handshake's timeout (10 s each: three would not fit the run's 20 s).
    let free = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let text = text
        .replace(&addr.to_string(), &format!("127.0.0.1:{port}"))
        .replace(
            "requests = 2\ntimeout = \"2s\"",
            "requests = 3\nduration = \"20s\"\ntimeout = \"40s\"",
        );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    assert_eq!(name(&r, "silent")["requests"], 3, "{r}");
    assert_eq!(
        reasons(&r, "silent"),
        vec![(
            "connect".to_owned(),
            "connection refused (nothing listens on that UDP port, or a firewall rejects UDP)"
                .to_owned()
        )]
    );
}

#[test]
fn a_server_of_another_quic_version_fails_version_negotiation() {
    let dir = Dir::new();
    let (addr, _t) = h3_server::other_quic_version();
    let text = format!(
        "[scenario]\nallow_all_failed = true\n[load]\nusers = 1\nrequests = 3\ntimeout = \"5s\"\n\
         [http]\nbase_url = \"https://{addr}\"\nversion = \"http3\"\ninsecure = true\n\
         [[request]]\nname = \"vn\"\npath = \"/\"\n"
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    assert_eq!(
        reasons(&r, "vn"),
        vec![(
            "connect".to_owned(),
            "QUIC version negotiation failed (the server speaks no QUIC version volley does)"
                .to_owned()
        )]
    );
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

/// `version = "auto"`: the first requests go over TCP (HTTP/2 by ALPN),
/// whose answers' `Alt-Svc` offers HTTP/3 on the same port; every request
/// after goes over HTTP/3. An offer on another host is passed over; one
/// nobody answers (no UDP server there) is given up; either way the run
/// stays on TCP without a failure.
#[test]
fn auto_moves_to_http3_when_alt_svc_offers_it_and_stays_on_tcp_when_it_cannot() {
    let dir = Dir::new();
    let cert = h3_server::Cert::new(&dir);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let h3 = h3_server::start_on(&cert, port);
    let tcp = h3_server::tcp_offering(&cert, listener, &format!("h3=\":{port}\"; ma=60"));
    let text = |port: u16| {
        format!(
            "[load]\nusers = 2\nrequests = 100\ntimeout = \"4s\"\n[http]\nbase_url = \"https://127.0.0.1:{port}\"\n\
             version = \"auto\"\nca = \"{}\"\n[[request]]\nname = \"auto\"\npath = \"/\"\n",
            cert.ca.display()
        )
    };
    let (p, code, r) = run(&dir, &text(port), &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "auto");
    assert_eq!(n["requests"], 100, "{n}");
    assert_eq!(n["failures"], 0, "{n}");
    let over_tcp = tcp.load(std::sync::atomic::Ordering::Relaxed);
    let over_h3 = h3.requests().len() as u64;
    assert_eq!(over_tcp + over_h3, 100);
    // Each user's first request at most went over TCP.
    assert!(
        (1..=2).contains(&over_tcp),
        "{over_tcp} over TCP, {over_h3} over HTTP/3"
    );
    // The result says which protocol answered how many, as the servers saw.
    assert_eq!(
        n["protocols"],
        serde_json::json!({"HTTP/2": over_tcp, "HTTP/3": over_h3}),
        "{n}"
    );
    // The summary's line for a name that moved.
    assert!(
        p.stdout().contains("answered over more than one protocol"),
        "{}",
        p.stdout()
    );
    assert_eq!(auto_notes(&r), Vec::<String>::new());

    // An offer on another host (here a name for the same server): passed
    // over, load goes only where the scenario points.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let elsewhere = listener.local_addr().unwrap().port();
    let tcp = h3_server::tcp_offering(&cert, listener, &format!("h3=\"localhost:{port}\""));
    let before = h3.requests().len();
    let (p, code, r) = run(&dir, &text(elsewhere), &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    assert_eq!(
        name(&r, "auto")["protocols"],
        serde_json::json!({"HTTP/2": 100})
    );
    assert_eq!(tcp.load(std::sync::atomic::Ordering::Relaxed), 100);
    assert_eq!(h3.requests().len(), before);
    // The report says the run asked for HTTP/3 and got none.
    assert_eq!(
        auto_notes(&r),
        [
            "auto: version = \"auto\", but no answer came over HTTP/3 (HTTP/2 100): the server's Alt-Svc offered no HTTP/3 on its own host, or the offer could not be reached (a warning said which)"
        ]
    );
    assert!(
        p.stdout().contains("no answer came over HTTP/3"),
        "{}",
        p.stdout()
    );

    // An offer of a UDP port where nothing answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let (silent, _t) = h3_server::silent_udp();
    let tcp = h3_server::tcp_offering(&cert, listener, &format!("h3=\":{}\"", silent.port()));
    let (p, code, r) = run(&dir, &text(port), &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "auto");
    assert_eq!(n["failures"], 0, "{n}");
    assert_eq!(tcp.load(std::sync::atomic::Ordering::Relaxed), 100);
    assert!(
        p.stderr()
            .contains("HTTP/3 offered by Alt-Svc but not reached"),
        "{}",
        p.stderr()
    );
    assert_eq!(auto_notes(&r).len(), 1, "{}", r["notes"]);
}

/// The result's notes on `version = "auto"` (report/auto_version.rs).
fn auto_notes(r: &serde_json::Value) -> Vec<String> {
    r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.contains("version = \"auto\""))
        .map(str::to_owned)
        .collect()
}

/// `version` on a request: two requests to one origin, one over HTTP/3
/// and one over HTTP/2, each on its own connections.
#[test]
fn a_request_s_own_version_picks_its_protocol() {
    let dir = Dir::new();
    let cert = h3_server::Cert::new(&dir);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let h3 = h3_server::start_on(&cert, port);
    let tcp = h3_server::tcp_offering(&cert, listener, "clear");
    let text = format!(
        "[load]\nusers = 2\nrequests = 60\n[http]\nbase_url = \"https://127.0.0.1:{port}\"\n\
         ca = \"{}\"\n\
         [[request]]\nname = \"quic\"\npath = \"/quic\"\nversion = \"http3\"\n\
         [[request]]\nname = \"tcp\"\npath = \"/tcp\"\nversion = \"http2\"\n",
        cert.ca.display()
    );
    // `volley check` says which version each request speaks.
    let file = dir.write("versions.toml", &text);
    let out = crate::common::Volley::check(&file).output();
    let (stdout, _) = crate::common::text(&out);
    assert!(stdout.contains("/quic over HTTP/3 (QUIC)"), "{stdout}");
    assert!(stdout.contains("/tcp over HTTP/2"), "{stdout}");
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let quic = name(&r, "quic")["requests"].as_u64().unwrap();
    let over_tcp = name(&r, "tcp")["requests"].as_u64().unwrap();
    assert_eq!(quic + over_tcp, 60);
    assert_eq!(h3.requests().len() as u64, quic);
    assert!(h3.requests().iter().all(|s| s.path == "/quic"));
    assert_eq!(tcp.load(std::sync::atomic::Ordering::Relaxed), over_tcp);
    assert_eq!(
        name(&r, "quic")["protocols"],
        serde_json::json!({"HTTP/3": quic})
    );
    assert_eq!(
        name(&r, "tcp")["protocols"],
        serde_json::json!({"HTTP/2": over_tcp})
    );
}

/// A one-line run over HTTP/3, as oha takes it: `--http-version 3 -k`.
#[test]
fn a_one_line_run_speaks_http3_with_http_version_and_insecure() {
    let dir = Dir::new();
    let server = h3_server::start(&dir);
    let url = format!("https://127.0.0.1:{}/", server.addr.port());
    let r = totals_of(
        &dir,
        &[
            "run",
            &url,
            "--http-version",
            "3",
            "-k",
            "-n",
            "30",
            "-u",
            "3",
        ],
    );
    assert_eq!(r["totals"]["requests"], 30, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    assert_eq!(server.requests().len(), 30);
}

/// Answers that are not HTTP/3: each request fails as `protocol` with the
/// HTTP/3 code the client closed the connection with, the run goes on,
/// nothing panics.
#[test]
fn broken_http3_answers_are_protocol_failures() {
    let dir = Dir::new();
    let cases: [(&str, &'static [u8], &str); 4] = [
        // QPACK that does not decode: a field line naming a static table
        // entry past its end.
        (
            "bad qpack",
            &[0x01, 0x03, 0x00, 0x00, 0xff],
            "QPACK_DECOMPRESSION_FAILED, 0x200",
        ),
        // DATA before any HEADERS.
        (
            "data first",
            &[0x00, 0x02, b'h', b'i'],
            "H3_FRAME_UNEXPECTED, 0x105",
        ),
        // A frame HTTP/2 has and HTTP/3 forbids (PING, 0x06).
        (
            "h2 frame",
            &[0x06, 0x01, 0x00],
            "H3_FRAME_UNEXPECTED, 0x105",
        ),
        // The stream ends mid-frame.
        ("cut", &[0x01, 0x10, 0x00], "H3_FRAME_ERROR, 0x106"),
    ];
    for (case, answer, want) in cases {
        let (addr, ca) = h3_server::raw_answers(&dir, answer);
        let text = format!(
            "[scenario]\nallow_all_failed = true\n[load]\nusers = 2\nrequests = 20\ntimeout = \"3s\"\n\
             [http]\nbase_url = \"https://{addr}\"\nversion = \"http3\"\nca = \"{}\"\n\
             [[request]]\nname = \"b\"\npath = \"/\"\n",
            ca.display()
        );
        let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
        assert_eq!(code, Some(0), "{case}: {}", p.stderr());
        assert!(!p.stderr().contains("panicked"), "{case}: {}", p.stderr());
        let n = name(&r, "b");
        assert_eq!(n["requests"], 20, "{case}: {n}");
        assert_eq!(n["failures"], 20, "{case}: {n}");
        assert_eq!(
            reasons(&r, "b"),
            vec![(
                "protocol".to_owned(),
                format!("HTTP/3 protocol error ({want})")
            )],
            "{case}"
        );
    }
}

/// The open model over HTTP/3: its pool of connections opened before the
/// first arrival, every arrival sent and seen by the server.
#[test]
fn the_open_model_sends_every_arrival_over_http3() {
    let dir = Dir::new();
    let server = h3_server::start(&dir);
    let text = head(
        &server,
        "rate = 200\nduration = \"2s\"\nconnections = 4",
        "",
    ) + "[[request]]\nname = \"open\"\npath = \"/\"\n";
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "open");
    assert_eq!(n["failures"], 0, "{n}");
    let sent = n["requests"].as_u64().unwrap();
    assert!((380..=420).contains(&sent), "{n}");
    // The server saw every arrival: those answered, and those still in
    // flight when the load stopped (counted apart, as abandoned).
    let abandoned = r["abandoned"].as_u64().unwrap();
    assert!(abandoned <= 20, "{r}");
    assert_eq!(server.requests().len() as u64, sent + abandoned, "{r}");
    assert_eq!(
        server
            .connections
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );
}

/// `volley replay --http-version 3`: an access log replayed over HTTP/3,
/// every line a request the server saw (requests 10 ms apart go over
/// several connections at once: the server's order is its own).
#[test]
fn a_log_replays_over_http3() {
    let dir = Dir::new();
    let server = h3_server::start(&dir);
    let log: String = (0..20)
        .map(|i| {
            format!(
                "127.0.0.1 - - [10/Oct/2000:13:55:{:02} +0000] \"GET /item/{i} HTTP/1.1\" 200 2 \"-\" \"curl/8\"\n",
                i / 10
            )
        })
        .collect();
    let source = dir.write("access.log", &log);
    let target = format!("https://127.0.0.1:{}", server.addr.port());
    let r = totals_of(
        &dir,
        &[
            "replay",
            source.to_str().unwrap(),
            "--target",
            &target,
            "--http-version",
            "http3",
            "-k",
            "--speed",
            "10",
            "--headless",
        ],
    );
    assert_eq!(r["totals"]["requests"], 20, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let mut paths: Vec<String> = server.requests().into_iter().map(|s| s.path).collect();
    paths.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("/item/{i}")).collect();
    want.sort();
    assert_eq!(paths, want);
}

/// Server-Sent Events over HTTP/3: the stream's events counted in its own
/// rows, as over HTTP/1.1 and HTTP/2.
#[test]
fn server_sent_events_are_read_over_http3() {
    let dir = Dir::new();
    let server = h3_server::start(&dir);
    let text = head(&server, "users = 2\nrequests = 6", "")
        + "[[request]]\nname = \"ev\"\npath = \"/events/5\"\n[request.sse]\n";
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "ev");
    assert_eq!(n["requests"], 6, "{n}");
    assert_eq!(n["failures"], 0, "{n}");
    assert_eq!(n["protocols"], serde_json::json!({"HTTP/3": 6}), "{n}");
    assert_eq!(
        crate::common::row(&r, "streams", "msg:ev")["requests"],
        30,
        "{r}"
    );
    assert_eq!(
        crate::common::row(&r, "streams", "first:ev")["requests"],
        6,
        "{r}"
    );
}

/// HTTP/3 to ::1: the client's UDP socket is of the target's family.
#[test]
fn http3_goes_to_an_ipv6_loopback_target() {
    // A machine without IPv6 has no ::1 to test on: said, not failed.
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no IPv6 loopback (::1)");
        return;
    }
    let dir = Dir::new();
    let cert = h3_server::Cert::new(&dir);
    let server = h3_server::start_at(&cert, (std::net::Ipv6Addr::LOCALHOST, 0).into());
    let text = format!(
        "[load]\nusers = 2\nrequests = 20\n[http]\nbase_url = \"https://[::1]:{}\"\n\
         version = \"http3\"\nca = \"{}\"\n[[request]]\nname = \"v6\"\npath = \"/\"\n",
        server.addr.port(),
        cert.ca.display()
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "v6");
    assert_eq!(n["failures"], 0, "{n}");
    assert_eq!(server.requests().len(), 20);
}

/// A server that answers without the request's body and asks volley to
/// stop sending it (STOP_SENDING H3_NO_ERROR, RFC 9114 §4.1): the answer
/// is read and passes; the unsent body is no failure.
#[test]
fn an_answer_that_stops_the_body_is_read_and_passes() {
    let dir = Dir::new();
    let (addr, ca) = h3_server::stops_then_answers(&dir);
    let body = "x".repeat(256 * 1024);
    let text = format!(
        "[load]\nusers = 2\nrequests = 100\ntimeout = \"5s\"\n[http]\nbase_url = \"https://{addr}\"\n\
         version = \"http3\"\nca = \"{}\"\n[[request]]\nname = \"stopped\"\nmethod = \"POST\"\npath = \"/\"\nbody = \"{body}\"\n",
        ca.display()
    );
    let (p, code, r) = run(&dir, &text, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", p.stderr());
    let n = name(&r, "stopped");
    assert_eq!(n["requests"], 100, "{n}");
    assert_eq!(n["failures"], 0, "{:?}", reasons(&r, "stopped"));
}
