//! A finished run as every report reads it: what was run, what was measured,
//! and the verdicts. A run builds one at its end; `volley report` builds one
//! from saved results ([`super::merge`]); the summary, JSON, CSV, JUnit and
//! HTML writers all draw from it, so a re-rendered report is the same report.

use super::json::{LagJson, RunConfig, WorkerJson};
use super::threshold::{Threshold, Verdict};
use crate::stats::RunStats;

pub struct RunReport {
    pub config: RunConfig,
    pub stats: RunStats,
    pub started_unix_ms: u64,
    /// Per name, in the order of `stats.names`: HTTP, gRPC or flow.
    pub kinds: Vec<String>,
    /// Per name: the HTTP method, gRPC or flow.
    pub methods: Vec<String>,
    pub thresholds: Vec<Threshold>,
    pub verdicts: Vec<Verdict>,
    /// Lost or overloaded workers, errors: what the numbers alone hide.
    pub notes: Vec<String>,
    /// What broke the run (an engine failed, load was lost with no worker
    /// to take it, volley panicked): such a run fails whatever its
    /// thresholds say.
    pub errors: Vec<String>,
    pub report_lag_ms: Option<LagJson>,
    pub workers: Vec<WorkerJson>,
    /// The result files this report merges (empty for a run's own).
    pub merged_from: Vec<String>,
}

impl RunReport {
    /// Checks every threshold against the statistics, replacing the
    /// verdicts. A run that completed no requests fails, as an implicit
    /// `requests>0`, unless the scenario allows it (`allow_empty`).
    pub fn evaluate(&mut self) {
        self.verdicts = self
            .thresholds
            .iter()
            .map(|t| t.evaluate(&self.stats, self.config.allow_empty))
            .collect();
        if self.stats.total().requests == 0 && !self.config.allow_empty {
            self.verdicts.push(Verdict::no_requests());
        }
    }

    /// Every threshold passed and nothing broke.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.verdicts.iter().all(|v| v.passed)
    }

    /// The Type column of name `i` (HTTP, gRPC, flow).
    pub fn kind(&self, i: usize) -> &str {
        self.kinds.get(i).map_or("", String::as_str)
    }
}
