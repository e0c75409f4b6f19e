//! `volley check`: compile a scenario and say what it holds, sending nothing.

use clap::Args;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use super::Exit;
use crate::report::threshold::Threshold;
use crate::scenario::compile::Options;
use crate::scenario::{LoadModel, RequestKind, RequestSpec, Schema, Step, Think};

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario file to validate.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
}

pub fn check(args: CheckArgs) -> Result<i32, Exit> {
    let scenario =
        crate::scenario::load(&args.file, &Options::default()).map_err(Exit::cannot_start)?;
    for t in &scenario.thresholds {
        Threshold::parse(t)
            .map_err(|e| Exit::cannot_start(anyhow::anyhow!("{}: {e}", args.file.display())))?;
    }
    // Written at once (a scenario may hold many thousands of requests), and
    // a reader that stops early (`| head`) is not an error.
    let mut out = String::new();
    macro_rules! say {
        ($($t:tt)*) => {{
            let _ = writeln!(out, $($t)*);
        }};
    }
    say!("{}: ok, scenario {:?}", args.file.display(), scenario.name);
    match &scenario.load.model {
        LoadModel::Closed {
            users, spawn_rate, ..
        } if spawn_rate.is_infinite() => {
            say!("  closed model: {users} users, all started at once")
        }
        LoadModel::Closed {
            users, spawn_rate, ..
        } => say!("  closed model: {users} users, {spawn_rate} spawned per second"),
        LoadModel::Open { rate, .. } => say!("  open model: {rate} requests per second"),
    }
    for r in scenario.requests.iter().filter(|r| r.weight > 0) {
        say!(
            "  request {:?} (weight {}): {}",
            r.name,
            r.weight,
            describe(r)
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
                    say!("    step {:?}: {}{caps}", r.name, describe(r));
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
        _ => Ok(0),
    }
}

fn describe(r: &RequestSpec) -> String {
    match &r.kind {
        RequestKind::Http(h) => format!("HTTP {} {}", h.method, h.base),
        RequestKind::Grpc(g) => format!(
            "gRPC {} at {} (schema: {})",
            g.method,
            g.endpoint,
            match g.schema {
                Schema::Protos(_) => ".proto files",
                Schema::Reflection => "server reflection, at run time",
            }
        ),
    }
}
