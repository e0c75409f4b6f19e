//! Proxy URLs as `[http] proxy` and `HTTP_PROXY`/`HTTPS_PROXY` give them:
//! `http://[user:password@]host:port`. The compiler refuses a bad one at
//! its place in the file; the HTTP client reads the same URLs (from the
//! scenario or the environment) with the same parser.

use base64::Engine as _;

/// A proxy to reach one target through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    /// host:port of the proxy.
    pub addr: String,
    /// The `Proxy-Authorization` value, from the proxy URL's user:password.
    pub auth: Option<String>,
}

/// Why a proxy URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyUrlError {
    /// Only plain HTTP proxies: https targets go through CONNECT.
    #[error(
        "proxy {0}:// is not supported: give an http:// proxy (https targets go through CONNECT)"
    )]
    Scheme(String),
    /// The host:port part does not parse.
    #[error("proxy {host:?}: {why}")]
    Authority { host: String, why: String },
}

/// A proxy URL: `http://[user:password@]host:port` (the scheme may be
/// left out; the port defaults to 80).
pub fn parse(url: &str) -> Result<Proxy, ProxyUrlError> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => return Err(ProxyUrlError::Scheme(scheme.to_owned())),
        None => url,
    };
    let authority = rest.split('/').next().unwrap_or("");
    let (auth, hostport) = match authority.rsplit_once('@') {
        Some((info, hp)) => {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let creds = format!("{}:{}", decode(user), decode(password));
            let value = base64::engine::general_purpose::STANDARD.encode(creds);
            (Some(format!("Basic {value}")), hp)
        }
        None => (None, authority),
    };
    let parsed: http::uri::Authority =
        hostport
            .parse()
            .map_err(|e: http::uri::InvalidUri| ProxyUrlError::Authority {
                host: hostport.to_owned(),
                why: e.to_string(),
            })?;
    let addr = match parsed.port_u16() {
        Some(_) => hostport.to_owned(),
        None => format!("{hostport}:80"),
    };
    Ok(Proxy { addr, auth })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(matches!(
            parse("socks5://h:1"),
            Err(ProxyUrlError::Scheme(s)) if s == "socks5"
        ));
        assert_eq!(parse("http://h").unwrap().addr, "h:80");
        assert_eq!(parse("h:3128").unwrap().addr, "h:3128");
        // u:p@ss
        assert_eq!(
            parse("http://u:p%40ss@sp:8080").unwrap().auth.as_deref(),
            Some("Basic dTpwQHNz")
        );
        assert!(parse("http://a b:1").is_err());
    }
}
