//! HTTP Digest access authentication (RFC 7616), answered as python-requests'
//! `HTTPDigestAuth` (and so Locust) and curl's `--digest` answer it: a
//! `401` whose `WWW-Authenticate` offers `Digest` is sent again with an
//! `Authorization: Digest …` computed from the credentials, MD5 or SHA-256,
//! plain or `-sess`, with `qop=auth` when the server offers it (or RFC
//! 2069's form when it offers no qop). The challenge is kept, so a user's
//! later requests answer it at once with the nonce count going up, and
//! only the first pays the extra round trip. What volley cannot answer
//! (`qop=auth-int` alone, SHA-512-256, `userhash`) is said as the reason.

use md5::Md5;
use sha2::{Digest as _, Sha256};

/// The hash a challenge names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    fn hex(self, parts: &[&str]) -> String {
        let joined = parts.join(":");
        match self {
            Algorithm::Md5 => hex(&Md5::digest(joined.as_bytes())),
            Algorithm::Sha256 => hex(&Sha256::digest(joined.as_bytes())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A Digest challenge volley can answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// `MD5-sess`, `SHA-256-sess`: the first hash takes the nonces in.
    pub sess: bool,
    /// The server offered `qop=auth` (else RFC 2069's form, no qop).
    pub qop: bool,
    /// The algorithm as the server wrote it, sent back as it is.
    pub algorithm_name: String,
}

/// The `Digest` challenge among `values` (a response's `WWW-Authenticate`
/// headers): None when none offers Digest; an error naming what volley
/// cannot answer when one does.
pub fn find(values: &[String]) -> Option<Result<Challenge, String>> {
    values.iter().find_map(|v| {
        let at = find_scheme(v)?;
        Some(parse(&v[at..]))
    })
}

/// Where the `Digest` scheme starts in a header value (which may carry
/// several challenges: `Basic realm="a", Digest realm="b", …`).
fn find_scheme(v: &str) -> Option<usize> {
    let b = v.as_bytes();
    let mut quoted = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'"' if i == 0 || b[i - 1] != b'\\' => quoted = !quoted,
            _ if quoted => {}
            b'd' | b'D' => {
                let word = b
                    .get(i..i + 6)
                    .is_some_and(|w| w.eq_ignore_ascii_case(b"digest"));
                let before_ok = i == 0 || matches!(b[i - 1], b' ' | b',' | b'\t');
                let after_ok = b.get(i + 6).is_none_or(|c| *c == b' ');
                if word && before_ok && after_ok {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses the parameters after `Digest` (`key=value` or `key="quoted"`,
/// separated by commas), stopping at the next scheme.
fn params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    loop {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        let key_start = i;
        while i < b.len() && !matches!(b[i], b'=' | b' ' | b',') {
            i += 1;
        }
        if i >= b.len() || b[i] != b'=' {
            // A token without '=': the next challenge's scheme.
            return out;
        }
        let key = s[key_start..i].to_ascii_lowercase();
        i += 1;
        let mut value = String::new();
        if b.get(i) == Some(&b'"') {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' && i + 1 < b.len() {
                    i += 1;
                }
                let ch_end = next_char(s, i);
                value.push_str(&s[i..ch_end]);
                i = ch_end;
            }
            i += 1;
        } else {
            let start = i;
            while i < b.len() && b[i] != b',' {
                i += 1;
            }
            value.push_str(s[start..i].trim());
        }
        out.push((key, value));
    }
}

/// The end of the UTF-8 character starting at byte `i` of `s`.
fn next_char(s: &str, i: usize) -> usize {
    s[i..].chars().next().map_or(s.len(), |c| i + c.len_utf8())
}

fn parse(v: &str) -> Result<Challenge, String> {
    let ps = params(v.get(6..).unwrap_or(""));
    let get = |k: &str| ps.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let nonce = get("nonce").ok_or("no nonce")?;
    let realm = get("realm").unwrap_or_default();
    let algorithm_name = get("algorithm").unwrap_or_else(|| "MD5".to_owned());
    let (algorithm, sess) = match algorithm_name.to_ascii_uppercase().as_str() {
        "MD5" => (Algorithm::Md5, false),
        "MD5-SESS" => (Algorithm::Md5, true),
        "SHA-256" => (Algorithm::Sha256, false),
        "SHA-256-SESS" => (Algorithm::Sha256, true),
        other => {
            return Err(format!(
                "algorithm {other} (volley answers MD5 and SHA-256)"
            ));
        }
    };
    if get("userhash").is_some_and(|u| u.eq_ignore_ascii_case("true")) {
        return Err("userhash=true (volley sends the user name as it is)".into());
    }
    let qop = match get("qop") {
        None => false,
        Some(q) => {
            let offered: Vec<String> = q
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect();
            if !offered.iter().any(|t| t == "auth") {
                return Err(format!("qop={q} (volley answers qop=auth)"));
            }
            true
        }
    };
    Ok(Challenge {
        realm,
        nonce,
        opaque: get("opaque"),
        algorithm,
        sess,
        qop,
        algorithm_name,
    })
}

/// A user's answers to one server's challenge: the challenge and how many
/// requests have answered its nonce.
#[derive(Debug, Clone)]
pub struct DigestState {
    pub challenge: Challenge,
    nc: u32,
}

impl DigestState {
    pub fn new(challenge: Challenge) -> Self {
        DigestState { challenge, nc: 0 }
    }

    /// The `Authorization` value for `method` on `uri` (the request
    /// target: path and query), the nonce count going up by one; `cnonce`
    /// is the client's nonce, fresh per request.
    pub fn authorization(
        &mut self,
        method: &str,
        uri: &str,
        user: &str,
        password: &str,
        cnonce: &str,
    ) -> String {
        self.nc = self.nc.wrapping_add(1);
        let c = &self.challenge;
        let nc = format!("{:08x}", self.nc);
        let mut ha1 = c.algorithm.hex(&[user, &c.realm, password]);
        if c.sess {
            ha1 = c.algorithm.hex(&[&ha1, &c.nonce, cnonce]);
        }
        let ha2 = c.algorithm.hex(&[method, uri]);
        let response = if c.qop {
            c.algorithm
                .hex(&[&ha1, &c.nonce, &nc, cnonce, "auth", &ha2])
        } else {
            c.algorithm.hex(&[&ha1, &c.nonce, &ha2])
        };
        let mut h = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={}, response=\"{response}\"",
            quote(user),
            quote(&c.realm),
            quote(&c.nonce),
            quote(uri),
            c.algorithm_name
        );
        if c.qop {
            h.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                quote(cnonce)
            ));
        }
        if let Some(o) = &c.opaque {
            h.push_str(&format!(", opaque=\"{}\"", quote(o)));
        }
        h
    }
}

/// A value inside a quoted-string: `"` and `\` escaped.
fn quote(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7616 §3.9.1's example, in both algorithms.
    #[test]
    fn the_rfcs_example_gives_the_rfcs_responses() {
        for (alg, response) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let header = format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={alg}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            );
            let c = find(&[header]).unwrap().unwrap();
            assert!(c.qop && !c.sess);
            let mut s = DigestState::new(c);
            let a = s.authorization(
                "GET",
                "/dir/index.html",
                "Mufasa",
                "Circle of Life",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            );
            assert!(
                a.contains(&format!("response=\"{response}\"")),
                "{alg}: {a}"
            );
            assert!(a.contains("nc=00000001") && a.contains("qop=auth,"), "{a}");
            assert!(a.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
            // The count goes up with each answer to the same nonce.
            let b = s.authorization("GET", "/", "Mufasa", "Circle of Life", "x");
            assert!(b.contains("nc=00000002"), "{b}");
        }
    }

    #[test]
    fn digest_is_found_among_other_challenges_and_what_cannot_be_answered_says_why() {
        let v = |s: &str| vec![s.to_owned()];
        assert!(find(&v("Basic realm=\"x\"")).is_none());
        assert!(find(&v("Bearer realm=\"digest\"")).is_none());
        assert!(find(&v("Basic realm=\"the digest area\"")).is_none());
        let c = find(&v(
            "Basic realm=\"a\", Digest realm=\"b\", nonce=\"n\", qop=\"auth\"",
        ))
        .unwrap()
        .unwrap();
        assert_eq!((c.realm.as_str(), c.nonce.as_str()), ("b", "n"));
        assert_eq!(c.algorithm, Algorithm::Md5);
        let c = find(&v("digest realm=\"r\", nonce=n1, algorithm=SHA-256-sess"))
            .unwrap()
            .unwrap();
        assert!(c.sess && !c.qop && c.algorithm == Algorithm::Sha256);
        for (bad, why) in [
            (
                "Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"",
                "qop=auth-int",
            ),
            (
                "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256",
                "SHA-512-256",
            ),
            ("Digest realm=\"r\", nonce=\"n\", userhash=true", "userhash"),
            ("Digest realm=\"r\"", "no nonce"),
        ] {
            let e = find(&v(bad)).unwrap().unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn without_qop_the_answer_is_rfc_2069s_and_quotes_are_escaped() {
        let c = find(&["Digest realm=\"a \\\"b\\\"\", nonce=\"n\"".to_owned()])
            .unwrap()
            .unwrap();
        assert_eq!(c.realm, "a \"b\"");
        let mut s = DigestState::new(c);
        let a = s.authorization("GET", "/p?q=1", "u\"v", "pw", "c");
        let ha1 = Algorithm::Md5.hex(&["u\"v", "a \"b\"", "pw"]);
        let ha2 = Algorithm::Md5.hex(&["GET", "/p?q=1"]);
        let want = Algorithm::Md5.hex(&[&ha1, "n", &ha2]);
        assert!(a.contains(&format!("response=\"{want}\"")), "{a}");
        assert!(!a.contains("qop=") && !a.contains("nc="), "{a}");
        assert!(a.contains("username=\"u\\\"v\""), "{a}");
        assert!(a.contains("realm=\"a \\\"b\\\"\""), "{a}");
    }
}
