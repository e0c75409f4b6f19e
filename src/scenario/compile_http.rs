//! HTTP requests: target, method, path, headers, and `body` or `json` templates.

use std::ops::Range;

use super::compile::{Ctx, Options, check_base_url, tls_spec, toml_to_json};
use super::error::ScenarioError;
use super::file;
use super::template::Scope;
use super::template::Template;
use super::{HttpSpec, HttpVersion};

pub(super) fn compile_http(
    cx: &Ctx<'_>,
    name: &str,
    r: &file::Request,
    parsed: &file::File,
    data: &Scope<'_>,
    options: &Options,
    span: Range<usize>,
) -> Result<HttpSpec, ScenarioError> {
    let method = match &r.method {
        Some(m) => http::Method::from_bytes(cx.env(m)?.to_ascii_uppercase().as_bytes())
            .map_err(|_| cx.err(m.span(), "not an HTTP method"))?,
        None => http::Method::GET,
    };
    // The base comes from --host, the request's url, or [http] base_url.
    let (base, path_text, path_span) = match (&r.url, &r.path) {
        (Some(_), Some(p)) => {
            return Err(cx.err(
                p.span(),
                "give url (a whole URL) or path (joined to [http] base_url), not both",
            ));
        }
        (Some(u), None) => {
            let full = cx.env(u)?;
            let uri: http::Uri = full
                .parse()
                .map_err(|e| cx.err(u.span(), format!("{full:?} is not a URL: {e}")))?;
            let base = format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("http"),
                uri.authority().map(|a| a.as_str()).unwrap_or("")
            );
            let base = check_base_url(cx, &base, u.span(), &["http", "https"])?;
            let path = uri
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or("/".into());
            (base, path, u.span())
        }
        (None, path) => {
            let base = match (&options.host, &parsed.http.base_url) {
                (Some(h), _) => {
                    check_base_url(cx, h, 0..0, &["http", "https"]).map_err(|mut e| {
                        e.message = format!("--host: {}", e.message);
                        e
                    })?
                }
                (None, Some(b)) => check_base_url(cx, &cx.env(b)?, b.span(), &["http", "https"])?,
                (None, None) => {
                    return Err(cx.err(span, format!("request {name:?} has no target: set [http] base_url, the request's url, or --host")));
                }
            };
            match path {
                Some(p) => (base, cx.env(p)?, p.span()),
                None => (base, "/".to_owned(), span.clone()),
            }
        }
    };
    let base = options
        .host
        .as_ref()
        .map(|h| h.trim_end_matches('/').to_owned())
        .unwrap_or(base);
    if !path_text.starts_with('/') {
        return Err(cx.err(path_span, format!("path {path_text:?} must start with /")));
    }
    let path = Template::compile(&path_text, data)
        .map_err(|e| cx.err(path_span, format!("template: {e}")))?;
    let https = base.starts_with("https://");
    let version = match &parsed.http.version {
        None => {
            if https {
                HttpVersion::Auto
            } else {
                HttpVersion::Http1
            }
        }
        Some(v) => match (cx.env(v)?.as_str(), https) {
            ("http1" | "http1.1", _) => HttpVersion::Http1,
            ("h2c", false) => HttpVersion::H2c,
            ("http2" | "h2", true) => HttpVersion::Http2,
            ("http2" | "h2", false) => HttpVersion::H2c,
            ("h2c", true) => {
                return Err(cx.err(
                    v.span(),
                    "h2c is HTTP/2 over cleartext: use http2 with https:// targets",
                ));
            }
            ("auto", _) => HttpVersion::Auto,
            (other, _) => {
                return Err(cx.err(
                    v.span(),
                    format!("version must be http1, h2c, http2 or auto, not {other:?}"),
                ));
            }
        },
    };
    let mut headers = Vec::new();
    for (k, v) in parsed.http.headers.iter().chain(&r.headers) {
        let hname = http::HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| cx.err(v.span(), format!("{k:?} is not a valid header name")))?;
        let t = cx.template(v, data)?;
        headers.retain(|(n, _): &(http::HeaderName, Template)| *n != hname);
        headers.push((hname, t));
    }
    let body = match (&r.body, &r.json) {
        (Some(_), Some(j)) => {
            return Err(cx.err(j.span(), "give body (text) or json (a table), not both"));
        }
        (Some(b), None) => Some(cx.template(b, data)?),
        (None, Some(j)) => {
            let value = toml_to_json(j.get_ref());
            let t = compile_json_template(cx, &value, data, j.span())?;
            if !headers.iter().any(|(n, _)| n == http::header::CONTENT_TYPE) {
                headers.push((
                    http::header::CONTENT_TYPE,
                    Template::literal("application/json"),
                ));
            }
            Some(t)
        }
        (None, None) => None,
    };
    let tls = tls_spec(cx, &parsed.http.ca, &parsed.http.insecure, &base)?;
    Ok(HttpSpec {
        method,
        base,
        path,
        headers,
        body,
        version,
        tls,
        max_body: cx.max_body,
    })
}

/// A JSON value whose strings may hold placeholders, as one body template: each
/// templated string is rendered with `| json` so the result stays valid JSON.
pub(super) fn compile_json_template(
    cx: &Ctx<'_>,
    value: &serde_json::Value,
    data: &Scope<'_>,
    span: Range<usize>,
) -> Result<Template, ScenarioError> {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::String(s) if s.contains("{{") => {
                // Each placeholder becomes a JSON-escaped piece inside quotes.
                out.push('"');
                let mut rest = s.as_str();
                while let Some(open) = rest.find("{{") {
                    let lit = serde_json::to_string(&rest[..open]).unwrap_or_default();
                    out.push_str(&lit[1..lit.len() - 1]);
                    match rest[open..].find("}}") {
                        Some(close) => {
                            let expr = &rest[open + 2..open + close];
                            out.push_str("{{");
                            out.push_str(expr);
                            out.push_str(" | jsoninner}}");
                            rest = &rest[open + close + 2..];
                        }
                        None => {
                            out.push_str(&rest[open..]);
                            rest = "";
                        }
                    }
                }
                let lit = serde_json::to_string(rest).unwrap_or_default();
                out.push_str(&lit[1..lit.len() - 1]);
                out.push('"');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            serde_json::Value::Object(map) => {
                out.push('{');
                for (i, (k, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    // ${VARS} are expanded inside each string first, so that their values
    // are JSON-escaped like any other text of the table.
    fn expand(cx: &Ctx<'_>, v: &mut serde_json::Value) -> Result<(), super::env::EnvError> {
        match v {
            serde_json::Value::String(s) => *s = cx.expand(s)?,
            serde_json::Value::Array(items) => {
                for item in items {
                    expand(cx, item)?;
                }
            }
            serde_json::Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut item) in old {
                    expand(cx, &mut item)?;
                    map.insert(cx.expand(&k)?, item);
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut value = value.clone();
    expand(cx, &mut value).map_err(|e| cx.err(span.clone(), e.to_string()))?;
    let mut text = String::new();
    write(&value, &mut text);
    Template::compile(&text, data).map_err(|e| cx.err(span, format!("template: {e}")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use crate::scenario::compile::{MemorySources, Options, compile};
    use crate::scenario::{RequestKind, Scenario};

    fn scenario(text: &str, vars: &[(&str, &str)]) -> Scenario {
        let options = Options {
            host: None,
            isolated: true,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        compile(
            Path::new("s.toml"),
            text,
            &MemorySources(BTreeMap::new()),
            &options,
        )
        .unwrap()
    }

    #[test]
    fn variables_in_json_tables_are_escaped() {
        let s = scenario(
            "[http]\nbase_url = \"http://127.0.0.1:1\"\n[[request]]\nname = \"a\"\n\
             json = { text = \"say ${WORDS}\", n = 1 }\n",
            &[("WORDS", "\"hi\"\\ there")],
        );
        let RequestKind::Http(h) = &s.requests[0].kind else {
            panic!("not HTTP")
        };
        let body = h.body.as_ref().and_then(|b| b.as_static()).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["text"], "say \"hi\"\\ there");
        assert_eq!(v["n"], 1);
    }
}
