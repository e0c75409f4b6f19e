//! Where a request goes: base URLs checked, and the TLS settings HTTP and
//! gRPC targets share.

use std::ops::Range;

use super::TlsSpec;
use super::context::Ctx;
use super::error::ScenarioError;
use super::file::S;

/// The TLS settings of a target: CA and client certificate files read,
/// `insecure` refused for anything but loopback.
pub(super) fn tls_spec(
    cx: &Ctx<'_>,
    ca: &Option<S<String>>,
    insecure: &Option<S<bool>>,
    (cert, key): (&Option<S<String>>, &Option<S<String>>),
    url: &str,
) -> Result<TlsSpec, ScenarioError> {
    let ca_pem = match ca {
        Some(c) => Some(cx.read_file(&cx.env(c)?, c.span())?),
        None => None,
    };
    let client_pem = match (cert, key) {
        (Some(c), Some(k)) => Some((
            cx.read_file(&cx.env(c)?, c.span())?,
            cx.read_file(&cx.env(k)?, k.span())?,
        )),
        (None, None) => None,
        (Some(c), None) => {
            return Err(cx.err(c.span(), "cert needs key (the PEM file of its private key)"));
        }
        (None, Some(k)) => {
            return Err(cx.err(k.span(), "key needs cert (the PEM file of the certificate)"));
        }
    };
    let insecure = match insecure {
        Some(i) if *i.get_ref() => {
            // Skipping verification is for test certificates on this
            // machine; anywhere else it would hide a real interception.
            if url.starts_with("https://") && !is_loopback_url(url) {
                return Err(cx.err(
                    i.span(),
                    format!(
                        "insecure = true is only allowed for loopback targets \
                         (127.0.0.0/8, ::1, localhost), and {url} is not one; \
                         give ca = \"FILE.pem\" to trust its certificate instead"
                    ),
                ));
            }
            true
        }
        _ => false,
    };
    Ok(TlsSpec {
        ca_pem: ca_pem.map(|b| b.to_vec()),
        insecure,
        client_pem: client_pem.map(|(c, k)| (c.to_vec(), k.to_vec())),
        server_name: None,
    })
}

/// Whether a URL's host is this machine's loopback.
fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A base URL of one of `schemes`, with a host; without its trailing `/`.
pub(super) fn check_base_url(
    cx: &Ctx<'_>,
    url: &str,
    span: Range<usize>,
    schemes: &[&str],
) -> Result<String, ScenarioError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| cx.err(span.clone(), format!("{url:?} is not a URL: {e}")))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if !schemes.contains(&scheme) {
        return Err(cx.err(
            span,
            format!("{url:?}: the scheme must be one of {}", schemes.join(", ")),
        ));
    }
    if uri.authority().is_none() {
        return Err(cx.err(span, format!("{url:?} has no host")));
    }
    Ok(url.trim_end_matches('/').to_owned())
}
