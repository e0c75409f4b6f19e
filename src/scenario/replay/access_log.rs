//! Access-log lines in nginx's and Apache's `combined` and `common`
//! formats, parsed without I/O and without allocating: the first source of
//! `volley replay` (issue 34), which reads a log line by line and sends
//! each request at its time.
//!
//! ```text
//! 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 "http://x/" "Mozilla/4.08"
//! ```
//!
//! A line that does not parse is a [`LineError`] naming the column where it
//! went wrong (its reader adds the line number), never a panic: logs hold
//! what clients sent, and nginx writes a request line it could not parse
//! as it came (`"-"`, or bytes escaped as `\x16\x03`). Calendar arithmetic
//! is the `time` crate's; the fixed-width timestamp is split here, which
//! keeps a line's parse to a few hundred nanoseconds.

use time::{Date, Month, PrimitiveDateTime, Time, UtcOffset};

/// One request of an access log. Text fields borrow the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// The client address field (`$remote_addr`).
    pub remote: &'a str,
    /// The authenticated user (`$remote_user`), `-` when none.
    pub user: &'a str,
    /// When the request was logged, in microseconds since the Unix epoch
    /// (`$time_local`: whole seconds).
    pub time_us: i64,
    pub method: &'a str,
    /// The request target: a path and query, as the client sent it.
    pub target: &'a str,
    /// `HTTP/1.1`, or empty for an HTTP/0.9 line without one.
    pub version: &'a str,
    pub status: u16,
    /// Body bytes sent (`-` is 0).
    pub bytes: u64,
    /// Combined format only.
    pub referer: Option<&'a str>,
    /// Combined format only.
    pub user_agent: Option<&'a str>,
}

/// Why a line did not parse: the byte column (1-based) and the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {reason}")]
pub struct LineError {
    pub column: usize,
    pub reason: &'static str,
}

/// A cursor over a line: what was read so far, for error columns.
struct Cursor<'a> {
    line: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn fail<T>(&self, reason: &'static str) -> Result<T, LineError> {
        Err(LineError {
            column: self.at + 1,
            reason,
        })
    }

    fn rest(&self) -> &'a str {
        &self.line[self.at..]
    }

    /// The next field up to a space (or the end); the space is passed.
    fn word(&mut self, what: &'static str) -> Result<&'a str, LineError> {
        let rest = self.rest();
        let end = rest.find(' ').unwrap_or(rest.len());
        if end == 0 {
            return self.fail(what);
        }
        self.at += end;
        if self.rest().starts_with(' ') {
            self.at += 1;
        }
        Ok(&rest[..end])
    }

    fn expect(&mut self, c: char, reason: &'static str) -> Result<(), LineError> {
        if self.rest().starts_with(c) {
            self.at += c.len_utf8();
            Ok(())
        } else {
            self.fail(reason)
        }
    }

    /// A field in double quotes, in which nginx escapes `"` and `\` with a
    /// backslash; the quotes and the space after are passed.
    fn quoted(&mut self, what: &'static str) -> Result<&'a str, LineError> {
        let open = self.at;
        self.expect('"', what)?;
        let rest = self.rest();
        let bytes = rest.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => {
                    self.at += i + 1;
                    if self.rest().starts_with(' ') {
                        self.at += 1;
                    }
                    return Ok(&rest[..i]);
                }
                _ => i += 1,
            }
        }
        // Pointed at its opening quote.
        self.at = open;
        self.fail("a quoted field without its closing quote")
    }
}

/// Parses one line (without its line end).
pub fn parse_line(line: &str) -> Result<LogLine<'_>, LineError> {
    let mut c = Cursor { line, at: 0 };
    let remote = c.word("no client address")?;
    c.word("no ident field")?;
    let user = c.word("no user field")?;
    c.expect('[', "no [time]")?;
    let rest = c.rest();
    let Some(close) = rest.find(']') else {
        return c.fail("a [time] without its ]");
    };
    let time_us = match time_local(&rest[..close]) {
        Some(t) => t,
        None => return c.fail("a time that is not dd/Mon/yyyy:HH:MM:SS +hhmm"),
    };
    c.at += close + 1;
    c.expect(' ', "no space after the time")?;
    let request_at = c.at;
    let request = c.quoted("no \"request line\"")?;
    let mut parts = request.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), v, None) if !m.is_empty() && t.starts_with('/') => {
            (m, t, v.unwrap_or(""))
        }
        _ => {
            c.at = request_at;
            return c.fail("a request line that is not METHOD /target VERSION");
        }
    };
    if !method.bytes().all(|b| b.is_ascii_uppercase()) {
        c.at = request_at;
        return c.fail("a method that is not upper-case letters");
    }
    let status_at = c.at;
    let status = c.word("no status")?;
    let status = match status.parse::<u16>() {
        Ok(s) if (100..=599).contains(&s) && status.len() == 3 => s,
        _ => {
            c.at = status_at;
            return c.fail("a status that is not three digits from 100 to 599");
        }
    };
    let bytes_at = c.at;
    let bytes = match c.word("no body size")? {
        "-" => 0,
        b if b.bytes().all(|d| d.is_ascii_digit()) => match b.parse::<u64>() {
            Ok(n) => n,
            Err(_) => {
                c.at = bytes_at;
                return c.fail("a body size over 2^64");
            }
        },
        _ => {
            c.at = bytes_at;
            return c.fail("a body size that is not digits or -");
        }
    };
    let (referer, user_agent) = if c.rest().is_empty() {
        (None, None)
    } else {
        let referer = c.quoted("no \"referer\"")?;
        let agent = c.quoted("no \"user agent\"")?;
        // Formats that add fields after the agent (upstream times, a
        // request id) keep them: they are not the request's.
        (Some(referer), Some(agent))
    };
    Ok(LogLine {
        remote,
        user,
        time_us,
        method,
        target,
        version,
        status,
        bytes,
        referer,
        user_agent,
    })
}

/// The number `b[r]` writes in decimal digits (at most 9 of them: times'
/// fields), if it is all digits.
fn digits(b: &[u8], r: std::ops::Range<usize>) -> Option<u32> {
    let d = b.get(r)?;
    if d.is_empty() || d.len() > 9 || !d.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(d.iter().fold(0u32, |n, &x| n * 10 + u32::from(x - b'0')))
}

/// `$time_local`, `10/Oct/2000:13:55:36 -0700`, as microseconds since the
/// Unix epoch.
pub(super) fn time_local(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits(b, r);
    let month = match &b[3..6] {
        b"Jan" => Month::January,
        b"Feb" => Month::February,
        b"Mar" => Month::March,
        b"Apr" => Month::April,
        b"May" => Month::May,
        b"Jun" => Month::June,
        b"Jul" => Month::July,
        b"Aug" => Month::August,
        b"Sep" => Month::September,
        b"Oct" => Month::October,
        b"Nov" => Month::November,
        b"Dec" => Month::December,
        _ => return None,
    };
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    let year = i32::try_from(num(7..11)?).ok()?;
    let day = u8::try_from(num(0..2)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let clock = Time::from_hms(
        u8::try_from(num(12..14)?).ok()?,
        u8::try_from(num(15..17)?).ok()?,
        u8::try_from(num(18..20)?).ok()?,
    )
    .ok()?;
    let sign: i8 = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let oh = i8::try_from(num(22..24)?).ok()?;
    let om = i8::try_from(num(24..26)?).ok()?;
    let offset = UtcOffset::from_hms(sign * oh, sign * om, 0).ok()?;
    let t = PrimitiveDateTime::new(date, clock).assume_offset(offset);
    t.unix_timestamp().checked_mul(1_000_000)
}

/// `$time_iso8601`, `2000-10-10T13:55:36-07:00` (or `+00:00`, or `Z`), as
/// microseconds since the Unix epoch.
pub(super) fn time_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits(b, r);
    let month = Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()?;
    let clock = Time::from_hms(
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    // Fractions of a second, if any, are dropped (nginx writes none).
    let mut rest = &s[19..];
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        rest = &f[digits..];
    }
    let offset = match rest.as_bytes() {
        b"Z" => UtcOffset::UTC,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, c: u8| -> Option<i8> {
                (a.is_ascii_digit() && c.is_ascii_digit())
                    .then(|| i8::try_from((a - b'0') * 10 + (c - b'0')).ok())
                    .flatten()
            };
            let k: i8 = if *sign == b'+' { 1 } else { -1 };
            UtcOffset::from_hms(k * two(*h1, *h2)?, k * two(*m1, *m2)?, 0).ok()?
        }
        _ => return None,
    };
    let t = PrimitiveDateTime::new(date, clock).assume_offset(offset);
    t.unix_timestamp().checked_mul(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn combined_and_common_lines() {
        let l = parse_line(
            r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?a=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
        )
        .unwrap();
        assert_eq!(
            (
                l.remote, l.user, l.method, l.target, l.version, l.status, l.bytes
            ),
            (
                "127.0.0.1",
                "frank",
                "GET",
                "/apache_pb.gif?a=1",
                "HTTP/1.0",
                200,
                2326
            )
        );
        // 2000-10-10 20:55:36 UTC.
        assert_eq!(l.time_us, 971_211_336_000_000);
        assert_eq!(l.referer, Some("http://www.example.com/start.html"));
        assert_eq!(l.user_agent, Some("Mozilla/4.08 [en] (Win98; I ;Nav)"));
        let common =
            parse_line(r#"::1 - - [06/Dec/2026:12:00:00 +0000] "POST /predict HTTP/1.1" 201 -"#)
                .unwrap();
        assert_eq!(
            (common.method, common.bytes, common.referer),
            ("POST", 0, None)
        );
        assert_eq!(common.time_us, 1_796_558_400_000_000);
        // An agent with an escaped quote; fields after it are not the request's.
        let esc = parse_line(
            r#"10.0.0.1 - - [01/Jan/2026:00:00:00 +0100] "GET / HTTP/2.0" 304 0 "-" "say \"hi\"" 0.002 req-1"#,
        )
        .unwrap();
        assert_eq!(esc.user_agent, Some(r#"say \"hi\""#));
        assert_eq!(esc.time_us, 1_767_222_000_000_000);
    }

    #[test]
    fn bad_lines_name_their_column() {
        for (line, column, reason) in [
            ("", 1, "no client address"),
            ("1.2.3.4 - - 10/Oct/2000", 13, "no [time]"),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700",
                14,
                "a [time] without its ]",
            ),
            (
                "1.2.3.4 - - [10/Foo/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1",
                14,
                "a time that is not dd/Mon/yyyy:HH:MM:SS +hhmm",
            ),
            (
                "1.2.3.4 - - [31/Feb/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1",
                14,
                "a time that is not dd/Mon/yyyy:HH:MM:SS +hhmm",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"-\" 400 0",
                42,
                "a request line that is not METHOD /target VERSION",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"\\x16\\x03\\x01\" 400 0",
                42,
                "a request line that is not METHOD /target VERSION",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"get / HTTP/1.1\" 200 1",
                42,
                "a method that is not upper-case letters",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 2000 1",
                59,
                "a status that is not three digits from 100 to 599",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 99999999999999999999",
                63,
                "a body size over 2^64",
            ),
            (
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.1\" 200 1 \"ref",
                65,
                "a quoted field without its closing quote",
            ),
        ] {
            assert_eq!(
                parse_line(line),
                Err(LineError { column, reason }),
                "{line:?}"
            );
        }
    }

    proptest! {
        /// Any text, and any cut of a good line, is a line or an error,
        /// never a panic.
        #[test]
        fn any_text_parses_or_names_a_column(s in ".{0,200}", cut in 0usize..200) {
            let _ = parse_line(&s);
            let good = r#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "r" "u""#;
            let mut end = cut.min(good.len());
            while !good.is_char_boundary(end) { end -= 1; }
            if let Err(e) = parse_line(&good[..end]) {
                prop_assert!(e.column >= 1 && e.column <= end + 1, "{e} for {end}");
            }
        }
    }
}
