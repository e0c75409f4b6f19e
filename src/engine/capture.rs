//! Captures: values a flow step takes from its passing answer into the user's
//! variables, which later steps' templates read. A capture that finds nothing
//! fails the step (kind `capture`).

use std::fmt::Write as _;

use crate::client::answer::Headers;
use crate::client::cookies::Jar;
use crate::scenario::{Capture, CaptureFrom};
use crate::stats::{Failure, FailureKind};

/// What a capture can look at.
pub struct Answer<'a> {
    /// The body (gRPC: the response in protobuf's JSON mapping, as text).
    pub body: &'a [u8],
    /// The body as JSON, if already parsed (gRPC).
    pub json: Option<&'a serde_json::Value>,
    /// `body` is only the first bytes of a longer body ([http] max_body).
    pub truncated: bool,
    pub headers: &'a Headers,
    /// The user's cookie jar and the answer's URL (HTTP).
    pub cookies: Option<(&'a Jar, &'a url::Url)>,
}

/// Whether any capture reads headers (the client then keeps them).
pub fn needs_headers(captures: &[Capture]) -> bool {
    captures
        .iter()
        .any(|c| matches!(c.from, CaptureFrom::Header(_)))
}

/// Whether any capture reads the body as JSON or text.
pub fn needs_body(captures: &[Capture]) -> bool {
    captures
        .iter()
        .any(|c| matches!(c.from, CaptureFrom::Json(_) | CaptureFrom::Regex(_)))
}

/// Whether any capture reads the cookie jar.
pub fn needs_cookies(captures: &[Capture]) -> bool {
    captures
        .iter()
        .any(|c| matches!(c.from, CaptureFrom::Cookie(_)))
}

fn missed(var: &str, what: String) -> Failure {
    Failure::new(FailureKind::Capture, format!("capture {var}: {what}"))
}

/// Runs every capture against `answer`, writing into `vars` (whose buffers
/// are reused). The first one that finds nothing fails; the values set
/// before it stay.
pub fn apply(
    captures: &[Capture],
    names: &[String],
    answer: &Answer<'_>,
    vars: &mut [String],
) -> Result<(), Failure> {
    let mut parsed = None;
    for c in captures {
        let name = names.get(c.var).map(String::as_str).unwrap_or("?");
        let Some(out) = vars.get_mut(c.var) else {
            continue;
        };
        match &c.from {
            CaptureFrom::Json(pointer) => {
                let json = match answer.json {
                    Some(j) => j,
                    None if answer.truncated => {
                        return Err(missed(
                            name,
                            "the answer is longer than [http] max_body; a JSON capture needs it whole".into(),
                        ));
                    }
                    None => {
                        if parsed.is_none() {
                            parsed = Some(
                                serde_json::from_slice::<serde_json::Value>(answer.body).map_err(
                                    |e| {
                                        missed(name, "the answer is not JSON".into())
                                            .with_detail(e.to_string())
                                    },
                                )?,
                            );
                        }
                        parsed.as_ref().unwrap_or(&serde_json::Value::Null)
                    }
                };
                let v = json
                    .pointer(pointer)
                    .filter(|v| !v.is_null())
                    .ok_or_else(|| missed(name, format!("{pointer} is not in the answer")))?;
                out.clear();
                match v {
                    serde_json::Value::String(s) => out.push_str(s),
                    // Numbers, booleans and structures as their JSON text.
                    other => {
                        let _ = write!(out, "{other}");
                    }
                }
            }
            CaptureFrom::Header(h) => {
                if !answer.headers.get_into(h, out) {
                    return Err(missed(name, format!("no {h} header in the answer")));
                }
            }
            CaptureFrom::Cookie(c) => {
                let value = answer.cookies.and_then(|(jar, url)| jar.get(url, c));
                match value {
                    Some(v) => {
                        out.clear();
                        out.push_str(&v);
                    }
                    None => return Err(missed(name, format!("no cookie {c} for this URL"))),
                }
            }
            CaptureFrom::Regex(re) => {
                let text = String::from_utf8_lossy(answer.body);
                let m = re
                    .captures(&text)
                    .and_then(|c| c.get(1).or_else(|| c.get(0)))
                    .ok_or_else(|| {
                        let tail = if answer.truncated {
                            " in the kept part of the answer (it is longer than [http] max_body)"
                        } else {
                            ""
                        };
                        missed(name, format!("/{}/ matched nothing{tail}", re.as_str()))
                    })?;
                out.clear();
                out.push_str(m.as_str());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(var: usize, from: CaptureFrom) -> Capture {
        Capture { var, from }
    }

    #[test]
    fn json_header_and_regex_fill_variables() {
        let names = ["token", "count", "loc", "order"].map(String::from);
        let captures = [
            cap(0, CaptureFrom::Json("/auth/token".into())),
            cap(1, CaptureFrom::Json("/items/1/n".into())),
            cap(2, CaptureFrom::Header("location".into())),
            cap(
                3,
                CaptureFrom::Regex(regex::Regex::new(r"order-(\d+)").unwrap()),
            ),
        ];
        let head = bytes::Bytes::from_static(
            b"HTTP/1.1 201 Created\r\nLocation: /orders/9\r\nContent-Length: 0\r\n\r\n",
        );
        let headers = Headers::Raw(head);
        let body = br#"{"auth":{"token":"t-1"},"items":[{"n":1},{"n":22}],"ref":"order-77"}"#;
        let mut vars = vec![
            String::from("old"),
            String::new(),
            String::new(),
            String::new(),
        ];
        let answer = Answer {
            body,
            json: None,
            truncated: false,
            headers: &headers,
            cookies: None,
        };
        apply(&captures, &names, &answer, &mut vars).unwrap();
        assert_eq!(vars, ["t-1", "22", "/orders/9", "77"]);
        assert!(needs_headers(&captures) && needs_body(&captures));

        // Each way of finding nothing names the variable and what was missing.
        let none = Headers::None;
        let mut miss = |c: Capture, body: &[u8]| {
            let answer = Answer {
                body,
                json: None,
                truncated: false,
                headers: &none,
                cookies: None,
            };
            let f = apply(&[c], &names, &answer, &mut vars).unwrap_err();
            assert_eq!(f.kind, FailureKind::Capture);
            f.reason.into_owned()
        };
        assert_eq!(
            miss(cap(0, CaptureFrom::Json("/nope".into())), body),
            "capture token: /nope is not in the answer"
        );
        assert_eq!(
            miss(cap(0, CaptureFrom::Json("/a".into())), b"<html>"),
            "capture token: the answer is not JSON"
        );
        assert_eq!(
            miss(cap(2, CaptureFrom::Header("location".into())), body),
            "capture loc: no location header in the answer"
        );
        assert_eq!(
            miss(
                cap(3, CaptureFrom::Regex(regex::Regex::new("x+").unwrap())),
                body
            ),
            "capture order: /x+/ matched nothing"
        );
        // A JSON null counts as missing, as a gRPC default would not.
        assert!(
            apply(
                &[cap(0, CaptureFrom::Json("/v".into()))],
                &names,
                &Answer {
                    body: br#"{"v":null}"#,
                    json: None,
                    truncated: false,
                    headers: &none,
                    cookies: None,
                },
                &mut vars
            )
            .is_err()
        );
        // Part of a longer body: JSON cannot be read; a regex says where it looked.
        let part = |c: Capture| {
            let answer = Answer {
                body: br#"{"auth":{"token":"t-1"#,
                json: None,
                truncated: true,
                headers: &none,
                cookies: None,
            };
            apply(&[c], &names, &answer, &mut vars.clone())
                .unwrap_err()
                .reason
        };
        assert!(part(cap(0, CaptureFrom::Json("/auth/token".into()))).contains("max_body"));
        assert!(
            part(cap(3, CaptureFrom::Regex(regex::Regex::new("x+").unwrap()))).contains("max_body")
        );
    }
}
