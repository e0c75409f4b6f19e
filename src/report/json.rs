//! The whole result as one JSON document: configuration, totals, per-name
//! statistics with their encoded histograms (HDR V2 deflate, base64) so that a
//! later tool can merge results exactly, the series and the verdicts.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::stats::histogram;
use crate::stats::rows::TTFB_PREFIX;
use crate::stats::series::Point;
use crate::stats::{FailureKind, NameTotals, ProtocolCounts, RunStats};

use super::run_report::{LagJson, RunConfig, RunReport};
use crate::stats::threshold::Verdict;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureJson {
    pub kind: FailureKind,
    pub reason: String,
    pub count: u64,
    pub last_detail: Option<String>,
    /// When failures of this reason were first and last seen, in seconds
    /// since the start (to the second of the report that brought them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsJson {
    pub name: String,
    /// HTTP, gRPC or flow (empty for the totals).
    #[serde(default)]
    pub kind: String,
    /// The HTTP method, gRPC or flow.
    #[serde(default)]
    pub method: String,
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
    /// Requests per protocol that answered them, by label
    /// (`{"HTTP/2": 12, "HTTP/3": 988}`), the protocols seen only; requests
    /// that made no connection count under none. Absent when none was
    /// counted (rows that are not requests, results before volley counted
    /// them).
    #[serde(default, skip_serializing_if = "ProtocolCounts::is_empty")]
    pub protocols: ProtocolCounts,
    /// HDR V2 deflate, base64.
    pub histogram: String,
    /// An HTTP request's time to first byte: from its start to the first
    /// byte of its answer's body (its `ttfb:NAME` row, in `ttfb`, has the
    /// histogram).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb: Option<TtfbJson>,
}

/// A request's time-to-first-byte percentiles, in microseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtfbJson {
    /// Answers whose first byte came.
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// How long after its intended time each arrival left (open model and
/// replays), in microseconds: what the generator's own delay was, where
/// `late_starts` only counts those past 10 ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartLagJson {
    pub starts: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// HDR V2 deflate, base64, as a name's: reports merge it exactly.
    pub histogram: String,
}

impl StartLagJson {
    pub fn of(h: &crate::stats::Latencies) -> StartLagJson {
        let empty = h.is_empty();
        StartLagJson {
            starts: h.len(),
            p50_us: h.quantile(0.5),
            p90_us: h.quantile(0.9),
            p99_us: h.quantile(0.99),
            p999_us: h.quantile(0.999),
            max_us: if empty { 0 } else { h.max() },
            histogram: base64::engine::general_purpose::STANDARD
                .encode(histogram::encode(&h.dense())),
        }
    }
}

/// The result document. Everything a report is drawn from is in it, so that
/// `volley report` can draw the same reports again, or merge several runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultJson {
    pub volley: String,
    pub config: RunConfig,
    pub started_unix_ms: u64,
    pub duration_s: f64,
    /// When the statistics were cleared from the console, in seconds since
    /// the start: they, and their rates, cover `duration_s - reset_at_s`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reset_at_s: f64,
    pub totals: StatsJson,
    /// Requests and flow steps.
    pub names: Vec<StatsJson>,
    /// Flows, named `flow:NAME`: `requests` are iterations, `failures`
    /// failed iterations, latencies whole journeys.
    pub flows: Vec<StatsJson>,
    /// Streaming calls' messages: `sent:NAME` (each message sent; latency:
    /// its wait for a place in the send queue), `first:NAME` (each call's first answer,
    /// from the call's start), `msg:NAME` (each answer). Absent before
    /// volley streamed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub streams: Vec<StatsJson>,
    /// Each HTTP request's time to first byte, `ttfb:NAME`: `requests` are
    /// answers whose first byte came, latencies from the request's start
    /// (intended start, open model) to the first byte of its answer's body
    /// (the end of the head when it has none). Absent before volley
    /// measured it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ttfb: Vec<StatsJson>,
    pub late_starts: u64,
    pub missed_starts: u64,
    /// Open model and replays: each arrival's start after its intended
    /// time. Absent for the closed model and before volley measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lag: Option<StartLagJson>,
    /// Requests sent again on a new connection because a kept-alive one
    /// was closed by the server before answering (not failures).
    #[serde(default)]
    pub retries: u64,
    /// Cookies the users' jars dropped: longer than 4 KiB, or the least
    /// recently set over 50 for a domain or 3,000 for a user.
    #[serde(default, skip_serializing_if = "is_zero_count")]
    pub cookies_dropped: u64,
    /// Open model: arrivals that found every connection busy and waited
    /// for one (their wait is in their latency).
    #[serde(default)]
    pub waited_starts: u64,
    /// Requests in flight when load stopped, never answered: the server
    /// saw `totals.requests + abandoned`.
    #[serde(default)]
    pub abandoned: u64,
    /// The generator's mean CPU over the run, percent of the cores it may
    /// use (the busiest engine's; a merge's busiest run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_cpu_percent: Option<f64>,
    pub series: Vec<Point>,
    pub thresholds: Vec<Verdict>,
    /// Every threshold passed, nothing broke the run, and the generator did
    /// not limit it.
    pub passed: bool,
    /// pass, fail, invalid (the generator limited the measurement: see
    /// `invalid`) or broken (see `errors`).
    #[serde(default)]
    pub verdict: String,
    /// Why the run is invalid: the generator, not the target, limited it.
    /// Such a run exits 4.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
    /// What broke the run (an engine failed, load was lost, volley
    /// panicked); a run with errors exits 3.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// What the run must tell besides numbers: workers lost or overloaded.
    pub notes: Vec<String>,
    /// How late the master merged reports (ms after their interval ended).
    pub report_lag_ms: Option<LagJson>,
    /// The workers that took part.
    #[serde(default)]
    pub workers: Vec<WorkerJson>,
    /// The result files this one was merged from (`volley report`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<String>,
    /// The threshold that stopped the run while it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<crate::stats::threshold::Aborted>,
}

/// One worker of the run, as the master saw it.
pub use crate::cluster::coordinator::WorkerSummary as WorkerJson;

pub fn stats_json(name: &str, n: &NameTotals, run: &RunStats) -> StatsJson {
    let h = &n.hist;
    let empty = h.is_empty();
    StatsJson {
        name: name.to_owned(),
        kind: String::new(),
        method: String::new(),
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
        p50_us: h.quantile(0.5),
        p90_us: h.quantile(0.9),
        p95_us: h.quantile(0.95),
        p99_us: h.quantile(0.99),
        p999_us: h.quantile(0.999),
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
                first_seen_s: f.seen_ms.map(|(a, _)| a as f64 / 1000.0),
                last_seen_s: f.seen_ms.map(|(_, b)| b as f64 / 1000.0),
            })
            .collect(),
        protocols: n.protocols,
        histogram: base64::engine::general_purpose::STANDARD.encode(histogram::encode(&h.dense())),
        ttfb: None,
    }
}

/// `n`'s time-to-first-byte percentiles.
fn ttfb_json(n: &NameTotals) -> TtfbJson {
    let h = &n.hist;
    let empty = h.is_empty();
    TtfbJson {
        count: n.requests,
        mean_us: if empty { 0.0 } else { h.mean() },
        p50_us: h.quantile(0.5),
        p90_us: h.quantile(0.9),
        p95_us: h.quantile(0.95),
        p99_us: h.quantile(0.99),
        max_us: if empty { 0 } else { h.max() },
    }
}

/// Builds the result document of a report.
pub fn result(report: &RunReport) -> ResultJson {
    let run = &report.stats;
    // Each request's time-to-first-byte row, found once (a run may have
    // many names).
    let ttfb_of: std::collections::HashMap<&str, usize> = run
        .ttfb_names()
        .filter_map(|i| Some((run.names.get(i)?.strip_prefix(TTFB_PREFIX)?, i)))
        .collect();
    let stats = |i: usize| {
        let mut s = stats_json(&run.names[i], &run.totals[i], run);
        s.kind = report.kinds.get(i).cloned().unwrap_or_default();
        s.method = report.methods.get(i).cloned().unwrap_or_default();
        if i < run.request_names() {
            s.ttfb = ttfb_of
                .get(run.names[i].as_str())
                .and_then(|&t| run.totals.get(t))
                .map(ttfb_json);
        }
        s
    };
    ResultJson {
        volley: env!("CARGO_PKG_VERSION").into(),
        config: report.config.clone(),
        started_unix_ms: report.started_unix_ms,
        duration_s: run.elapsed_secs(),
        reset_at_s: run.reset_at_ms as f64 / 1000.0,
        totals: stats_json("total", &run.total(), run),
        names: (0..run.request_names()).map(stats).collect(),
        flows: run.flow_names().map(stats).collect(),
        streams: run.stream_names().map(stats).collect(),
        ttfb: run.ttfb_names().map(stats).collect(),
        late_starts: run.late_starts,
        missed_starts: run.missed_starts,
        start_lag: run.start_lag.as_ref().map(StartLagJson::of),
        retries: run.retries,
        cookies_dropped: run.cookies_dropped,
        waited_starts: run.waited_starts,
        abandoned: run.abandoned,
        generator_cpu_percent: report.generator_cpu_percent,
        series: run.series.points.clone(),
        thresholds: report.verdicts.clone(),
        passed: report.passed(),
        verdict: report.outcome().as_str().into(),
        invalid: report.invalid.clone(),
        errors: report.errors.clone(),
        notes: report.notes.clone(),
        report_lag_ms: report.report_lag_ms.clone(),
        workers: report.workers.clone(),
        merged_from: report.merged_from.clone(),
        aborted: report.aborted.clone(),
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_zero_count(x: &u64) -> bool {
    *x == 0
}
