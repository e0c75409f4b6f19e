//! A request's path and query as they go on the wire: percent-encoded as
//! python-requests (and so Locust) and browsers send them, whether the
//! scenario wrote them or a template rendered them.
//!
//! `/anything/a b/é` goes as `/anything/a%20b/%C3%A9`. What is already
//! encoded stays as it is (`%20` is not encoded again), as do the reserved
//! characters that give a URL its structure (`/ ? & = + : @ ;` and the
//! rest of RFC 3986's), so a query a scenario built by hand keeps its
//! meaning. A `%` that does not start an escape is sent as `%25`
//! (requests encodes every `%` of such a URL; a browser sends it raw, which
//! servers reject). A fragment (`#…`) is the client's own and is never sent.

use std::borrow::Cow;

/// Whether byte `b` goes as it is: RFC 3986's unreserved and reserved
/// characters, exactly requests' `requote_uri` safe set (and `%`, checked
/// apart).
fn keeps(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'/'
                | b':'
                | b';'
                | b'='
                | b'?'
                | b'@'
                | b'['
                | b']'
        )
}

/// Whether `s[i]` is a `%` that starts an escape (two hex digits follow).
fn escape_at(s: &[u8], i: usize) -> bool {
    s.get(i) == Some(&b'%')
        && s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

/// `path` (a path and query) as it is sent; borrowed when nothing changes,
/// which is every path of a scenario that encoded its own.
pub fn encode_path(path: &str) -> Cow<'_, str> {
    let bytes = path.as_bytes();
    let end = path.find('#').unwrap_or(path.len());
    let clean = (0..end).all(|i| keeps(bytes[i]) || escape_at(bytes, i));
    if clean {
        return Cow::Borrowed(&path[..end]);
    }
    let mut out = String::with_capacity(end + end / 2);
    for (i, &b) in bytes[..end].iter().enumerate() {
        if keeps(b) || escape_at(bytes, i) {
            out.push(char::from(b));
        } else {
            out.push_str(percent_encoding::percent_encode_byte(b));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_and_non_ascii_are_encoded_as_requests_and_browsers_send_them() {
        assert_eq!(encode_path("/anything/a b/é"), "/anything/a%20b/%C3%A9");
        assert_eq!(
            encode_path("/search?q=caf\u{e9} cr\u{e8}me&lang=fr"),
            "/search?q=caf%C3%A9%20cr%C3%A8me&lang=fr"
        );
        assert_eq!(
            encode_path("/q?x=\"a\"<b>{c}|d\\e^f`g"),
            "/q?x=%22a%22%3Cb%3E%7Bc%7D%7Cd%5Ce%5Ef%60g"
        );
        assert_eq!(encode_path("/tab\there"), "/tab%09here");
        assert_eq!(encode_path("/\u{1F600}"), "/%F0%9F%98%80");
    }

    #[test]
    fn what_is_encoded_or_reserved_stays_and_a_stray_percent_is_escaped() {
        for same in [
            "/",
            "/a%20b/%C3%A9",
            "/a/b?x=1&y=a+b&z=%2F",
            "/p;m=1/:@!$'()*,~-._[]",
            "/%aF",
        ] {
            assert!(
                matches!(encode_path(same), Cow::Borrowed(s) if s == same),
                "{same}"
            );
        }
        assert_eq!(encode_path("/100%"), "/100%25");
        assert_eq!(encode_path("/50%off"), "/50%25off");
        assert_eq!(encode_path("/%2"), "/%252");
        assert_eq!(encode_path("/%zz%41"), "/%25zz%41");
    }

    #[test]
    fn a_fragment_is_never_sent() {
        assert_eq!(encode_path("/page#top"), "/page");
        assert_eq!(encode_path("/a b#c d"), "/a%20b");
        assert_eq!(encode_path("/?q=1#"), "/?q=1");
    }

    #[test]
    fn every_result_is_a_valid_path_and_query() {
        let nasty = [
            "/a b",
            "/é",
            "/\u{0}\u{1f}\u{7f}",
            "/%",
            "/%%%",
            "/{}",
            "/\"",
            "/?#",
            "/ ?  ",
        ];
        for p in nasty {
            let e = encode_path(p);
            assert!(
                http::uri::PathAndQuery::try_from(e.as_ref()).is_ok(),
                "{p:?} -> {e:?}"
            );
            assert!(e.bytes().all(|b| b.is_ascii_graphic()), "{e:?}");
        }
    }
}
