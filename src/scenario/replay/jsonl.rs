//! volley's own replay format: one JSON object per line, what a request
//! needs to be sent again at its time. `volley run --record` writes it;
//! anyone's tool can (docs/replay.md; its JSON Schema is
//! `volley schema --replay`, docs/replay.schema.json).
//!
//! ```json
//! {"t":0.125,"method":"POST","url":"/predict","headers":{"content-type":"application/json"},"body":"{\"text\":\"hi\"}","session":"u7","status":200}
//! ```

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::source::Raw;

/// One request of a JSON-lines replay source.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// When it was sent, in seconds from any origin (the first record's
    /// time is the replay's start); records in time order.
    pub t: f64,
    /// The method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A path and query, or an absolute URL (its host is replaced by the
    /// replay's target).
    pub url: String,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The body, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body, base64 (binary bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
    /// The session it belongs to: a session's requests go in order, with
    /// one cookie jar, on one worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Its statistics name (default: the method and the path, ids folded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The status it was answered with, to set the replay's against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub column: Option<usize>,
    pub reason: String,
}

/// Reads one line.
pub fn read(line: &str) -> Result<Raw, RecordError> {
    let r: Record = serde_json::from_str(line).map_err(|e| RecordError {
        column: Some(e.column()),
        reason: e.to_string(),
    })?;
    let fail = |reason: &str| RecordError {
        column: None,
        reason: reason.to_owned(),
    };
    if !r.t.is_finite() || r.t < 0.0 || r.t > 1e11 {
        return Err(fail("t is not a time in seconds from 0 to 1e11"));
    }
    let body = match (r.body, r.body_base64) {
        (Some(_), Some(_)) => return Err(fail("body and body_base64 both given")),
        (Some(b), None) => Some(Bytes::from(b)),
        (None, Some(b)) => Some(Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| fail(&format!("body_base64: {e}")))?,
        )),
        (None, None) => None,
    };
    Ok(Raw {
        // Seconds to microseconds: bounded above, so this cannot overflow.
        time_us: (r.t * 1e6).round() as i64,
        coarse: false,
        method: r.method.unwrap_or_else(|| "GET".into()),
        target: r.url,
        headers: r.headers.into_iter().collect(),
        body,
        session: r.session,
        name: r.name,
        status: r.status,
        ..Raw::default()
    })
}

/// The JSON Schema of one line (docs/replay.schema.json).
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(Record);
    schema.insert("title".into(), "volley replay record (one per line)".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_and_bad_ones_say_why() {
        let r = read(r#"{"t":1.5,"method":"POST","url":"/p?q=1","headers":{"x-a":"b"},"body":"hi","session":"s1","status":201,"name":"predict"}"#).unwrap();
        assert_eq!(r.time_us, 1_500_000);
        assert_eq!((r.method.as_str(), r.target.as_str()), ("POST", "/p?q=1"));
        assert_eq!(r.body.as_deref(), Some(&b"hi"[..]));
        assert_eq!(r.session.as_deref(), Some("s1"));
        assert_eq!(r.name.as_deref(), Some("predict"));
        assert_eq!(r.status, Some(201));
        let r = read(r#"{"t":0,"url":"/","body_base64":"AAEC"}"#).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.body.as_deref(), Some(&[0u8, 1, 2][..]));
        for (line, want) in [
            (r#"{"t":-1,"url":"/"}"#, "t is not"),
            (r#"{"t":1e300,"url":"/"}"#, "t is not"),
            (
                r#"{"t":1,"url":"/","body":"a","body_base64":"YQ=="}"#,
                "both",
            ),
            (r#"{"t":1,"url":"/","body_base64":"!!"}"#, "body_base64"),
            (r#"{"t":1,"url":"/","bogus":1}"#, "unknown field"),
            (r#"{"t":1}"#, "missing field `url`"),
            ("not json", "expected"),
        ] {
            let e = read(line).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {}", e.reason);
        }
        // docs/replay.schema.json is this text (regenerate it with
        // `volley schema --replay > docs/replay.schema.json`).
        assert_eq!(schema(), include_str!("../../../docs/replay.schema.json"));
    }
}
