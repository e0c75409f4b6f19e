//! One side of a comparison: results read back, merged exactly, with what
//! each run shows of its own noise (per-second series, own percentiles).

use std::collections::BTreeMap;

use super::CompareError;
use crate::report::merge::{self, Align};
use crate::report::run_report::RunReport;
use crate::report::summary::QUANTILES;
use crate::stats::series::Percentiles;
use crate::stats::{Latencies, NameClass};

/// A name as both sides know it: its class, then its text.
pub(super) type Key = (NameClass, String);

/// One second of one name, from a run's series.
pub(super) struct Second {
    pub(super) requests: u64,
    pub(super) failures: u64,
    pub(super) latency: Percentiles,
}

/// One side of a comparison: its results merged exactly (histograms
/// added), every run's per-second series kept apart (each second a sample
/// of the run's noise), and each run's own percentiles (with several
/// runs, a sample of the noise between runs).
pub struct Side {
    pub files: Vec<String>,
    pub report: RunReport,
    /// The runs' measured time added up: rates are per second of a run.
    pub secs: f64,
    seconds: BTreeMap<Key, Vec<Second>>,
    /// Per name, each run's [`QUANTILES`] (runs that measured the name).
    runs: BTreeMap<Key, Vec<[u64; QUANTILES.len()]>>,
    /// Runs that were INVALID or broke: their numbers are suspect.
    pub notes: Vec<String>,
}

impl Side {
    /// A side from results read with [`merge::load`], each with its file.
    pub fn new(loaded: Vec<(String, RunReport)>) -> Result<Side, CompareError> {
        let files: Vec<String> = loaded.iter().map(|(f, _)| f.clone()).collect();
        let mut seconds: BTreeMap<Key, Vec<Second>> = BTreeMap::new();
        let mut runs: BTreeMap<Key, Vec<[u64; QUANTILES.len()]>> = BTreeMap::new();
        let mut secs = 0.0;
        let mut notes = Vec::new();
        for (file, r) in &loaded {
            secs += r.stats.measured_secs();
            notes.extend(r.invalid.iter().map(|w| format!("{file}: INVALID: {w}")));
            notes.extend(
                r.errors
                    .iter()
                    .map(|e| format!("{file}: the run broke: {e}")),
            );
            for (i, (name, t)) in r.stats.names.iter().zip(&r.stats.totals).enumerate() {
                if !t.hist.is_empty() {
                    runs.entry((r.stats.class(i), name.clone()))
                        .or_default()
                        .push(QUANTILES.map(|(_, q)| t.hist.quantile(q)));
                }
            }
            for point in &r.stats.series.points {
                for n in &point.names {
                    let i = n.name.index();
                    let Some(name) = r.stats.names.get(i) else {
                        continue;
                    };
                    seconds
                        .entry((r.stats.class(i), name.clone()))
                        .or_default()
                        .push(Second {
                            requests: n.requests,
                            failures: n.failures,
                            latency: n.latency,
                        });
                }
            }
        }
        // Repeats of a run lie over each other from their starts.
        let report = merge::merge(loaded, Align::Start)?;
        Ok(Side {
            files,
            report,
            secs,
            seconds,
            runs,
            notes,
        })
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = (Key, usize)> + '_ {
        let s = &self.report.stats;
        s.names
            .iter()
            .enumerate()
            .map(|(i, n)| ((s.class(i), n.clone()), i))
    }

    pub(super) fn seconds(&self, key: &Key) -> &[Second] {
        self.seconds.get(key).map_or(&[], Vec::as_slice)
    }

    /// Each run's log percentile `k` of [`QUANTILES`] for a name.
    pub(super) fn runs(&self, key: &Key, k: usize) -> Vec<f64> {
        self.runs.get(key).map_or_else(Vec::new, |r| {
            r.iter().map(|v| (v[k].max(1) as f64).ln()).collect()
        })
    }

    /// Name `i`'s histogram.
    pub fn histogram(&self, i: usize) -> Option<&Latencies> {
        self.report.stats.totals.get(i).map(|t| &t.hist)
    }

    pub(super) fn requests(&self) -> u64 {
        self.report.stats.total().requests
    }
}
