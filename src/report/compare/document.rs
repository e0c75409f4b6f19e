//! What a comparison says, as every writer reads it (text, HTML, JSON,
//! JUnit): each side's figures of a name, its percentiles and error rate
//! side by side, its verdict, and the whole comparison with its counts.

use std::collections::BTreeMap;

use serde::Serialize;

use super::format::{confidence, percent, points};
use super::stats;
use super::verdict::{Mark, Settings, Verdict};

/// One side's figures of one name.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub requests: u64,
    pub failures: u64,
    pub error_rate: f64,
    /// Requests per second of a run (the side's runs' time added up).
    pub rps: f64,
    pub mean_us: f64,
    pub max_us: u64,
    /// Seconds of series with requests of this name.
    pub seconds: usize,
}

/// One percentile, side by side.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub percentile: &'static str,
    pub baseline_us: u64,
    pub candidate_us: u64,
    /// candidate / baseline − 1.
    pub change: f64,
    /// The change's interval at confidence 1 − alpha, with the noise the
    /// per-second series shows (absent for p99.9, which the series lacks).
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// What set the interval's width (on the side where it is wider):
    /// requests (as if independent), seconds (the per-second series) or
    /// runs (several per side).
    pub noise: Option<stats::Noise>,
    /// The interval if every request were independent: what a naive test
    /// would use; given to show the difference, never judged.
    pub independent_low: f64,
    pub independent_high: f64,
    /// Whether this percentile decides the verdict.
    pub judged: bool,
    pub mark: Option<Mark>,
}

/// The error rate, side by side.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRow {
    pub baseline: f64,
    pub candidate: f64,
    /// Candidate minus baseline, as a fraction.
    pub difference: f64,
    pub low: f64,
    pub high: f64,
    /// Two-sided p-value of "no difference" (two-proportion z-test).
    pub p_value: f64,
    pub mark: Option<Mark>,
}

/// One name compared.
#[derive(Debug, Clone, Serialize)]
pub struct NameComparison {
    pub name: String,
    /// request (and flow step), flow or stream.
    pub class: &'static str,
    /// HTTP, gRPC, flow.
    pub kind: String,
    pub verdict: Verdict,
    /// The findings behind the verdict, one line each.
    pub reasons: Vec<String>,
    pub baseline: Option<Figures>,
    pub candidate: Option<Figures>,
    /// candidate / baseline − 1.
    pub requests_change: Option<f64>,
    pub rps_change: Option<f64>,
    pub latency: Vec<Row>,
    pub max_change: Option<f64>,
    pub errors: Option<ErrorRow>,
    /// The probability that a candidate request is slower than a baseline
    /// one (ties half): 0.5 is no shift (Mann-Whitney's U / n_b·n_c).
    pub p_slower: Option<f64>,
    /// Where the name is in each side's report.
    #[serde(skip)]
    pub at: (Option<usize>, Option<usize>),
}

/// One side as the comparison names it.
#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    pub files: Vec<String>,
    pub seconds: f64,
    pub requests: u64,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub volley: &'static str,
    /// "regression" or "no_regression": the exit code's reason.
    pub verdict: &'static str,
    pub settings: Settings,
    pub baseline: SideSummary,
    pub candidate: SideSummary,
    /// How many names got each verdict.
    pub counts: BTreeMap<&'static str, usize>,
    pub names: Vec<NameComparison>,
    /// Runs that were INVALID or broke.
    pub notes: Vec<String>,
}

impl Comparison {
    pub fn regressed(&self) -> bool {
        self.names.iter().any(|n| n.verdict == Verdict::Regression)
    }

    pub fn count(&self, v: Verdict) -> usize {
        self.names.iter().filter(|n| n.verdict == v).count()
    }

    /// "1 regression, 2 unchanged, 1 added".
    pub fn headline(&self) -> String {
        Verdict::ALL
            .iter()
            .filter_map(|&v| {
                let n = self.count(v);
                (n > 0).then(|| match (v, n) {
                    (Verdict::Regression, 1) => "1 REGRESSION".to_owned(),
                    (Verdict::Regression, n) => format!("{n} REGRESSIONS"),
                    (v, n) => format!("{n} {}", v.label()),
                })
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// What the verdict rests on, in a sentence.
    pub fn rule(&self) -> String {
        let s = &self.settings;
        let judged: Vec<&str> = s.judged().iter().map(|j| j.label()).collect();
        format!(
            "a change counts when its {} interval lies wholly beyond ±{} ({}) or ±{} (error rate); intervals include the noise from second to second, and from run to run with several runs a side",
            confidence(s.alpha),
            percent(s.min_change),
            judged.join(", "),
            points(s.min_error_change)
        )
    }
}
