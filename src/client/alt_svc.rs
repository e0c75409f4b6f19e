//! The `Alt-Svc` header (RFC 7838) as far as HTTP/3 discovery reads it:
//! the first `h3` alternative a server offers (`h3=":443"`, or with a host
//! of its own), or `clear`. Draft versions (`h3-29`) and other protocols
//! are passed over; `ma` and `persist` are not kept (a load test is
//! shorter than a day, and volley keeps nothing between runs).

/// What an `Alt-Svc` value says about HTTP/3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltSvc {
    /// HTTP/3 at this authority: `host` None for the origin's own host.
    H3 { host: Option<String>, port: u16 },
    /// `clear`: every alternative withdrawn.
    Clear,
}

/// Reads one `Alt-Svc` header value; None when it offers no HTTP/3 (or is
/// not valid).
pub fn parse(value: &str) -> Option<AltSvc> {
    if value.trim().eq_ignore_ascii_case("clear") {
        return Some(AltSvc::Clear);
    }
    for alternative in split_outside_quotes(value, ',') {
        // protocol-id "=" alt-authority, then ";" parameters.
        let first = split_outside_quotes(alternative, ';').next()?;
        let Some((protocol, authority)) = first.split_once('=') else {
            continue;
        };
        if protocol.trim() != "h3" {
            continue;
        }
        let authority = authority.trim();
        let Some(authority) = authority
            .strip_prefix('"')
            .and_then(|a| a.strip_suffix('"'))
        else {
            continue;
        };
        let Some((host, port)) = authority.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if port == 0 || host.contains(['"', '\\', '/', '@', ' ']) {
            continue;
        }
        let host = (!host.is_empty()).then(|| host.to_owned());
        return Some(AltSvc::H3 { host, port });
    }
    None
}

/// The pieces of `s` between `sep`s that are not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    let mut start = 0;
    let mut ends = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                ends.push((start, i));
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    ends.push((start, s.len()));
    ends.into_iter().map(move |(a, b)| &s[a..b])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h3(host: Option<&str>, port: u16) -> Option<AltSvc> {
        Some(AltSvc::H3 {
            host: host.map(str::to_owned),
            port,
        })
    }

    #[test]
    fn reads_what_servers_send() {
        // Caddy's.
        assert_eq!(parse(r#"h3=":8443"; ma=2592000"#), h3(None, 8443));
        // Google's, drafts first.
        assert_eq!(
            parse(r#"h3-29=":443"; ma=2592000,h3=":443"; ma=2592000,h3-Q050=":443""#),
            h3(None, 443)
        );
        assert_eq!(
            parse(r#"h2="alt.example:443", h3="alt.example:8443"; persist=1"#),
            h3(Some("alt.example"), 8443)
        );
        assert_eq!(parse("clear"), Some(AltSvc::Clear));
        assert_eq!(parse(" CLEAR "), Some(AltSvc::Clear));
    }

    #[test]
    fn passes_over_what_is_not_an_h3_alternative() {
        for v in [
            "",
            r#"h2=":443""#,
            r#"h3-29=":443""#,
            r#"h3=":0""#,
            r#"h3=":99999""#,
            r#"h3=443"#,
            r#"h3=":443"#,
            r#"h3="a@b:443""#,
            ";;;,,,",
            "h3",
        ] {
            assert_eq!(parse(v), None, "{v:?}");
        }
        // A comma inside a quoted parameter does not split the alternative.
        assert_eq!(
            parse(r#"h2=":443"; x="a,h3=\":1\"", h3=":444""#),
            h3(None, 444)
        );
    }
}
