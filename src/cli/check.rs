//! `volley check`: compile a scenario and say what it holds, sending nothing.

use clap::Args;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use super::Exit;
use super::reflected::Asked;
use crate::scenario::compile::Options;
use crate::scenario::{HttpVersion, LoadModel, RequestKind, RequestSpec, Schema, Step, Think};
use crate::stats::threshold::Threshold;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario file to validate.
    #[arg(value_name = "FILE", required_unless_present = "file")]
    pub scenario: Option<PathBuf>,
    /// Do not ask a gRPC server for its schema (server reflection) to check
    /// methods and messages: send nothing at all.
    #[arg(long)]
    pub offline: bool,
    /// Scenario file (the same as giving it first).
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        conflicts_with = "scenario"
    )]
    pub file: Option<PathBuf>,
}

pub fn check(args: CheckArgs) -> Result<Exit, Exit> {
    let args_offline = args.offline;
    let Some(file) = args.file.or(args.scenario) else {
        return Err(Exit::cannot_start(anyhow::anyhow!(
            "give the scenario file to check"
        )));
    };
    let args = Checked { file };
    let options = Options::default();
    let scenario = crate::scenario::load(&args.file, &options).map_err(Exit::cannot_start)?;
    let (scenario, asked) = if args_offline {
        (scenario, Asked::NotNeeded)
    } else {
        let timeout = scenario.load.timeout;
        super::reflected::recompile(scenario, &options, timeout, |o| {
            crate::scenario::load(&args.file, o)
        })
        .map_err(Exit::cannot_start)?
    };
    for t in &scenario.thresholds {
        Threshold::parse(&t.rule).map_err(|e| {
            Exit::cannot_start(anyhow::anyhow!(
                "{}: threshold {:?}: {e}",
                args.file.display(),
                t.rule
            ))
        })?;
    }
    crate::engine::exec::check_http(&scenario)
        .map_err(|e| Exit::cannot_start(anyhow::anyhow!("{}: {e}", args.file.display())))?;
    // Written at once (a scenario may hold many thousands of requests), and
    // a reader that stops early (`| head`) is not an error.
    let mut out = String::new();
    macro_rules! say {
        ($($t:tt)*) => {{
            let _ = writeln!(out, $($t)*);
        }};
    }
    say!("{}: ok, scenario {:?}", args.file.display(), scenario.name);
    if let Some(r) = &scenario.replay {
        for line in replay_lines(r) {
            say!("{line}");
        }
    }
    match &scenario.load.model {
        LoadModel::Closed {
            users, spawn_rate, ..
        } if spawn_rate.is_infinite() => {
            say!("  closed model: {users} users, all started at once")
        }
        LoadModel::Closed {
            users, spawn_rate, ..
        } => say!("  closed model: {users} users, {spawn_rate} spawned per second"),
        LoadModel::Open { connections, .. } if scenario.replay.is_some() => {
            say!("  {connections} connections opened before the first request")
        }
        LoadModel::Open {
            rate, connections, ..
        } => say!("  open model: {rate} requests per second, {connections} connections"),
    }
    let load = &scenario.load;
    let stages = match &load.model {
        LoadModel::Closed { stages, think, .. } => {
            match think {
                Think::None => {}
                Think::Fixed(d) => say!("  think time {}", show(*d)),
                Think::Uniform(lo, hi) => say!("  think time {} to {}", show(*lo), show(*hi)),
            }
            stages
        }
        LoadModel::Open { stages, .. } => stages,
    };
    for st in stages {
        say!("  stage: to {} over {}", st.target, show(st.duration));
    }
    match (load.duration, load.requests) {
        (Some(d), Some(n)) => say!("  stops after {} or {n} requests", show(d)),
        (Some(d), None) => say!("  stops after {}", show(d)),
        (None, Some(n)) => say!("  stops after {n} requests"),
        (None, None) if stages.is_empty() => say!(
            "  stops after {} (the default)",
            show(crate::scenario::compile::DEFAULT_DURATION)
        ),
        (None, None) => say!("  stops after the stages"),
    }
    say!("  timeout {} per request", show(load.timeout));
    match &asked {
        Asked::NotNeeded => {}
        Asked::Checked { endpoint } => say!(
            "  gRPC methods and messages checked against the schema {endpoint} gave by server reflection"
        ),
        Asked::Unreached { endpoint, why } => say!(
            "  gRPC methods and messages NOT checked: server reflection at {endpoint} could not be asked ({why}); they are checked when the run starts"
        ),
    }
    for r in scenario
        .requests
        .iter()
        .filter(|r| r.weight > 0 && scenario.replay.is_none())
    {
        say!(
            "  request {:?} (weight {}): {}",
            r.name,
            r.weight,
            describe(r, &asked)
        );
    }
    for f in &scenario.flows {
        let how = if f.on_start {
            "on start, once per user".to_string()
        } else {
            format!("weight {}", f.weight)
        };
        say!("  flow {:?} ({how}):", f.name);
        for step in &f.steps {
            match *step {
                Step::Request(i) => {
                    let r = &scenario.requests[i];
                    let caps: Vec<&str> = r
                        .captures
                        .iter()
                        .map(|c| scenario.vars[c.var].as_str())
                        .collect();
                    let caps = if caps.is_empty() {
                        String::new()
                    } else {
                        format!(", captures {}", caps.join(", "))
                    };
                    say!("    step {:?}: {}{caps}", r.name, describe(r, &asked));
                }
                Step::Think(Think::Fixed(d)) => say!("    think {d:?}"),
                Step::Think(Think::Uniform(lo, hi)) => say!("    think {lo:?} to {hi:?}"),
                Step::Think(Think::None) => {}
            }
        }
    }
    for d in &scenario.data {
        say!(
            "  data {:?}: {} records{}",
            d.name,
            d.rows.len(),
            if d.pick == crate::scenario::data::Pick::PerUser {
                ", one per user"
            } else {
                ""
            }
        );
    }
    for t in &scenario.thresholds {
        say!("  threshold {t}");
    }
    match std::io::stdout().lock().write_all(out.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Exit::cannot_start(e)),
        _ => Ok(Exit::Passed),
    }
}

/// The file being checked.
struct Checked {
    file: PathBuf,
}

fn show(d: std::time::Duration) -> String {
    crate::scenario::limits::show(d)
}

/// How a stream streams, in words: "a stream of 5 messages, ping-pong".
fn stream_shape(st: &crate::scenario::StreamSpec) -> String {
    let mut how = match (st.messages, st.duration) {
        (Some(n), Some(d)) => format!("{n} messages or {}", show(d)),
        (Some(n), None) => format!("{n} message{}", if n == 1 { "" } else { "s" }),
        (None, Some(d)) => format!("messages for {}", show(d)),
        (None, None) => "messages".into(),
    };
    if !st.interval.is_zero() {
        how.push_str(&format!(" {} apart", show(st.interval)));
    }
    if st.ping_pong {
        how.push_str(", ping-pong");
    }
    if let Some(n) = st.answers {
        how.push_str(&format!(", ended after {n} answers"));
    }
    format!("a stream of {how}")
}

fn describe(r: &RequestSpec, asked: &Asked) -> String {
    match &r.kind {
        // The path as written, each placeholder as {{…}}.
        RequestKind::Http(h) => {
            let sse = match &h.sse {
                None => String::new(),
                Some(s) => {
                    let mut ends = Vec::new();
                    if let Some(n) = s.events {
                        ends.push(format!("{n} events"));
                    }
                    if let Some(u) = &s.until {
                        ends.push(format!("the event {u:?}"));
                    }
                    if let Some(d) = s.duration {
                        ends.push(show(d));
                    }
                    if ends.is_empty() {
                        ends.push("the server's end".into());
                    }
                    format!(", read as Server-Sent Events until {}", ends.join(" or "))
                }
            };
            let over = match h.version {
                HttpVersion::Http1 => "",
                HttpVersion::H2c => " over h2c",
                HttpVersion::Http2 => " over HTTP/2",
                HttpVersion::Http3 => " over HTTP/3 (QUIC)",
                HttpVersion::Alpn => " over HTTP/2 or HTTP/1.1 (ALPN)",
                HttpVersion::Auto => {
                    " over HTTP/2 or HTTP/1.1 (ALPN), then HTTP/3 if Alt-Svc offers it"
                }
            };
            format!("HTTP {} {}{}{over}{sse}", h.method, h.base, h.path.shape())
        }
        RequestKind::WebSocket(w) => {
            let base = w.http.base.replacen("http", "ws", 1);
            let how = stream_shape(&w.stream);
            format!("WebSocket {base}{}, {how}", w.http.path.shape())
        }
        RequestKind::Grpc(g) => {
            let stream = match &g.stream {
                None => String::new(),
                Some(st) => format!(", {}", stream_shape(st)),
            };
            format!(
                "gRPC {} at {} (schema: {}){stream}",
                g.method,
                g.endpoint,
                match (&g.schema, asked) {
                    (Schema::Protos(_), Asked::Checked { .. }) => "server reflection",
                    (Schema::Protos(_), _) => ".proto files",
                    (Schema::Reflection, _) => "server reflection, at run time",
                }
            )
        }
    }
}

/// What `volley check` says of a replay: its sources as read, its names
/// with their counts and the statuses the sources' server gave.
fn replay_lines(r: &crate::scenario::replay::Replay) -> Vec<String> {
    let (spec, index) = (&r.spec, &r.index);
    let mut lines = Vec::new();
    let sources: Vec<String> = spec
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let pace = match spec.rate {
        Some(rate) => format!("{rate} requests/s in order"),
        None => format!("its timeline at speed {}", spec.speed),
    };
    lines.push(format!(
        "  replay of {}: {} requests spanning {:.3} s, sent on {pace}, {} pass{}{}",
        sources.join(", "),
        index.requests,
        index.span.as_secs_f64(),
        spec.loops,
        if spec.loops == 1 { "" } else { "es" },
        index
            .sessions
            .map(|s| format!(", {s} sessions kept in order"))
            .unwrap_or_default()
    ));
    if index.bad > 0 {
        lines.push(format!(
            "  {} lines are not requests and will not be sent:",
            index.bad
        ));
        for b in &index.first_bad {
            lines.push(format!("    {b}"));
        }
    }
    for (why, n) in &index.skipped {
        lines.push(format!(
            "  {n} requests will not be sent: {}",
            why.describe()
        ));
    }
    for (i, name) in index.names.iter().enumerate() {
        let statuses: Vec<String> = index
            .statuses
            .get(i)
            .map(|m| m.iter().map(|(s, n)| format!("{s}×{n}")).collect())
            .unwrap_or_default();
        let sent: u64 = index.statuses.get(i).map(|m| m.values().sum()).unwrap_or(0);
        lines.push(format!(
            "  name {name:?}{}",
            if statuses.is_empty() {
                String::new()
            } else {
                format!(
                    ": the source's server answered {} ({sent})",
                    statuses.join(" ")
                )
            }
        ));
    }
    lines
}
