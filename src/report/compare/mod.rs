//! `volley compare`: two sides (a baseline and a candidate, each one result
//! or several merged exactly, [`side`]) compared per request name, step,
//! flow and stream row, with a verdict per name that says whether the
//! candidate is worse beyond noise.
//!
//! The verdict rests on percentiles ([`stats`]): each percentile's change
//! is a ratio of two exact histogram values, and its interval takes per
//! side the largest of three spreads: independent samples' (from the rank
//! of the percentile), the per-second series' (batch quantiles) and, with
//! several runs a side, the runs'. Latencies within a run are not
//! independent: a noisy second moves hundreds of requests together, and
//! with millions of requests the independent interval is so narrow that
//! two identical runs differ "significantly". A change counts only when
//! its whole interval lies beyond a practical bound (`--min-change`, 5%):
//! the candidate is confidently worse by more than the bound. Noise that
//! lasts a whole run shows only between runs, and most in the tails, so
//! one run a side judges p50 and p90 by default. docs/compare.md says why,
//! and docs/results.md how often identical runs are flagged.

pub mod files;
pub mod html;
mod side;
pub mod stats;
pub mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use super::merge::LoadError;
use super::summary::QUANTILES;
use crate::stats::series::Percentiles;
use crate::stats::{Latencies, NameClass};

pub use side::Side;
use side::{Key, Second};

/// Why two sides could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Merge(#[from] LoadError),
    #[error(
        "the baseline and the candidate have no request, step or flow in common (baseline: {baseline}; candidate: {candidate})"
    )]
    NothingInCommon { baseline: String, candidate: String },
}

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

    fn of_label(label: &str) -> Option<Judged> {
        [Judged::P50, Judged::P90, Judged::P95, Judged::P99]
            .into_iter()
            .find(|j| j.label() == label)
    }

    /// This percentile of one second.
    fn of(self, p: &Percentiles) -> u64 {
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
    fn of(low: f64, high: f64, bound: f64) -> Mark {
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

/// "95%" for alpha 0.05.
pub fn confidence(alpha: f64) -> String {
    let c = (1.0 - alpha) * 100.0;
    if (c - c.round()).abs() < 1e-9 {
        format!("{c:.0}%")
    } else {
        format!("{c}%")
    }
}

/// A fraction as a percentage without a sign: 0.05 → "5%".
pub fn percent(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p}%")
    }
}

/// A fraction as percentage points: 0.001 → "0.1pp".
pub fn points(x: f64) -> String {
    format!("{}pp", percent(x).trim_end_matches('%'))
}

/// `x` rounded to `decimals`, never -0 (which would print as "-0.0").
fn rounded(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let r = (x * scale).round() / scale;
    if r == 0.0 { 0.0 } else { r }
}

/// A relative change: +19.8%.
pub fn signed(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.1}%", rounded(x * 100.0, 1))
    } else {
        "n/a".into()
    }
}

/// A difference of rates in percentage points: +0.12pp.
pub fn signed_points(x: f64) -> String {
    format!("{:+.2}pp", rounded(x * 100.0, 2))
}

/// An interval of relative changes: [+19.2%, +20.4%].
pub fn interval(low: f64, high: f64) -> String {
    format!("[{}, {}]", signed(low), signed(high))
}

fn ratio(base: f64, cand: f64) -> Option<f64> {
    (base > 0.0).then(|| cand / base - 1.0)
}

fn class_name(c: NameClass) -> &'static str {
    match c {
        NameClass::Request => "request",
        NameClass::Flow => "flow",
        NameClass::Stream => "stream",
    }
}

fn figures(side: &Side, i: usize, seconds: &[Second]) -> Option<Figures> {
    let t = side.report.stats.totals.get(i)?;
    let empty = t.hist.is_empty();
    Some(Figures {
        requests: t.requests,
        failures: t.failures,
        // A file could say more failures than requests: never above 100%.
        error_rate: if t.requests > 0 {
            t.failures.min(t.requests) as f64 / t.requests as f64
        } else {
            0.0
        },
        rps: if side.secs > 0.0 {
            t.requests as f64 / side.secs
        } else {
            0.0
        },
        mean_us: if empty { 0.0 } else { t.hist.mean() },
        max_us: if empty { 0 } else { t.hist.max() },
        seconds: seconds.iter().filter(|s| s.requests > 0).count(),
    })
}

/// A name's histograms and series on both sides.
struct Pair<'a> {
    key: &'a Key,
    hists: (&'a Latencies, &'a Latencies),
    seconds: (&'a [Second], &'a [Second]),
    sides: (&'a Side, &'a Side),
}

/// The percentiles' rows: changes on the log scale, intervals by Welch.
fn rows(pair: &Pair, settings: &Settings) -> Vec<Row> {
    let ln = |v: u64| (v.max(1) as f64).ln();
    let rel = |d: f64| d.exp() - 1.0;
    let (hb, hc) = pair.hists;
    let (sb, sc) = pair.seconds;
    QUANTILES
        .iter()
        .enumerate()
        .map(|(k, &(label, q))| {
            let (vb, vc) = (hb.quantile(q), hc.quantile(q));
            let d = ln(vc) - ln(vb);
            let (rb, rc) = (stats::rank_se(hb, q), stats::rank_se(hc, q));
            let (il, ih, _) = stats::welch_interval(
                d,
                stats::spread(rb, None, None),
                stats::spread(rc, None, None),
                settings.alpha,
            );
            let mut row = Row {
                percentile: label,
                baseline_us: vb,
                candidate_us: vc,
                change: rel(d),
                low: None,
                high: None,
                noise: None,
                independent_low: rel(il),
                independent_high: rel(ih),
                judged: false,
                mark: None,
            };
            if let Some(j) = Judged::of_label(label) {
                let series = |s: &[Second]| -> Vec<f64> {
                    s.iter()
                        .filter(|s| s.requests > 0)
                        .map(|s| ln(j.of(&s.latency)))
                        .collect()
                };
                let runs = |side: &Side| stats::batch_se(&side.runs(pair.key, k));
                let pb = stats::spread(rb, stats::batch_se(&series(sb)), runs(pair.sides.0));
                let pc = stats::spread(rc, stats::batch_se(&series(sc)), runs(pair.sides.1));
                let (lo, hi, _) = stats::welch_interval(d, pb, pc, settings.alpha);
                row.low = Some(rel(lo));
                row.high = Some(rel(hi));
                row.noise = Some(if pb.se >= pc.se { pb.from } else { pc.from });
                row.judged = settings.judged().contains(&j);
                if row.judged {
                    row.mark = Some(Mark::of(rel(lo), rel(hi), settings.min_change));
                }
            }
            row
        })
        .collect()
}

fn error_row(b: &Figures, c: &Figures, sb: &[Second], sc: &[Second], s: &Settings) -> ErrorRow {
    let pairs = |x: &[Second]| -> Vec<(u64, u64)> {
        x.iter()
            .filter(|s| s.requests > 0)
            .map(|s| (s.requests, s.failures.min(s.requests)))
            .collect()
    };
    let (pb, pc) = (pairs(sb), pairs(sc));
    let proportion = |f: &Figures, seconds| stats::Proportion {
        failures: f.failures.min(f.requests),
        requests: f.requests,
        seconds,
    };
    let change = stats::rate_change(&proportion(b, &pb), &proportion(c, &pc), s.alpha);
    let (difference, low, high, p_value) = change.map_or((0.0, 0.0, 0.0, 1.0), |r| {
        (r.difference, r.low, r.high, r.p_value)
    });
    ErrorRow {
        baseline: b.error_rate,
        candidate: c.error_rate,
        difference,
        low,
        high,
        p_value,
        mark: Some(Mark::of(low, high, s.min_error_change)),
    }
}

/// A finding's line: "p50 +19.8% [+19.2%, +20.4%]".
fn finding(row: &Row) -> String {
    format!(
        "{} {} {}",
        row.percentile,
        signed(row.change),
        interval(
            row.low.unwrap_or(row.change),
            row.high.unwrap_or(row.change)
        )
    )
}

fn error_finding(e: &ErrorRow) -> String {
    format!(
        "error rate {} [{}, {}]",
        signed_points(e.difference),
        signed_points(e.low),
        signed_points(e.high)
    )
}

/// The verdict from the marks: any worse is a regression; else any better
/// an improvement; else any unclear is inconclusive.
fn judge(n: &mut NameComparison) {
    let marked = |m: Mark| -> Vec<String> {
        n.latency
            .iter()
            .filter(|r| r.mark == Some(m))
            .map(finding)
            .chain(
                n.errors
                    .iter()
                    .filter(|e| e.mark == Some(m))
                    .map(error_finding),
            )
            .collect()
    };
    for (mark, verdict) in [
        (Mark::Worse, Verdict::Regression),
        (Mark::Better, Verdict::Improved),
        (Mark::Unclear, Verdict::Inconclusive),
    ] {
        let found = marked(mark);
        if !found.is_empty() {
            n.verdict = verdict;
            n.reasons = found;
            return;
        }
    }
    n.verdict = Verdict::Unchanged;
}

fn compare_name(
    key: &Key,
    at: (Option<usize>, Option<usize>),
    base: &Side,
    cand: &Side,
    s: &Settings,
) -> NameComparison {
    let (sb, sc) = (base.seconds(key), cand.seconds(key));
    let kind = |side: &Side, i: Option<usize>| i.map(|i| side.report.kind(i).to_owned());
    let mut n = NameComparison {
        name: key.1.clone(),
        class: class_name(key.0),
        kind: kind(base, at.0)
            .or_else(|| kind(cand, at.1))
            .unwrap_or_default(),
        verdict: Verdict::NotEnoughData,
        reasons: Vec::new(),
        baseline: at.0.and_then(|i| figures(base, i, sb)),
        candidate: at.1.and_then(|i| figures(cand, i, sc)),
        requests_change: None,
        rps_change: None,
        latency: Vec::new(),
        max_change: None,
        errors: None,
        p_slower: None,
        at,
    };
    let (Some(b), Some(c), Some(hb), Some(hc)) = (
        n.baseline.clone(),
        n.candidate.clone(),
        at.0.and_then(|i| base.histogram(i)),
        at.1.and_then(|i| cand.histogram(i)),
    ) else {
        n.verdict = if at.0.is_none() {
            Verdict::Added
        } else {
            Verdict::Removed
        };
        return n;
    };
    n.requests_change = ratio(b.requests as f64, c.requests as f64);
    n.rps_change = ratio(b.rps, c.rps);
    n.max_change = ratio(b.max_us as f64, c.max_us as f64);
    n.p_slower = stats::p_slower(hb, hc);
    let mut short = Vec::new();
    for (side, f, h) in [("baseline", &b, hb), ("candidate", &c, hc)] {
        if h.len() < s.min_samples {
            short.push(format!(
                "the {side} has {} latencies (at least {} are needed)",
                h.len(),
                s.min_samples
            ));
        }
        if f.seconds < s.min_seconds {
            short.push(format!(
                "the {side} has {} s of series (at least {} are needed)",
                f.seconds, s.min_seconds
            ));
        }
    }
    if !hb.is_empty() && !hc.is_empty() {
        let pair = Pair {
            key,
            hists: (hb, hc),
            seconds: (sb, sc),
            sides: (base, cand),
        };
        n.latency = rows(&pair, s);
    }
    n.errors = Some(error_row(&b, &c, sb, sc, s));
    if short.is_empty() {
        judge(&mut n);
    } else {
        // Numbers are shown, never judged.
        for r in &mut n.latency {
            r.mark = None;
        }
        if let Some(e) = &mut n.errors {
            e.mark = None;
        }
        n.reasons = short;
    }
    n
}

/// Compares every name of the two sides.
pub fn compare(base: &Side, cand: &Side, s: &Settings) -> Result<Comparison, CompareError> {
    let several = base.files.len() > 1 && cand.files.len() > 1;
    let automatic = s.judged.is_none();
    let s = &Settings {
        judged: Some(s.judged.clone().unwrap_or_else(|| {
            if several {
                SEVERAL_RUNS_JUDGED.to_vec()
            } else {
                ONE_RUN_JUDGED.to_vec()
            }
        })),
        ..s.clone()
    };
    let in_base: BTreeMap<Key, usize> = base.keys().collect();
    let in_cand: BTreeMap<Key, usize> = cand.keys().collect();
    if !in_base.keys().any(|k| in_cand.contains_key(k)) {
        let list = |m: &BTreeMap<Key, usize>| {
            let mut v: Vec<&str> = m.keys().map(|k| k.1.as_str()).collect();
            v.truncate(20);
            v.join(", ")
        };
        return Err(CompareError::NothingInCommon {
            baseline: list(&in_base),
            candidate: list(&in_cand),
        });
    }
    // The baseline's order, then the candidate's new names; requests, then
    // flows, then streams, as a run lists them.
    let mut keys: Vec<Key> = base.keys().map(|(k, _)| k).collect();
    keys.extend(
        cand.keys()
            .map(|(k, _)| k)
            .filter(|k| !in_base.contains_key(k)),
    );
    keys.sort_by_key(|k| k.0);
    let names: Vec<NameComparison> = keys
        .iter()
        .map(|k| {
            let at = (in_base.get(k).copied(), in_cand.get(k).copied());
            compare_name(k, at, base, cand, s)
        })
        .collect();
    let summary = |side: &Side| SideSummary {
        files: side.files.clone(),
        seconds: side.secs,
        requests: side.requests(),
    };
    let mut c = Comparison {
        volley: env!("CARGO_PKG_VERSION"),
        verdict: "no_regression",
        settings: s.clone(),
        baseline: summary(base),
        candidate: summary(cand),
        counts: BTreeMap::new(),
        names,
        notes: base.notes.iter().chain(&cand.notes).cloned().collect(),
    };
    if c.regressed() {
        c.verdict = "regression";
    }
    // Noise that lasts a whole run (a busier machine, a colder cache) looks
    // like a change when a side is one run: only repeats show it.
    if !several {
        c.notes.push(format!(
            "one run on a side: noise that lasts a whole run is not in the intervals{}; give several runs a side ({}) to include it",
            if automatic {
                ", so only p50 and p90 are judged"
            } else {
                ""
            },
            "A1.json A2.json A3.json --vs B1.json B2.json B3.json"
        ));
    }
    for v in Verdict::ALL {
        let n = c.count(v);
        if n > 0 {
            c.counts.insert(v.key(), n);
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests;
