//! The load flags shared by every command that generates load, and how they
//! override the scenario file.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::scenario::compile::parse_duration;
use crate::scenario::limits;
use crate::scenario::{LoadModel, LoadSpec, Think};

// Every flag is parsed within the bounds of the file's key (scenario::limits),
// so that clap refuses it (exit 2) with the bound in its message.

fn duration(s: &str) -> Result<Duration, String> {
    limits::duration(parse_duration(s)?)
}

fn timeout(s: &str) -> Result<Duration, String> {
    limits::timeout(parse_duration(s)?)
}

fn think_time(s: &str) -> Result<Duration, String> {
    limits::think(parse_duration(s)?)
}

fn whole(s: &str) -> Result<u64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number >= 0"))
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))
}

fn users(s: &str) -> Result<u64, String> {
    limits::users(whole(s)?)
}

fn requests(s: &str) -> Result<u64, String> {
    limits::requests(whole(s)?)
}

fn rate(s: &str) -> Result<f64, String> {
    limits::rate(number(s)?)
}

fn connections(s: &str) -> Result<u64, String> {
    limits::connections(whole(s)?)
}

fn spawn_rate(s: &str) -> Result<f64, String> {
    limits::spawn_rate(number(s)?)
}

/// Load flags; each overrides the file.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Load (overrides the scenario file)")]
pub struct LoadArgs {
    /// Scenario file (TOML; see docs/scenario.md).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Closed model: number of virtual users.
    #[arg(short = 'u', long, value_name = "N", conflicts_with = "rate", value_parser = users)]
    pub users: Option<u64>,
    /// Closed model: users started per second.
    #[arg(short = 'r', long, value_name = "R", value_parser = spawn_rate)]
    pub spawn_rate: Option<f64>,
    /// Open model: requests per second, whatever the answers' speed.
    #[arg(long, value_name = "R", value_parser = rate)]
    pub rate: Option<f64>,
    /// Open model: connections opened before the first arrival (default
    /// 64); an arrival that finds every one busy waits, and its wait counts.
    #[arg(long, value_name = "N", value_parser = connections)]
    pub connections: Option<u64>,
    /// Pause between a user's requests (closed model), e.g. 1s.
    #[arg(long, value_name = "DURATION", value_parser = think_time)]
    pub think_time: Option<Duration>,
    /// Stop after this long, e.g. 30s, 5m.
    #[arg(short = 't', long, value_name = "DURATION", value_parser = duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(short = 'n', long, value_name = "N", value_parser = requests)]
    pub requests: Option<u64>,
    /// Per-request timeout (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = timeout)]
    pub timeout: Option<Duration>,
    /// Base URL for every HTTP request, replacing the file's (as in Locust).
    #[arg(short = 'H', long, value_name = "URL")]
    pub host: Option<String>,
}

impl LoadArgs {
    /// The scenario's load with these flags applied, checked whole against
    /// the bounds of `scenario::limits`.
    pub fn apply(&self, mut load: LoadSpec) -> Result<LoadSpec, String> {
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
                    return Err(
                        "--spawn-rate and --think-time belong to the closed model (--users)".into(),
                    );
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
        load.check().map_err(|e| e.to_string())?;
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
