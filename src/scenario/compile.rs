//! From the TOML text to a [`Scenario`]: deserialize (unknown keys are
//! errors), expand `${ENV}`, read data and .proto files, compile templates,
//! and check everything that can be checked without sending a request.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::Source;
use super::compile_flow::{collect_vars, compile_flows};
use super::compile_grpc::compile_grpc;
use super::compile_http::compile_http;
use super::compile_load::compile_load;
use super::data::{DataSource, Pick};
use super::error::ScenarioError;
use super::file::{self, S};
use super::limits;
use super::template::{Scope, Template};
use super::{Check, RequestKind, RequestSpec, Scenario, Schema, TlsSpec, env};

/// The default per-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default run length when neither a duration nor a count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);

/// Where the files a scenario names come from: the disk next to the scenario,
/// or (on a worker) the copies the master sent.
pub trait Sources: Sync {
    fn read(&self, relative: &str) -> std::io::Result<Bytes>;
}

/// Files relative to a folder on disk.
pub struct DiskSources(pub PathBuf);

impl Sources for DiskSources {
    fn read(&self, relative: &str) -> std::io::Result<Bytes> {
        std::fs::read(self.0.join(relative)).map(Bytes::from)
    }
}

/// Files held in memory, by relative path (shared, not copied: a data file
/// of 100 MB read by the master and its local workers is held once).
pub struct MemorySources(pub BTreeMap<String, Bytes>);

impl Sources for MemorySources {
    fn read(&self, relative: &str) -> std::io::Result<Bytes> {
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
    /// --host: replaces the base URL of every HTTP request.
    pub host: Option<String>,
    /// -H/--header: added to every HTTP request, replacing the file's
    /// header of the same name.
    pub headers: Vec<(String, String)>,
    /// Values for `${NAME}` that take precedence over the environment
    /// (`volley demo` points the scenario at its embedded servers this way).
    pub vars: BTreeMap<String, String>,
    /// Look names up in `vars` only, never in this process's environment (a
    /// worker compiles with the values its master resolved).
    pub isolated: bool,
    /// The schema the gRPC endpoint gave by server reflection: with it, a
    /// scenario that says `reflection = true` has its methods and messages
    /// checked now, each mistake at its place in the file, as with .proto
    /// files.
    pub reflected: Option<prost_reflect::DescriptorPool>,
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

pub(super) struct Ctx<'a> {
    vars: &'a BTreeMap<String, String>,
    isolated: bool,
    /// Every ${NAME} looked up, with what it was (None: unset).
    looked_up: Mutex<BTreeMap<String, Option<String>>>,
    pub(super) file: &'a Path,
    text: &'a str,
    pub(super) sources: &'a dyn Sources,
    read: Mutex<BTreeMap<String, Bytes>>,
    /// The names of requests and steps so far (one namespace).
    names: Mutex<HashSet<String>>,
    /// `[http] max_body`, in bytes.
    pub(super) max_body: usize,
    /// See [`Options::reflected`].
    pub(super) reflected: Option<&'a prost_reflect::DescriptorPool>,
}

impl Ctx<'_> {
    pub(super) fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, self.text, Some(span), message)
    }

    pub(super) fn env(&self, v: &S<String>) -> Result<String, ScenarioError> {
        self.expand(v.get_ref())
            .map_err(|e| self.err(v.span(), e.to_string()))
    }

    pub(super) fn expand(&self, s: &str) -> Result<String, env::EnvError> {
        env::expand_with(s, |n| {
            let v = self.vars.get(n).cloned().or_else(|| {
                if self.isolated {
                    None
                } else {
                    std::env::var(n).ok()
                }
            });
            self.looked_up
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(n.to_owned(), v.clone());
            v
        })
    }

    pub(super) fn duration(&self, v: &S<String>, what: &str) -> Result<Duration, ScenarioError> {
        parse_duration(&self.env(v)?).map_err(|e| self.err(v.span(), format!("{what}: {e}")))
    }

    pub(super) fn read_file(
        &self,
        relative: &str,
        span: Range<usize>,
    ) -> Result<Bytes, ScenarioError> {
        let key = normalize(relative);
        // A file named by every request (a CA) is read once.
        if let Some(bytes) = self
            .read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(bytes.clone());
        }
        let bytes = self
            .sources
            .read(relative)
            .map_err(|e| self.err(span, format!("cannot read {relative}: {e}")))?;
        self.read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, bytes.clone());
        Ok(bytes)
    }

    pub(super) fn template(
        &self,
        v: &S<String>,
        data: &Scope<'_>,
    ) -> Result<Template, ScenarioError> {
        let text = self.env(v)?;
        Template::compile(&text, data).map_err(|e| self.err(v.span(), format!("template: {e}")))
    }
}

/// Compiles a scenario again from what it was compiled from, with no access
/// to this machine's files or environment (how a worker gets its master's).
pub fn compile_source(source: &Source) -> Result<Scenario, ScenarioError> {
    let options = Options {
        host: source.host.clone(),
        headers: source.headers.clone(),
        vars: source
            .vars
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect(),
        isolated: true,
        reflected: None,
    };
    compile(
        &source.path,
        &source.text,
        &MemorySources(source.files.clone()),
        &options,
    )
}

/// Parses "10s", "1m30s", "250ms", "2h".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    // A bare number is seconds, as Locust's -t 10 and k6's durations read.
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return t
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .and_then(|x| Duration::try_from_secs_f64(x).ok())
            .ok_or_else(|| format!("{s:?} is not a duration; write e.g. 250ms, 10s, 1m30s"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 250ms, 10s, 1m30s"))
}

/// Compiles the scenario text of `file`.
pub fn compile(
    file: &Path,
    text: &str,
    sources: &dyn Sources,
    options: &Options,
) -> Result<Scenario, ScenarioError> {
    let parsed: file::File = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end();
        // Serde names the type it expected, not the key: add the key.
        let message = plain_types(&did_you_mean(message));
        let message = match e.span().and_then(|s| key_before(text, s.start)) {
            Some(key) if !message.contains(&format!("`{key}`")) => format!("{key}: {message}"),
            _ => message,
        };
        ScenarioError::at(file, text, e.span(), message)
    })?;
    let max_body = compile_max_body(file, text, &parsed.http)?;
    let cx = Ctx {
        vars: &options.vars,
        isolated: options.isolated,
        looked_up: Mutex::new(BTreeMap::new()),
        file,
        text,
        sources,
        read: Mutex::new(BTreeMap::new()),
        names: Mutex::new(HashSet::new()),
        max_body,
        reflected: options.reflected.as_ref(),
    };
    let whole = 0..0;

    let data = compile_data(&cx, &parsed.data)?;
    let load = compile_load(&cx, &parsed.load)?;
    let (vars, var_index) = collect_vars(&cx, &parsed.flows, &data)?;
    let scope = Scope {
        data: &data,
        vars: &vars,
        var_index: Some(&var_index),
    };
    if parsed.requests.is_empty() && parsed.flows.is_empty() {
        return Err(cx.err(
            whole,
            "the scenario sends nothing: add a [[request]] or a [[flow]]",
        ));
    }
    let mut requests = Vec::new();
    let mut grpc_pool: Option<Schema> = None;
    for r in &parsed.requests {
        let spec = compile_request(&cx, r, &parsed, &scope, options, &mut grpc_pool, false)?;
        add_request(&cx, &mut requests, spec, r)?;
    }
    let flows = compile_flows(&cx, &parsed, &scope, options, &mut grpc_pool, &mut requests)?;
    // Streaming calls' rows come after the flows', three per call.
    let mut next = requests.len() + flows.len();
    let mut stream_names: HashSet<String> = HashSet::new();
    for r in requests.iter_mut() {
        if let super::RequestKind::Grpc(super::GrpcSpec {
            stream: Some(st), ..
        }) = &mut r.kind
        {
            for (k, slot) in st.stats.iter_mut().enumerate() {
                *slot =
                    u32::try_from(next + k).map_err(|_| cx.err(0..0, "too many request names"))?;
            }
            next += super::STREAM_PREFIXES.len();
            stream_names.insert(r.name.clone());
        }
    }
    let mut thresholds = Vec::new();
    let names = cx.names.lock().unwrap_or_else(|p| p.into_inner());
    let flow_names: HashSet<&str> = flows.iter().map(|f| f.name.as_str()).collect();
    for tv in &parsed.thresholds {
        let (t, abort) = compile_threshold(&cx, tv)?;
        let text = cx.env(&t)?;
        let parsed_t = crate::stats::threshold::Threshold::parse(&text)
            .map_err(|e| cx.err(t.span(), format!("threshold {text:?}: {e}")))?;
        if let Some(n) = &parsed_t.name
            && !names.contains(n)
            && !n
                .strip_prefix(super::FLOW_PREFIX)
                .is_some_and(|f| flow_names.contains(f))
            && !super::STREAM_PREFIXES
                .iter()
                .any(|p| n.strip_prefix(p).is_some_and(|s| stream_names.contains(s)))
        {
            return Err(cx.err(
                t.span(),
                format!("threshold {text:?}: there is no request, step, flow:NAME or streaming call's sent:/first:/msg:NAME named {n:?}"),
            ));
        }
        thresholds.push(super::ThresholdSpec { rule: text, abort });
    }
    drop(names);
    let name = parsed.scenario.name.clone().unwrap_or_else(|| {
        file.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "scenario".into())
    });
    let source = Source {
        path: file.to_path_buf(),
        text: text.to_owned(),
        files: cx.read.into_inner().unwrap_or_else(|p| p.into_inner()),
        vars: cx.looked_up.into_inner().unwrap_or_else(|p| p.into_inner()),
        host: options.host.clone(),
        headers: options.headers.clone(),
    };
    Ok(Scenario {
        name,
        load,
        requests,
        flows,
        vars,
        data,
        thresholds,
        allow_empty: parsed.scenario.allow_empty,
        allow_all_failed: parsed.scenario.allow_all_failed,
        source,
    })
}

/// serde's "unknown field `spawn_rat`, expected one of `users`, ..." with
/// the closest known key named first: "did you mean `spawn_rate`?".
fn did_you_mean(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return message.to_owned();
    };
    let Some((unknown, known)) = rest.split_once('`') else {
        return message.to_owned();
    };
    // A key that begins with what was written (think → think_time) first,
    // then the nearest by edits, if near enough.
    let keys = || known.split('`').skip(1).step_by(2);
    let best = keys()
        .filter(|k| unknown.len() >= 3 && k.starts_with(unknown))
        .map(|k| (0, k))
        .next()
        .or_else(|| {
            keys()
                .map(|k| (strsim::damerau_levenshtein(unknown, k), k))
                .filter(|(d, k)| *d <= (k.len() / 3).max(1) + 1)
                .min_by_key(|(d, _)| *d)
        });
    match best {
        Some((_, k)) => format!("unknown key `{unknown}`: did you mean `{k}`? ({message})"),
        None => message.to_owned(),
    }
}

/// serde names Rust types; a scenario's author knows TOML's.
fn plain_types(message: &str) -> String {
    message
        .replace("expected u64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
        .replace("expected u16", "expected a whole number")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a boolean", "expected true or false")
}

/// The key whose value starts at byte `offset` of `text` (`users` in
/// `users = -5`), if a key and `=` come right before it.
fn key_before(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?.trim_end_matches([' ', '\t']);
    let before = before.strip_suffix('=')?.trim_end_matches([' ', '\t']);
    if let Some(b) = before.strip_suffix('"') {
        let start = b.rfind('"')?;
        return Some(b[start + 1..].to_owned());
    }
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = &before[start..];
    (!key.is_empty()).then(|| key.to_owned())
}

/// `[http] max_body`: a size string or an integer of bytes, within bounds.
fn compile_max_body(file: &Path, text: &str, http: &file::Http) -> Result<usize, ScenarioError> {
    let Some(v) = &http.max_body else {
        return Ok(limits::DEFAULT_MAX_BODY);
    };
    let err = |m: String| ScenarioError::at(file, text, Some(v.span()), m);
    let bytes = match v.get_ref() {
        toml::Value::Integer(i) if *i >= 0 => *i as u64,
        toml::Value::String(s) => {
            limits::parse_size(s).map_err(|e| err(format!("max_body: {e}")))?
        }
        other => {
            return Err(err(format!(
                "max_body must be a size such as \"4MiB\" or a whole number of bytes, not {other}"
            )));
        }
    };
    limits::max_body(bytes).map_err(|e| err(format!("max_body {e}")))
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
        if std::str::from_utf8(&bytes).is_err() {
            return Err(cx.err(d.file.span(), format!("{path} is not UTF-8")));
        }
        let pick = match d.pick.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
            None | Some(("random", _)) => Pick::Random,
            Some(("sequential", _)) => Pick::Sequential,
            Some(("per_user", _)) => Pick::PerUser,
            Some((other, span)) => {
                return Err(cx.err(
                    span,
                    format!(
                        "pick must be \"random\", \"sequential\" or \"per_user\", not {other:?}"
                    ),
                ));
            }
        };
        let format = d.format.as_ref().map(|f| (f.get_ref().as_str(), f.span()));
        let source = match format {
            None | Some(("lines", _)) => {
                if let Some(c) = &d.column {
                    return Err(cx.err(c.span(), "column applies to format = \"csv\" only"));
                }
                DataSource::from_lines(name, &path, bytes.clone(), pick)
            }
            Some(("csv", _)) => DataSource::from_csv(
                name,
                &path,
                bytes.clone(),
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

pub(super) fn tls_spec(
    cx: &Ctx<'_>,
    ca: &Option<S<String>>,
    insecure: &Option<S<bool>>,
    (cert, key): (&Option<S<String>>, &Option<S<String>>),
    url: &str,
) -> Result<TlsSpec, ScenarioError> {
    let ca_pem = match ca {
        Some(c) => Some(cx.read_file(&cx.env(c)?, c.span())?),
        None => None,
    };
    let client_pem = match (cert, key) {
        (Some(c), Some(k)) => Some((
            cx.read_file(&cx.env(c)?, c.span())?,
            cx.read_file(&cx.env(k)?, k.span())?,
        )),
        (None, None) => None,
        (Some(c), None) => {
            return Err(cx.err(c.span(), "cert needs key (the PEM file of its private key)"));
        }
        (None, Some(k)) => {
            return Err(cx.err(k.span(), "key needs cert (the PEM file of the certificate)"));
        }
    };
    let insecure = match insecure {
        Some(i) if *i.get_ref() => {
            // Skipping verification is for test certificates on this
            // machine; anywhere else it would hide a real interception.
            if url.starts_with("https://") && !is_loopback_url(url) {
                return Err(cx.err(
                    i.span(),
                    format!(
                        "insecure = true is only allowed for loopback targets \
                         (127.0.0.0/8, ::1, localhost), and {url} is not one; \
                         give ca = \"FILE.pem\" to trust its certificate instead"
                    ),
                ));
            }
            true
        }
        _ => false,
    };
    Ok(TlsSpec {
        ca_pem: ca_pem.map(|b| b.to_vec()),
        insecure,
        client_pem: client_pem.map(|(c, k)| (c.to_vec(), k.to_vec())),
        server_name: None,
    })
}

/// Whether a URL's host is this machine's loopback.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(host) = uri.host() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(super) fn check_base_url(
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

/// Adds a compiled request, refusing a name already taken (requests and
/// steps share one namespace: both are rows in the reports). Every request
/// goes through here, so that the names seen are all in `cx.names`.
pub(super) fn add_request(
    cx: &Ctx<'_>,
    requests: &mut Vec<RequestSpec>,
    spec: RequestSpec,
    r: &S<file::Request>,
) -> Result<usize, ScenarioError> {
    let fresh = cx
        .names
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(spec.name.clone());
    if !fresh {
        let span = r.get_ref().name.as_ref().map_or(r.span(), |n| n.span());
        return Err(cx.err(
            span,
            format!(
                "request name {:?} is used twice (requests and flow steps share names)",
                spec.name
            ),
        ));
    }
    requests.push(spec);
    Ok(requests.len() - 1)
}

/// Compiles a top-level request, or (`step`) a flow's request step, whose
/// captures the caller adds.
pub(super) fn compile_request(
    cx: &Ctx<'_>,
    r: &S<file::Request>,
    parsed: &file::File,
    data: &Scope<'_>,
    options: &Options,
    grpc_schema: &mut Option<Schema>,
    step: bool,
) -> Result<RequestSpec, ScenarioError> {
    let span = r.span();
    let r = r.get_ref();
    let Some(name_v) = &r.name else {
        return Err(cx.err(
            span,
            if step {
                "a step needs a name (its row in the reports), or think = \"1s\" for a pause"
            } else {
                "a [[request]] needs a name"
            },
        ));
    };
    let name = cx.env(name_v)?;
    if name.is_empty() {
        return Err(cx.err(name_v.span(), "request name must not be empty"));
    }
    if name.starts_with(super::FLOW_PREFIX) {
        return Err(cx.err(
            name_v.span(),
            format!("request name {name:?}: names starting with \"flow:\" are flows' statistics"),
        ));
    }
    if let Some(p) = super::STREAM_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Err(cx.err(
            name_v.span(),
            format!(
                "request name {name:?}: names starting with {p:?} are streaming calls' statistics"
            ),
        ));
    }
    let weight = match (&r.weight, step) {
        (Some(w), true) => {
            return Err(cx.err(w.span(), "weight belongs to the [[flow]], not to its steps"));
        }
        (Some(w), false) if *w.get_ref() == 0 => {
            return Err(cx.err(
                w.span(),
                format!("request {name:?}: weight must be at least 1"),
            ));
        }
        (Some(w), false) => *w.get_ref(),
        (None, true) => 0,
        (None, false) => 1,
    };
    if !step {
        if let Some(t) = &r.think {
            return Err(cx.err(
                t.span(),
                "think is a flow step; between a user's requests use [load] think_time",
            ));
        }
        if let Some(c) = r.capture.values().next() {
            return Err(cx.err(
                c.span(),
                "capture is for flow steps ([[flow.step]]), whose later steps use the values",
            ));
        }
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
        if let Some(st) = &r.stream {
            return Err(cx.err(
                st.span(),
                "[request.stream] is for streaming gRPC methods (grpc = ...)",
            ));
        }
        RequestKind::Http(compile_http(cx, &name, r, parsed, data, options, span)?)
    };
    Ok(RequestSpec {
        name,
        weight,
        kind,
        check,
        captures: Vec::new(),
    })
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
        check.code = super::grpc_codes::parse_code(code.get_ref())
            .map_err(|e| cx.err(code.span(), e.to_string()))?;
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

/// A `thresholds` entry: a rule, or `{ rule, abort, delay }`. The rule
/// keeps its place for the errors about it.
fn compile_threshold(
    cx: &Ctx<'_>,
    v: &S<toml::Value>,
) -> Result<(S<String>, Option<Duration>), ScenarioError> {
    let expected = || {
        cx.err(
            v.span(),
            "a threshold is a rule such as \"p99<250ms\" or a table { rule = \"p99<250ms\", abort = true, delay = \"10s\" }",
        )
    };
    match v.get_ref() {
        toml::Value::String(s) => Ok((S::new(v.span(), s.clone()), None)),
        toml::Value::Table(t) => {
            if let Some(k) = t
                .keys()
                .find(|k| !["rule", "abort", "delay"].contains(&k.as_str()))
            {
                return Err(cx.err(
                    v.span(),
                    format!("threshold: unknown key {k:?}, expected rule, abort and delay"),
                ));
            }
            let Some(toml::Value::String(rule)) = t.get("rule") else {
                return Err(expected());
            };
            let abort = match t.get("abort") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(other) => {
                    return Err(cx.err(
                        v.span(),
                        format!("threshold: abort must be true or false, not {other}"),
                    ));
                }
            };
            let delay = match t.get("delay") {
                None => Duration::ZERO,
                Some(toml::Value::String(d)) if abort => {
                    let d = parse_duration(d)
                        .map_err(|e| cx.err(v.span(), format!("threshold delay: {e}")))?;
                    super::compile_load::bound(cx, v.span(), "delay", limits::duration(d))?
                }
                Some(toml::Value::String(_)) => {
                    return Err(cx.err(
                        v.span(),
                        "threshold: delay is for a threshold with abort = true",
                    ));
                }
                Some(other) => {
                    return Err(cx.err(
                        v.span(),
                        format!("threshold delay: expected a duration string such as \"10s\", not {other}"),
                    ));
                }
            };
            Ok((S::new(v.span(), rule.clone()), abort.then_some(delay)))
        }
        _ => Err(expected()),
    }
}
