//! `volley replay SOURCE… --target URL`: recorded traffic sent again at its
//! own times. The flags become a scenario's `[replay]` table (written as a
//! file would be, so that workers compile the same text), and the run is
//! `volley run`'s: its outputs, thresholds and exit codes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::Exit;
use super::load_args::LoadArgs;
use super::run::{OutputArgs, execute, prepare_compiled};
use crate::scenario::compile::{DiskSources, Options, compile};

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Access logs (nginx/Apache combined or common, or --log-format), HAR
    /// files, or volley's JSON lines; read in turn (`.gz` too).
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<PathBuf>,
    /// Where the requests go: scheme, host and port (the sources' own host
    /// is replaced).
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// The timeline divided by this: 2 sends twice as fast, 0.5 half.
    #[arg(long, value_name = "S", conflicts_with = "rate")]
    pub speed: Option<f64>,
    /// Instead of the timeline, this many requests per second, in order.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Passes over the sources.
    #[arg(long = "loop", value_name = "N")]
    pub loops: Option<u32>,
    /// combined, json, har (default: by extension, else combined).
    #[arg(long, value_name = "FORMAT", conflicts_with = "log_format")]
    pub format: Option<String>,
    /// The nginx log_format string the logs were written with, e.g.
    /// '$msec $request_time "$request" $status "$http_user_agent"'.
    #[arg(long, value_name = "LOG_FORMAT")]
    pub log_format: Option<String>,
    /// What keeps requests together, in order on one worker: client,
    /// cookie:NAME, header:NAME, session (JSON lines), none.
    #[arg(long, value_name = "KEY")]
    pub session: Option<String>,
    /// A naming rule, REGEX=NAME ($1 for a group); repeatable, first match
    /// wins; otherwise names are the method and the path with ids folded.
    #[arg(long = "name", value_name = "REGEX=NAME")]
    pub names: Vec<String>,
    /// Send only what this matches: METHOD, /REGEX or 'METHOD /REGEX';
    /// repeatable.
    #[arg(long, value_name = "FILTER")]
    pub include: Vec<String>,
    /// Do not send what this matches (forms as --include); repeatable.
    #[arg(long, value_name = "FILTER")]
    pub exclude: Vec<String>,
    /// Send this header as recorded (cookie and authorization are dropped
    /// by default); repeatable.
    #[arg(long = "keep-header", value_name = "NAME")]
    pub keep_headers: Vec<String>,
    /// The body of a log's POST, PUT and PATCH requests (logs hold none),
    /// from this file; without it they are skipped and counted.
    #[arg(long, value_name = "FILE")]
    pub body_file: Option<PathBuf>,
    /// A folder of bodies by path: a log's POST /api/orders is sent with
    /// the file DIR/api/orders if there is one (else --body-file's).
    #[arg(long, value_name = "DIR")]
    pub bodies: Option<PathBuf>,
    /// log: an answer with another status than the source's fails (the
    /// default); any: every answer passes.
    #[arg(long, value_name = "log|any")]
    pub statuses: Option<String>,
    /// Executors (connections) opened before the first request (default 64).
    #[arg(long, value_name = "N")]
    pub connections: Option<u64>,
    /// Per-request timeout (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = crate::scenario::compile::parse_duration)]
    pub timeout: Option<Duration>,
    /// Stop after this long even if requests are left.
    #[arg(short = 't', long, value_name = "DURATION", value_parser = crate::scenario::compile::parse_duration)]
    pub duration: Option<Duration>,
    /// The HTTP version to replay over, as `[http] version` (http1, h2c,
    /// http2, http3, auto; oha's 1.1, 2, 3 too).
    #[arg(long, value_name = "VERSION", value_parser = super::load_args::http_version)]
    pub http_version: Option<String>,
    /// Skip certificate verification (loopback targets only).
    #[arg(short = 'k', long)]
    pub insecure: bool,
    /// A header on every request, "Name: value" (replaces the source's).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = super::load_args::header)]
    pub headers: Vec<(String, String)>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Without the live console.
    #[arg(long)]
    pub headless: bool,
    /// Threads generating load (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true, value_parser = crate::scenario::limits::parse_threads::<usize>)]
    pub threads: usize,
    /// Workers in this process (sessions are split between them).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::scenario::limits::parse_local_workers)]
    pub local_workers: usize,
}

/// Why the flags do not make a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayFlagError {
    #[error("{path}: {error}")]
    Source { path: String, error: std::io::Error },
    #[error("{0}")]
    Scenario(#[from] toml::ser::Error),
}

impl ReplayArgs {
    /// The scenario text the flags make: `[http] base_url`, `[load]` and
    /// `[replay]`, the sources by absolute path.
    pub fn scenario_text(&self) -> Result<String, ReplayFlagError> {
        let mut sources = Vec::new();
        for s in &self.sources {
            let abs = std::fs::canonicalize(s).map_err(|error| ReplayFlagError::Source {
                path: s.display().to_string(),
                error,
            })?;
            sources.push(toml::Value::String(abs.display().to_string()));
        }
        let mut replay = toml::Table::new();
        replay.insert("sources".into(), toml::Value::Array(sources));
        let mut put = |k: &str, v: Option<toml::Value>| {
            if let Some(v) = v {
                replay.insert(k.into(), v);
            }
        };
        put("speed", self.speed.map(toml::Value::Float));
        put("rate", self.rate.map(toml::Value::Float));
        put(
            "loops",
            self.loops.map(|l| toml::Value::Integer(i64::from(l))),
        );
        put(
            "format",
            self.log_format
                .clone()
                .or_else(|| self.format.clone())
                .map(toml::Value::String),
        );
        put("session", self.session.clone().map(toml::Value::String));
        put("statuses", self.statuses.clone().map(toml::Value::String));
        let list = |v: &[String]| {
            (!v.is_empty())
                .then(|| toml::Value::Array(v.iter().cloned().map(toml::Value::String).collect()))
        };
        put("names", list(&self.names));
        put("include", list(&self.include));
        put("exclude", list(&self.exclude));
        put("keep_headers", list(&self.keep_headers));
        if let Some(b) = &self.body_file {
            let abs = std::fs::canonicalize(b).map_err(|error| ReplayFlagError::Source {
                path: b.display().to_string(),
                error,
            })?;
            put(
                "body_file",
                Some(toml::Value::String(abs.display().to_string())),
            );
        }
        if let Some(b) = &self.bodies {
            let abs = std::fs::canonicalize(b).map_err(|error| ReplayFlagError::Source {
                path: b.display().to_string(),
                error,
            })?;
            put(
                "bodies",
                Some(toml::Value::String(abs.display().to_string())),
            );
        }
        let mut http = toml::Table::new();
        http.insert("base_url".into(), self.target.clone().into());
        if let Some(v) = &self.http_version {
            http.insert("version".into(), v.clone().into());
        }
        if self.insecure {
            http.insert("insecure".into(), true.into());
        }
        let mut load = toml::Table::new();
        if let Some(c) = self.connections {
            load.insert(
                "connections".into(),
                toml::Value::Integer(i64::try_from(c).unwrap_or(i64::MAX)),
            );
            load.insert("rate".into(), toml::Value::Float(1.0));
        }
        if let Some(d) = self.duration {
            load.insert("duration".into(), format!("{}ms", d.as_millis()).into());
        }
        if let Some(t) = self.timeout {
            load.insert("timeout".into(), format!("{}ms", t.as_millis()).into());
        }
        let mut scenario = toml::Table::new();
        let first = self
            .sources
            .first()
            .map(|s| s.display().to_string())
            .unwrap_or_default();
        scenario.insert("name".into(), format!("replay of {first}").into());
        let mut doc = toml::Table::new();
        doc.insert("scenario".into(), scenario.into());
        doc.insert("http".into(), http.into());
        doc.insert("load".into(), load.into());
        doc.insert("replay".into(), replay.into());
        Ok(toml::to_string(&doc)?)
    }
}

pub fn replay(args: ReplayArgs) -> Result<Exit, Exit> {
    let text = args.scenario_text().map_err(Exit::cannot_start)?;
    let options = Options {
        headers: args.headers.clone(),
        ..Options::default()
    };
    let dir = std::env::current_dir().unwrap_or_default();
    let scenario = compile(
        std::path::Path::new("command line"),
        &text,
        &DiskSources(dir),
        &options,
    )
    .map_err(Exit::cannot_start)?;
    let load = LoadArgs {
        headers: args.headers.clone(),
        ..LoadArgs::default()
    };
    let prepared = prepare_compiled(scenario, &load, &args.output)?;
    if let Some(r) = &prepared.scenario.replay {
        let i = &r.index;
        eprintln!(
            "replaying {} requests ({} names{}) spanning {:.3} s of the sources{}",
            i.requests,
            i.names.len(),
            i.sessions
                .map(|s| format!(", {s} sessions"))
                .unwrap_or_default(),
            i.span.as_secs_f64(),
            if i.bad > 0 {
                format!("; {} lines are not requests", i.bad)
            } else {
                String::new()
            }
        );
    }
    let console = crate::console::wanted(args.headless);
    execute(
        &prepared,
        args.threads,
        args.local_workers,
        &args.output,
        console.then_some(false),
    )
}
