//! Saved results back into reports: a result file read again exactly (its
//! histograms decoded, so every percentile is the one the run reported), and
//! several merged into one (histograms added, as a master adds its workers').

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;

use super::json::{ResultJson, StatsJson};
use super::run_report::RunConfig;
use super::run_report::RunReport;
use crate::stats::histogram;
use crate::stats::series::Point;
use crate::stats::threshold::{Threshold, ThresholdError};
use crate::stats::{FailureCount, Latencies, NameClass, NameTotals, Rows, RunStats, StatId, Tail};

/// Why a result could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}: not a volley result (write one with --json): {error}")]
    Parse {
        path: String,
        error: serde_json::Error,
    },
    #[error("{path}: the histogram of {name:?}: {reason}")]
    Histogram {
        path: String,
        name: String,
        reason: String,
    },
    #[error("{path}: threshold {text:?}: {reason}")]
    Threshold {
        path: String,
        text: String,
        reason: ThresholdError,
    },
    #[error("{path}: {what} do not fit in 64 bits once added up; the results cannot be merged")]
    Overflow { path: String, what: String },
    #[error(
        "{path}: {field}: {reason}: the result contradicts itself (not written by volley, or changed since)"
    )]
    Inconsistent {
        path: String,
        field: String,
        reason: String,
    },
}

fn inconsistent(path: &str, field: impl Into<String>, reason: String) -> LoadError {
    LoadError::Inconsistent {
        path: path.to_owned(),
        field: field.into(),
        reason,
    }
}

/// How merged runs line up in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Align {
    /// By the wall clock: runs that ran at the same time (several masters,
    /// or machines run by hand) add up second by second.
    Clock,
    /// Each run's start at second 0: repeats of a run, one over the other.
    Start,
}

/// Reads one result file: parsed as it is read (the text is never held
/// whole), each name's histogram kept as pairs when it holds few buckets.
/// A result costs about what it holds: see docs/scenario.md, "Limits".
pub fn load(path: &Path) -> Result<RunReport, LoadError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| LoadError::Read {
        path: shown.clone(),
        error,
    })?;
    let doc: ResultJson = serde_json::from_reader(std::io::BufReader::with_capacity(1 << 16, file))
        .map_err(|error| {
            if error.is_io() {
                LoadError::Read {
                    path: shown.clone(),
                    error: error.into(),
                }
            } else {
                // A reader's error is placed where it stopped reading, a
                // little past the fault: a file of up to 64 MiB is read
                // again whole, on this path only, for the line and column
                // of the fault itself (a bigger one keeps the reader's).
                let exact = std::fs::metadata(path)
                    .ok()
                    .filter(|m| m.len() <= 64 << 20)
                    .and_then(|_| std::fs::read(path).ok())
                    .and_then(|text| serde_json::from_slice::<ResultJson>(&text).err());
                LoadError::Parse {
                    path: shown.clone(),
                    error: exact.unwrap_or(error),
                }
            }
        })?;
    from_json(doc, &shown)
}

fn totals(i: StatId, s: &StatsJson, path: &str) -> Result<NameTotals, LoadError> {
    let bad = |reason: String| LoadError::Histogram {
        path: path.to_owned(),
        name: s.name.clone(),
        reason,
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&s.histogram)
        .map_err(|e| bad(format!("not base64: {e}")))?;
    // Decoded densely for a moment, kept as pairs when they are few: a
    // result of many names costs what its names recorded.
    let hist = Latencies::from(&histogram::decode(&bytes).map_err(|e| bad(e.to_string()))?);
    // Every request's latency is in its histogram, failed or not; a
    // failure is a request; a reason counts failures.
    let field = |what: &str| format!("{:?} {what}", s.name);
    if s.failures > s.requests {
        return Err(inconsistent(
            path,
            field("failures"),
            format!("{} failures in {} requests", s.failures, s.requests),
        ));
    }
    if hist.len() != s.requests {
        return Err(inconsistent(
            path,
            field("histogram"),
            format!(
                "it holds {} latencies for {} requests",
                hist.len(),
                s.requests
            ),
        ));
    }
    let by_reason = s
        .failures_by_reason
        .iter()
        .try_fold(0u64, |sum, f| sum.checked_add(f.count));
    if by_reason.is_none_or(|n| n > s.failures) {
        return Err(inconsistent(
            path,
            field("failures_by_reason"),
            format!("its counts add up to more than its {} failures", s.failures),
        ));
    }
    // A request's answer came over one connection at most.
    if s.protocols.checked_total().is_none_or(|n| n > s.requests) {
        return Err(inconsistent(
            path,
            field("protocols"),
            format!("its counts add up to more than its {} requests", s.requests),
        ));
    }
    let mut n = NameTotals {
        name: i,
        hist,
        requests: s.requests,
        failures: s.failures,
        bytes_sent: s.bytes_sent,
        bytes_received: s.bytes_received,
        failure_counts: Vec::new(),
        protocols: s.protocols,
    };
    for f in &s.failures_by_reason {
        n.add_failure(FailureCount {
            kind: f.kind,
            reason: f.reason.clone(),
            count: f.count,
            last_detail: f.last_detail.clone(),
            seen_ms: match (f.first_seen_s, f.last_seen_s) {
                (Some(a), Some(b)) if a.is_finite() && b.is_finite() => Some((
                    (a * 1000.0).round().max(0.0) as u64,
                    (b * 1000.0).round().max(0.0) as u64,
                )),
                _ => None,
            },
        });
    }
    Ok(n)
}

/// A result document as a report; `path` names it in errors.
pub fn from_json(mut doc: ResultJson, path: &str) -> Result<RunReport, LoadError> {
    let tail = Tail {
        flows: doc.flows.len(),
        streams: doc.streams.len(),
        ttfb: doc.ttfb.len(),
    };
    let all: Vec<StatsJson> = std::mem::take(&mut doc.names)
        .into_iter()
        .chain(std::mem::take(&mut doc.flows))
        .chain(std::mem::take(&mut doc.streams))
        .chain(std::mem::take(&mut doc.ttfb))
        .collect();
    let count = all.len();
    let mut names = Vec::with_capacity(count);
    let mut kinds = Vec::with_capacity(count);
    let mut methods = Vec::with_capacity(count);
    let mut totals_of = Vec::with_capacity(count);
    let mut requests = 0u64;
    // Each name's text (its base64 histogram) is freed once decoded, so a
    // result's peak is its text or its statistics, not both.
    for (i, mut s) in all.into_iter().enumerate() {
        totals_of.push(totals(Rows::request(i), &s, path)?);
        requests = requests.max(s.requests);
        names.push(std::mem::take(&mut s.name));
        kinds.push(std::mem::take(&mut s.kind));
        methods.push(std::mem::take(&mut s.method));
    }
    let mut stats = RunStats::new(Rows::from_parts(names, tail));
    stats.totals = totals_of;
    if doc.totals.failures > doc.totals.requests {
        return Err(inconsistent(
            path,
            "totals failures",
            format!(
                "{} failures in {} requests",
                doc.totals.failures, doc.totals.requests
            ),
        ));
    }
    if !doc.duration_s.is_finite() || doc.duration_s < 0.0 {
        return Err(inconsistent(
            path,
            "duration_s",
            format!("{} is not a duration", doc.duration_s),
        ));
    }
    if doc.duration_s == 0.0 && requests > 0 {
        return Err(inconsistent(
            path,
            "duration_s",
            format!("a run of {requests} requests that lasted 0 s"),
        ));
    }
    if !doc.reset_at_s.is_finite() || doc.reset_at_s < 0.0 || doc.reset_at_s > doc.duration_s {
        return Err(inconsistent(
            path,
            "reset_at_s",
            format!(
                "{} is not within the run's {} s",
                doc.reset_at_s, doc.duration_s
            ),
        ));
    }
    stats.elapsed_ms = (doc.duration_s * 1000.0).round().max(0.0) as u64;
    stats.reset_at_ms = ((doc.reset_at_s * 1000.0).round().max(0.0) as u64).min(stats.elapsed_ms);
    stats.late_starts = doc.late_starts;
    stats.missed_starts = doc.missed_starts;
    if let Some(lag) = &doc.start_lag {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&lag.histogram)
            .map_err(|e| LoadError::Histogram {
                path: path.to_owned(),
                name: "start_lag".into(),
                reason: format!("not base64: {e}"),
            })?;
        let h = histogram::decode(&bytes).map_err(|e| LoadError::Histogram {
            path: path.to_owned(),
            name: "start_lag".into(),
            reason: e.to_string(),
        })?;
        stats.start_lag = Some(Latencies::from(&h));
    }
    stats.retries = doc.retries;
    stats.cookies_dropped = doc.cookies_dropped;
    stats.waited_starts = doc.waited_starts;
    stats.abandoned = doc.abandoned;
    stats.series.points = doc.series;
    stats.series.bound();
    let thresholds = doc
        .thresholds
        .iter()
        .filter(|v| !v.implicit)
        .map(|v| {
            Threshold::parse(&v.threshold).map_err(|reason| LoadError::Threshold {
                path: path.to_owned(),
                text: v.threshold.clone(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RunReport {
        config: doc.config,
        kinds,
        methods,
        stats,
        started_unix_ms: doc.started_unix_ms,
        thresholds,
        verdicts: doc.thresholds,
        notes: doc.notes,
        errors: doc.errors,
        invalid: doc.invalid,
        generator_cpu_percent: doc.generator_cpu_percent,
        report_lag_ms: doc.report_lag_ms,
        workers: doc.workers,
        merged_from: doc.merged_from,
        aborted: doc.aborted,
    })
}

/// The names of all reports, requests first, then flows, then streams'
/// rows, then times to first byte (as a run keeps them), each once, in the order first seen; and
/// where each report's names went. A merged name is given as (report,
/// index) of its first sighting.
fn union_names(reports: &[(String, RunReport)]) -> (Vec<(usize, usize)>, Vec<Vec<StatId>>) {
    let mut order: Vec<(NameClass, usize, usize)> = Vec::new();
    let mut seen: BTreeMap<(NameClass, &str), usize> = BTreeMap::new();
    for (r, (_, rep)) in reports.iter().enumerate() {
        for (i, name) in rep.stats.names.iter().enumerate() {
            let class = rep.stats.class(i);
            seen.entry((class, name.as_str())).or_insert_with(|| {
                order.push((class, r, i));
                order.len() - 1
            });
        }
    }
    // Requests, flows, streams, times to first byte (`NameClass`'s
    // order), each group in first-seen order.
    let mut sorted: Vec<usize> = (0..order.len()).collect();
    sorted.sort_by_key(|&k| (order[k].0, k));
    let mut position = vec![StatId(0); order.len()];
    for (new, &k) in sorted.iter().enumerate() {
        position[k] = Rows::request(new);
    }
    let maps = reports
        .iter()
        .map(|(_, rep)| {
            rep.stats
                .names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let k = seen[&(rep.stats.class(i), name.as_str())];
                    position[k]
                })
                .collect()
        })
        .collect();
    let firsts = sorted.iter().map(|&k| (order[k].1, order[k].2)).collect();
    (firsts, maps)
}

fn merged_config(configs: &[&RunConfig], duration_s: f64) -> RunConfig {
    let first = configs[0];
    let mut scenarios: Vec<String> = Vec::new();
    let mut targets: Vec<String> = Vec::new();
    for c in configs {
        if !scenarios.contains(&c.scenario) {
            scenarios.push(c.scenario.clone());
        }
        for t in &c.targets {
            if !targets.contains(t) {
                targets.push(t.clone());
            }
        }
    }
    // Runs side by side: their users, rates and request counts add up.
    let sum_u = |f: fn(&RunConfig) -> Option<u64>| configs.iter().map(|c| f(c)).sum();
    let sum_f = |f: fn(&RunConfig) -> Option<f64>| configs.iter().map(|c| f(c)).sum();
    RunConfig {
        scenario: scenarios.join(" + "),
        targets,
        model: if configs.iter().all(|c| c.model == first.model) {
            first.model.clone()
        } else {
            "mixed".into()
        },
        users: sum_u(|c| c.users),
        spawn_rate: sum_f(|c| c.spawn_rate),
        rate: sum_f(|c| c.rate),
        connections: sum_u(|c| c.connections),
        duration_s: Some(duration_s),
        requests: sum_u(|c| c.requests),
        timeout_s: configs.iter().map(|c| c.timeout_s).fold(0.0, f64::max),
        workers: configs.iter().map(|c| c.workers).sum(),
        allow_empty: configs.iter().all(|c| c.allow_empty),
        allow_all_failed: configs.iter().all(|c| c.allow_all_failed),
    }
}

/// Merges reports into one: per name, histograms and counters added; the
/// series lined up by `align` and added second by second; thresholds of all
/// of them, evaluated again on the sums. Each report comes with the name it
/// is known by (its file). Sums that would not fit in 64 bits are refused.
pub fn merge(mut reports: Vec<(String, RunReport)>, align: Align) -> Result<RunReport, LoadError> {
    if reports.len() == 1
        && let Some((_, only)) = reports.pop()
    {
        return Ok(only);
    }
    let (firsts, maps) = union_names(&reports);
    let name_of = |(r, i): (usize, usize)| {
        let rep = &reports[r].1;
        (
            rep.stats.names[i].clone(),
            rep.kinds.get(i).cloned().unwrap_or_default(),
            rep.methods.get(i).cloned().unwrap_or_default(),
            rep.stats.class(i),
        )
    };
    let described: Vec<_> = firsts.iter().map(|&c| name_of(c)).collect();
    let count = |class| described.iter().filter(|d| d.3 == class).count();
    let tail = Tail {
        flows: count(NameClass::Flow),
        streams: count(NameClass::Stream),
        ttfb: count(NameClass::Ttfb),
    };
    let names = described.iter().map(|d| d.0.clone()).collect();
    let mut stats = RunStats::new(Rows::from_parts(names, tail));
    let started = reports
        .iter()
        .map(|(_, r)| r.started_unix_ms)
        .min()
        .unwrap_or(0);
    let mut series: BTreeMap<u64, Point> = BTreeMap::new();
    let mut reset_at: Option<u64> = None;
    let mut thresholds: Vec<Threshold> = Vec::new();
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let mut invalid = Vec::new();
    let mut workers = Vec::new();
    for ((origin, rep), map) in reports.iter().zip(&maps) {
        let overflow = |what: &str| LoadError::Overflow {
            path: origin.clone(),
            what: what.to_owned(),
        };
        let offset_ms = match align {
            Align::Clock => rep.started_unix_ms.saturating_sub(started),
            Align::Start => 0,
        };
        for (i, n) in rep.stats.totals.iter().enumerate() {
            let name = &rep.stats.names[i];
            // Failures' first and last seen on the merged clock.
            let shifted;
            let n = if offset_ms > 0 && n.failure_counts.iter().any(|f| f.seen_ms.is_some()) {
                let mut c = n.clone();
                for f in &mut c.failure_counts {
                    f.seen_ms = f
                        .seen_ms
                        .map(|(a, b)| (a.saturating_add(offset_ms), b.saturating_add(offset_ms)));
                }
                shifted = c;
                &shifted
            } else {
                n
            };
            stats.totals[map[i].index()]
                .checked_add(n)
                .map_err(|e| overflow(&format!("the {} of {name:?}", e.what)))?;
        }
        let end = offset_ms
            .checked_add(rep.stats.elapsed_ms)
            .ok_or_else(|| overflow("the start and duration"))?;
        stats.elapsed_ms = stats.elapsed_ms.max(end);
        // The merged statistics cover from the earliest measured start.
        let from = offset_ms.saturating_add(rep.stats.reset_at_ms);
        reset_at = Some(reset_at.map_or(from, |r: u64| r.min(from)));
        let starts = |a: u64, b: u64| {
            a.checked_add(b).ok_or_else(|| {
                overflow("the late, missed or retried starts, or the dropped cookies")
            })
        };
        stats.late_starts = starts(stats.late_starts, rep.stats.late_starts)?;
        if let Some(h) = &rep.stats.start_lag {
            stats
                .start_lag
                .get_or_insert_with(Latencies::default)
                .add(h);
        }
        stats.missed_starts = starts(stats.missed_starts, rep.stats.missed_starts)?;
        stats.retries = starts(stats.retries, rep.stats.retries)?;
        stats.cookies_dropped = starts(stats.cookies_dropped, rep.stats.cookies_dropped)?;
        stats.waited_starts = starts(stats.waited_starts, rep.stats.waited_starts)?;
        stats.abandoned = starts(stats.abandoned, rep.stats.abandoned)?;
        // The nearest second, without adding to a number from a file.
        let shift = offset_ms / 1000 + u64::from(offset_ms % 1000 >= 500);
        for p in &rep.stats.series.points {
            let mut p = p.clone();
            p.t =
                p.t.checked_add(shift)
                    .ok_or_else(|| overflow("the series' times"))?;
            for n in &mut p.names {
                n.name = map.get(n.name.index()).copied().unwrap_or(n.name);
            }
            match series.get_mut(&p.t) {
                Some(q) => q.add_concurrent(&p),
                None => {
                    series.insert(p.t, p);
                }
            }
        }
        for t in &rep.thresholds {
            if !thresholds.iter().any(|u| u.text == t.text) {
                thresholds.push(t.clone());
            }
        }
        notes.extend(rep.notes.iter().map(|n| format!("{origin}: {n}")));
        errors.extend(rep.errors.iter().map(|e| format!("{origin}: {e}")));
        invalid.extend(rep.invalid.iter().map(|e| format!("{origin}: {e}")));
        workers.extend(rep.workers.iter().cloned());
    }
    stats.series.points = series.into_values().collect();
    // No one run's totals so far are the merge's.
    for p in &mut stats.series.points {
        p.cumulative = None;
        for n in &mut p.names {
            n.cumulative = None;
        }
    }
    stats.series.bound();
    let configs: Vec<&RunConfig> = reports.iter().map(|(_, r)| &r.config).collect();
    stats.reset_at_ms = reset_at.unwrap_or(0).min(stats.elapsed_ms);
    let config = merged_config(&configs, stats.elapsed_secs());
    let mut merged = RunReport {
        config,
        started_unix_ms: started,
        kinds: described.iter().map(|d| d.1.clone()).collect(),
        methods: described.iter().map(|d| d.2.clone()).collect(),
        stats,
        thresholds,
        verdicts: Vec::new(),
        notes,
        errors,
        invalid,
        generator_cpu_percent: reports
            .iter()
            .filter_map(|(_, r)| r.generator_cpu_percent)
            .reduce(f64::max),
        report_lag_ms: None,
        workers,
        merged_from: reports.iter().map(|(o, _)| o.clone()).collect(),
        // Judged again on the merge; each stopped run says so in its notes.
        aborted: None,
    };
    merged.evaluate();
    Ok(merged)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
