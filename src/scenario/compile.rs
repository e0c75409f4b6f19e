//! From the TOML text to a [`Scenario`]: deserialize (unknown keys are
//! errors), expand `${ENV}`, read data and .proto files, compile templates,
//! and check everything that can be checked without sending a request.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::data::{DataSource, Pick};
use super::error::ScenarioError;
use super::file::{self, S};
use super::template::Template;
use super::{
    Check, GrpcSpec, HttpSpec, HttpVersion, LoadModel, LoadSpec, PathSeg, RequestKind, RequestSpec,
    Scenario, Schema, Stage, Think, TlsSpec, env,
};

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default run length when neither a duration nor a count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);

/// Where the files a scenario names come from: the disk next to the scenario,
/// or (on a worker) the copies the master sent.
pub trait Sources: Sync {
    fn read(&self, relative: &str) -> std::io::Result<Vec<u8>>;
}

/// Files relative to a folder on disk.
pub struct DiskSources(pub PathBuf);

impl Sources for DiskSources {
    fn read(&self, relative: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.0.join(relative))
    }
}

/// Files held in memory, by relative path.
pub struct MemorySources(pub BTreeMap<String, Vec<u8>>);

impl Sources for MemorySources {
    fn read(&self, relative: &str) -> std::io::Result<Vec<u8>> {
        self.0.get(&normalize(relative)).cloned().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{relative} was not sent"),
            )
        })
    }
}

/// Options given outside the file.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// -H/--host: replaces the base URL of every HTTP request.
    pub host: Option<String>,
    /// Values for `${NAME}` that take precedence over the environment
    /// (`volley demo` points the scenario at its embedded servers this way).
    pub vars: BTreeMap<String, String>,
}

/// Reads and compiles a scenario file from disk.
pub fn load(path: &Path, options: &Options) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read the scenario: {e}"),
        excerpt: None,
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    compile(path, &text, &DiskSources(dir), options)
}

/// "a/./b/../c" → "a/c", with forward slashes.
pub fn normalize(relative: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(relative).components() {
        match c {
            Component::ParentDir => {
                if parts.last().is_some_and(|p| p != "..") {
                    parts.pop();
                } else {
                    parts.push("..".into());
                }
            }
            Component::CurDir => {}
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

struct Ctx<'a> {
    vars: &'a BTreeMap<String, String>,
    file: &'a Path,
    text: &'a str,
    sources: &'a dyn Sources,
    read: Mutex<Vec<String>>,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, self.text, Some(span), message)
    }

    fn env(&self, v: &S<String>) -> Result<String, ScenarioError> {
        self.expand(v.get_ref())
            .map_err(|e| self.err(v.span(), e.to_string()))
    }

    fn expand(&self, s: &str) -> Result<String, env::EnvError> {
        env::expand_with(s, |n| {
            self.vars.get(n).cloned().or_else(|| std::env::var(n).ok())
        })
    }

    fn duration(&self, v: &S<String>, what: &str) -> Result<Duration, ScenarioError> {
        parse_duration(&self.env(v)?).map_err(|e| self.err(v.span(), format!("{what}: {e}")))
    }

    fn read_file(&self, relative: &str, span: Range<usize>) -> Result<Vec<u8>, ScenarioError> {
        let bytes = self
            .sources
            .read(relative)
            .map_err(|e| self.err(span, format!("cannot read {relative}: {e}")))?;
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let n = normalize(relative);
        if !read.contains(&n) {
            read.push(n);
        }
        Ok(bytes)
    }

    fn template(&self, v: &S<String>, data: &[DataSource]) -> Result<Template, ScenarioError> {
        let text = self.env(v)?;
        Template::compile(&text, data).map_err(|e| self.err(v.span(), format!("template: {e}")))
    }
}

/// Parses "10s", "1m30s", "250ms", "2h".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 250ms, 10s, 1m30s"))
}

/// Compiles the scenario text of `file`.
pub fn compile(
    file: &Path,
    text: &str,
    sources: &dyn Sources,
    options: &Options,
) -> Result<Scenario, ScenarioError> {
    let parsed: file::File = toml::from_str(text)
        .map_err(|e| ScenarioError::at(file, text, e.span(), e.message().trim_end().to_owned()))?;
    let cx = Ctx {
        vars: &options.vars,
        file,
        text,
        sources,
        read: Mutex::new(Vec::new()),
    };
    let whole = 0..0;

    let data = compile_data(&cx, &parsed.data)?;
    let load = compile_load(&cx, &parsed.load)?;
    if parsed.requests.is_empty() {
        return Err(cx.err(whole, "the scenario has no [[request]]: add at least one"));
    }
    let mut requests = Vec::new();
    let mut grpc_pool: Option<Schema> = None;
    for r in &parsed.requests {
        let spec = compile_request(&cx, r, &parsed, &data, options, &mut grpc_pool)?;
        if requests.iter().any(|o: &RequestSpec| o.name == spec.name) {
            return Err(cx.err(
                r.get_ref().name.span(),
                format!("request name {:?} is used twice", spec.name),
            ));
        }
        requests.push(spec);
    }
    let thresholds = parsed
        .thresholds
        .iter()
        .map(|t| t.get_ref().clone())
        .collect();
    let name = parsed.scenario.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    let files = cx.read.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(Scenario {
        name,
        load,
        requests,
        data,
        thresholds,
        files,
    })
}

fn compile_data(
    cx: &Ctx<'_>,
    data: &BTreeMap<String, S<file::Data>>,
) -> Result<Vec<DataSource>, ScenarioError> {
    let mut out = Vec::new();
    for (name, d) in data {
        let span = d.span();
        let d = d.get_ref();
        let path = cx.env(&d.file)?;
        let bytes = cx.read_file(&path, d.file.span())?;
        let text = String::from_utf8(bytes)
            .map_err(|_| cx.err(d.file.span(), format!("{path} is not UTF-8")))?;
        let pick = match d.pick.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
            None | Some(("random", _)) => Pick::Random,
            Some(("sequential", _)) => Pick::Sequential,
            Some((other, span)) => {
                return Err(cx.err(
                    span,
                    format!("pick must be \"random\" or \"sequential\", not {other:?}"),
                ));
            }
        };
        let format = d.format.as_ref().map(|f| (f.get_ref().as_str(), f.span()));
        let source = match format {
            None | Some(("lines", _)) => {
                if let Some(c) = &d.column {
                    return Err(cx.err(c.span(), "column applies to format = \"csv\" only"));
                }
                DataSource::from_lines(name, &path, &text, pick)
            }
            Some(("csv", _)) => DataSource::from_csv(
                name,
                &path,
                &text,
                d.column.as_ref().map(|c| c.get_ref().as_str()),
                pick,
            ),
            Some((other, span)) => {
                return Err(cx.err(
                    span,
                    format!("format must be \"lines\" or \"csv\", not {other:?}"),
                ));
            }
        }
        .map_err(|e| cx.err(span.clone(), format!("data source {name:?}: {e}")))?;
        out.push(source);
    }
    Ok(out)
}

fn compile_stages(cx: &Ctx<'_>, stages: &[S<file::Stage>]) -> Result<Vec<Stage>, ScenarioError> {
    stages
        .iter()
        .map(|s| {
            let st = s.get_ref();
            let duration = parse_duration(&st.duration)
                .map_err(|e| cx.err(s.span(), format!("stage duration: {e}")))?;
            if !(st.target.is_finite() && st.target >= 0.0) {
                return Err(cx.err(s.span(), "stage target must be a number >= 0"));
            }
            Ok(Stage {
                duration,
                target: st.target,
            })
        })
        .collect()
}

fn compile_load(cx: &Ctx<'_>, l: &file::Load) -> Result<LoadSpec, ScenarioError> {
    let stages = compile_stages(cx, &l.stages)?;
    let timeout = match &l.timeout {
        Some(t) => cx.duration(t, "timeout")?,
        None => DEFAULT_TIMEOUT,
    };
    if timeout.is_zero() {
        let span = l.timeout.as_ref().map(|t| t.span()).unwrap_or(0..0);
        return Err(cx.err(span, "timeout must be above zero"));
    }
    let duration = match &l.duration {
        Some(d) => Some(cx.duration(d, "duration")?),
        None => None,
    };
    let requests = l.requests.as_ref().map(|r| *r.get_ref());
    if let (Some(r), Some(0)) = (&l.requests, requests) {
        return Err(cx.err(r.span(), "requests must be at least 1"));
    }
    let model = match (&l.rate, &l.users) {
        (Some(rate), Some(users)) => {
            let (a, b) = (rate.span(), users.span());
            let _ = b;
            return Err(cx.err(
                a,
                "give either users (closed model) or rate (open model), not both",
            ));
        }
        (Some(rate), None) => {
            for (key, span) in [
                ("spawn_rate", l.spawn_rate.as_ref().map(|s| s.span())),
                ("think_time", l.think_time.as_ref().map(|s| s.span())),
            ] {
                if let Some(span) = span {
                    return Err(cx.err(
                        span,
                        format!(
                            "{key} belongs to the closed model (users); the open model has rate"
                        ),
                    ));
                }
            }
            let r = *rate.get_ref();
            if !(r.is_finite() && r >= 0.0) {
                return Err(cx.err(
                    rate.span(),
                    "rate must be a number of requests per second >= 0",
                ));
            }
            LoadModel::Open {
                rate: r,
                max_in_flight: l
                    .max_in_flight
                    .as_ref()
                    .map(|m| *m.get_ref())
                    .unwrap_or(10_000)
                    .max(1),
                stages,
            }
        }
        (None, users) => {
            if let Some(m) = &l.max_in_flight {
                return Err(cx.err(m.span(), "max_in_flight belongs to the open model (rate)"));
            }
            let users_n = users.as_ref().map(|u| *u.get_ref()).unwrap_or(1);
            let spawn_rate = match &l.spawn_rate {
                Some(s) if !(s.get_ref().is_finite() && *s.get_ref() > 0.0) => {
                    return Err(cx.err(
                        s.span(),
                        "spawn_rate must be a number of users per second > 0",
                    ));
                }
                Some(s) => *s.get_ref(),
                // Start everyone at once (or as fast as the stages say)
                // unless told otherwise.
                None => f64::INFINITY,
            };
            let think = match &l.think_time {
                None => Think::None,
                Some(t) => {
                    let dur = |v: Option<&toml::Value>,
                               what: &str|
                     -> Result<Duration, ScenarioError> {
                        let text = v.and_then(|v| v.as_str()).ok_or_else(|| {
                            cx.err(
                                t.span(),
                                format!("{what}: expected a duration string such as \"1s\""),
                            )
                        })?;
                        parse_duration(text).map_err(|e| cx.err(t.span(), format!("{what}: {e}")))
                    };
                    match t.get_ref() {
                        toml::Value::Table(tbl) => {
                            if let Some(k) = tbl.keys().find(|k| *k != "min" && *k != "max") {
                                return Err(cx.err(
                                    t.span(),
                                    format!("think_time: unknown key {k:?}, expected min and max"),
                                ));
                            }
                            let lo = dur(tbl.get("min"), "think_time.min")?;
                            let hi = dur(tbl.get("max"), "think_time.max")?;
                            if lo > hi {
                                return Err(cx.err(t.span(), "think_time: min is above max"));
                            }
                            Think::Uniform(lo, hi)
                        }
                        v => {
                            let d = dur(Some(v), "think_time")?;
                            if d.is_zero() {
                                Think::None
                            } else {
                                Think::Fixed(d)
                            }
                        }
                    }
                }
            };
            LoadModel::Closed {
                users: users_n,
                spawn_rate,
                think,
                stages,
            }
        }
    };
    Ok(LoadSpec {
        model,
        duration,
        requests,
        timeout,
    })
}

fn tls_spec(
    cx: &Ctx<'_>,
    ca: &Option<S<String>>,
    insecure: bool,
) -> Result<TlsSpec, ScenarioError> {
    let ca_pem = match ca {
        Some(c) => Some(cx.read_file(&cx.env(c)?, c.span())?),
        None => None,
    };
    Ok(TlsSpec { ca_pem, insecure })
}

fn check_base_url(
    cx: &Ctx<'_>,
    url: &str,
    span: Range<usize>,
    schemes: &[&str],
) -> Result<String, ScenarioError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| cx.err(span.clone(), format!("{url:?} is not a URL: {e}")))?;
    let scheme = uri.scheme_str().unwrap_or("");
    if !schemes.contains(&scheme) {
        return Err(cx.err(
            span,
            format!("{url:?}: the scheme must be one of {}", schemes.join(", ")),
        ));
    }
    if uri.authority().is_none() {
        return Err(cx.err(span, format!("{url:?} has no host")));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn compile_request(
    cx: &Ctx<'_>,
    r: &S<file::Request>,
    parsed: &file::File,
    data: &[DataSource],
    options: &Options,
    grpc_schema: &mut Option<Schema>,
) -> Result<RequestSpec, ScenarioError> {
    let span = r.span();
    let r = r.get_ref();
    let name = cx.env(&r.name)?;
    if name.is_empty() {
        return Err(cx.err(r.name.span(), "request name must not be empty"));
    }
    if r.weight == 0 {
        return Err(cx.err(span, format!("request {name:?}: weight must be at least 1")));
    }
    let is_grpc = r.grpc.is_some();
    let http_keys = [
        ("method", r.method.as_ref().map(|v| v.span())),
        ("path", r.path.as_ref().map(|v| v.span())),
        ("url", r.url.as_ref().map(|v| v.span())),
        ("body", r.body.as_ref().map(|v| v.span())),
        ("json", r.json.as_ref().map(|v| v.span())),
        ("headers", r.headers.values().next().map(|v| v.span())),
    ];
    let check = compile_check(cx, &r.check, is_grpc)?;
    let kind = if let Some(method) = &r.grpc {
        if let Some((key, Some(s))) = http_keys.iter().find(|(_, s)| s.is_some()) {
            return Err(cx.err(
                s.clone(),
                format!("{key} is an HTTP key; request {name:?} is gRPC (grpc = ...)"),
            ));
        }
        RequestKind::Grpc(compile_grpc(
            cx,
            &name,
            method,
            r,
            parsed,
            data,
            grpc_schema,
            span,
        )?)
    } else {
        if let Some(m) = &r.message {
            return Err(cx.err(m.span(), "message is a gRPC key: add grpc = \"package.Service/Method\", or use body/json for HTTP"));
        }
        if let Some(m) = r.metadata.values().next() {
            return Err(cx.err(
                m.span(),
                "metadata is a gRPC key; HTTP requests have headers",
            ));
        }
        RequestKind::Http(compile_http(cx, &name, r, parsed, data, options, span)?)
    };
    Ok(RequestSpec {
        name,
        weight: r.weight,
        kind,
        check,
    })
}

fn compile_http(
    cx: &Ctx<'_>,
    name: &str,
    r: &file::Request,
    parsed: &file::File,
    data: &[DataSource],
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
    let tls = tls_spec(cx, &parsed.http.ca, parsed.http.insecure)?;
    Ok(HttpSpec {
        method,
        base,
        path,
        headers,
        body,
        version,
        tls,
    })
}

/// A JSON value whose strings may hold placeholders, as one body template: each
/// templated string is rendered with `| json` so the result stays valid JSON.
fn compile_json_template(
    cx: &Ctx<'_>,
    value: &serde_json::Value,
    data: &[DataSource],
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
    let mut text = String::new();
    write(value, &mut text);
    let text = cx
        .expand(&text)
        .map_err(|e| cx.err(span.clone(), e.to_string()))?;
    Template::compile(&text, data).map_err(|e| cx.err(span, format!("template: {e}")))
}

/// TOML values map onto JSON one to one (datetimes become strings).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

#[allow(clippy::too_many_arguments)]
fn compile_grpc(
    cx: &Ctx<'_>,
    name: &str,
    method: &S<String>,
    r: &file::Request,
    parsed: &file::File,
    data: &[DataSource],
    schema: &mut Option<Schema>,
    span: Range<usize>,
) -> Result<GrpcSpec, ScenarioError> {
    let g = &parsed.grpc;
    let endpoint = match &g.endpoint {
        Some(e) => check_base_url(cx, &cx.env(e)?, e.span(), &["http", "https"])?,
        None => {
            return Err(cx.err(
                span,
                format!("request {name:?} is gRPC but [grpc] has no endpoint"),
            ));
        }
    };
    let full = cx.env(method)?;
    let full = full.trim_start_matches('/').to_owned();
    let Some((service, rpc)) = full
        .split_once('/')
        .filter(|(s, m)| s.contains('.') && !m.is_empty() && !m.contains('/'))
    else {
        return Err(cx.err(
            method.span(),
            format!("{full:?}: write the full method name, package.Service/Method"),
        ));
    };
    // Compile the .proto files once for all requests.
    if schema.is_none() {
        *schema = Some(compile_schema(cx, g, span.clone())?);
    }
    let resolved = schema.clone().unwrap_or(Schema::Reflection);
    if let Schema::Protos(pool) = &resolved {
        let svc = pool.get_service_by_name(service).ok_or_else(|| {
            let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
            cx.err(
                method.span(),
                format!(
                    "service {service:?} is not in the .proto files (services: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })?;
        let m = svc.methods().find(|m| m.name() == rpc).ok_or_else(|| {
            let known: Vec<String> = svc.methods().map(|m| m.name().to_owned()).collect();
            cx.err(
                method.span(),
                format!(
                    "{service} has no method {rpc:?} (methods: {})",
                    known.join(", ")
                ),
            )
        })?;
        if m.is_client_streaming() || m.is_server_streaming() {
            return Err(cx.err(
                method.span(),
                format!("{full} is a streaming method; volley calls unary methods"),
            ));
        }
    }
    let (message, mspan) = match &r.message {
        None => (serde_json::json!({}), span.clone()),
        Some(m) => match m.get_ref() {
            toml::Value::String(s) => {
                let text = s.clone();
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| cx.err(m.span(), format!("message is not JSON: {e}")))?;
                (v, m.span())
            }
            toml::Value::Table(_) => (toml_to_json(m.get_ref()), m.span()),
            _ => return Err(cx.err(m.span(), "message must be a table or a JSON string")),
        },
    };
    if !message.is_object() {
        return Err(cx.err(mspan, "message must be a JSON object"));
    }
    let mut message_templates = Vec::new();
    let mut message = message;
    collect_templates(
        cx,
        &mut message,
        &mut Vec::new(),
        data,
        &mspan,
        &mut message_templates,
    )?;
    if let Schema::Protos(pool) = &resolved {
        // Check the message against its type now, with placeholders blanked.
        let m = pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == rpc))
            .map(|m| m.input());
        if let Some(input) = m {
            crate::client::grpc::check_message(&input, &message, &message_templates)
                .map_err(|e| cx.err(mspan.clone(), e))?;
        }
    }
    let mut metadata = Vec::new();
    for (k, v) in g.metadata.iter().chain(&r.metadata) {
        let key = k.to_ascii_lowercase();
        if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            return Err(cx.err(v.span(), format!("{k:?} is not a valid metadata key")));
        }
        metadata.retain(|(n, _): &(String, Template)| *n != key);
        metadata.push((key, cx.template(v, data)?));
    }
    let connections = match &g.connections {
        Some(c) if *c.get_ref() == 0 => {
            return Err(cx.err(c.span(), "connections must be at least 1"));
        }
        c => c.as_ref().map(|c| *c.get_ref()),
    };
    Ok(GrpcSpec {
        endpoint,
        method: full,
        message,
        message_templates,
        metadata,
        schema: resolved,
        connections,
        tls: tls_spec(cx, &g.ca, g.insecure)?,
    })
}

fn collect_templates(
    cx: &Ctx<'_>,
    v: &mut serde_json::Value,
    path: &mut Vec<PathSeg>,
    data: &[DataSource],
    span: &Range<usize>,
    out: &mut Vec<(Vec<PathSeg>, Template)>,
) -> Result<(), ScenarioError> {
    match v {
        serde_json::Value::String(s) => {
            let expanded = cx
                .expand(s)
                .map_err(|e| cx.err(span.clone(), e.to_string()))?;
            let t = Template::compile(&expanded, data)
                .map_err(|e| cx.err(span.clone(), format!("template: {e}")))?;
            match t.as_static() {
                Some(lit) => *s = lit.to_owned(),
                None => out.push((path.clone(), t)),
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(PathSeg::Index(i));
                collect_templates(cx, item, path, data, span, out)?;
                path.pop();
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                path.push(PathSeg::Key(k.clone()));
                collect_templates(cx, item, path, data, span, out)?;
                path.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

/// A protox resolver over .proto files already read into memory.
struct MemoryProtos(BTreeMap<String, String>);

impl protox::file::FileResolver for MemoryProtos {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match self.0.get(name) {
            Some(text) => protox::file::File::from_source(name, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// The files a .proto imports, by a line scan (`import "x.proto";`,
/// `import public "y.proto";`).
fn imports_of(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("import "))
        .filter_map(|l| {
            let a = l.find('"')?;
            let b = l[a + 1..].find('"')?;
            Some(l[a + 1..a + 1 + b].to_owned())
        })
        .collect()
}

/// Reads `name` and, recursively, what it imports, from the import paths.
/// Files not found here are left to protox (the Google well-known types).
fn read_protos(
    cx: &Ctx<'_>,
    name: &str,
    imports: &[String],
    span: &Range<usize>,
    into: &mut BTreeMap<String, String>,
) -> Result<(), ScenarioError> {
    if into.contains_key(name) {
        return Ok(());
    }
    for dir in imports {
        let rel = if dir.is_empty() {
            name.to_owned()
        } else {
            format!("{dir}/{name}")
        };
        if let Ok(bytes) = cx.sources.read(&rel) {
            cx.read_file(&rel, span.clone())?;
            let text = String::from_utf8(bytes)
                .map_err(|_| cx.err(span.clone(), format!("{rel} is not UTF-8")))?;
            let deps = imports_of(&text);
            into.insert(name.to_owned(), text);
            for d in deps {
                read_protos(cx, &d, imports, span, into)?;
            }
            return Ok(());
        }
    }
    Ok(())
}

fn compile_schema(
    cx: &Ctx<'_>,
    g: &file::Grpc,
    span: Range<usize>,
) -> Result<Schema, ScenarioError> {
    let protos: Vec<S<String>> = match &g.proto {
        None => Vec::new(),
        Some(p) => match p.get_ref() {
            toml::Value::String(one) => vec![S::new(p.span(), one.clone())],
            toml::Value::Array(items) => items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(|s| S::new(p.span(), s.to_owned()))
                        .ok_or_else(|| {
                            cx.err(
                                p.span(),
                                "proto: expected a file name or a list of file names",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(cx.err(
                    p.span(),
                    "proto: expected a file name or a list of file names",
                ));
            }
        },
    };
    if g.reflection {
        if let Some(p) = protos.first() {
            return Err(cx.err(p.span(), "give proto files or reflection = true, not both"));
        }
        return Ok(Schema::Reflection);
    }
    if protos.is_empty() {
        return Err(cx.err(span, "gRPC requests need [grpc] proto = \"file.proto\" (with import_paths) or reflection = true"));
    }
    let mut imports: Vec<String> = Vec::new();
    for i in &g.import_paths {
        imports.push(normalize(&cx.env(i)?));
    }
    let mut names = Vec::new();
    for p in &protos {
        let rel = normalize(&cx.env(p)?);
        // The name protox knows a file by is its path under an import path.
        let name = imports
            .iter()
            .find_map(|dir| rel.strip_prefix(&format!("{dir}/")).map(str::to_owned))
            .unwrap_or_else(|| {
                let (dir, file) = rel.rsplit_once('/').unwrap_or(("", &rel));
                if !imports.iter().any(|i| i == dir) {
                    imports.push(dir.to_owned());
                }
                file.to_owned()
            });
        // Read it once through the context so that a missing file has a place.
        cx.read_file(&rel, p.span())?;
        names.push((name, p.span()));
    }
    let mut texts = BTreeMap::new();
    for (name, pspan) in &names {
        read_protos(cx, name, &imports, pspan, &mut texts)?;
    }
    let mut resolver = protox::file::ChainFileResolver::new();
    resolver.add(MemoryProtos(texts));
    resolver.add(protox::file::GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true);
    for (name, pspan) in &names {
        compiler
            .open_file(name)
            .map_err(|e| cx.err(pspan.clone(), format!("compiling {name}: {e}")))?;
    }
    Ok(Schema::Protos(compiler.descriptor_pool()))
}

fn compile_check(cx: &Ctx<'_>, c: &file::Check, is_grpc: bool) -> Result<Check, ScenarioError> {
    let mut check = Check::default();
    if let Some(s) = &c.status {
        if is_grpc {
            return Err(cx.err(
                s.span(),
                "status is an HTTP check; gRPC requests check code",
            ));
        }
        if let Some(bad) = s.get_ref().iter().find(|v| !(100..=599).contains(*v)) {
            return Err(cx.err(s.span(), format!("{bad} is not an HTTP status")));
        }
        check.status = s.get_ref().clone();
    }
    if let Some(code) = &c.code {
        if !is_grpc {
            return Err(cx.err(
                code.span(),
                "code is a gRPC check; HTTP requests check status",
            ));
        }
        check.code = crate::client::grpc::code_from_name(code.get_ref()).ok_or_else(|| {
            cx.err(
                code.span(),
                format!(
                    "{:?} is not a gRPC code name (OK, NOT_FOUND, UNAVAILABLE, ...)",
                    code.get_ref()
                ),
            )
        })? as i32;
    }
    if let Some(b) = &c.body_contains {
        check.body_contains = Some(cx.env(b)?);
    }
    for (pointer, v) in &c.json {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(cx.err(
                v.span(),
                format!("{pointer:?} is not a JSON pointer (it starts with /)"),
            ));
        }
        check
            .json
            .push((pointer.clone(), toml_to_json(v.get_ref())));
    }
    Ok(check)
}
