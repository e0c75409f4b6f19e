//! A user's cookie jar: what `Set-Cookie` answers store and later requests
//! send back, by the rules of RFC 6265 (domain, path, expiry, `Secure`,
//! `Max-Age`), as Locust's and k6's per-user sessions do. The rules are
//! cookie_store's; this module feeds it volley's answers.

use cookie_store::{CookieStore, RawCookie};
use url::Url;

use super::http::Headers;

/// One user's cookies. Empty until an answer sets one: a target that sets
/// none costs a user nothing but this empty store.
#[derive(Default)]
pub struct Jar {
    store: CookieStore,
    /// Whether anything was ever stored (so that an empty jar is not
    /// asked for every request).
    used: bool,
}

impl Jar {
    /// Whether no cookie was ever stored.
    pub fn is_empty(&self) -> bool {
        !self.used
    }

    /// Stores every `Set-Cookie` of an answer to a request for `url`.
    /// Cookies that do not parse, or that `url` may not set (another
    /// domain, `Secure` over http), are ignored, as browsers do.
    pub fn store(&mut self, url: &Url, headers: &Headers) {
        let mut cookies = Vec::new();
        headers.for_each("set-cookie", |v| {
            if let Ok(text) = std::str::from_utf8(v)
                && let Ok(c) = RawCookie::parse(text.to_owned())
            {
                cookies.push(c);
            }
        });
        if !cookies.is_empty() {
            self.used = true;
            self.store.store_response_cookies(cookies.into_iter(), url);
        }
    }

    /// Writes the `Cookie` header value for a request to `url` into `out`
    /// (replacing what it held); false if no cookie matches.
    pub fn header_into(&self, url: &Url, out: &mut String) -> bool {
        out.clear();
        if !self.used {
            return false;
        }
        for (name, value) in self.store.get_request_values(url) {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
        !out.is_empty()
    }

    /// The value of cookie `name` that a request to `url` would send.
    pub fn get(&self, url: &Url, name: &str) -> Option<String> {
        self.store
            .get_request_values(url)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(set: &[&str]) -> Headers {
        let mut m = http::HeaderMap::new();
        for s in set {
            m.append("set-cookie", http::HeaderValue::from_str(s).unwrap());
        }
        Headers::Map(m)
    }

    #[test]
    fn cookies_follow_domain_path_expiry_and_secure() {
        let mut jar = Jar::default();
        let at = |u: &str| Url::parse(u).unwrap();
        let mut out = String::new();
        assert!(!jar.header_into(&at("http://127.0.0.1:8080/"), &mut out));
        jar.store(
            &at("http://127.0.0.1:8080/login"),
            &answer(&[
                "session=abc; Path=/",
                "cart=1; Path=/cart",
                "gone=x; Max-Age=0",
                "safe=y; Secure",
                "not a cookie",
            ]),
        );
        // Loopback is a secure context (as in browsers): Secure cookies go.
        assert!(jar.header_into(&at("http://127.0.0.1:8080/items"), &mut out));
        let mut got: Vec<&str> = out.split("; ").collect();
        got.sort_unstable();
        assert_eq!(got, ["safe=y", "session=abc"]);
        jar.header_into(&at("http://127.0.0.1:8080/cart/1"), &mut out);
        let mut got: Vec<&str> = out.split("; ").collect();
        got.sort_unstable();
        assert_eq!(got, ["cart=1", "safe=y", "session=abc"]);
        // Elsewhere a Secure cookie needs https (no request is made here:
        // the jar only matches URLs).
        let mut other = Jar::default();
        other.store(
            &at("https://shop.test/"),
            &answer(&["safe=y; Secure", "plain=z"]),
        );
        other.header_into(&at("http://shop.test/"), &mut out);
        assert_eq!(out, "plain=z");
        other.header_into(&at("https://shop.test/"), &mut out);
        let mut got: Vec<&str> = out.split("; ").collect();
        got.sort_unstable();
        assert_eq!(got, ["plain=z", "safe=y"]);
        assert_eq!(
            jar.get(&at("http://127.0.0.1:8080/"), "session").as_deref(),
            Some("abc")
        );
        // Another host sees none of them.
        assert!(!jar.header_into(&at("http://127.0.0.2:8080/"), &mut out));
        // A later answer replaces a value and can expire it.
        jar.store(
            &at("http://127.0.0.1:8080/"),
            &answer(&["session=def; Path=/"]),
        );
        jar.header_into(&at("http://127.0.0.1:8080/"), &mut out);
        let mut got: Vec<&str> = out.split("; ").collect();
        got.sort_unstable();
        assert_eq!(got, ["safe=y", "session=def"]);
        jar.store(
            &at("http://127.0.0.1:8080/"),
            &answer(&["session=; Path=/; Max-Age=0", "safe=; Max-Age=0"]),
        );
        assert!(!jar.header_into(&at("http://127.0.0.1:8080/"), &mut out));
    }
}
