//! `volley import har FILE`: a scenario file from a HAR (what a browser's
//! developer tools or a proxy recorded), for load that mixes the same
//! requests in the same proportions: one `[[request]]` per name (the method
//! and the path with ids folded, as `volley replay` names them), weighted
//! by how often the HAR has it, with the first such request's path, headers
//! and body, and a check on the statuses the HAR's server gave. To send the
//! HAR on its own timeline instead, `volley replay FILE.har`.
//!
//! Only the requests to one origin (the HAR's most frequent, or
//! `--base-url`'s) become requests: a page's third-party origins are listed
//! in a comment, never load-tested by accident.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::scenario::replay::{Format, Reader, names};

/// Headers a scenario does not take from a recording: the ones volley sets
/// (host, framing, the connection), credentials, and those a browser adds
/// for itself.
fn dropped(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "connection"
            | "keep-alive"
            | "content-length"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "cookie"
            | "authorization"
            | "proxy-authorization"
            | "accept-encoding"
    ) || name.starts_with(':')
        || name.starts_with("sec-")
}

/// Why a HAR cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum HarImportError {
    #[error(transparent)]
    Source(#[from] crate::scenario::replay::SourceError),
    #[error("{0}: no request in it has an http or https URL")]
    Empty(String),
    #[error("--base-url {0:?}: {1}")]
    BaseUrl(String, url::ParseError),
    #[error("writing the scenario: {0}")]
    Toml(#[from] toml::ser::Error),
}

/// One name's requests.
#[derive(Default)]
struct Group {
    method: String,
    /// The first request's path and query, headers and body.
    path: String,
    headers: BTreeMap<String, String>,
    body: Option<String>,
    count: u64,
    statuses: BTreeSet<u16>,
    /// Why it is left out, if it is.
    skip: Option<String>,
}

/// The scenario text for `har` (its path, for the comments), its requests
/// to `base` (scheme://host:port; default: the HAR's most frequent origin).
pub fn import(har: &std::path::Path, base: Option<&str>) -> Result<String, HarImportError> {
    let mut reader = Reader::new(vec![PathBuf::from(har)], Format::Har);
    let mut origins: BTreeMap<String, u64> = BTreeMap::new();
    let mut raws = Vec::new();
    let mut bad = 0u64;
    while let Some(r) = reader.next_raw()? {
        match r {
            Ok(raw) => match url::Url::parse(&raw.target) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    *origins.entry(u.origin().ascii_serialization()).or_default() += 1;
                    raws.push((u, raw));
                }
                _ => bad += 1,
            },
            Err(_) => bad += 1,
        }
    }
    let base = match base {
        Some(b) => url::Url::parse(b)
            .map_err(|e| HarImportError::BaseUrl(b.to_owned(), e))?
            .origin()
            .ascii_serialization(),
        None => origins
            .iter()
            .max_by_key(|(o, n)| (**n, std::cmp::Reverse((*o).clone())))
            .map(|(o, _)| o.clone())
            .ok_or_else(|| HarImportError::Empty(har.display().to_string()))?,
    };
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut name = String::new();
    for (u, raw) in &raws {
        if u.origin().ascii_serialization() != base {
            continue;
        }
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        };
        names::name_into(&raw.method, &path, &[], &mut name);
        let g = groups.entry(name.clone()).or_insert_with(|| {
            order.push(name.clone());
            let headers: BTreeMap<String, String> = raw
                .headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .filter(|(n, _)| !dropped(n))
                .collect();
            let body = raw
                .body
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned());
            let skip = std::iter::once(&path)
                .chain(headers.values())
                .chain(body.iter())
                .any(|v| v.contains("{{"))
                .then(|| "it holds {{, which a scenario reads as a placeholder".to_owned());
            Group {
                method: raw.method.clone(),
                path: path.clone(),
                headers,
                body,
                skip,
                ..Group::default()
            }
        });
        g.count += 1;
        if let Some(s) = raw.status {
            g.statuses.insert(s);
        }
    }
    if groups.is_empty() {
        return Err(HarImportError::Empty(har.display().to_string()));
    }
    let mut doc = toml::Table::new();
    let mut scenario = toml::Table::new();
    let stem = har
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "har".into());
    scenario.insert("name".into(), stem.into());
    doc.insert("scenario".into(), scenario.into());
    let mut http = toml::Table::new();
    http.insert("base_url".into(), dollars(&base).into());
    doc.insert("http".into(), http.into());
    let mut requests = Vec::new();
    let mut skipped = Vec::new();
    for n in &order {
        let Some(g) = groups.get(n) else { continue };
        if let Some(why) = &g.skip {
            skipped.push(format!("{n}: {why}"));
            continue;
        }
        let mut r = toml::Table::new();
        r.insert("name".into(), dollars(n).into());
        r.insert(
            "weight".into(),
            toml::Value::Integer(i64::try_from(g.count).unwrap_or(i64::MAX)),
        );
        r.insert("method".into(), g.method.clone().into());
        r.insert("path".into(), dollars(&g.path).into());
        if !g.headers.is_empty() {
            let h: toml::Table = g
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), toml::Value::String(dollars(v))))
                .collect();
            r.insert("headers".into(), h.into());
        }
        if let Some(b) = g.body.as_ref().filter(|b| !b.is_empty()) {
            r.insert("body".into(), dollars(b).into());
        }
        if !g.statuses.is_empty() {
            let mut check = toml::Table::new();
            check.insert(
                "status".into(),
                toml::Value::Array(
                    g.statuses
                        .iter()
                        .map(|s| toml::Value::Integer(i64::from(*s)))
                        .collect(),
                ),
            );
            r.insert("check".into(), check.into());
        }
        requests.push(toml::Value::Table(r));
    }
    doc.insert("request".into(), toml::Value::Array(requests));
    let mut text = format!(
        "# Made by `volley import har {}`: one request per name (method and path,\n# ids folded), weighted by how often the HAR has it, with the first such\n# request's path, headers and body; checks are the statuses the HAR's\n# server gave. Cookies, credentials and browser-only headers are left out.\n# `volley replay {}` sends the HAR on its own timeline instead.\n",
        har.display(),
        har.display()
    );
    for (o, n) in &origins {
        if *o != base {
            text.push_str(&format!("# left out: {n} requests to {o}\n"));
        }
    }
    for s in &skipped {
        text.push_str(&format!("# left out: {s}\n"));
    }
    if bad > 0 {
        text.push_str(&format!(
            "# left out: {bad} entries that are not http(s) requests\n"
        ));
    }
    text.push('\n');
    text.push_str(&toml::to_string(&doc)?);
    Ok(text)
}

/// A value with `${` written `$${`, so that the scenario's environment
/// expansion leaves it as recorded.
fn dollars(s: &str) -> String {
    s.replace("${", "$${")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn one_weighted_request_per_name_on_the_main_origin() {
        let har = r#"{"log":{"version":"1.2","entries":[
          {"startedDateTime":"2024-01-02T10:00:00.000Z","request":{"method":"GET","url":"https://shop.example/items/1?x=1","headers":[{"name":"Accept","value":"application/json"},{"name":"Cookie","value":"sid=1"},{"name":"sec-ch-ua","value":"x"},{"name":":path","value":"/items/1"}]},"response":{"status":200}},
          {"startedDateTime":"2024-01-02T10:00:00.100Z","request":{"method":"GET","url":"https://shop.example/items/2"},"response":{"status":304}},
          {"startedDateTime":"2024-01-02T10:00:00.200Z","request":{"method":"POST","url":"https://shop.example/cart","postData":{"mimeType":"application/json","text":"{\"price\":\"${PRICE}\"}"}},"response":{"status":201}},
          {"startedDateTime":"2024-01-02T10:00:00.300Z","request":{"method":"GET","url":"https://cdn.other.example/a.js"},"response":{"status":200}},
          {"startedDateTime":"2024-01-02T10:00:00.400Z","request":{"method":"GET","url":"https://shop.example/t?v={{x}}"},"response":{"status":200}},
          {"startedDateTime":"2024-01-02T10:00:00.500Z","request":{"method":"GET","url":"data:text/plain,hi"},"response":{"status":200}}
        ]}}"#;
        let mut f = tempfile::Builder::new().suffix(".har").tempfile().unwrap();
        f.write_all(har.as_bytes()).unwrap();
        let text = import(f.path(), None).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            doc["http"]["base_url"].as_str(),
            Some("https://shop.example")
        );
        let reqs = doc["request"].as_array().unwrap();
        assert_eq!(reqs.len(), 2, "{text}");
        let items = &reqs[0];
        assert_eq!(items["name"].as_str(), Some("GET /items/{id}"));
        assert_eq!(items["weight"].as_integer(), Some(2));
        assert_eq!(items["path"].as_str(), Some("/items/1?x=1"));
        let headers = items["headers"].as_table().unwrap();
        assert_eq!(headers.keys().collect::<Vec<_>>(), ["accept"]);
        assert_eq!(
            items["check"]["status"].as_array().unwrap().len(),
            2,
            "200 and 304"
        );
        let cart = &reqs[1];
        assert_eq!(cart["body"].as_str(), Some("{\"price\":\"$${PRICE}\"}"));
        assert_eq!(
            cart["headers"]["content-type"].as_str(),
            Some("application/json")
        );
        assert!(text.contains("# left out: 1 requests to https://cdn.other.example"));
        assert!(text.contains("# left out: GET /t: it holds {{"));
        assert!(text.contains("# left out: 1 entries that are not http(s) requests"));
        // Another origin asked for.
        let text = import(f.path(), Some("https://cdn.other.example:443/x")).unwrap();
        assert!(text.contains("GET /a.js"), "{text}");
        assert!(matches!(
            import(f.path(), Some("http://127.0.0.1:1")),
            Err(HarImportError::Empty(_))
        ));
    }
}
