//! Checks on a response: status or gRPC code, body substring, JSON values.

use crate::scenario::Check;
use crate::stats::{Failure, FailureKind};

/// The first 120 characters of a body, for failure details.
pub fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(120).collect();
    if text.chars().count() > 120 {
        s.push('…');
    }
    s
}

/// Checks an HTTP status.
pub fn http_status(check: &Check, status: u16, body: &[u8]) -> Result<(), Failure> {
    let ok = if check.status.is_empty() {
        status < 400
    } else {
        check.status.contains(&status)
    };
    if ok {
        return Ok(());
    }
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| format!("HTTP {status} {r}"))
        .unwrap_or_else(|| format!("HTTP {status}"));
    Err(Failure::new(FailureKind::Status, reason).with_detail(excerpt(body)))
}

/// The reason given when a check needs more of a body than was kept.
pub const TRUNCATED: &str = "body longer than [http] max_body: checked only its first bytes";

/// Checks a body against `body_contains` and the JSON pointers. `json` is the
/// body as JSON when the caller already has it (gRPC), else it is parsed.
/// `truncated`: `body` is only the first bytes of a longer body (see
/// [`crate::client::body::Body`]); a substring found in them passes, but
/// nothing else can be decided on part of a body, so it fails saying so.
pub fn body(
    check: &Check,
    body: &[u8],
    truncated: bool,
    json: Option<&serde_json::Value>,
) -> Result<(), Failure> {
    if let Some(needle) = &check.body_contains {
        let found = match json {
            Some(j) => j.to_string().contains(needle.as_str()),
            None => memchr_find(body, needle.as_bytes()),
        };
        if !found && truncated {
            return Err(
                Failure::new(FailureKind::Check, TRUNCATED).with_detail(format!(
                    "{needle:?} is not in the first {} bytes",
                    body.len()
                )),
            );
        }
        if !found {
            return Err(Failure::new(
                FailureKind::Check,
                format!("body does not contain {needle:?}"),
            )
            .with_detail(excerpt(body)));
        }
    }
    if check.json.is_empty() {
        return Ok(());
    }
    let parsed;
    let value = match json {
        Some(j) => j,
        None if truncated => {
            return Err(
                Failure::new(FailureKind::Check, TRUNCATED).with_detail(format!(
                    "the JSON checks need the whole body; {} bytes were kept",
                    body.len()
                )),
            );
        }
        None => {
            parsed = serde_json::from_slice::<serde_json::Value>(body).map_err(|_| {
                Failure::new(FailureKind::Check, "body is not JSON").with_detail(excerpt(body))
            })?;
            &parsed
        }
    };
    for (pointer, want) in &check.json {
        match value.pointer(pointer) {
            Some(got) if json_equal(got, want) => {}
            Some(got) => {
                return Err(
                    Failure::new(FailureKind::Check, format!("{pointer} is not {want}"))
                        .with_detail(format!("{pointer} = {got}")),
                );
            }
            None => {
                return Err(
                    Failure::new(FailureKind::Check, format!("{pointer} is missing"))
                        .with_detail(excerpt(body)),
                );
            }
        }
    }
    Ok(())
}

/// Equality that treats 2 and 2.0 alike, and a number and its string form
/// alike (gRPC's JSON writes 64-bit integers as strings).
fn json_equal(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (got, want) {
        (J::Number(a), J::Number(b)) => a.as_f64() == b.as_f64(),
        (J::String(a), J::Number(b)) | (J::Number(b), J::String(a)) => {
            a.parse::<f64>().ok() == b.as_f64()
        }
        _ => got == want,
    }
}

fn memchr_find(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> Check {
        Check {
            status: vec![200],
            body_contains: Some("label".into()),
            json: vec![("/category".into(), serde_json::json!(3))],
            ..Check::default()
        }
    }

    #[test]
    fn status_and_body_checks_give_reasons() {
        let c = check();
        assert!(http_status(&c, 200, b"").is_ok());
        let f = http_status(&c, 503, b"down").unwrap_err();
        assert_eq!(f.reason, "HTTP 503 Service Unavailable");
        assert_eq!(f.kind, FailureKind::Status);
        assert!(http_status(&Check::default(), 302, b"").is_ok());
        assert!(http_status(&Check::default(), 404, b"").is_err());
        assert!(body(&c, br#"{"category":3,"label":"sports"}"#, false, None).is_ok());
        assert!(body(&c, br#"{"category":3.0,"label":"x"}"#, false, None).is_ok());
        let f = body(&c, br#"{"category":2,"label":"x"}"#, false, None).unwrap_err();
        assert_eq!(f.reason, "/category is not 3");
        let f = body(&c, br#"{"cat":1}"#, false, None).unwrap_err();
        assert!(f.reason.contains("does not contain"), "{f}");
        let f = body(&c, b"<html>label</html>", false, None).unwrap_err();
        assert_eq!(f.reason, "body is not JSON");
        let j = serde_json::json!({"category": "3", "label": "a"});
        assert!(body(&c, b"", false, Some(&j)).is_ok());
        // Part of a body: a substring in it passes; the rest cannot be told.
        let contains = Check {
            body_contains: Some("label".into()),
            ..Check::default()
        };
        assert!(body(&contains, b"{\"label\"", true, None).is_ok());
        let f = body(&contains, b"{\"lab", true, None).unwrap_err();
        assert_eq!(f.reason, TRUNCATED);
        let f = body(&c, br#"{"category":3,"label":"x"}"#, true, None).unwrap_err();
        assert_eq!((f.kind, &f.reason[..]), (FailureKind::Check, TRUNCATED));
    }
}
