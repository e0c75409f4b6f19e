//! What a verdict rests on and what it can be: the percentiles that may
//! decide, the settings that bound a change, where each figure's interval
//! lies (its mark) and the verdict a name gets.

use serde::Serialize;

use crate::stats::series::Percentiles;

/// A percentile that can decide a verdict: one that the per-second series
/// keeps, so that its noise over the run is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Judged {
    P50,
    P90,
    P95,
    P99,
}

impl Judged {
    pub fn label(self) -> &'static str {
        match self {
            Judged::P50 => "p50",
            Judged::P90 => "p90",
            Judged::P95 => "p95",
            Judged::P99 => "p99",
        }
    }

    pub(super) fn of_label(label: &str) -> Option<Judged> {
        [Judged::P50, Judged::P90, Judged::P95, Judged::P99]
            .into_iter()
            .find(|j| j.label() == label)
    }

    /// This percentile of one second.
    pub(super) fn of(self, p: &Percentiles) -> u64 {
        match self {
            Judged::P50 => p.p50,
            Judged::P90 => p.p90,
            Judged::P95 => p.p95,
            Judged::P99 => p.p99,
        }
    }
}

/// How changes are judged.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// 1 − the intervals' confidence (0.05: 95% intervals).
    pub alpha: f64,
    /// The practical bound on a percentile's relative change (0.05: 5%).
    pub min_change: f64,
    /// The practical bound on the error rate's change, as a fraction
    /// (0.001: 0.1 percentage points).
    pub min_error_change: f64,
    /// The percentiles that decide; `None`: p50 and p90 when a side has
    /// one run, p50 to p99 when both have several ([`Settings::judged`]).
    pub judged: Option<Vec<Judged>>,
    /// Fewer requests than this on either side: not enough data.
    pub min_samples: u64,
    /// Fewer seconds of series than this on either side: not enough data
    /// (the noise over a run needs two seconds to be seen at all).
    pub min_seconds: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            alpha: 0.05,
            min_change: 0.05,
            min_error_change: 0.001,
            judged: None,
            min_samples: 100,
            min_seconds: 2,
        }
    }
}

/// What is judged when a side has one run: the tails' noise from run to
/// run (a share of slow requests that moves with the machine's load) is
/// larger than the middle's and needs repeats to be measured; docs/
/// results.md has the numbers.
pub const ONE_RUN_JUDGED: [Judged; 2] = [Judged::P50, Judged::P90];
/// What is judged when both sides have several runs.
pub const SEVERAL_RUNS_JUDGED: [Judged; 4] = [Judged::P50, Judged::P90, Judged::P95, Judged::P99];

impl Settings {
    /// The percentiles that decide (unresolved: as for one run a side).
    pub fn judged(&self) -> &[Judged] {
        self.judged.as_deref().unwrap_or(&ONE_RUN_JUDGED)
    }
}

/// What became of a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A judged percentile or the error rate is confidently worse by more
    /// than its bound.
    Regression,
    /// Confidently better by more than the bound, and nothing worse.
    Improved,
    /// Every judged figure is confidently within its bound.
    Unchanged,
    /// Neither: some interval reaches past a bound (more data would tell).
    Inconclusive,
    /// Too few requests or seconds on a side to judge.
    NotEnoughData,
    /// Only in the candidate.
    Added,
    /// Only in the baseline.
    Removed,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotEnoughData => "not enough data",
            Verdict::Added => "added",
            Verdict::Removed => "removed",
        }
    }

    /// As in the JSON document: regression, not_enough_data, ...
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
            Verdict::NotEnoughData => "not_enough_data",
            Verdict::Added => "added",
            Verdict::Removed => "removed",
        }
    }

    pub const ALL: [Verdict; 7] = [
        Verdict::Regression,
        Verdict::Improved,
        Verdict::Unchanged,
        Verdict::Inconclusive,
        Verdict::NotEnoughData,
        Verdict::Added,
        Verdict::Removed,
    ];
}

/// Where a judged figure's interval lies against its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// Wholly above +bound.
    Worse,
    /// Wholly below −bound.
    Better,
    /// Wholly within ±bound.
    Within,
    /// Reaching past a bound.
    Unclear,
}

impl Mark {
    pub(super) fn of(low: f64, high: f64, bound: f64) -> Mark {
        if low > bound {
            Mark::Worse
        } else if high < -bound {
            Mark::Better
        } else if low >= -bound && high <= bound {
            Mark::Within
        } else {
            Mark::Unclear
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mark::Worse => "WORSE",
            Mark::Better => "better",
            Mark::Within => "within",
            Mark::Unclear => "unclear",
        }
    }
}
