//! HTTP proxies, as curl, Go and k6 use them: `[http] proxy`, or the
//! `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` environment of the machine
//! that sends. Plain `http://` requests go to the proxy in absolute form
//! (`GET http://host/path HTTP/1.1`); `https://` ones through a `CONNECT`
//! tunnel, TLS end to end. Credentials in the proxy URL become
//! `Proxy-Authorization: Basic`.
//!
//! A loopback target never takes a proxy from the environment (Go's rule):
//! a machine-wide proxy setting must not send a local test elsewhere. An
//! explicit `[http] proxy` applies to every target.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::scenario::ProxySetting;
use crate::stats::{Failure, FailureKind};

// The proxy URL is the scenario's (`[http] proxy`), checked when it
// compiles: its parser lives there, below the client.
pub use crate::scenario::proxy_url::{Proxy, parse};

/// The longest answer head to a CONNECT.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

/// Which proxy, if any, a target at `host` (without brackets) and `https`
/// goes through. `env` reads an environment variable.
pub fn choose(
    setting: &ProxySetting,
    host: &str,
    https: bool,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, String> {
    let url = match setting {
        ProxySetting::Off => return Ok(None),
        ProxySetting::Url(u) => u.clone(),
        ProxySetting::Env => {
            if is_loopback(host) {
                return Ok(None);
            }
            let var =
                |names: [&str; 2]| names.iter().find_map(|n| env(n)).filter(|v| !v.is_empty());
            let chosen = if https {
                var(["HTTPS_PROXY", "https_proxy"])
            } else {
                var(["HTTP_PROXY", "http_proxy"])
            };
            let Some(u) = chosen else {
                return Ok(None);
            };
            if let Some(no) = var(["NO_PROXY", "no_proxy"])
                && bypassed(&no, host)
            {
                return Ok(None);
            }
            u
        }
    };
    parse(&url).map(Some).map_err(|e| e.to_string())
}

/// Whether `host` is this machine's loopback.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether NO_PROXY (comma-separated hosts, `.suffix` or `suffix` for a
/// domain and its subdomains, `*` for all) covers `host`.
fn bypassed(no_proxy: &str, host: &str) -> bool {
    no_proxy.split(',').map(str::trim).any(|entry| {
        let entry = entry.split(':').next().unwrap_or("");
        if entry == "*" {
            return true;
        }
        let suffix = entry.trim_start_matches('.');
        !suffix.is_empty()
            && (host.eq_ignore_ascii_case(suffix)
                || host
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", suffix.to_ascii_lowercase())))
    })
}

/// Opens a tunnel to `authority` (host:port) through the proxy: CONNECT,
/// then the proxy's 2xx. What follows on the stream is the target's.
pub async fn tunnel(
    mut tcp: TcpStream,
    proxy: &Proxy,
    authority: &str,
) -> Result<TcpStream, Failure> {
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nhost: {authority}\r\n");
    if let Some(a) = &proxy.auth {
        req.push_str(&format!("proxy-authorization: {a}\r\n"));
    }
    req.push_str("\r\n");
    let io = |e: std::io::Error| {
        Failure::new(FailureKind::Connect, "proxy CONNECT failed").with_detail(e.to_string())
    };
    tcp.write_all(req.as_bytes()).await.map_err(io)?;
    // Byte by byte up to the end of the head: nothing of the tunnel's own
    // bytes may be read here.
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_HEAD {
            return Err(Failure::new(
                FailureKind::Protocol,
                "proxy answer head too large",
            ));
        }
        if tcp.read(&mut b).await.map_err(io)? == 0 {
            return Err(Failure::new(
                FailureKind::Connect,
                "proxy closed the connection during CONNECT",
            ));
        }
        head.push(b[0]);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) if resp.code.is_some_and(|c| (200..300).contains(&c)) => {
            Ok(tcp)
        }
        Ok(_) => Err(Failure::new(
            FailureKind::Connect,
            format!("proxy refused CONNECT (HTTP {})", resp.code.unwrap_or(0)),
        )),
        Err(e) => {
            Err(Failure::new(FailureKind::Protocol, "invalid proxy answer")
                .with_detail(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_chooses_by_scheme_and_no_proxy() {
        let vars = [
            ("HTTP_PROXY", "http://p:3128"),
            ("https_proxy", "http://u:p%40ss@sp:8080"),
            ("NO_PROXY", "internal.test, .corp.test"),
        ];
        let e = env(&vars);
        let got = choose(&ProxySetting::Env, "api.test", false, &e).unwrap();
        assert_eq!(got.unwrap().addr, "p:3128");
        let got = choose(&ProxySetting::Env, "api.test", true, &e)
            .unwrap()
            .unwrap();
        assert_eq!(got.addr, "sp:8080");
        // u:p@ss
        assert_eq!(got.auth.as_deref(), Some("Basic dTpwQHNz"));
        for bypass in [
            "internal.test",
            "a.corp.test",
            "corp.test",
            "127.0.0.1",
            "::1",
            "localhost",
        ] {
            assert_eq!(
                choose(&ProxySetting::Env, bypass, false, &e).unwrap(),
                None,
                "{bypass}"
            );
        }
        assert_eq!(
            choose(&ProxySetting::Env, "x", false, env(&[])).unwrap(),
            None
        );
        // An explicit proxy applies to loopback too; Off to nothing.
        let explicit = ProxySetting::Url("127.0.0.1:9".into());
        assert_eq!(
            choose(&explicit, "127.0.0.1", false, &e)
                .unwrap()
                .unwrap()
                .addr,
            "127.0.0.1:9"
        );
        assert_eq!(
            choose(&ProxySetting::Off, "api.test", false, &e).unwrap(),
            None
        );
        assert!(parse("socks5://h:1").is_err());
        assert_eq!(parse("http://h").unwrap().addr, "h:80");
    }
}
