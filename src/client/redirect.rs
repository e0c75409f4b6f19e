//! Following redirects as browsers, Locust and k6 do: 301, 302, 303, 307
//! and 308 with a `Location` are followed; 303 (and 301 or 302 after a
//! POST) turn the next request into a GET without a body; 307 and 308 repeat
//! the method and the body. The chain is one request in the statistics.

use http::Method;
use url::Url;

use crate::stats::{Failure, FailureKind};

/// The next request of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub method: Method,
    pub url: Url,
    /// Whether the original body goes again (307, 308).
    pub body: bool,
}

/// Whether `status` is a redirect volley follows.
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Where an answer with `status` and `location` (its `Location` header)
/// sends a request made with `method` to `from`; None when it is not a
/// redirect to follow (another status, or no Location: then the answer is
/// the final one, as in browsers).
pub fn next(
    status: u16,
    method: &Method,
    location: Option<&str>,
    from: &Url,
) -> Result<Option<Hop>, Failure> {
    if !is_redirect(status) {
        return Ok(None);
    }
    let Some(location) = location else {
        return Ok(None);
    };
    let mut url = from.join(location.trim()).map_err(|e| {
        Failure::new(FailureKind::Redirect, "invalid Location")
            .with_detail(format!("{location:?}: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(
            Failure::new(FailureKind::Redirect, "Location is not an http(s) URL")
                .with_detail(location.to_owned()),
        );
    }
    // A fragment is the client's own, never sent.
    url.set_fragment(None);
    let to_get = status == 303 && *method != Method::HEAD
        || matches!(status, 301 | 302) && *method == Method::POST;
    Ok(Some(if to_get {
        Hop {
            method: Method::GET,
            url,
            body: false,
        }
    } else {
        Hop {
            method: method.clone(),
            url,
            body: matches!(status, 307 | 308),
        }
    }))
}

/// The failure of a chain longer than `max` hops.
pub fn too_many(max: u32, last: &Url) -> Failure {
    Failure::new(FailureKind::Redirect, format!("more than {max} redirects"))
        .with_detail(format!("the last to {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> Url {
        Url::parse("http://127.0.0.1:8080/a/b?q=1#top").unwrap()
    }

    #[test]
    fn methods_change_as_browsers_change_them() {
        let hop = |status, m: Method| next(status, &m, Some("/x"), &from()).unwrap().unwrap();
        assert_eq!(hop(303, Method::POST).method, Method::GET);
        assert!(!hop(303, Method::POST).body);
        assert_eq!(hop(303, Method::HEAD).method, Method::HEAD);
        assert_eq!(hop(302, Method::POST).method, Method::GET);
        assert_eq!(hop(301, Method::POST).method, Method::GET);
        assert_eq!(hop(302, Method::PUT).method, Method::PUT);
        assert!(!hop(302, Method::PUT).body);
        let h = hop(307, Method::POST);
        assert_eq!((h.method, h.body), (Method::POST, true));
        let h = hop(308, Method::PUT);
        assert_eq!((h.method, h.body), (Method::PUT, true));
    }

    #[test]
    fn locations_resolve_against_the_request() {
        let to = |loc: &str| {
            next(302, &Method::GET, Some(loc), &from())
                .unwrap()
                .unwrap()
                .url
                .to_string()
        };
        assert_eq!(to("/x?y=2"), "http://127.0.0.1:8080/x?y=2");
        assert_eq!(to("c"), "http://127.0.0.1:8080/a/c");
        assert_eq!(to("../up"), "http://127.0.0.1:8080/up");
        assert_eq!(to("//127.0.0.2:9/p"), "http://127.0.0.2:9/p");
        assert_eq!(to("https://[::1]:8443/s#frag"), "https://[::1]:8443/s");
        assert_eq!(to("?only=query"), "http://127.0.0.1:8080/a/b?only=query");
    }

    #[test]
    fn what_is_not_followed_and_what_fails() {
        assert_eq!(next(200, &Method::GET, Some("/x"), &from()).unwrap(), None);
        assert_eq!(next(304, &Method::GET, Some("/x"), &from()).unwrap(), None);
        assert_eq!(next(300, &Method::GET, Some("/x"), &from()).unwrap(), None);
        assert_eq!(next(302, &Method::GET, None, &from()).unwrap(), None);
        for bad in ["ftp://h/x", "mailto:a@b", "http://"] {
            let f = next(302, &Method::GET, Some(bad), &from()).unwrap_err();
            assert_eq!(f.kind, FailureKind::Redirect, "{bad}");
        }
        let f = too_many(10, &from());
        assert_eq!(f.reason, "more than 10 redirects");
    }
}
