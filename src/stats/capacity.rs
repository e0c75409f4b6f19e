//! Capacity search: the highest open-model rate whose probe keeps every SLO.
//! This module only decides: which rate to probe next (a ladder up, then
//! bisection), how a finished probe is judged from its statistics, and what
//! the search found. Running the probes is the cluster's; drawing the result
//! is the reports'. It lives below both, as thresholds do.
//!
//! A probe is judged three ways:
//! - **kept**: every SLO held over the whole probe, no threshold stopped it
//!   early, the target answered at least [`KEEP_UP`] of the offered rate and
//!   no arrival was missed;
//! - **broken**: an SLO failed, the probe was stopped early by one, or the
//!   target did not keep up with the rate;
//! - **invalid**: the generator limited the probe (its CPU, late starts,
//!   late reports): what it measured says nothing of the target, so the
//!   search goes no higher, and a rate found below it is only a lower bound.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::RunStats;
use super::threshold::{Aborted, Metric, Op, Threshold, Verdict};

/// A probe keeps up when the target answered at least this share of the
/// offered rate (a probe's first and last moments cost a little).
pub const KEEP_UP: f64 = 0.95;

/// An SLO stops a probe early only once broken by this factor (p99<20ms
/// stops it at 30 ms): a probe near the capacity whose first seconds were
/// slow must not be cut short, one far over it need not run to the end.
pub const CLEARLY_BROKEN: f64 = 1.5;

/// The SLO a search keeps when none of the given ones judges failures: a
/// target that answers errors fast has not kept the rate.
pub const DEFAULT_ERROR_SLO: &str = "error_rate<1%";

/// How the search moves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The first probe's rate (requests per second, all workers together).
    pub start: f64,
    /// Each rung of the ladder is the last kept rate times this.
    pub factor: f64,
    /// No probe above this rate.
    pub max_rate: f64,
    /// Below the start, a failing ladder goes down to this rate at most.
    pub min_rate: f64,
    /// Bisection ends once the highest kept rate is within this fraction
    /// of the lowest rate not kept.
    pub precision: f64,
    /// No more probes than this in all.
    pub max_probes: usize,
    /// Each probe's length, judged (after its warm-up).
    #[serde(with = "secs")]
    pub probe: Duration,
    /// Load before each probe is judged, then forgotten: new connections,
    /// cold caches and the first moments of the schedule are not the
    /// target's steady state.
    #[serde(with = "secs")]
    pub warmup: Duration,
    /// The pause between probes, for the target to drain.
    #[serde(with = "secs")]
    pub drain: Duration,
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

/// Search settings that cannot make a search: each names the flag at fault
/// and gives the value (or values) it had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingsError {
    #[error("--start-rate must be above 0 (got {0})")]
    StartRate(f64),
    #[error("--factor must be above 1 and at most 100 (got {0})")]
    Factor(f64),
    #[error("--max-rate ({max_rate}) must be at least --start-rate ({start})")]
    MaxRate { max_rate: f64, start: f64 },
    #[error("--min-rate ({min_rate}) must be above 0 and at most --start-rate ({start})")]
    MinRate { min_rate: f64, start: f64 },
    /// A fraction, shown as a percentage.
    #[error("--precision must be between 0.1% and 100% (got {:.3}%)", *.0 * 100.0)]
    Precision(f64),
    #[error("--max-probes must be at least 1")]
    NoProbes,
    #[error(
        "--probe must be at least 1s (got {0:?}): a probe shorter than a statistics interval measures nothing"
    )]
    ProbeTooShort(Duration),
    #[error(
        "--probe is at most 24h, --drain and --warmup at most 1h (got {probe:?}, {drain:?} and {warmup:?})"
    )]
    TooLong {
        probe: Duration,
        drain: Duration,
        warmup: Duration,
    },
}

impl Settings {
    /// Checks the settings; the error names the flag at fault.
    pub fn check(&self) -> Result<(), SettingsError> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.start) {
            return Err(SettingsError::StartRate(self.start));
        }
        if !(self.factor.is_finite() && self.factor > 1.0 && self.factor <= 100.0) {
            return Err(SettingsError::Factor(self.factor));
        }
        if !positive(self.max_rate) || self.max_rate < self.start {
            return Err(SettingsError::MaxRate {
                max_rate: self.max_rate,
                start: self.start,
            });
        }
        if !positive(self.min_rate) || self.min_rate > self.start {
            return Err(SettingsError::MinRate {
                min_rate: self.min_rate,
                start: self.start,
            });
        }
        if !(self.precision.is_finite() && self.precision >= 0.001 && self.precision <= 1.0) {
            return Err(SettingsError::Precision(self.precision));
        }
        if self.max_probes == 0 {
            return Err(SettingsError::NoProbes);
        }
        if self.probe < Duration::from_secs(1) {
            return Err(SettingsError::ProbeTooShort(self.probe));
        }
        let hour = Duration::from_secs(3600);
        if self.probe > 24 * hour || self.drain > hour || self.warmup > hour {
            return Err(SettingsError::TooLong {
                probe: self.probe,
                drain: self.drain,
                warmup: self.warmup,
            });
        }
        Ok(())
    }
}

/// A probe's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Kept,
    Broken,
    Invalid,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Kept => "kept",
            Kind::Broken => "broken",
            Kind::Invalid => "INVALID",
        }
    }
}

/// One probe: a rate held for a while, and what the target did under it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The rate offered, requests per second.
    pub rate: f64,
    pub kind: Kind,
    /// Why it was not kept (each broken SLO, the rate not kept up, the
    /// generator's limits); empty when kept.
    pub why: Vec<String>,
    /// Requests answered per second.
    pub achieved_rps: f64,
    pub seconds: f64,
    pub requests: u64,
    pub failures: u64,
    pub error_rate: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Each SLO's verdict over the probe.
    pub slos: Vec<Verdict>,
    /// Seconds into the probe (its warm-up included) when an SLO stopped
    /// it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at_s: Option<f64>,
    /// Arrivals that found max_in_flight arrivals waiting or in flight.
    pub missed: u64,
    /// Arrivals that waited for a connection (their wait counts).
    pub waited: u64,
    /// The busiest engine's mean CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_cpu_percent: Option<f64>,
}

impl Probe {
    /// Judges a finished probe at `rate` from its merged statistics.
    /// `aborted`: the SLO that stopped it early, if one did.
    pub fn judge(
        rate: f64,
        stats: &RunStats,
        slos: &[Threshold],
        aborted: Option<&Aborted>,
    ) -> Probe {
        let total = stats.total();
        let health = stats.health_total();
        let achieved = stats.rps(&total);
        let verdicts: Vec<Verdict> = slos.iter().map(|t| t.evaluate(stats, false)).collect();
        // An SLO that stopped the probe says so once, with what it saw then.
        let mut why: Vec<String> = verdicts
            .iter()
            .filter(|v| !v.passed && aborted.is_none_or(|a| a.threshold != v.threshold))
            .map(|v| format!("{} broke (observed {})", v.threshold, v.observed))
            .collect();
        if let Some(a) = aborted {
            why.insert(
                0,
                format!(
                    "stopped at {:.1} s: {} clearly broken (observed {})",
                    a.at_s, a.threshold, a.observed
                ),
            );
        }
        if health.missed_starts > 0 {
            why.push(format!(
                "{} arrivals missed: the target's answers did not free max_in_flight fast enough",
                health.missed_starts
            ));
        }
        // A probe stopped early has no full length to keep up over.
        if aborted.is_none() && achieved < KEEP_UP * rate {
            why.push(format!(
                "answered {achieved:.1}/s of {} offered (below {:.0}%)",
                format_rate(rate),
                KEEP_UP * 100.0
            ));
        }
        let generator = stats.generator_reasons();
        let kind = if !generator.is_empty() {
            why = generator
                .into_iter()
                .map(|g| format!("the generator limited this probe: {g}"))
                .chain(why)
                .collect();
            Kind::Invalid
        } else if why.is_empty() {
            Kind::Kept
        } else {
            Kind::Broken
        };
        Probe {
            rate,
            kind,
            why,
            achieved_rps: achieved,
            seconds: stats.measured_secs(),
            requests: total.requests,
            failures: total.failures,
            error_rate: if total.requests > 0 {
                total.failures as f64 / total.requests as f64
            } else {
                0.0
            },
            p50_us: total.hist.quantile(0.5),
            p90_us: total.hist.quantile(0.9),
            p99_us: total.hist.quantile(0.99),
            max_us: if total.hist.is_empty() {
                0
            } else {
                total.hist.max()
            },
            slos: verdicts,
            stopped_at_s: aborted.map(|a| a.at_s),
            missed: health.missed_starts,
            waited: health.waited_starts,
            generator_cpu_percent: stats.busiest_cpu(),
        }
    }
}

/// The SLOs a search keeps: those given, and [`DEFAULT_ERROR_SLO`] when
/// none of them judges failures over all requests.
pub fn slos_with_default(mut slos: Vec<Threshold>) -> Vec<Threshold> {
    let judges_errors = slos
        .iter()
        .any(|t| t.name.is_none() && matches!(t.metric, Metric::ErrorRate | Metric::Failures));
    if !judges_errors && let Ok(t) = Threshold::parse(DEFAULT_ERROR_SLO) {
        slos.push(t);
    }
    slos
}

/// The thresholds that stop a probe early: each SLO loosened by
/// [`CLEARLY_BROKEN`], judged from `delay` into the probe. A count SLO
/// (requests, failures) is judged at the end only: a probe's count grows.
pub fn early_stops(slos: &[Threshold], delay: Duration) -> Vec<Threshold> {
    slos.iter()
        .filter(|t| !matches!(t.metric, Metric::Requests | Metric::Failures | Metric::Rps))
        .map(|t| {
            let mut loose = t.clone();
            loose.value = match t.op {
                Op::Lt | Op::Le => t.value * CLEARLY_BROKEN,
                Op::Gt | Op::Ge => t.value / CLEARLY_BROKEN,
            };
            loose.abort = Some(delay);
            loose
        })
        .collect()
}

/// Why the search ended where it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Limit {
    /// A probe at `rate` broke: the target's limit lies below it.
    Broken { rate: f64 },
    /// A probe at `rate` was INVALID: the generator limits from there on,
    /// so the rate found is a lower bound.
    Invalid { rate: f64 },
    /// The highest rate allowed (--max-rate) was kept.
    MaxRate { rate: f64 },
    /// No probe was kept, down to the lowest rate allowed.
    NoneKept,
    /// The search was stopped (a signal, the console) before it ended.
    Stopped,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    /// The highest rate kept; None when no probe was.
    pub rate: Option<f64>,
    pub limit: Limit,
    /// The lowest rate not kept above it, when bisection narrowed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
}

impl Found {
    /// One line for the summary and the console.
    pub fn line(&self) -> String {
        match (self.rate, &self.limit) {
            (Some(r), Limit::Broken { rate }) => format!(
                "capacity {}/s: the highest rate that kept every SLO ({}/s did not)",
                format_rate(r),
                format_rate(*rate)
            ),
            (Some(r), Limit::Invalid { rate }) => format!(
                "capacity at least {}/s: the generator limited the probe at {}/s, so the target may take more (add workers or cores)",
                format_rate(r),
                format_rate(*rate)
            ),
            (Some(r), Limit::MaxRate { .. }) => format!(
                "capacity at least {}/s: the highest rate allowed (--max-rate) kept every SLO",
                format_rate(r)
            ),
            (Some(r), Limit::Stopped) => format!(
                "search stopped; the highest rate kept so far is {}/s",
                format_rate(r)
            ),
            (Some(r), Limit::NoneKept) => format!("capacity {}/s", format_rate(r)),
            (None, Limit::Invalid { rate }) => format!(
                "no rate found: the generator limited the probe at {}/s before any was kept (add workers or cores)",
                format_rate(*rate)
            ),
            (None, Limit::Stopped) => "search stopped before any probe was kept".into(),
            (None, _) => {
                "no rate kept every SLO, down to the lowest rate allowed (--min-rate)".into()
            }
        }
    }
}

/// A rate as people read it: whole above 100, else up to 2 decimals.
pub fn format_rate(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}")
    } else {
        let s = format!("{r:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A rate rounded to three significant digits, so that probes are at
/// rates people can repeat (206, not 206.25).
pub fn round_rate(r: f64) -> f64 {
    if !(r.is_finite() && r > 0.0) {
        return r;
    }
    let digits = r.log10().floor() as i32;
    let scale = 10f64.powi(2 - digits);
    (r * scale).round() / scale
}

/// The search: which rate next, given the probes so far.
#[derive(Debug, Clone)]
pub struct Search {
    pub settings: Settings,
    pub probes: Vec<Probe>,
    /// Stopped from outside (a signal, the console).
    pub stopped: bool,
}

impl Search {
    pub fn new(settings: Settings) -> Self {
        Search {
            settings,
            probes: Vec::new(),
            stopped: false,
        }
    }

    /// The highest kept rate below the lowest rate not kept, and that rate
    /// with its kind. Probes are judged as a bracket: a kept probe above a
    /// broken one (noise near the limit) does not count.
    fn bracket(&self) -> (Option<f64>, Option<(f64, Kind)>) {
        let hi = self
            .probes
            .iter()
            .filter(|p| p.kind != Kind::Kept)
            .map(|p| (p.rate, p.kind))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let lo = self
            .probes
            .iter()
            .filter(|p| p.kind == Kind::Kept && hi.is_none_or(|(h, _)| p.rate < h))
            .map(|p| p.rate)
            .max_by(f64::total_cmp);
        (lo, hi)
    }

    /// The next rate to probe, or None when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        let s = &self.settings;
        if self.stopped || self.probes.len() >= s.max_probes {
            return None;
        }
        let tried = |r: f64| self.probes.iter().any(|p| p.rate == r);
        let next = match self.bracket() {
            (None, None) => s.start,
            // Up the ladder.
            (Some(lo), None) => {
                if lo >= s.max_rate {
                    return None;
                }
                round_rate(lo * s.factor).min(s.max_rate)
            }
            // Nothing kept yet: down the ladder.
            (None, Some((hi, _))) => {
                if hi <= s.min_rate {
                    return None;
                }
                round_rate(hi / s.factor).max(s.min_rate)
            }
            (Some(lo), Some((hi, _))) => {
                if hi <= lo * (1.0 + s.precision) {
                    return None;
                }
                round_rate((lo + hi) / 2.0)
            }
        };
        // Rounding can land on a rate already probed: narrow no further.
        (!tried(next)).then_some(next)
    }

    /// What the search found (so far).
    pub fn found(&self) -> Found {
        let (lo, hi) = self.bracket();
        let limit = match hi {
            _ if self.stopped && self.next_rate_ignoring_stop().is_some() => Limit::Stopped,
            Some((rate, Kind::Invalid)) => Limit::Invalid { rate },
            Some((rate, _)) if lo.is_some() => Limit::Broken { rate },
            Some(_) => Limit::NoneKept,
            None => match lo {
                Some(rate) => Limit::MaxRate { rate },
                None => Limit::Stopped,
            },
        };
        Found {
            rate: lo,
            below: hi.map(|(r, _)| r).filter(|_| lo.is_some()),
            limit,
        }
    }

    fn next_rate_ignoring_stop(&self) -> Option<f64> {
        let mut s = self.clone();
        s.stopped = false;
        s.next_rate()
    }

    /// Whether the answer is only a lower bound set by the generator.
    pub fn generator_bound(&self) -> bool {
        matches!(self.found().limit, Limit::Invalid { .. })
    }
}

/// A whole search as the reports show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    pub scenario: String,
    pub slos: Vec<String>,
    /// Stops a probe early (each SLO loosened by [`CLEARLY_BROKEN`]).
    pub early_stops: Vec<String>,
    pub settings: Settings,
    pub workers: usize,
    pub connections: u64,
    pub started_unix_ms: u64,
    pub probes: Vec<Probe>,
    pub found: Found,
    /// What the search must say besides (lost workers, stopped probes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[cfg(test)]
#[path = "capacity_tests.rs"]
mod tests;
