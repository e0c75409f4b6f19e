//! The comparison itself: each side's figures of a name, every
//! percentile's change with its interval, the error rate's, the marks
//! against the bounds and the verdict they give; then every name of both
//! sides, in a run's order.

use std::collections::BTreeMap;

use super::document::{Comparison, ErrorRow, Figures, NameComparison, Row, SideSummary};
use super::format::{interval, signed, signed_points};
use super::side::{Key, Second, Side};
use super::verdict::{Judged, Mark, ONE_RUN_JUDGED, SEVERAL_RUNS_JUDGED, Settings, Verdict};
use super::{CompareError, stats};
use crate::report::summary::QUANTILES;
use crate::stats::{Latencies, NameClass};

fn ratio(base: f64, cand: f64) -> Option<f64> {
    (base > 0.0).then(|| cand / base - 1.0)
}

fn class_name(c: NameClass) -> &'static str {
    match c {
        NameClass::Request => "request",
        NameClass::Flow => "flow",
        NameClass::Stream => "stream",
        NameClass::Ttfb => "ttfb",
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
