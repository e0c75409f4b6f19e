//! A finished run as every report reads it: what was run, what was measured,
//! and the verdicts. A run builds one at its end; `volley report` builds one
//! from saved results ([`super::merge`]); the summary, JSON, CSV, JUnit and
//! HTML writers all draw from it, so a re-rendered report is the same report.

use serde::{Deserialize, Serialize};

use crate::cluster::coordinator::WorkerSummary as WorkerJson;
use crate::stats::RunStats;
use crate::stats::threshold::{Aborted, Threshold, Verdict};

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
    /// Why the generator, not the target, limited the measurement (late or
    /// missed starts, a saturated CPU, late reports): the run is INVALID,
    /// whatever its thresholds say.
    pub invalid: Vec<String>,
    /// The generator's mean CPU over the run, percent of the cores it may
    /// use (the busiest engine's).
    pub generator_cpu_percent: Option<f64>,
    pub report_lag_ms: Option<LagJson>,
    pub workers: Vec<WorkerJson>,
    /// The result files this report merges (empty for a run's own).
    pub merged_from: Vec<String>,
    /// The threshold that stopped the run while it ran: it fails, whatever
    /// the statistics at the end say.
    pub aborted: Option<Aborted>,
}

/// Reports merged later than this (p99, ms after their interval) mean the
/// master could not keep up: the live view and the thresholds lagged.
pub const MAX_REPORT_LAG_MS: u64 = 2000;

/// A run's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every threshold passed.
    Passed,
    /// A threshold failed, or no requests were completed.
    Failed,
    /// The generator limited the measurement: the numbers are not the
    /// target's alone.
    Invalid,
    /// The run broke (an engine failed, load was lost, volley panicked).
    Broken,
}

impl Outcome {
    /// As in the JSON result: pass, fail, invalid, broken.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "pass",
            Outcome::Failed => "fail",
            Outcome::Invalid => "invalid",
            Outcome::Broken => "broken",
        }
    }

    /// As shown to people: PASSED, FAILED, INVALID, BROKEN.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "PASSED",
            Outcome::Failed => "FAILED",
            Outcome::Invalid => "INVALID",
            Outcome::Broken => "BROKEN",
        }
    }
}

impl RunReport {
    /// Checks every threshold against the statistics, replacing the
    /// verdicts. A run that completed no requests fails, as an implicit
    /// `requests>0`, unless the scenario allows it (`allow_empty`); one in
    /// which every request failed fails too, as an implicit
    /// `successes>0`, unless the scenario allows it (`allow_all_failed`).
    pub fn evaluate(&mut self) {
        // A report read back or merged from result files keeps their own
        // judgements: the per-engine readings behind them are not in them.
        if !self.stats.health.is_empty() {
            self.invalid = self.stats.invalid_reasons();
            self.generator_cpu_percent =
                self.stats.busiest_cpu().map(|c| (c * 10.0).round() / 10.0);
            if let Some(lag) = &self.report_lag_ms
                && lag.p99 > MAX_REPORT_LAG_MS
            {
                self.invalid.push(format!(
                    "the master merged workers' reports late (p99 {} ms after their interval, above {MAX_REPORT_LAG_MS} ms)",
                    lag.p99
                ));
            }
        }
        self.verdicts = self
            .thresholds
            .iter()
            .map(|t| t.evaluate(&self.stats, self.config.allow_empty))
            .collect();
        if let Some(a) = &self.aborted {
            match self
                .verdicts
                .iter_mut()
                .find(|v| v.threshold == a.threshold)
            {
                Some(v) => {
                    v.passed = false;
                    v.observed = format!(
                        "{} at the end; {} at {:.1} s stopped the run",
                        v.observed, a.observed, a.at_s
                    );
                }
                None => self.verdicts.push(Verdict {
                    threshold: a.threshold.clone(),
                    passed: false,
                    observed: format!("{} at {:.1} s stopped the run", a.observed, a.at_s),
                    implicit: false,
                }),
            }
        }
        let total = self.stats.total();
        if total.requests == 0 && !self.config.allow_empty {
            self.verdicts.push(Verdict::no_requests());
        } else if total.requests > 0
            && total.failures >= total.requests
            && !self.config.allow_all_failed
        {
            // A CI step that met a dead service must not pass because no
            // threshold was written (a one-line run has none).
            self.verdicts.push(Verdict::all_failed(total.requests));
        }
    }

    /// Every threshold passed, nothing broke, and the generator did not
    /// limit the measurement.
    pub fn passed(&self) -> bool {
        self.outcome() == Outcome::Passed
    }

    /// The run's verdict: a broken run over an invalid one over failed
    /// thresholds.
    pub fn outcome(&self) -> Outcome {
        if !self.errors.is_empty() {
            Outcome::Broken
        } else if !self.invalid.is_empty() {
            Outcome::Invalid
        } else if self.verdicts.iter().all(|v| v.passed) {
            Outcome::Passed
        } else {
            Outcome::Failed
        }
    }

    /// The Type column of name `i` (HTTP, gRPC, flow).
    pub fn kind(&self, i: usize) -> &str {
        self.kinds.get(i).map_or("", String::as_str)
    }
}

/// The run's settings, as recorded in the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub scenario: String,
    pub targets: Vec<String>,
    /// "closed" or "open".
    pub model: String,
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub rate: Option<f64>,
    /// Open model: the connection pool of the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u64>,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub timeout_s: f64,
    pub workers: usize,
    /// A run that completes no requests may pass ([scenario] allow_empty).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
    /// A run in which every request failed may pass ([scenario]
    /// allow_all_failed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_all_failed: bool,
}

/// How late the workers' reports reached the master, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LagJson {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl LagJson {
    pub fn of(h: &crate::stats::Latency) -> Option<LagJson> {
        (!h.is_empty()).then(|| LagJson {
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        })
    }
}
