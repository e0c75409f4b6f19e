//! volley against nginx over TLS and HTTP/2 (ALPN), a server nobody here
//! wrote: gzip answers decoded for checks, a Host header routed as HTTP/2's
//! `:authority` to nginx's virtual server, and volley's request count equal
//! to nginx's access log; and nginx proxying Server-Sent Events and
//! WebSocket to the prediction server, its log counting volley's calls.
//!
//! nginx comes from Debian: `.ci/third-party` installs it and runs this test
//! with `VOLLEY_NGINX` naming the binary. Without it the test is ignored (the
//! README's test command needs only Rust).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, Dir, ExpectExit, read_json};

mod replay;

pub(crate) struct Nginx(Child);

impl Nginx {
    /// nginx with `conf` (its prefix `dir`), once it accepts on `port`.
    pub(crate) fn start(bin: &str, dir: &Dir, conf: &str, port: u16) -> Nginx {
        let conf_path = dir.write("nginx.conf", conf);
        let d = dir.path("").display().to_string();
        let d = d.trim_end_matches('/');
        let nginx = Nginx(
            Command::new(bin)
                .args([
                    "-p",
                    d,
                    "-c",
                    conf_path.to_str().unwrap(),
                    "-g",
                    "daemon off;",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let end = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < end, "nginx did not start: {d}/error.log");
            std::thread::sleep(Duration::from_millis(50));
        }
        nginx
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nginx: .ci/third-party installs it and runs this test"]
async fn nginx_over_h2_decodes_gzip_routes_virtual_hosts_and_counts_alike() {
    let bin = std::env::var("VOLLEY_NGINX")
        .expect("VOLLEY_NGINX names the nginx binary (.ci/third-party sets it)");
    let dir = Dir::new();
    // A CA and a certificate it signs for both names.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "shop.example".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    dir.write("ca.pem", &ca_cert.pem());
    let cert = dir.write("cert.pem", &leaf.pem());
    let key = dir.write("key.pem", &key.serialize_pem());
    // A JSON document of about 6 KiB, which gzip shrinks well.
    let items: Vec<String> = (0..200)
        .map(|i| format!("{{\"id\":{i},\"name\":\"item {i}\"}}"))
        .collect();
    let doc = format!("{{\"ok\":true,\"items\":[{}]}}", items.join(","));
    let doc_path = dir.write("doc.json", &doc);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.path("").display().to_string();
    let d = d.trim_end_matches('/');
    let (cert, key, doc_path) = (cert.display(), key.display(), doc_path.display());
    let tls = format!("ssl_certificate {cert}; ssl_certificate_key {key};");
    let conf = format!(
        r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format v '$server_name $status $server_protocol';
    access_log {d}/access.log v;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    default_type application/json;
    gzip on;
    gzip_types application/json;
    gzip_min_length 0;
    server {{
        listen 127.0.0.1:{port} ssl http2 default_server;
        server_name localhost;
        {tls}
        location = /doc {{ alias {doc_path}; }}
        location = /vhost {{ return 200 '{{"vhost":"default"}}'; }}
    }}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        server_name shop.example;
        {tls}
        location = /vhost {{ return 200 '{{"vhost":"shop"}}'; }}
    }}
}}
"#
    );
    let _nginx = Nginx::start(&bin, &dir, &conf, port);
    let text = format!(
        r#"[load]
users = 4
requests = 200
[http]
base_url = "https://localhost:{port}"
version = "http2"
ca = "ca.pem"

[[request]]
name = "doc"
path = "/doc"
[request.check.json]
"/ok" = true
"/items/199/name" = "item 199"

[[request]]
name = "vhost"
path = "/vhost"
headers = {{ host = "shop.example" }}
[request.check.json]
"/vhost" = "shop"
"#
    );
    let file = dir.write("s.toml", &text);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 200, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    // Bytes are the wire's: the compressed document, not its 6 KiB.
    let docs = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "doc")
        .unwrap();
    let per = docs["bytes_received"].as_u64().unwrap() / docs["requests"].as_u64().unwrap();
    assert!(per < doc.len() as u64 / 2, "{per} bytes per answer");
    // nginx logged exactly the requests volley counted, all over HTTP/2,
    // the virtual host's on its own server.
    let log = std::fs::read_to_string(format!("{d}/access.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 200, "{log}");
    assert!(lines.iter().all(|l| l.ends_with(" 200 HTTP/2.0")), "{log}");
    let shop = lines
        .iter()
        .filter(|l| l.starts_with("shop.example "))
        .count() as u64;
    let vhost = r["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "vhost")
        .unwrap()["requests"]
        .as_u64()
        .unwrap();
    assert_eq!(shop, vhost);
}

/// nginx as the proxy in front of the prediction server, as streams are
/// deployed: Server-Sent Events unbuffered (`proxy_buffering off`) and
/// WebSocket upgraded (`Upgrade`/`Connection` passed on). volley's calls
/// are nginx's log lines, every text's event or answer counted, and an
/// SSE call's first event comes before its stream ends.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs nginx: .ci/third-party installs it and runs this test"]
async fn nginx_proxies_event_streams_and_websockets_and_counts_alike() {
    let bin = std::env::var("VOLLEY_NGINX")
        .expect("VOLLEY_NGINX names the nginx binary (.ci/third-party sets it)");
    let upstream = crate::servers::predict_rest(None).await;
    let dir = Dir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.path("").display().to_string();
    let d = d.trim_end_matches('/');
    let up = upstream.addr;
    let conf = format!(
        r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format v '$uri $status';
    access_log {d}/access.log v;
    client_body_temp_path {d}/tmp_body;
    proxy_temp_path {d}/tmp_proxy;
    fastcgi_temp_path {d}/tmp_fastcgi;
    uwsgi_temp_path {d}/tmp_uwsgi;
    scgi_temp_path {d}/tmp_scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /predict/stream {{
            proxy_pass http://{up};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }}
        location = /predict/ws {{
            proxy_pass http://{up};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 60s;
        }}
    }}
}}
"#
    );
    let _nginx = Nginx::start(&bin, &dir, &conf, port);
    let text = format!(
        r#"[load]
users = 4
requests = 60
[http]
base_url = "http://127.0.0.1:{port}"

[[request]]
name = "sse"
method = "POST"
path = "/predict/stream"
json = {{ texts = ["the match ended in a draw", "rates rose again", "a new phone", "an election", "a storm"] }}
[request.sse]
until = "[DONE]"
[request.check]
body_contains = '"label"'

[[request]]
name = "ws"
url = "ws://127.0.0.1:{port}/predict/ws"
message = {{ text = "goal {{{{ int(1, 9) }}}}" }}
[request.stream]
messages = 20
ping_pong = true
[request.check]
body_contains = '"label"'
"#
    );
    let file = dir.write("s.toml", &text);
    let (out, json) = common::run_with_json(&file, &["--status-every", "1h"]).await;
    out.expect_exit(0);
    let r = read_json(&json);
    assert_eq!(r["totals"]["requests"], 60, "{r}");
    assert_eq!(r["totals"]["failures"], 0, "{r}");
    let find = |group: &str, n: &str| common::row(&r, group, n).clone();
    let calls = |n: &str| find("names", n)["requests"].as_u64().unwrap();
    assert_eq!(
        find("streams", "msg:sse")["requests"].as_u64(),
        Some(5 * calls("sse"))
    );
    assert_eq!(
        find("streams", "msg:ws")["requests"].as_u64(),
        Some(20 * calls("ws"))
    );
    // nginx logged each call once: an event stream as 200, a WebSocket as
    // its 101 (logged at its close).
    let log = std::fs::read_to_string(format!("{d}/access.log")).unwrap();
    let count = |line: &str| log.lines().filter(|l| *l == line).count() as u64;
    assert_eq!(count("/predict/stream 200"), calls("sse"), "{log}");
    assert_eq!(count("/predict/ws 101"), calls("ws"), "{log}");
    assert_eq!(log.lines().count(), 60, "{log}");
}
