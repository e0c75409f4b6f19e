//! The load flags shared by every command that generates load, and how they
//! override the scenario file.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::scenario::compile::parse_duration;
use crate::scenario::limits::{self, BoundError, NotWhole, parse_whole};
use crate::scenario::units::DurationError;
use crate::scenario::{LoadModel, LoadSpec, Think};

// Every flag is parsed within the bounds of the file's key (scenario::limits),
// so that clap refuses it (exit 2) with the bound in its message.

/// Why a flag's value was refused. clap takes any error from a value
/// parser and prints its message after its own "invalid value 'V' for
/// '--flag <N>'", so these need not be turned into text first.
#[derive(Debug, thiserror::Error)]
pub(super) enum ValueError {
    #[error(transparent)]
    Duration(#[from] DurationError),
    #[error(transparent)]
    NotWhole(#[from] NotWhole),
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0:?}: the version is http1, h2c, http2, http3 or auto (or 1.1, 2, 3)")]
    HttpVersion(String),
    #[error(transparent)]
    Bound(#[from] BoundError),
    #[error("{0:?}: write a header as \"Name: value\"")]
    HeaderWithoutColon(String),
    /// Locust's -H is the host: said where it went rather than sent as a
    /// header named "http".
    #[error("{0:?} is a URL: -H is a header (\"Name: value\", as in curl); the host is --host")]
    HeaderIsUrl(String),
    #[error("{0:?} is not a valid header name")]
    HeaderName(String),
    #[error("{0:?} is not a valid header value")]
    HeaderValue(String),
    #[error("{0:?} is not an HTTP method")]
    Method(String),
}

fn duration(s: &str) -> Result<Duration, ValueError> {
    Ok(limits::duration(parse_duration(s)?)?)
}

fn timeout(s: &str) -> Result<Duration, ValueError> {
    Ok(limits::timeout(parse_duration(s)?)?)
}

fn think_time(s: &str) -> Result<Duration, ValueError> {
    Ok(limits::think(parse_duration(s)?)?)
}

fn number(s: &str) -> Result<f64, ValueError> {
    s.trim()
        .parse()
        .map_err(|_| ValueError::NotANumber(s.to_owned()))
}

fn users(s: &str) -> Result<u64, ValueError> {
    Ok(limits::users(parse_whole(s)?)?)
}

fn requests(s: &str) -> Result<u64, ValueError> {
    Ok(limits::requests(parse_whole(s)?)?)
}

fn rate(s: &str) -> Result<f64, ValueError> {
    Ok(limits::rate(number(s)?)?)
}

fn connections(s: &str) -> Result<u64, ValueError> {
    Ok(limits::connections(parse_whole(s)?)?)
}

fn spawn_rate(s: &str) -> Result<f64, ValueError> {
    Ok(limits::spawn_rate(number(s)?)?)
}

/// "Name: value", for -H/--header.
pub(super) fn header(s: &str) -> Result<(String, String), ValueError> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| ValueError::HeaderWithoutColon(s.to_owned()))?;
    let (k, v) = (k.trim(), v.trim());
    if (k.eq_ignore_ascii_case("http") || k.eq_ignore_ascii_case("https")) && v.starts_with("//") {
        return Err(ValueError::HeaderIsUrl(s.to_owned()));
    }
    http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| ValueError::HeaderName(k.to_owned()))?;
    http::HeaderValue::from_str(v).map_err(|_| ValueError::HeaderValue(v.to_owned()))?;
    Ok((k.to_owned(), v.to_owned()))
}

/// A version as `[http] version` takes it; oha's numbers are read as the
/// names they stand for.
pub(super) fn http_version(s: &str) -> Result<String, ValueError> {
    let v = s.trim().to_ascii_lowercase();
    let name = match v.as_str() {
        "1.1" | "1" => "http1",
        "2" | "2.0" => "http2",
        "3" | "3.0" => "http3",
        "http1" | "http1.1" | "h2c" | "http2" | "h2" | "http3" | "h3" | "auto" => v.as_str(),
        _ => return Err(ValueError::HttpVersion(s.to_owned())),
    };
    Ok(name.to_owned())
}

fn method(s: &str) -> Result<http::Method, ValueError> {
    http::Method::from_bytes(s.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| ValueError::Method(s.to_owned()))
}

/// What to run, and the load flags; each flag overrides the file.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Load (overrides the scenario file)")]
pub struct LoadArgs {
    /// A scenario file (TOML; see docs/scenario.md), or an http(s) URL for
    /// a one-line run of one request (`volley run http://127.0.0.1:8080/ -u 50
    /// -t 30s`, as oha and hey take it).
    #[arg(value_name = "SCENARIO|URL", help_heading = "Scenario")]
    pub target: Option<String>,
    /// Scenario file (the same as giving it first).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        help_heading = "Scenario",
        conflicts_with = "target"
    )]
    pub file: Option<PathBuf>,
    /// One-line run: the method (default GET, or POST with --body).
    #[arg(short = 'm', long, value_name = "METHOD", value_parser = method, help_heading = "One-line run (a URL instead of a file)")]
    pub method: Option<http::Method>,
    /// One-line run: the request body.
    #[arg(
        short = 'd',
        long,
        value_name = "BODY",
        help_heading = "One-line run (a URL instead of a file)"
    )]
    pub body: Option<String>,
    /// One-line run: the HTTP version, as `[http] version` (http1, h2c,
    /// http2, http3, auto; oha's 1.1, 2 and 3 too).
    #[arg(long, value_name = "VERSION", value_parser = http_version, help_heading = "One-line run (a URL instead of a file)")]
    pub http_version: Option<String>,
    /// One-line run: skip certificate verification (loopback targets
    /// only), as curl's -k and oha's --insecure.
    #[arg(
        short = 'k',
        long,
        help_heading = "One-line run (a URL instead of a file)"
    )]
    pub insecure: bool,
    /// A header on every HTTP request, "Name: value" (repeatable; replaces
    /// the file's header of that name), as in curl, oha and hey.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = header, env = "VOLLEY_HEADER", value_delimiter = '\n')]
    pub headers: Vec<(String, String)>,
    /// Closed model: number of virtual users (k6: --vus).
    #[arg(short = 'u', long, visible_alias = "vus", value_name = "N", conflicts_with = "rate", value_parser = users, env = "VOLLEY_USERS")]
    pub users: Option<u64>,
    /// Closed model: users started per second.
    #[arg(short = 'r', long, value_name = "R", value_parser = spawn_rate, env = "VOLLEY_SPAWN_RATE")]
    pub spawn_rate: Option<f64>,
    /// Open model: requests per second, whatever the answers' speed.
    #[arg(long, value_name = "R", value_parser = rate, env = "VOLLEY_RATE")]
    pub rate: Option<f64>,
    /// Open model: connections opened before the first arrival (default
    /// 64); an arrival that finds every one busy waits, and its wait counts.
    #[arg(long, value_name = "N", value_parser = connections, env = "VOLLEY_CONNECTIONS")]
    pub connections: Option<u64>,
    /// Pause between a user's requests (closed model), e.g. 1s.
    #[arg(long, value_name = "DURATION", value_parser = think_time, env = "VOLLEY_THINK_TIME")]
    pub think_time: Option<Duration>,
    /// Stop after this long: 30s, 5m, or a bare number of seconds (Locust:
    /// --run-time; oha and hey: -z).
    #[arg(short = 't', long, visible_alias = "run-time", short_alias = 'z', value_name = "DURATION", value_parser = duration, env = "VOLLEY_DURATION")]
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(short = 'n', long, value_name = "N", value_parser = requests, env = "VOLLEY_REQUESTS")]
    pub requests: Option<u64>,
    /// Per-request timeout (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = timeout, env = "VOLLEY_TIMEOUT")]
    pub timeout: Option<Duration>,
    /// Base URL for every HTTP request, replacing the file's (Locust's
    /// --host; -H is a header, as in curl).
    #[arg(long, value_name = "URL", env = "VOLLEY_HOST")]
    pub host: Option<String>,
}

/// Requests a one-line run sends when neither -t nor -n says how many (as
/// oha's and hey's -n 200).
pub const ONE_LINE_REQUESTS: u64 = 200;
/// Users of a one-line run without -u (as oha's and hey's -c 50).
pub const ONE_LINE_USERS: u64 = 50;

/// Why the flags do not make a run.
#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error(
        "-m, -d, --http-version and -k are for a one-line run, whose first argument is an http(s) URL, not {0:?}"
    )]
    OneLineFlagsWithoutUrl(String),
    #[error(
        "give a scenario file (volley run scenario.toml) or a URL (volley run http://127.0.0.1:8080/ -u 10 -t 30s)"
    )]
    NothingToRun,
    #[error("{url:?}: {error}")]
    BadUrl { url: String, error: url::ParseError },
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("{0}")]
    Scenario(toml::ser::Error),
    #[error("--spawn-rate and --think-time belong to the closed model (--users)")]
    ClosedModelFlags,
    #[error("{0}")]
    Limit(crate::scenario::limits::LimitError),
}

/// What a run runs.
pub enum Target {
    File(PathBuf),
    /// A one-line run: the scenario text made from the URL and the flags.
    Url(String),
}

impl LoadArgs {
    /// The scenario file, or the URL of a one-line run.
    pub fn what(&self) -> Result<Target, FlagError> {
        match (&self.target, &self.file) {
            (_, Some(f)) => Ok(Target::File(f.clone())),
            (Some(t), None) if t.starts_with("http://") || t.starts_with("https://") => {
                Ok(Target::Url(t.clone()))
            }
            (Some(t), None) => {
                if self.method.is_some()
                    || self.body.is_some()
                    || self.http_version.is_some()
                    || self.insecure
                {
                    return Err(FlagError::OneLineFlagsWithoutUrl(t.clone()));
                }
                Ok(Target::File(PathBuf::from(t)))
            }
            (None, None) => Err(FlagError::NothingToRun),
        }
    }

    /// The scenario of a one-line run: one request to `url`, 50 users and
    /// 200 requests unless the flags say otherwise. Written as a scenario
    /// file would be, so that workers compile the same text.
    pub fn one_line_scenario(&self, url: &str) -> Result<String, FlagError> {
        let parsed = url::Url::parse(url).map_err(|error| FlagError::BadUrl {
            url: url.to_owned(),
            error,
        })?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(FlagError::NoHost(url.to_owned()));
        }
        let method = self.method.clone().unwrap_or(if self.body.is_some() {
            http::Method::POST
        } else {
            http::Method::GET
        });
        let path = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let mut load = toml::Table::new();
        if self.users.is_none() && self.rate.is_none() {
            load.insert("users".into(), (ONE_LINE_USERS as i64).into());
        }
        if self.duration.is_none() && self.requests.is_none() {
            load.insert("requests".into(), (ONE_LINE_REQUESTS as i64).into());
        }
        let mut request = toml::Table::new();
        request.insert("name".into(), format!("{method} {path}").into());
        request.insert("method".into(), method.to_string().into());
        // The URL as given: `url` keeps its path and query, placeholders
        // and all.
        request.insert("url".into(), url.into());
        if let Some(b) = &self.body {
            request.insert("body".into(), b.clone().into());
        }
        if let Some(v) = &self.http_version {
            request.insert("version".into(), v.clone().into());
        }
        let mut scenario = toml::Table::new();
        scenario.insert("name".into(), url.into());
        let mut doc = toml::Table::new();
        doc.insert("scenario".into(), scenario.into());
        doc.insert("load".into(), load.into());
        if self.insecure {
            let mut http = toml::Table::new();
            http.insert("insecure".into(), true.into());
            doc.insert("http".into(), http.into());
        }
        doc.insert(
            "request".into(),
            toml::Value::Array(vec![toml::Value::Table(request)]),
        );
        toml::to_string(&doc).map_err(FlagError::Scenario)
    }

    /// The scenario's load with these flags applied, checked whole against
    /// the bounds of `scenario::limits`.
    pub fn apply(&self, mut load: LoadSpec) -> Result<LoadSpec, FlagError> {
        if let Some(u) = self.users {
            let (spawn_rate, think) = match load.model {
                LoadModel::Closed {
                    spawn_rate, think, ..
                } => (spawn_rate, think),
                LoadModel::Open { .. } => (f64::INFINITY, Think::None),
            };
            load.model = LoadModel::Closed {
                users: u,
                spawn_rate,
                think,
                stages: Vec::new(),
            };
        }
        if let Some(r) = self.rate {
            let (max_in_flight, connections) = match load.model {
                LoadModel::Open {
                    max_in_flight,
                    connections,
                    ..
                } => (max_in_flight, connections),
                LoadModel::Closed { .. } => {
                    (limits::DEFAULT_MAX_IN_FLIGHT, limits::DEFAULT_CONNECTIONS)
                }
            };
            load.model = LoadModel::Open {
                rate: r,
                max_in_flight,
                connections,
                stages: Vec::new(),
            };
        }
        match &mut load.model {
            LoadModel::Closed {
                spawn_rate, think, ..
            } => {
                if let Some(s) = self.spawn_rate {
                    *spawn_rate = s;
                }
                if let Some(t) = self.think_time {
                    *think = if t.is_zero() {
                        Think::None
                    } else {
                        Think::Fixed(t)
                    };
                }
            }
            LoadModel::Open { connections, .. } => {
                if let Some(c) = self.connections {
                    *connections = c;
                }
                if self.spawn_rate.is_some() || self.think_time.is_some() {
                    return Err(FlagError::ClosedModelFlags);
                }
            }
        }
        if let Some(d) = self.duration {
            load.duration = Some(d);
        }
        if let Some(n) = self.requests {
            load.requests = Some(n);
        }
        if let Some(t) = self.timeout {
            load.timeout = t;
        }
        // The flags were parsed within bounds and the file compiled within
        // them; this holds the whole (and any LoadArgs built in code).
        load.check().map_err(FlagError::Limit)?;
        // Bounded by default: every run ends.
        if load.duration.is_none() && load.requests.is_none() {
            let stages = match &load.model {
                LoadModel::Closed { stages, .. } | LoadModel::Open { stages, .. } => stages,
            };
            load.duration = Some(if stages.is_empty() {
                crate::scenario::compile::DEFAULT_DURATION
            } else {
                crate::engine::pacing::stages_length(stages)
            });
        }
        Ok(load)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Flags {
        #[command(flatten)]
        load: LoadArgs,
    }

    fn refusal(args: &[&str]) -> String {
        match Flags::try_parse_from(std::iter::once("volley").chain(args.iter().copied())) {
            Ok(f) => panic!("{args:?} parsed: {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// clap prints a value parser's error after its own line, whatever its
    /// type: the messages are those the flags always gave.
    #[test]
    fn refused_values_are_worded_as_before() {
        for (args, want) in [
            (
                &["--users=-5"][..],
                "invalid value '-5' for '--users <N>': \"-5\" is not a whole number >= 0",
            ),
            (
                &["-u", "2000000"],
                "invalid value '2000000' for '--users <N>': must be at most 1000000 users, not 2000000",
            ),
            (
                &["--rate", "fast"],
                "invalid value 'fast' for '--rate <R>': \"fast\" is not a number",
            ),
            (
                &["--connections", "0"],
                "invalid value '0' for '--connections <N>': must be from 1 to 100000, not 0",
            ),
            (
                &["--timeout", "2h"],
                "invalid value '2h' for '--timeout <DURATION>': must be from 1ms to 1h, not 2h",
            ),
            (
                &["-t", "soon"],
                "invalid value 'soon' for '--duration <DURATION>': \"soon\" is not a duration",
            ),
            (
                &["-H", "Accept"],
                "invalid value 'Accept' for '--header <NAME: VALUE>': \"Accept\": write a header as \"Name: value\"",
            ),
            (
                &["-H", "http://example.com"],
                "\"http://example.com\" is a URL: -H is a header (\"Name: value\", as in curl); the host is --host",
            ),
            (&["-H", "a b: c"], "\"a b\" is not a valid header name"),
            (
                &["-H", "a: \u{7f}"],
                "\"\\u{7f}\" is not a valid header value",
            ),
            (
                &["-m", "GE T"],
                "invalid value 'GE T' for '--method <METHOD>': \"GE T\" is not an HTTP method",
            ),
        ] {
            let e = refusal(args);
            assert!(e.contains(want), "{args:?}: want {want:?} in:\n{e}");
        }
    }
}
