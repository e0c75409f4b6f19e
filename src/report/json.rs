//! The whole result as one JSON document: configuration, totals, per-name
//! statistics with their encoded histograms (HDR V2 deflate, base64) so that a
//! later tool can merge results exactly, the series and the verdicts.

use base64::Engine as _;
use serde::Serialize;

use crate::stats::histogram::{self, quantile};
use crate::stats::series::Point;
use crate::stats::{FailureKind, NameSnapshot, RunStats};

use super::threshold::Verdict;

/// The run's settings, as recorded in the result.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    pub scenario: String,
    pub targets: Vec<String>,
    /// "closed" or "open".
    pub model: String,
    pub users: Option<u64>,
    pub spawn_rate: Option<f64>,
    pub rate: Option<f64>,
    pub duration_s: Option<f64>,
    pub requests: Option<u64>,
    pub timeout_s: f64,
    pub workers: usize,
}

#[derive(Serialize)]
pub struct FailureJson {
    pub kind: FailureKind,
    pub reason: String,
    pub count: u64,
    pub last_detail: Option<String>,
}

#[derive(Serialize)]
pub struct StatsJson {
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub failure_rate: f64,
    pub mean_us: f64,
    pub min_us: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub failures_by_reason: Vec<FailureJson>,
    /// HDR V2 deflate, base64.
    pub histogram: String,
}

#[derive(Serialize)]
pub struct ResultJson<'a> {
    pub volley: &'static str,
    pub config: &'a RunConfig,
    pub started_unix_ms: u64,
    pub duration_s: f64,
    pub totals: StatsJson,
    /// Requests and flow steps.
    pub names: Vec<StatsJson>,
    /// Flows, named `flow:NAME`: `requests` are iterations, `failures`
    /// failed iterations, latencies whole journeys.
    pub flows: Vec<StatsJson>,
    pub late_starts: u64,
    pub missed_starts: u64,
    pub series: &'a [Point],
    pub thresholds: &'a [Verdict],
    pub passed: bool,
    /// What the run must tell besides numbers: workers lost or overloaded.
    pub notes: &'a [String],
    /// How late the master merged reports (ms after their interval ended).
    pub report_lag_ms: Option<LagJson>,
}

pub fn stats_json(name: &str, n: &NameSnapshot, run: &RunStats) -> StatsJson {
    let h = &n.hist;
    let empty = h.is_empty();
    StatsJson {
        name: name.to_owned(),
        requests: n.requests,
        failures: n.failures,
        rps: run.rps(n),
        failure_rate: if n.requests > 0 {
            n.failures as f64 / n.requests as f64
        } else {
            0.0
        },
        mean_us: if empty { 0.0 } else { h.mean() },
        min_us: if empty { 0 } else { h.min() },
        p50_us: quantile(h, 0.5),
        p90_us: quantile(h, 0.9),
        p95_us: quantile(h, 0.95),
        p99_us: quantile(h, 0.99),
        p999_us: quantile(h, 0.999),
        max_us: if empty { 0 } else { h.max() },
        bytes_sent: n.bytes_sent,
        bytes_received: n.bytes_received,
        failures_by_reason: n
            .failure_counts
            .iter()
            .map(|f| FailureJson {
                kind: f.kind,
                reason: f.reason.clone(),
                count: f.count,
                last_detail: f.last_detail.clone(),
            })
            .collect(),
        histogram: base64::engine::general_purpose::STANDARD.encode(histogram::encode(h)),
    }
}

/// What a run reports besides its statistics.
#[derive(Debug, Clone)]
pub struct Extras {
    pub notes: Vec<String>,
    pub report_lag_ms: crate::stats::Latency,
}

impl Default for Extras {
    fn default() -> Self {
        Extras {
            notes: Vec::new(),
            report_lag_ms: histogram::new(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LagJson {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// Builds the result document.
pub fn result<'a>(
    config: &'a RunConfig,
    run: &'a RunStats,
    started_unix_ms: u64,
    verdicts: &'a [Verdict],
    extras: &'a Extras,
) -> ResultJson<'a> {
    ResultJson {
        volley: env!("CARGO_PKG_VERSION"),
        config,
        started_unix_ms,
        duration_s: run.elapsed_secs(),
        totals: stats_json("total", &run.total(), run),
        names: run
            .names
            .iter()
            .zip(&run.totals)
            .take(run.request_names())
            .map(|(name, n)| stats_json(name, n, run))
            .collect(),
        flows: run
            .names
            .iter()
            .zip(&run.totals)
            .skip(run.request_names())
            .map(|(name, n)| stats_json(name, n, run))
            .collect(),
        late_starts: run.late_starts,
        missed_starts: run.missed_starts,
        series: &run.series.points,
        thresholds: verdicts,
        passed: verdicts.iter().all(|v| v.passed),
        notes: &extras.notes,
        report_lag_ms: (!extras.report_lag_ms.is_empty()).then(|| LagJson {
            p50: extras.report_lag_ms.value_at_quantile(0.5),
            p99: extras.report_lag_ms.value_at_quantile(0.99),
            max: extras.report_lag_ms.max(),
        }),
    }
}
