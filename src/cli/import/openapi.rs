//! `volley import openapi`: an OpenAPI 3.0/3.1 document (JSON or YAML
//! text) turned into a scenario file's text, one `[[request]]` per
//! operation. Pure: text in, TOML out; the command reads and writes.
//!
//! - `document`: the text parsed within bounds, `$ref`s followed.
//! - `example`: values for parameters and bodies, given or synthesized.
//! - `write`: the scenario's TOML, with comments on what was guessed.
//!
//! This file maps the document: its version, its server, and each
//! operation's name, path, query, headers, body and checks.

mod document;
mod error;
mod example;
mod write;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashSet};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use document::MAX_BYTES;
use document::{Node, resolve};
pub use error::ImportError;
use error::Ptr;
use example::example_of;

/// The HTTP methods a Path Item Object may hold, as its keys spell them.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The most operations imported: far more than any API describes; past
/// it the scenario would be too large to be useful.
pub const MAX_OPERATIONS: usize = 100_000;

/// The most bytes of request bodies written in all: `$ref`s let a small
/// document repeat one large example for every operation.
pub const MAX_BODY_BYTES: usize = 64 << 20;

/// What the converter is told besides the document.
pub struct Options<'a> {
    /// How the document is named in the generated file's header (its path).
    pub source: &'a str,
    /// `--base-url`: the target, instead of the document's first server.
    pub base_url: Option<&'a str>,
}

/// A scenario made from a document.
#[derive(Debug)]
pub struct Imported {
    /// The scenario file's text.
    pub toml: String,
    /// Requests written (one per operation).
    pub requests: usize,
    /// Requests with a guessed value (a placeholder or a synthesized body).
    pub guessed: usize,
}

/// One operation, as it will be written.
#[derive(Debug, Default)]
struct Request {
    name: String,
    method: String,
    /// With the required query parameters; values percent-encoded.
    path: String,
    /// Lower-case names.
    headers: BTreeMap<String, String>,
    body: Option<String>,
    statuses: Vec<u16>,
    /// A 3xx is among the statuses: the answer is checked as the API sends
    /// it, without following the redirect.
    no_redirects: bool,
    deprecated: bool,
    summary: Option<String>,
    /// Comments: where values came from and what was guessed or left out.
    notes: Vec<String>,
    guessed: bool,
}

/// The document's own description of itself, for the generated header.
struct About {
    title: Option<String>,
    version: Option<String>,
    openapi: String,
    /// Where `[http] base_url` came from.
    base_from: String,
    notes: Vec<String>,
}

/// Converts an OpenAPI 3.0/3.1 document to a scenario file's text.
pub fn convert(text: &str, options: &Options<'_>) -> Result<Imported, ImportError> {
    let doc = document::parse(text)?;
    if doc.as_object().is_none() {
        return Err(ImportError::at(
            &Ptr::root(),
            format!(
                "not an OpenAPI document: the top level is {}, not a mapping",
                doc.kind()
            ),
        ));
    }
    let openapi = openapi_version(&doc)?;
    let info = doc.get("info");
    let text_of = |key: &str| match info.and_then(|i| i.get(key)) {
        Some(Node::String(s)) => Some(s.clone()),
        Some(Node::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let mut about = About {
        title: text_of("title"),
        version: text_of("version"),
        openapi,
        base_from: String::new(),
        notes: Vec::new(),
    };
    let base_url = base_url(&doc, options.base_url, &mut about)?;
    if let Some(schemes) = doc
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .and_then(Node::as_object)
        .filter(|s| !s.is_empty())
    {
        let names: Vec<&str> = schemes.keys().map(String::as_str).collect();
        about.notes.push(format!(
            "The API declares security schemes ({}): add [http] auth or headers with credentials.",
            write::quoted_list(&names)
        ));
    }
    let requests = operations(&doc)?;
    write::scenario(options.source, &about, &base_url, &requests)
}

/// The `openapi` field: 3.0.x or 3.1.x. Swagger 2.0 and documents without
/// the field are refused, saying which.
fn openapi_version(doc: &Node) -> Result<String, ImportError> {
    let at = Ptr::root().join("openapi");
    match doc.get("openapi") {
        Some(Node::String(v)) if v.starts_with("3.") => Ok(v.clone()),
        // YAML reads `openapi: 3.1` as a number.
        Some(Node::Number(n)) if n.as_f64().is_some_and(|f| (3.0..4.0).contains(&f)) => {
            Ok(n.to_string())
        }
        Some(Node::String(v)) => Err(ImportError::at(
            &at,
            format!("OpenAPI {v:?} is not supported: OpenAPI 3 only (3.0 or 3.1)"),
        )),
        Some(other) => Err(ImportError::at(
            &at,
            format!(
                "openapi must be a version string such as \"3.0.3\", not {}",
                other.kind()
            ),
        )),
        None => match doc.get("swagger") {
            Some(v) => Err(ImportError::at(
                &Ptr::root().join("swagger"),
                format!(
                    "a Swagger {} (OpenAPI 2) document: OpenAPI 3 only (3.0 or 3.1); convert it to OpenAPI 3 first",
                    v.as_str()
                        .map_or_else(|| v.kind().to_owned(), str::to_owned)
                ),
            )),
            None => Err(ImportError::at(
                &Ptr::root(),
                "not an OpenAPI document: it has no openapi field (OpenAPI 3.0 or 3.1 expected)",
            )),
        },
    }
}

/// `[http] base_url`: `--base-url` when given, else the first server's URL
/// with its variables' defaults.
fn base_url(doc: &Node, given: Option<&str>, about: &mut About) -> Result<String, ImportError> {
    if let Some(url) = given {
        check_url(url).map_err(|why| ImportError::BaseUrl {
            url: url.to_owned(),
            why,
        })?;
        about.base_from = "--base-url".into();
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let servers_at = Ptr::root().join("servers");
    let servers = match doc.get("servers") {
        None => &[][..],
        Some(Node::Array(a)) => a.as_slice(),
        Some(other) => {
            return Err(ImportError::at(
                &servers_at,
                format!("servers must be a list, not {}", other.kind()),
            ));
        }
    };
    let Some(server) = servers.first() else {
        return Err(ImportError::at(
            &servers_at,
            "the document names no server: give the target with --base-url (e.g. --base-url http://127.0.0.1:8080)",
        ));
    };
    let server_at = servers_at.join(0);
    let url_at = server_at.join("url");
    let Some(template) = server.get("url").and_then(Node::as_str) else {
        return Err(ImportError::at(
            &url_at,
            "the first server has no url (a string)",
        ));
    };
    let url = server_variables(server, template, &server_at)?;
    if !url.contains("://") {
        return Err(ImportError::at(
            &url_at,
            format!(
                "the server URL {url:?} is relative (to wherever the document is served): give the target with --base-url, e.g. --base-url http://127.0.0.1:8080{}",
                if url.starts_with('/') {
                    url.as_str()
                } else {
                    ""
                }
            ),
        ));
    }
    check_url(&url).map_err(|why| ImportError::at(&url_at, format!("{url:?}: {why}")))?;
    about.base_from = if servers.len() > 1 {
        format!(
            "the first of the document's {} servers (/servers/0)",
            servers.len()
        )
    } else {
        "the document's server (/servers/0)".into()
    };
    Ok(url.trim_end_matches('/').to_owned())
}

/// `template` with each `{name}` replaced by its server variable's default.
fn server_variables(server: &Node, template: &str, at: &Ptr) -> Result<String, ImportError> {
    let vars_at = at.join("variables");
    substitute(template, &at.join("url"), |name| {
        let Some(var) = server.get("variables").and_then(|v| v.get(name)) else {
            return Err(ImportError::at(
                &vars_at,
                format!("the server URL's variable {{{name}}} is not declared here"),
            ));
        };
        match var.get("default").and_then(Node::as_str) {
            Some(default) => Ok(default.to_owned()),
            None => Err(ImportError::at(
                &vars_at.join(name),
                format!("server variable {name:?} has no default (a string)"),
            )),
        }
    })
}

/// `template` with each `{name}` replaced by `value(name)`; `at` is where
/// the template lies (an unclosed `{` is an error there).
fn substitute(
    template: &str,
    at: &Ptr,
    mut value: impl FnMut(&str) -> Result<String, ImportError>,
) -> Result<String, ImportError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some((before, after)) = rest.split_once('{') {
        out.push_str(before);
        let Some((name, tail)) = after.split_once('}') else {
            return Err(ImportError::at(
                at,
                format!("{template:?}: a {{ without its }}"),
            ));
        };
        out.push_str(&value(name)?);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// Why `url` cannot be a scenario's base URL (the checks `volley check`
/// makes: an http or https URL with a host).
fn check_url(url: &str) -> Result<(), String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("the scheme must be http or https, not {other}")),
        None => return Err("not an absolute URL (http://HOST...)".into()),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err("it has no host".into());
    }
    if uri.query().is_some() {
        return Err("a base URL holds no query".into());
    }
    Ok(())
}

/// Every operation of `/paths`, in the document's order, named uniquely.
fn operations(doc: &Node) -> Result<Vec<Request>, ImportError> {
    let paths_at = Ptr::root().join("paths");
    let paths = match doc.get("paths") {
        Some(Node::Object(m)) => m,
        Some(other) => {
            return Err(ImportError::at(
                &paths_at,
                format!("paths must be a mapping, not {}", other.kind()),
            ));
        }
        None => {
            return Err(ImportError::at(
                &Ptr::root(),
                "the document has no paths: nothing to import",
            ));
        }
    };
    let mut requests = Vec::new();
    let mut body_bytes = 0usize;
    for (path, item) in paths {
        if path.starts_with("x-") {
            continue;
        }
        let item_at = paths_at.join(path);
        if !path.starts_with('/') {
            return Err(ImportError::at(
                &item_at,
                format!("path {path:?} must start with /"),
            ));
        }
        let (item, item_at) = resolve(doc, item, &item_at)?;
        let Some(fields) = item.as_object() else {
            return Err(ImportError::at(
                &item_at,
                format!("a path item must be a mapping, not {}", item.kind()),
            ));
        };
        for (method, op) in fields {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            if requests.len() >= MAX_OPERATIONS {
                return Err(ImportError::at(
                    &paths_at,
                    format!("more than {MAX_OPERATIONS} operations"),
                ));
            }
            let op_at = item_at.join(method);
            let request = operation(doc, path, method, op, &op_at, item, &item_at)?;
            body_bytes = body_bytes.saturating_add(request.body.as_ref().map_or(0, String::len));
            if body_bytes > MAX_BODY_BYTES {
                return Err(ImportError::at(
                    &op_at,
                    format!("the request bodies add up to more than {MAX_BODY_BYTES} bytes"),
                ));
            }
            requests.push(request);
        }
    }
    if requests.is_empty() {
        return Err(ImportError::at(
            &paths_at,
            "no operations (get, post, ...) under paths: nothing to import",
        ));
    }
    unique_names(&mut requests);
    Ok(requests)
}

/// Names made unique in order: the second `listPets` is `listPets_2`.
fn unique_names(requests: &mut [Request]) {
    let mut taken: HashSet<String> = HashSet::new();
    for r in requests.iter_mut() {
        if !taken.contains(&r.name) {
            taken.insert(r.name.clone());
            continue;
        }
        // At most one suffix per request is ever taken, so one is free
        // within the first requests.len() + 1.
        let name = (2..=usize::MAX)
            .map(|n| format!("{}_{n}", r.name))
            .find(|n| !taken.contains(n))
            .unwrap_or_default();
        taken.insert(name.clone());
        r.name = name;
    }
}

/// One operation (`op`, the `method` of `path`) as a request.
fn operation(
    doc: &Node,
    path: &str,
    method: &str,
    op: &Node,
    op_at: &Ptr,
    item: &Node,
    item_at: &Ptr,
) -> Result<Request, ImportError> {
    let (op, op_at) = resolve(doc, op, op_at)?;
    if op.as_object().is_none() {
        return Err(ImportError::at(
            &op_at,
            format!("an operation must be a mapping, not {}", op.kind()),
        ));
    }
    let method_upper = method.to_ascii_uppercase();
    let name = match op.get("operationId").and_then(Node::as_str).map(str::trim) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!("{method_upper} {path}"),
    };
    let mut r = Request {
        name,
        method: method_upper,
        deprecated: op.get("deprecated").is_some_and(Node::is_true),
        summary: op.get("summary").and_then(Node::as_str).map(str::to_owned),
        ..Request::default()
    };
    let params = parameters(doc, item, item_at, op, &op_at)?;
    let mut path_values: BTreeMap<&str, String> = BTreeMap::new();
    let mut query: Vec<String> = Vec::new();
    let mut cookies: Vec<String> = Vec::new();
    for (param, at) in &params {
        let name = param.get("name").and_then(Node::as_str).unwrap_or_default();
        let place = param.get("in").and_then(Node::as_str).unwrap_or_default();
        let required = place == "path" || param.get("required").is_some_and(Node::is_true);
        if !required {
            continue;
        }
        if place == "header"
            && ["accept", "content-type", "authorization"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
        {
            // OpenAPI says these are described elsewhere (content, security).
            r.notes.push(format!(
                "header parameter {} left out: OpenAPI ignores it (set it in [http] headers or auth)",
                write::quoted(name)
            ));
            continue;
        }
        let (values, guessed) = parameter_values(doc, param, at)?;
        if let Some(how) = guessed {
            r.guessed = true;
            r.notes.push(format!(
                "{place} parameter {} = {}: {how}",
                write::quoted(name),
                write::quoted(&values.join(","))
            ));
        }
        match place {
            "path" => {
                path_values.insert(name, encode(&values.join(",")));
            }
            "query" => {
                // form style explodes lists by default: ?id=1&id=2.
                let explode = !matches!(param.get("explode"), Some(Node::Bool(false)));
                if explode {
                    query.extend(
                        values
                            .iter()
                            .map(|v| format!("{}={}", encode(name), encode(v))),
                    );
                } else {
                    query.push(format!("{}={}", encode(name), encode(&values.join(","))));
                }
            }
            "header" => {
                let value = values.join(",");
                check_header(name, &value, at)?;
                r.headers.insert(name.to_ascii_lowercase(), value);
            }
            // Checked by `parameters`: cookie is the only other place.
            _ => cookies.push(format!("{}={}", encode(name), encode(&values.join(",")))),
        }
    }
    if !cookies.is_empty() {
        r.headers.insert("cookie".into(), cookies.join("; "));
    }
    r.path = fill_path(path, &path_values, &op_at, &mut r.notes)?;
    if !query.is_empty() {
        r.path.push('?');
        r.path.push_str(&query.join("&"));
    }
    if let Some(body) = op.get("requestBody") {
        request_body(doc, body, &op_at.join("requestBody"), &mut r)?;
    }
    if let Some(responses) = op.get("responses") {
        r.statuses = statuses(responses, &op_at.join("responses"))?;
        r.no_redirects = r.statuses.iter().any(|s| (300..400).contains(s));
    }
    if op.get("servers").is_some() || item.get("servers").is_some() {
        r.notes
            .push("the operation names servers of its own: [http] base_url is used instead".into());
    }
    Ok(r)
}

/// The path item's parameters, then the operation's (which replace those
/// of the same name and place), each resolved and checked, with where
/// they lie.
fn parameters<'d>(
    doc: &'d Node,
    item: &'d Node,
    item_at: &Ptr,
    op: &'d Node,
    op_at: &Ptr,
) -> Result<Vec<(&'d Node, Ptr)>, ImportError> {
    let mut out: Vec<(&'d Node, Ptr)> = Vec::new();
    for (owner, owner_at) in [(item, item_at), (op, op_at)] {
        let list_at = owner_at.join("parameters");
        let list = match owner.get("parameters") {
            None => continue,
            Some(Node::Array(a)) => a,
            Some(other) => {
                return Err(ImportError::at(
                    &list_at,
                    format!("parameters must be a list, not {}", other.kind()),
                ));
            }
        };
        for (i, p) in list.iter().enumerate() {
            let (p, at) = resolve(doc, p, &list_at.join(i))?;
            let name = p.get("name").and_then(Node::as_str);
            let place = p.get("in").and_then(Node::as_str);
            let (Some(name), Some(place)) = (name, place) else {
                return Err(ImportError::at(
                    &at,
                    "a parameter needs a name and an in (strings)",
                ));
            };
            if !["path", "query", "header", "cookie"].contains(&place) {
                return Err(ImportError::at(
                    &at.join("in"),
                    format!("in must be path, query, header or cookie, not {place:?}"),
                ));
            }
            let same = |(q, _): &(&Node, Ptr)| {
                q.get("name").and_then(Node::as_str) == Some(name)
                    && q.get("in").and_then(Node::as_str) == Some(place)
            };
            match out.iter().position(same) {
                Some(i) => out[i] = (p, at),
                None => out.push((p, at)),
            }
        }
    }
    Ok(out)
}

/// A parameter's value as text (a list: one text per item), and how it
/// was guessed when the document gives no example for it.
fn parameter_values(
    doc: &Node,
    param: &Node,
    at: &Ptr,
) -> Result<(Vec<String>, Option<String>), ImportError> {
    let mut found = example_of(doc, param, at)?;
    if found.is_none()
        && let Some((media, spec)) = param
            .get("content")
            .and_then(Node::as_object)
            .and_then(|c| c.first())
    {
        found = example_of(doc, spec, &at.join("content").join(media))?;
    }
    let Some(found) = found else {
        return Ok((
            vec!["x".into()],
            Some("a placeholder (no example and no schema)".into()),
        ));
    };
    let guessed = (!found.guesses.is_empty()).then(|| "a placeholder (no example)".to_owned());
    let values = match &found.value {
        Node::Array(items) => items.iter().map(scalar_text).collect(),
        other => vec![scalar_text(other)],
    };
    Ok((values, guessed))
}

/// A value as a parameter sends it: strings as they are, other scalars as
/// JSON writes them, lists and mappings as compact JSON.
fn scalar_text(v: &Node) -> String {
    match v {
        Node::String(s) => s.clone(),
        Node::Null => String::new(),
        other => other.to_json(),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: a
/// value stays one path segment or one query value, whatever it holds.
fn encode(s: &str) -> String {
    const VALUE: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    utf8_percent_encode(s, VALUE).to_string()
}

/// `path` with each `{name}` replaced by its parameter's (encoded) value;
/// a name no parameter declares gets `1`, noted.
fn fill_path(
    path: &str,
    values: &BTreeMap<&str, String>,
    op_at: &Ptr,
    notes: &mut Vec<String>,
) -> Result<String, ImportError> {
    substitute(path, op_at, |name| {
        Ok(match values.get(name) {
            Some(v) => v.clone(),
            None => {
                notes.push(format!(
                    "path parameter {} is not declared: 1 is a guess",
                    write::quoted(name)
                ));
                "1".into()
            }
        })
    })
}

/// Refuses what cannot be a header, or would be read as a template.
fn check_header(name: &str, value: &str, at: &Ptr) -> Result<(), ImportError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(ImportError::at(
            &at.join("name"),
            format!("{name:?} is not a valid header name"),
        ));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(ImportError::at(
            at,
            format!("header {name}: {value:?} is not a valid header value"),
        ));
    }
    no_template(value, at, &format!("header {name}'s value"))
}

/// volley reads `{{` as a template's placeholder and has no escape for a
/// literal one (docs/scenario.md, Templates): such a value is refused.
fn no_template(value: &str, at: &Ptr, what: &str) -> Result<(), ImportError> {
    if value.contains("{{") {
        return Err(ImportError::at(
            at,
            format!(
                "{what} holds \"{{{{\", which volley would read as a template placeholder (templates have no escape for it): give this an example without it"
            ),
        ));
    }
    Ok(())
}

/// The body of a `requestBody`: JSON content as compact JSON (the example,
/// else one synthesized from its schema); other content only from an
/// example string, else left out with a note.
fn request_body(doc: &Node, body: &Node, at: &Ptr, r: &mut Request) -> Result<(), ImportError> {
    let (body, at) = resolve(doc, body, at)?;
    let content_at = at.join("content");
    let content = match body.get("content") {
        Some(Node::Object(c)) if !c.is_empty() => c,
        Some(Node::Object(_)) | None => {
            r.notes
                .push("the request body declares no content: none sent".into());
            return Ok(());
        }
        Some(other) => {
            return Err(ImportError::at(
                &content_at,
                format!("content must be a mapping, not {}", other.kind()),
            ));
        }
    };
    let essence = |t: &str| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    let json = content
        .iter()
        .find(|(t, _)| essence(t) == "application/json")
        .or_else(|| content.iter().find(|(t, _)| essence(t).ends_with("+json")));
    let is_json = json.is_some();
    let Some((media_type, media)) = json.or_else(|| content.first()) else {
        return Ok(());
    };
    let media_at = content_at.join(media_type);
    let (media, media_at) = resolve(doc, media, &media_at)?;
    let value = if is_json {
        match example_of(doc, media, &media_at)? {
            Some(found) => {
                r.notes.push(format!("body: {}", found.origin));
                if !found.guesses.is_empty() {
                    r.guessed = true;
                    r.notes.push(write::guesses(&found.guesses));
                }
                found.value.to_json()
            }
            None => {
                r.notes.push(format!(
                    "body left out: {} has neither an example nor a schema",
                    write::quoted(media_type)
                ));
                return Ok(());
            }
        }
    } else {
        let example = media.get("example").or_else(|| {
            media
                .get("examples")
                .and_then(Node::as_object)
                .and_then(|m| m.values().find_map(|e| resolve(doc, e, &media_at).ok()))
                .and_then(|(e, _)| e.get("value"))
        });
        match example {
            Some(Node::String(s)) => {
                no_template(s, &media_at, "the body's example")?;
                r.notes.push(format!(
                    "body: the example of {}",
                    write::quoted(media_type)
                ));
                s.clone()
            }
            _ => {
                r.notes.push(format!(
                    "body left out: {} has no example string to send (only JSON bodies are synthesized)",
                    write::quoted(media_type)
                ));
                return Ok(());
            }
        }
    };
    if media_type.contains('*') || http::HeaderValue::from_str(media_type).is_err() {
        r.notes.push(format!(
            "no content-type: {} is not one to send",
            write::quoted(media_type)
        ));
    } else {
        r.headers
            .insert("content-type".into(), media_type.trim().to_owned());
    }
    r.body = Some(value);
    Ok(())
}

/// The 2xx and 3xx statuses `responses` declares (`2XX` is 200..=299;
/// `default` and other ranges are not checked).
fn statuses(responses: &Node, at: &Ptr) -> Result<Vec<u16>, ImportError> {
    let Some(map) = responses.as_object() else {
        return Err(ImportError::at(
            at,
            format!("responses must be a mapping, not {}", responses.kind()),
        ));
    };
    let mut out = Vec::new();
    for code in map.keys() {
        if code == "default" || code.starts_with("x-") {
            continue;
        }
        let bad = || {
            ImportError::at(
                &at.join(code),
                format!(
                    "response code {code:?} is not an HTTP status (100 to 599), a range such as 2XX, or default"
                ),
            )
        };
        match code.as_bytes() {
            [d @ b'1'..=b'5', x, y]
                if x.eq_ignore_ascii_case(&b'X') && y.eq_ignore_ascii_case(&b'X') =>
            {
                match d {
                    b'2' => out.extend(200..=299),
                    b'3' => out.extend(300..=399),
                    _ => {}
                }
            }
            _ => {
                let status: u16 = code.parse().map_err(|_| bad())?;
                if !(100..=599).contains(&status) {
                    return Err(bad());
                }
                if (200..400).contains(&status) {
                    out.push(status);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}
