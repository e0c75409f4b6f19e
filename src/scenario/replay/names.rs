//! The statistics name of a replayed request: its method and its path with
//! the ids folded (`GET /users/123/orders/9` → `GET /users/{id}/orders/{id}`),
//! so that a log of a million distinct URLs reads as the few endpoints users
//! think in. The user's own rules (`--name 'REGEX=NAME'`) come first; the
//! query never names (it is sent, not grouped by).

use regex::Regex;

/// A user's naming rule: paths the regex matches are named `name` (with
/// `$1`, `${group}` from the match), as `--name '^/static/=static'`.
#[derive(Debug, Clone)]
pub struct NameRule {
    pub regex: Regex,
    pub name: String,
}

/// Why a `REGEX=NAME` rule is not one.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("{0:?} is not REGEX=NAME")]
    NoEquals(String),
    #[error("{rule:?}: the name after = is empty")]
    EmptyName { rule: String },
    #[error("{rule:?}: {error}")]
    Regex { rule: String, error: regex::Error },
}

impl NameRule {
    /// `REGEX=NAME`, split at the last `=` (a regex may hold one, a name
    /// seldom does).
    pub fn parse(rule: &str) -> Result<NameRule, RuleError> {
        let Some((re, name)) = rule.rsplit_once('=') else {
            return Err(RuleError::NoEquals(rule.to_owned()));
        };
        if name.trim().is_empty() {
            return Err(RuleError::EmptyName {
                rule: rule.to_owned(),
            });
        }
        let regex = Regex::new(re).map_err(|error| RuleError::Regex {
            rule: rule.to_owned(),
            error,
        })?;
        Ok(NameRule {
            regex,
            name: name.trim().to_owned(),
        })
    }
}

/// Writes the name of `method` `target` into `out`: the first rule that
/// matches the path names it, else the path with its ids folded.
pub fn name_into(method: &str, target: &str, rules: &[NameRule], out: &mut String) {
    out.clear();
    out.push_str(method);
    out.push(' ');
    let path = path_of(target);
    for r in rules {
        if let Some(c) = r.regex.captures(path) {
            c.expand(&r.name, out);
            return;
        }
    }
    fold_into(path, out);
}

/// The path of a request target: before its query or fragment; an
/// absolute URL's own path.
pub fn path_of(target: &str) -> &str {
    let path = match target.find("://") {
        Some(i) => {
            let after = &target[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => target,
    };
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

/// The path with every segment that is an id written `{id}`.
pub fn fold_into(path: &str, out: &mut String) {
    let mut first = true;
    for seg in path.split('/') {
        if !first {
            out.push('/');
        }
        first = false;
        if is_id(seg) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
        }
    }
    if path.is_empty() {
        out.push('/');
    }
}

/// Whether a path segment is an id rather than a word of the API: a
/// number, a UUID, a long hexadecimal string (a hash, an object id), or a
/// long token that mixes letters and digits. Words (`orders`, `v2`,
/// `api-v1`) are kept.
pub fn is_id(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.is_empty() {
        return false;
    }
    if b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    let hex = b.iter().all(u8::is_ascii_hexdigit);
    let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
    if is_uuid(b) || (hex && b.len() >= 12 && digits > 0) {
        return true;
    }
    // Tokens (base64url, slugs with a serial) of some length with digits
    // among letters: `aZ3kq9XbT0`, `order_20231101_7731`.
    b.len() >= 10
        && digits >= 2
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(method: &str, target: &str, rules: &[NameRule]) -> String {
        let mut s = String::new();
        name_into(method, target, rules, &mut s);
        s
    }

    #[test]
    fn ids_fold_and_words_stay() {
        assert_eq!(
            name("GET", "/users/123/orders/9", &[]),
            "GET /users/{id}/orders/{id}"
        );
        assert_eq!(
            name(
                "GET",
                "/api/v2/items/550e8400-e29b-41d4-a716-446655440000?x=1",
                &[]
            ),
            "GET /api/v2/items/{id}"
        );
        assert_eq!(
            name("DELETE", "/blobs/5f2b9c0e1a3d7f60", &[]),
            "DELETE /blobs/{id}"
        );
        assert_eq!(name("GET", "/", &[]), "GET /");
        assert_eq!(name("GET", "", &[]), "GET /");
        assert_eq!(name("GET", "/static/app.js", &[]), "GET /static/app.js");
        assert_eq!(name("GET", "/health-check/", &[]), "GET /health-check/");
        assert_eq!(name("GET", "/t/aZ3kq9XbT0", &[]), "GET /t/{id}");
        // Hex-looking words without digits stay words.
        assert_eq!(
            name("GET", "/feed/deadbeefcafe", &[]),
            "GET /feed/deadbeefcafe"
        );
        assert_eq!(
            name("GET", "http://h:8/users/7?q#f", &[]),
            "GET /users/{id}"
        );
        assert_eq!(name("GET", "http://h:8", &[]), "GET /");
    }

    #[test]
    fn rules_come_first_and_expand_groups() {
        let rules = [
            NameRule::parse(r"^/static/.*=static").unwrap(),
            NameRule::parse(r"^/(\w+)/search=search in $1").unwrap(),
            NameRule::parse(r"^/a=b=c").unwrap(),
        ];
        assert_eq!(name("GET", "/static/x/1.js", &rules), "GET static");
        assert_eq!(
            name("GET", "/books/search?q=1", &rules),
            "GET search in books"
        );
        // Split at the last =.
        assert_eq!(rules[2].name, "c");
        assert!(matches!(
            NameRule::parse("^/x"),
            Err(RuleError::NoEquals(_))
        ));
        assert!(matches!(
            NameRule::parse("^/x= "),
            Err(RuleError::EmptyName { .. })
        ));
        assert!(matches!(
            NameRule::parse("(=x"),
            Err(RuleError::Regex { .. })
        ));
    }
}
