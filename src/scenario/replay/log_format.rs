//! Access logs in a format the user gives as nginx's `log_format` string
//! (`--log-format '$remote_addr [$time_iso8601] "$request" $status $request_time'`):
//! the string is compiled once into literals and variables, and a line is
//! read by finding each literal after the variable before it.
//!
//! Time comes from `$msec` (milliseconds), `$time_iso8601` or `$time_local`
//! (whole seconds). nginx logs a request when it ends: with
//! `$request_time` in the format, a request's start is its logged time
//! less its duration, which is when the client sent it.

use super::access_log::{LineError, time_iso8601, time_local};
use super::source::Raw;

/// One part of a compiled format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// The variables volley reads; any other is matched and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Var {
    RemoteAddr,
    TimeLocal,
    TimeIso,
    Msec,
    Request,
    Method,
    Uri,
    Status,
    RequestTime,
    /// `$http_NAME`: a request header (`_` read as `-`).
    Header(String),
    /// `$cookie_NAME`.
    Cookie(String),
    Other,
}

/// A compiled `log_format` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFormat {
    parts: Vec<Part>,
}

/// Why a `log_format` string cannot be read by.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("the format has no time: it needs $msec, $time_iso8601 or $time_local")]
    NoTime,
    #[error("the format has no request: it needs $request, or $request_method and $request_uri")]
    NoRequest,
    #[error("${0} and ${1} have no text between them: where one ends cannot be told")]
    Adjacent(String, String),
    #[error("{0:?} at byte {1} is not a variable name")]
    BadVar(String, usize),
}

impl LogFormat {
    /// nginx's predefined `combined` format.
    pub const COMBINED: &'static str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

    /// Compiles a `log_format` string.
    pub fn parse(format: &str) -> Result<LogFormat, FormatError> {
        let mut parts = Vec::new();
        let mut names = Vec::new();
        let mut text = String::new();
        let b = format.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                let ch = format[i..].chars().next().unwrap_or(' ');
                text.push(ch);
                i += ch.len_utf8();
                continue;
            }
            let start = i;
            let (name, next) = if b.get(i + 1) == Some(&b'{') {
                let Some(close) = format[i + 2..].find('}') else {
                    return Err(FormatError::BadVar(format[i..].to_owned(), i));
                };
                (&format[i + 2..i + 2 + close], i + 3 + close)
            } else {
                let len = format[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                (&format[i + 1..i + 1 + len], i + 1 + len)
            };
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                return Err(FormatError::BadVar(format[start..next].to_owned(), start));
            }
            if !text.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut text)));
            } else if let Some(Part::Var(_)) = parts.last() {
                let before: &String = names.last().unwrap_or(&text);
                return Err(FormatError::Adjacent(before.clone(), name.to_owned()));
            }
            names.push(name.to_owned());
            parts.push(Part::Var(var(name)));
            i = next;
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        let has = |v: &Var| parts.iter().any(|p| p == &Part::Var(v.clone()));
        if !(has(&Var::Msec) || has(&Var::TimeIso) || has(&Var::TimeLocal)) {
            return Err(FormatError::NoTime);
        }
        if !(has(&Var::Request) || (has(&Var::Method) && has(&Var::Uri))) {
            return Err(FormatError::NoRequest);
        }
        Ok(LogFormat { parts })
    }

    /// Reads one line (without its line end).
    pub fn read(&self, line: &str) -> Result<Raw, LineError> {
        let fail = |at: usize, reason: &'static str| LineError {
            column: at + 1,
            reason,
        };
        let mut raw = Raw::default();
        let mut time: Option<(i64, bool)> = None;
        let mut took: Option<i64> = None;
        let mut at = 0usize;
        for (k, part) in self.parts.iter().enumerate() {
            let rest = &line[at..];
            match part {
                Part::Text(t) => {
                    if !rest.starts_with(t.as_str()) {
                        return Err(fail(at, "the line does not follow the format here"));
                    }
                    at += t.len();
                }
                Part::Var(v) => {
                    let end = match self.parts.get(k + 1) {
                        Some(Part::Text(t)) => match rest.find(t.as_str()) {
                            Some(e) => e,
                            None => return Err(fail(at, "a field without the text that ends it")),
                        },
                        _ => rest.len(),
                    };
                    let value = &rest[..end];
                    self.field(v, value, &mut raw, &mut time, &mut took)
                        .map_err(|reason| fail(at, reason))?;
                    at += end;
                }
            }
        }
        let Some((t, coarse)) = time else {
            return Err(fail(0, "no time"));
        };
        if raw.method.is_empty() || raw.target.is_empty() {
            return Err(fail(0, "no request"));
        }
        raw.time_us = match took {
            // Logged at the end: started its duration before (to the
            // millisecond nginx gives, only where the time is as fine).
            Some(d) if !coarse => t.saturating_sub(d),
            _ => t,
        };
        raw.coarse = coarse;
        Ok(raw)
    }

    fn field(
        &self,
        v: &Var,
        value: &str,
        raw: &mut Raw,
        time: &mut Option<(i64, bool)>,
        took: &mut Option<i64>,
    ) -> Result<(), &'static str> {
        let present = value != "-" && !value.is_empty();
        match v {
            Var::RemoteAddr => raw.remote = present.then(|| value.to_owned()),
            Var::TimeLocal => {
                let t = time_local(value)
                    .ok_or("a $time_local that is not dd/Mon/yyyy:HH:MM:SS +hhmm")?;
                time.get_or_insert((t, true));
            }
            Var::TimeIso => {
                let t = time_iso8601(value)
                    .ok_or("a $time_iso8601 that is not yyyy-mm-ddTHH:MM:SS+hh:mm")?;
                time.get_or_insert((t, true));
            }
            Var::Msec => {
                // Finer than the others: it wins wherever it is.
                *time = Some((
                    seconds_us(value).ok_or("a $msec that is not seconds.millis")?,
                    false,
                ));
            }
            Var::Request => {
                let mut p = value.split(' ');
                match (p.next(), p.next(), p.next(), p.next()) {
                    (Some(m), Some(t), _, None) if is_method(m) && t.starts_with('/') => {
                        raw.method = m.to_owned();
                        raw.target = t.to_owned();
                    }
                    _ => return Err("a $request that is not METHOD /target VERSION"),
                }
            }
            Var::Method => {
                if !is_method(value) {
                    return Err("a $request_method that is not upper-case letters");
                }
                raw.method = value.to_owned();
            }
            Var::Uri => {
                if !value.starts_with('/') {
                    return Err("a $request_uri that does not start with /");
                }
                raw.target = value.to_owned();
            }
            Var::Status => {
                raw.status = match value.parse::<u16>() {
                    Ok(s) if (100..=599).contains(&s) && value.len() == 3 => Some(s),
                    _ => return Err("a status that is not three digits from 100 to 599"),
                }
            }
            Var::RequestTime => {
                if present {
                    *took = Some(
                        seconds_us(value).ok_or("a $request_time that is not seconds.millis")?,
                    );
                }
            }
            Var::Header(name) => {
                if present {
                    raw.headers.push((name.clone(), value.to_owned()));
                }
            }
            Var::Cookie(name) => {
                if present {
                    raw.cookies.push((name.clone(), value.to_owned()));
                }
            }
            Var::Other => {}
        }
        Ok(())
    }
}

fn var(name: &str) -> Var {
    match name {
        "remote_addr" => Var::RemoteAddr,
        "time_local" => Var::TimeLocal,
        "time_iso8601" => Var::TimeIso,
        "msec" => Var::Msec,
        "request" => Var::Request,
        "request_method" => Var::Method,
        "request_uri" => Var::Uri,
        "status" => Var::Status,
        "request_time" => Var::RequestTime,
        _ => {
            if let Some(h) = name.strip_prefix("http_") {
                Var::Header(h.replace('_', "-"))
            } else if let Some(c) = name.strip_prefix("cookie_") {
                Var::Cookie(c.to_owned())
            } else {
                Var::Other
            }
        }
    }
}

fn is_method(m: &str) -> bool {
    !m.is_empty() && m.len() <= 32 && m.bytes().all(|b| b.is_ascii_uppercase())
}

/// `1700000000.123` (seconds, up to six decimals) as microseconds.
pub(super) fn seconds_us(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || whole.len() > 12
        || frac.len() > 6
        || !whole.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let w: i64 = whole.parse().ok()?;
    let mut f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..6 {
        f *= 10;
    }
    w.checked_mul(1_000_000)?.checked_add(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_combined_format_reads_as_the_fixed_parser_does() {
        let f = LogFormat::parse(LogFormat::COMBINED).unwrap();
        let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.0" 200 2326 "http://x/" "Mozilla/4.08 [en]""#;
        let r = f.read(line).unwrap();
        let fixed = super::super::access_log::parse_line(line).unwrap();
        assert_eq!(r.time_us, fixed.time_us);
        assert!(r.coarse);
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("GET", "/a.gif?x=1")
        );
        assert_eq!(r.status, Some(200));
        assert_eq!(r.remote.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            r.headers,
            [
                ("referer".to_owned(), "http://x/".to_owned()),
                ("user-agent".to_owned(), "Mozilla/4.08 [en]".to_owned())
            ]
        );
    }

    #[test]
    fn msec_less_request_time_is_the_start() {
        let f = LogFormat::parse(
            r#"$msec $request_time "$request_method" "$request_uri" $status "$cookie_sid" ${http_x_user}"#,
        )
        .unwrap();
        let r = f
            .read(r#"1700000000.250 0.050 "POST" "/predict" 201 "abc" u7"#)
            .unwrap();
        assert_eq!(r.time_us, 1_700_000_000_200_000);
        assert!(!r.coarse);
        assert_eq!(r.cookies, [("sid".to_owned(), "abc".to_owned())]);
        assert_eq!(r.headers, [("x-user".to_owned(), "u7".to_owned())]);
        let iso = LogFormat::parse("[$time_iso8601] $request").unwrap();
        let r = iso
            .read("[2000-10-10T13:55:36-07:00] GET / HTTP/1.1")
            .unwrap();
        assert_eq!(r.time_us, 971_211_336_000_000);
    }

    #[test]
    fn formats_and_lines_that_cannot_be_read_say_why() {
        assert_eq!(
            LogFormat::parse("$request $status"),
            Err(FormatError::NoTime)
        );
        assert_eq!(
            LogFormat::parse("$msec $status"),
            Err(FormatError::NoRequest)
        );
        assert!(matches!(
            LogFormat::parse("$msec$request"),
            Err(FormatError::Adjacent(..))
        ));
        assert!(matches!(
            LogFormat::parse("$msec ${request"),
            Err(FormatError::BadVar(..))
        ));
        let f = LogFormat::parse(r#"$msec "$request" $status"#).unwrap();
        let e = f.read(r#"1.5 "GET / HTTP/1.1" 2000"#).unwrap_err();
        assert_eq!(e.column, 22);
        let e = f.read(r#"x "GET / HTTP/1.1" 200"#).unwrap_err();
        assert_eq!(e.column, 1);
        let e = f.read(r#"1.5 "GET /"#).unwrap_err();
        assert_eq!(e.column, 6);
        assert_eq!(seconds_us("1.5"), Some(1_500_000));
        assert_eq!(seconds_us("99999999999999"), None);
        assert_eq!(seconds_us("1.1234567"), None);
    }
}
