//! Replaying recorded traffic (`volley replay`, `[replay]`): sources read
//! in bounded memory (access logs, HAR, volley's JSON lines), each request
//! named, filtered and made sendable here ([`Replay::entries`]), so the
//! engine only schedules them.
//!
//! A replay reads its sources twice: once when the scenario is compiled
//! ([`Replay::index`]: the names, which are the statistics rows and must be
//! known before the run, the log's own statuses per name, the count and
//! the span, the lines that are not requests), and once as it sends.

pub mod access_log;
mod har;
pub mod jsonl;
pub mod log_format;
pub mod names;
pub mod source;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use regex::Regex;

pub use log_format::LogFormat;
pub use names::NameRule;
pub use source::{BadLine, Format, Raw, Reader, SourceError, Timeline};

/// What keeps a session's requests together: in order, with one cookie
/// jar, on one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKey {
    /// None: every request on its own.
    None,
    /// The client address field (`$remote_addr`).
    Client,
    /// A cookie's value (the log's `$cookie_NAME`, or its Cookie header).
    Cookie(String),
    /// A request header's value.
    Header(String),
    /// JSON lines' `session`.
    Field,
}

/// A filter: a method, a path regex (matched from the path's start), or
/// both (`POST ^/api/`).
#[derive(Debug, Clone)]
pub struct Filter {
    pub method: Option<String>,
    pub path: Option<Regex>,
}

impl Filter {
    /// `METHOD`, `/REGEX` or `METHOD /REGEX` (`^` is implied).
    pub fn parse(s: &str) -> Result<Filter, regex::Error> {
        let s = s.trim();
        let (method, path) = match s.split_once(' ') {
            Some((m, p)) => (Some(m), Some(p.trim())),
            None if s.starts_with('/') || s.starts_with('^') => (None, Some(s)),
            None => (Some(s), None),
        };
        let path = path
            .map(|p| Regex::new(&format!("^(?:{})", p.strip_prefix('^').unwrap_or(p))))
            .transpose()?;
        Ok(Filter {
            method: method.map(str::to_ascii_uppercase),
            path,
        })
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method)
            && self.path.as_ref().is_none_or(|r| r.is_match(path))
    }
}

/// How a replay reads and sends its sources (`[replay]`).
#[derive(Debug, Clone)]
pub struct ReplaySpec {
    pub sources: Vec<PathBuf>,
    pub format: Format,
    /// The timeline divided by this (2: twice as fast).
    pub speed: f64,
    /// Instead of the timeline: this many requests per second, in order.
    pub rate: Option<f64>,
    /// Passes over the sources.
    pub loops: u32,
    pub session: SessionKey,
    pub include: Vec<Filter>,
    pub exclude: Vec<Filter>,
    /// Headers sent as the source has them although volley drops them by
    /// default (lower case: `cookie`, `authorization`).
    pub keep_headers: Vec<String>,
    pub rules: Vec<NameRule>,
    /// The body of a request whose source holds none although its method
    /// sends one (a log's POST), when `bodies` has no file for its path:
    /// without either, such requests are skipped.
    pub body: Option<Bytes>,
    /// A folder of bodies by path: a log's `POST /api/orders` is sent with
    /// the file `DIR/api/orders`, if there is one.
    pub bodies: Option<Bodies>,
    /// Whether a status other than the source's fails the request.
    pub compare_status: bool,
}

/// Bodies by path, from a folder: read once each (a log repeats its
/// paths), the most recent kept.
#[derive(Debug, Clone)]
pub struct Bodies {
    pub dir: PathBuf,
    cache: std::sync::Arc<std::sync::Mutex<HashMap<String, Option<Bytes>>>>,
}

/// Paths whose body (or its absence) is kept; past this, the cache starts
/// again.
const BODIES_KEPT: usize = 4096;

/// The largest body file read: a larger one is no body.
pub const MAX_BODY_FILE: u64 = 16 << 20;

impl Bodies {
    pub fn new(dir: PathBuf) -> Bodies {
        Bodies {
            dir,
            cache: std::sync::Arc::default(),
        }
    }

    /// The body for `path` (no query): the file at `dir` + `path`, if it is
    /// one; never outside `dir` (a `..` or an empty segment is no file).
    pub fn of(&self, path: &str) -> Option<Bytes> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = cache.get(path) {
            return b.clone();
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let safe = !segments.is_empty()
            && segments
                .iter()
                .all(|s| !s.is_empty() && *s != "." && *s != ".." && !s.contains('\\'));
        let body = safe
            .then(|| {
                let file = segments.iter().fold(self.dir.clone(), |p, s| p.join(s));
                let meta = std::fs::metadata(&file).ok()?;
                if !meta.is_file() || meta.len() > MAX_BODY_FILE {
                    return None;
                }
                std::fs::read(&file).ok().map(Bytes::from)
            })
            .flatten();
        if cache.len() >= BODIES_KEPT {
            cache.clear();
        }
        cache.insert(path.to_owned(), body.clone());
        body
    }
}

/// The most request names a replay has; past these, a method's further
/// paths are one name, `METHOD (other)` (`--name` rules group better).
pub const MAX_NAMES: usize = 1000;

/// Why a request of the source is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// `include`/`exclude` left it out.
    Filtered,
    /// A method that sends a body, from a source that holds none, and no
    /// `body` given.
    NoBody,
    /// Its target is not a path volley can send.
    BadTarget,
    /// Its method is not one.
    BadMethod,
    /// Its name was not seen when the sources were indexed (they changed).
    Unindexed,
}

impl Skip {
    pub fn describe(self) -> &'static str {
        match self {
            Skip::Filtered => "left out by include/exclude",
            Skip::NoBody => {
                "sends a body the source does not hold (give body, body_file, or a file in bodies)"
            }
            Skip::BadTarget => "a target that is not a path and query",
            Skip::BadMethod => "a method that is not a token",
            Skip::Unindexed => "named as when indexed by no request (did the source change?)",
        }
    }
}

/// What the first reading of the sources found.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The request names, in the order first seen: the scenario's requests.
    pub names: Vec<String>,
    /// Each name's method.
    pub methods: Vec<http::Method>,
    by_name: HashMap<String, usize>,
    /// Per name, the statuses the source's server answered.
    pub statuses: Vec<BTreeMap<u16, u64>>,
    /// Requests to send per pass.
    pub requests: u64,
    /// The offset of the last request sent.
    pub span: Duration,
    /// Lines that are not requests, and the first few.
    pub bad: u64,
    pub first_bad: Vec<BadLine>,
    /// Requests not sent, by why.
    pub skipped: BTreeMap<Skip, u64>,
    /// Sessions (None: no session key).
    pub sessions: Option<u64>,
}

/// The first bad lines kept to show.
const SHOW_BAD: usize = 10;

/// One request as the engine sends it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its offset from the sources' first request (before `speed`).
    pub at: Duration,
    /// Its number among the requests sent, from 0.
    pub seq: u64,
    /// The scenario request (its name) it counts under.
    pub request: usize,
    /// The path and query sent.
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Its session's hash.
    pub session: Option<u64>,
    /// The status the source's server answered.
    pub status: Option<u16>,
}

impl Entry {
    /// Where this request falls in the unit interval, for the engines'
    /// shares: a session's requests all at one place (a session never
    /// crosses workers), others spread by their number.
    pub fn position(&self) -> f64 {
        let h = self.session.unwrap_or_else(|| mix(self.seq));
        (h >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A compiled replay: its settings and what the first reading found.
#[derive(Debug, Clone)]
pub struct Replay {
    pub spec: ReplaySpec,
    pub index: Index,
}

/// A request of the source made sendable, before it has a request index.
struct Sendable {
    name: String,
    method: http::Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    session: Option<u64>,
    status: Option<u16>,
}

/// Headers volley sets itself (framing, the connection, the host it sends
/// to) and never takes from a source.
fn own_header(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "content-length"
            | "upgrade"
            | "te"
            | "trailer"
            | "http2-settings"
    )
}

/// Headers that carry a user's credentials: dropped unless kept, so a log
/// replayed does not act as its users.
fn credential(name: &str) -> bool {
    matches!(name, "cookie" | "authorization" | "proxy-authorization")
}

impl ReplaySpec {
    /// Reads the sources once: the names, counts and span a replay needs
    /// before it runs.
    pub fn index(self) -> Result<Replay, SourceError> {
        let mut index = Index::default();
        let mut sessions: Option<std::collections::HashSet<u64>> =
            (self.session != SessionKey::None).then(Default::default);
        let mut timeline = Timeline::new(Reader::new(self.sources.clone(), self.format.clone()));
        let mut name = String::new();
        while let Some(next) = timeline.next_entry()? {
            let (at, raw) = match next {
                Ok(r) => r,
                Err(bad) => {
                    index.bad += 1;
                    if index.first_bad.len() < SHOW_BAD {
                        index.first_bad.push(bad);
                    }
                    continue;
                }
            };
            let s = match self.sendable(raw, &mut name) {
                Ok(s) => s,
                Err(why) => {
                    *index.skipped.entry(why).or_default() += 1;
                    continue;
                }
            };
            let i = match index.by_name.get(&s.name) {
                Some(&i) => i,
                None => {
                    let (key, method) = if index.names.len() < MAX_NAMES {
                        (s.name.clone(), s.method.clone())
                    } else {
                        (format!("{} (other)", s.method), s.method.clone())
                    };
                    match index.by_name.get(&key) {
                        Some(&i) => {
                            index.by_name.insert(s.name.clone(), i);
                            i
                        }
                        None => {
                            let i = index.names.len();
                            index.names.push(key.clone());
                            index.methods.push(method);
                            index.statuses.push(BTreeMap::new());
                            index.by_name.insert(key, i);
                            index.by_name.insert(s.name.clone(), i);
                            i
                        }
                    }
                }
            };
            if let (Some(st), Some(map)) = (s.status, index.statuses.get_mut(i)) {
                *map.entry(st).or_default() += 1;
            }
            if let (Some(set), Some(h)) = (sessions.as_mut(), s.session) {
                // Counted up to a bound: the count is for the report.
                if set.len() < 1 << 20 {
                    set.insert(h);
                }
            }
            index.requests += 1;
            index.span = at;
        }
        index.sessions = sessions.map(|s| s.len() as u64);
        Ok(Replay { spec: self, index })
    }

    /// A request of the source as it will be sent, or why it will not be.
    fn sendable(&self, raw: Raw, name: &mut String) -> Result<Sendable, Skip> {
        let path = names::path_of(&raw.target);
        if !self.include.is_empty() && !self.include.iter().any(|f| f.matches(&raw.method, path)) {
            return Err(Skip::Filtered);
        }
        if self.exclude.iter().any(|f| f.matches(&raw.method, path)) {
            return Err(Skip::Filtered);
        }
        let method =
            http::Method::from_bytes(raw.method.as_bytes()).map_err(|_| Skip::BadMethod)?;
        let sent_path = sent_path(&raw.target).ok_or(Skip::BadTarget)?;
        let from_log = matches!(self.format, Format::Combined | Format::Custom(_));
        let body = match raw.body {
            Some(b) => b,
            None if from_log && matches!(method.as_str(), "POST" | "PUT" | "PATCH") => self
                .bodies
                .as_ref()
                .and_then(|b| b.of(path))
                .or_else(|| self.body.clone())
                .ok_or(Skip::NoBody)?,
            None => Bytes::new(),
        };
        let session = match &self.session {
            SessionKey::None => None,
            SessionKey::Client => raw.remote.as_deref().map(hash),
            SessionKey::Field => raw.session.as_deref().map(hash),
            SessionKey::Header(h) => raw
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(h))
                .map(|(_, v)| hash(v)),
            SessionKey::Cookie(c) => raw
                .cookies
                .iter()
                .find(|(n, _)| n == c)
                .map(|(_, v)| hash(v))
                .or_else(|| cookie_in(&raw.headers, c).map(hash)),
        };
        match &raw.name {
            Some(n) => {
                name.clear();
                name.push_str(n);
            }
            None => names::name_into(method.as_str(), &raw.target, &self.rules, name),
        }
        let mut headers = Vec::with_capacity(raw.headers.len());
        for (n, v) in &raw.headers {
            // HeaderName lower-cases as it parses (standard names without
            // allocating); a header no request may carry is left out, not
            // the request.
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(n.as_bytes()),
                HeaderValue::from_str(v),
            ) else {
                continue;
            };
            let name = n.as_str();
            if own_header(name)
                || (credential(name) && !self.keep_headers.iter().any(|k| k == name))
            {
                continue;
            }
            headers.push((n, v));
        }
        Ok(Sendable {
            name: name.clone(),
            method,
            path: sent_path,
            headers,
            body,
            session,
            status: raw.status,
        })
    }
}

impl Replay {
    /// The requests to send, in order, for one pass; `seq` numbers them
    /// from `first` (passes go on numbering).
    pub fn entries(&self, first: u64) -> Entries<'_> {
        Entries {
            replay: self,
            timeline: Timeline::new(Reader::new(
                self.spec.sources.clone(),
                self.spec.format.clone(),
            )),
            seq: first,
            name: String::new(),
        }
    }
}

/// The sendable requests of one pass over the sources.
pub struct Entries<'a> {
    replay: &'a Replay,
    timeline: Timeline,
    seq: u64,
    name: String,
}

impl Entries<'_> {
    /// The next request to send; bad lines and skipped requests (counted
    /// when indexed) are passed.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, SourceError> {
        while let Some(next) = self.timeline.next_entry()? {
            let Ok((at, raw)) = next else { continue };
            let Ok(s) = self.replay.spec.sendable(raw, &mut self.name) else {
                continue;
            };
            let Some(&request) = self.replay.index.by_name.get(&s.name) else {
                continue;
            };
            let seq = self.seq;
            self.seq = self.seq.saturating_add(1);
            return Ok(Some(Entry {
                at,
                seq,
                request,
                path: s.path,
                headers: s.headers,
                body: s.body,
                session: s.session,
                status: s.status,
            }));
        }
        Ok(None)
    }
}

/// The path and query sent for a source's target (an absolute URL's host is
/// the replay's target's, not its own), if a request may carry it.
fn sent_path(target: &str) -> Option<String> {
    let path = match target.find("://") {
        Some(i) => {
            let after = &target[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => target,
    };
    let path = path.split('#').next().unwrap_or("/");
    let path = if path.is_empty() { "/" } else { path };
    if !path.starts_with('/') {
        return None;
    }
    let encoded = crate::scenario::uri::encode_path(path);
    http::uri::PathAndQuery::try_from(encoded.as_ref()).ok()?;
    Some(encoded.into_owned())
}

fn cookie_in<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// FNV-1a, then mixed: the same session lands on the same worker on every
/// machine and in every build (no per-process random key).
fn hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A 64-bit finalizer (splitmix64's): spreads nearby numbers over the
/// whole range.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests;
