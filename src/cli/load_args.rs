//! The load flags shared by every command that generates load, and how they
//! override the scenario file.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::scenario::compile::parse_duration;
use crate::scenario::{LoadModel, LoadSpec, Think};

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// Load flags; each overrides the file.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Load (overrides the scenario file)")]
pub struct LoadArgs {
    /// Scenario file (TOML; see docs/scenario.md).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Closed model: number of virtual users.
    #[arg(short = 'u', long, value_name = "N", conflicts_with = "rate")]
    pub users: Option<u64>,
    /// Closed model: users started per second.
    #[arg(short = 'r', long, value_name = "R")]
    pub spawn_rate: Option<f64>,
    /// Open model: requests per second, whatever the answers' speed.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Pause between a user's requests (closed model), e.g. 1s.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub think_time: Option<Duration>,
    /// Stop after this long, e.g. 30s, 5m.
    #[arg(short = 't', long, value_name = "DURATION", value_parser = duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests.
    #[arg(short = 'n', long, value_name = "N")]
    pub requests: Option<u64>,
    /// Per-request timeout (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub timeout: Option<Duration>,
    /// Base URL for every HTTP request, replacing the file's (as in Locust).
    #[arg(short = 'H', long, value_name = "URL")]
    pub host: Option<String>,
}

impl LoadArgs {
    /// The scenario's load with these flags applied.
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
            if !(r.is_finite() && r >= 0.0) {
                return Err("--rate must be a number >= 0".into());
            }
            let max_in_flight = match load.model {
                LoadModel::Open { max_in_flight, .. } => max_in_flight,
                LoadModel::Closed { .. } => 10_000,
            };
            load.model = LoadModel::Open {
                rate: r,
                max_in_flight,
                stages: Vec::new(),
            };
        }
        match &mut load.model {
            LoadModel::Closed {
                spawn_rate, think, ..
            } => {
                if let Some(s) = self.spawn_rate {
                    if !(s.is_finite() && s > 0.0) {
                        return Err("--spawn-rate must be above 0".into());
                    }
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
            LoadModel::Open { .. } => {
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
            if n == 0 {
                return Err("--requests must be at least 1".into());
            }
            load.requests = Some(n);
        }
        if let Some(t) = self.timeout {
            if t.is_zero() {
                return Err("--timeout must be above zero".into());
            }
            load.timeout = t;
        }
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
