//! HAR 1.2 files (what browsers' developer tools and proxies export): one
//! JSON document, read whole (bounded), its entries sorted by
//! `startedDateTime`, which is the replay's timeline.

use std::io::Read;

use bytes::Bytes;
use serde::Deserialize;

use super::access_log::time_iso8601;
use super::source::Raw;

/// The largest HAR file read (a HAR is held whole to sort it).
pub const MAX_HAR: u64 = 1 << 30;

#[derive(Deserialize)]
struct Har {
    log: Log,
}

#[derive(Deserialize)]
struct Log {
    #[serde(default)]
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    started_date_time: String,
    request: Request,
    #[serde(default)]
    response: Option<Response>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    method: String,
    url: String,
    #[serde(default)]
    headers: Vec<Header>,
    #[serde(default)]
    post_data: Option<PostData>,
}

#[derive(Deserialize)]
struct Header {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct Response {
    #[serde(default)]
    status: i64,
}

/// A HAR entry's number (from 1) and its request, or why it is not one.
pub type Numbered = (u64, Result<Raw, String>);

/// The entries of a HAR document, in time order: each a request, or why
/// it is not one, with its number (from 1) in the file.
pub fn read(input: impl Read, max: u64) -> Result<Vec<Numbered>, String> {
    let mut text = Vec::new();
    input
        .take(max.saturating_add(1))
        .read_to_end(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > max {
        return Err(format!("larger than {} MiB", max >> 20));
    }
    let har: Har = serde_json::from_slice(&text).map_err(|e| {
        format!(
            "not a HAR file: line {} column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let mut out: Vec<Numbered> = har
        .log
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| ((i as u64).saturating_add(1), entry(e)))
        .collect();
    // Stable: entries of one instant keep the file's order.
    out.sort_by_key(|(_, r)| r.as_ref().map_or(i64::MIN, |r| r.time_us));
    Ok(out)
}

fn entry(e: Entry) -> Result<Raw, String> {
    let time_us = started(&e.started_date_time).ok_or_else(|| {
        format!(
            "startedDateTime {:?} is not an ISO 8601 time",
            e.started_date_time
        )
    })?;
    let method = e.request.method;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!("method {method:?} is not upper-case letters"));
    }
    let mut headers: Vec<(String, String)> = e
        .request
        .headers
        .into_iter()
        // HTTP/2 exports list the pseudo-headers (:method, :path) too.
        .filter(|h| !h.name.starts_with(':'))
        .map(|h| (h.name, h.value))
        .collect();
    let body = e.request.post_data.and_then(|p| {
        if let Some(m) = p.mime_type.filter(|m| !m.is_empty())
            && !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("content-type".into(), m));
        }
        p.text.map(Bytes::from)
    });
    Ok(Raw {
        time_us,
        coarse: false,
        method,
        target: e.request.url,
        headers,
        body,
        // 0: no answer (blocked, cancelled).
        status: e
            .response
            .and_then(|r| u16::try_from(r.status).ok())
            .filter(|s| (100..=599).contains(s)),
        ..Raw::default()
    })
}

/// `2024-01-02T10:00:00.123+01:00` (fractions kept) in microseconds.
fn started(s: &str) -> Option<i64> {
    let whole = time_iso8601(s)?;
    let frac = s.get(19..)?.strip_prefix('.').map_or(0, |f| {
        let digits: String = f.chars().take_while(char::is_ascii_digit).take(6).collect();
        let n: i64 = digits.parse().unwrap_or(0);
        (digits.len()..6).fold(n, |n, _| n * 10)
    });
    whole.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_in_time_order_with_bodies_and_statuses() {
        let har = r#"{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[
          {"startedDateTime":"2024-01-02T10:00:00.500Z","time":1,"request":{"method":"POST","url":"http://h/p","httpVersion":"h2","headers":[{"name":":path","value":"/p"},{"name":"x-a","value":"1"}],"postData":{"mimeType":"application/json","text":"{}"}},"response":{"status":201}},
          {"startedDateTime":"2024-01-02T11:00:00.250+01:00","request":{"method":"GET","url":"http://h/a","headers":[]},"response":{"status":0}},
          {"startedDateTime":"yesterday","request":{"method":"GET","url":"http://h/b"}}
        ]}}"#;
        let got = read(har.as_bytes(), MAX_HAR).unwrap();
        assert_eq!(got.len(), 3);
        // The bad one sorts first; then 10:00:00.250Z before 10:00:00.500Z.
        assert_eq!(got[0].0, 3);
        assert!(got[0].1.as_ref().unwrap_err().contains("startedDateTime"));
        let a = got[1].1.as_ref().unwrap();
        let p = got[2].1.as_ref().unwrap();
        assert_eq!(p.time_us - a.time_us, 250_000);
        assert_eq!(a.status, None);
        assert_eq!(p.status, Some(201));
        assert_eq!(p.body.as_deref(), Some(&b"{}"[..]));
        assert_eq!(
            p.headers,
            [
                ("x-a".to_owned(), "1".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned())
            ]
        );
        assert!(read(&b"{}"[..], MAX_HAR).unwrap_err().contains("not a HAR"));
        assert!(read(&[b' '; 100][..], 10).unwrap_err().contains("larger"));
    }
}
