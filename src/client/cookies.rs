//! A user's cookie jar: what `Set-Cookie` answers store and later requests
//! send back, by the rules of RFC 6265 (domain, path, expiry, `Secure`,
//! `Max-Age`), as Locust's and k6's per-user sessions do. The rules are
//! cookie_store's; this module feeds it volley's answers and bounds it as
//! browsers do (RFC 6265 §6.1): a server that sets new cookies on every
//! answer must not make each user keep, and send, all of them.

use std::collections::HashMap;

use cookie_store::{Cookie, CookieStore, RawCookie, StoreAction};
use url::Url;

use super::answer::Headers;

/// The most cookies a user keeps for one domain (RFC 6265 asks for at
/// least 50; browsers keep 50 to 180).
pub const MAX_PER_DOMAIN: usize = 50;
/// The most cookies a user keeps in all (RFC 6265: at least 3,000).
pub const MAX_PER_USER: usize = 3000;
/// The longest cookie kept, name and value together (RFC 6265: at least
/// 4,096 bytes; browsers drop longer ones).
pub const MAX_COOKIE_BYTES: usize = 4096;

/// One user's cookies. Empty until an answer sets one: a target that sets
/// none costs a user nothing but this empty store.
#[derive(Default)]
pub struct Jar {
    store: CookieStore,
    /// Whether anything was ever stored (so that an empty jar is not
    /// asked for every request).
    used: bool,
    /// When each cookie in the store was last set, by (domain, path,
    /// name): over a bound, the least recently set goes first.
    set_at: HashMap<(String, String, String), u64>,
    clock: u64,
}

impl Jar {
    /// Whether no cookie was ever stored.
    pub fn is_empty(&self) -> bool {
        !self.used
    }

    /// Stores every `Set-Cookie` of an answer to a request for `url`.
    /// Cookies that do not parse, or that `url` may not set (another
    /// domain, `Secure` over http), are ignored, as browsers do. Returns how
    /// many cookies the bounds dropped: ones longer than
    /// [`MAX_COOKIE_BYTES`], and the least recently set when a domain holds
    /// more than [`MAX_PER_DOMAIN`] or the jar more than [`MAX_PER_USER`].
    pub fn store(&mut self, url: &Url, headers: &Headers) -> u64 {
        let mut dropped = 0u64;
        let mut touched: Vec<String> = Vec::new();
        headers.for_each("set-cookie", |v| {
            let Ok(text) = std::str::from_utf8(v) else {
                return;
            };
            let Ok(raw) = RawCookie::parse(text) else {
                return;
            };
            if raw.name().len().saturating_add(raw.value().len()) > MAX_COOKIE_BYTES {
                dropped = dropped.saturating_add(1);
                return;
            }
            let Ok(cookie) = Cookie::try_from_raw_cookie(&raw, url) else {
                return;
            };
            let key = (
                String::from(&cookie.domain),
                String::from(&cookie.path),
                cookie.name().to_owned(),
            );
            match self.store.insert(cookie.into_owned(), url) {
                Ok(StoreAction::Inserted | StoreAction::UpdatedExisting) => {
                    self.used = true;
                    self.clock = self.clock.wrapping_add(1);
                    if !touched.contains(&key.0) {
                        touched.push(key.0.clone());
                    }
                    self.set_at.insert(key, self.clock);
                }
                Ok(StoreAction::ExpiredExisting) => {
                    // Expired by the server: gone from memory too.
                    self.store.remove(&key.0, &key.1, &key.2);
                    self.set_at.remove(&key);
                }
                Err(_) => {}
            }
        });
        for domain in touched {
            let held = self.set_at.keys().filter(|k| k.0 == domain).count();
            for _ in MAX_PER_DOMAIN..held {
                self.evict_oldest(Some(&domain));
                dropped = dropped.saturating_add(1);
            }
        }
        for _ in MAX_PER_USER..self.set_at.len() {
            self.evict_oldest(None);
            dropped = dropped.saturating_add(1);
        }
        dropped
    }

    /// Removes the least recently set cookie (of `domain`, if given).
    fn evict_oldest(&mut self, domain: Option<&str>) {
        let Some(key) = self
            .set_at
            .iter()
            .filter(|(k, _)| domain.is_none_or(|d| k.0 == d))
            .min_by_key(|(_, at)| **at)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        self.store.remove(&key.0, &key.1, &key.2);
        self.set_at.remove(&key);
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

    #[test]
    fn the_jar_keeps_the_most_recent_cookies_within_browsers_bounds() {
        let mut jar = Jar::default();
        let at = |u: &str| Url::parse(u).unwrap();
        let site = at("http://127.0.0.1:8080/");
        // 400 answers of 50 new cookies each, as a hostile server sends.
        let mut dropped = 0;
        for round in 0..400 {
            let set: Vec<String> = (0..50).map(|i| format!("c{round}_{i}=v; Path=/")).collect();
            let set: Vec<&str> = set.iter().map(String::as_str).collect();
            dropped += jar.store(&site, &answer(&set));
        }
        assert_eq!(dropped, 399 * 50);
        let mut out = String::new();
        assert!(jar.header_into(&site, &mut out));
        let mut got: Vec<&str> = out.split("; ").collect();
        got.sort_unstable();
        let mut want: Vec<String> = (0..50).map(|i| format!("c399_{i}=v")).collect();
        want.sort_unstable();
        assert_eq!(got, want, "the last answer's cookies are the ones kept");
        // A cookie set again is recent again: it outlives newer ones.
        jar.store(&site, &answer(&["c399_0=w; Path=/"]));
        assert_eq!(jar.store(&site, &answer(&["fresh=1; Path=/"])), 1);
        assert_eq!(jar.get(&site, "c399_0").as_deref(), Some("w"));
        assert_eq!(jar.get(&site, "fresh").as_deref(), Some("1"));
        // Too long is dropped, and counted.
        let long = format!("big={}", "x".repeat(MAX_COOKIE_BYTES));
        assert_eq!(jar.store(&site, &answer(&[&long])), 1);
        assert!(jar.get(&site, "big").is_none());
        // Many domains: 3,000 in all, the oldest domains' cookies go.
        let mut wide = Jar::default();
        let mut dropped = 0;
        for d in 0..100 {
            let url = at(&format!("http://d{d}.test/"));
            let set: Vec<String> = (0..40).map(|i| format!("k{i}=v")).collect();
            let set: Vec<&str> = set.iter().map(String::as_str).collect();
            dropped += wide.store(&url, &answer(&set));
        }
        assert_eq!(dropped, 100 * 40 - MAX_PER_USER as u64);
        assert!(!wide.header_into(&at("http://d0.test/"), &mut out));
        assert!(wide.header_into(&at("http://d99.test/"), &mut out));
        // A cookie the server expires leaves memory.
        jar.store(&site, &answer(&["fresh=; Path=/; Max-Age=0"]));
        assert!(jar.get(&site, "fresh").is_none());
        assert!(!jar.set_at.keys().any(|k| k.2 == "fresh"));
    }
}
