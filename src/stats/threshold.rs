//! Pass/fail thresholds for CI: `[NAME:]METRIC OP VALUE`, e.g. `p99<250ms`,
//! `error_rate<1%`, `rps>1000`, `predict-rest:p95<=100ms`. The name, when
//! given, is a request name (it may itself contain colons, as in
//! `flow:checkout:p95<2s`); without it the metric is over all requests.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::stats::{NameTotals, RunStats};

/// What a threshold measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// A latency quantile (0..=1), in microseconds.
    Quantile(f64),
    Mean,
    Min,
    Max,
    /// Failures / requests, as a fraction.
    ErrorRate,
    Rps,
    Requests,
    Failures,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub text: String,
    pub name: Option<String>,
    pub metric: Metric,
    pub op: Op,
    /// Microseconds for latencies, a fraction for rates, else a plain number.
    pub value: f64,
    /// Judged live too: once this long after the start, a run whose merged
    /// statistics break the threshold is stopped (k6's `abortOnFail` with
    /// `delayAbortEval`, but cluster-wide). None: judged at the end only.
    pub abort: Option<std::time::Duration>,
}

/// A threshold's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub threshold: String,
    pub passed: bool,
    /// The measured value, formatted in the threshold's unit.
    pub observed: String,
    /// Not written by anyone: a run must complete requests (the verdict
    /// `requests>0` that an empty run fails).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implicit: bool,
}

/// A run stopped because a threshold with `abort` broke while it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aborted {
    /// The threshold's text.
    pub threshold: String,
    /// Seconds after the start.
    pub at_s: f64,
    /// What it measured then, in the threshold's unit.
    pub observed: String,
}

impl Aborted {
    /// What the notes say.
    pub fn note(&self) -> String {
        format!(
            "aborted at {:.1} s: threshold {} broke (observed {}); every worker was stopped",
            self.at_s, self.threshold, self.observed
        )
    }
}

/// The first threshold with `abort` that `run` breaks, `elapsed` after the
/// start: judged on everything merged so far, once past its delay and once
/// what it judges has requests (no percentile of nothing stops a run).
pub fn broken_abort(
    thresholds: &[Threshold],
    run: &RunStats,
    elapsed: std::time::Duration,
) -> Option<Aborted> {
    thresholds.iter().find_map(|t| {
        let delay = t.abort?;
        if elapsed < delay || t.requests(run).unwrap_or(0) == 0 {
            return None;
        }
        let v = t.evaluate(run, false);
        (!v.passed).then(|| Aborted {
            threshold: t.text.clone(),
            at_s: elapsed.as_secs_f64(),
            observed: v.observed,
        })
    })
}

/// What a threshold over no requests observes.
pub const NO_REQUESTS: &str = "no requests";

impl Verdict {
    /// The verdict of a run that completed no requests.
    pub fn no_requests() -> Verdict {
        Verdict {
            threshold: "requests>0".into(),
            passed: false,
            observed: format!(
                "{NO_REQUESTS}: the run completed none (set allow_empty = true in [scenario] if that can pass)"
            ),
            implicit: true,
        }
    }
}

impl Verdict {
    /// The verdict of a run in which all of its `requests` failed.
    pub fn all_failed(requests: u64) -> Verdict {
        Verdict {
            threshold: "successes>0".into(),
            passed: false,
            observed: format!(
                "all {requests} requests failed (set allow_all_failed = true in [scenario] if that can pass)"
            ),
            implicit: true,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// Why a threshold's text does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    #[error("expected METRIC<VALUE, e.g. p99<250ms")]
    NoOperator,
    /// "p" and something that is not a number.
    #[error("unknown metric {0:?}")]
    NotAPercentile(String),
    #[error("percentile {0:?} is outside p0..p100")]
    PercentileRange(String),
    #[error(
        "unknown metric {0:?} (known: p50, p95, p99, p99.9, mean, min, max, error_rate, rps, requests, failures)"
    )]
    UnknownMetric(String),
    /// The value as given (its unit included).
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{0:?} needs a unit: us, ms or s")]
    NoUnit(String),
}

/// A threshold names a request the run has no statistics of (what its
/// verdict observes instead of a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("threshold {threshold:?}: no request is named {name:?}")]
pub struct UnknownName {
    pub threshold: String,
    pub name: String,
}

fn parse_metric(m: &str) -> Result<Metric, ThresholdError> {
    Ok(match m {
        "mean" | "avg" => Metric::Mean,
        "min" => Metric::Min,
        "max" => Metric::Max,
        "median" => Metric::Quantile(0.5),
        "error_rate" | "failure_rate" => Metric::ErrorRate,
        "rps" => Metric::Rps,
        "requests" => Metric::Requests,
        "failures" | "errors" => Metric::Failures,
        p if p.starts_with('p') => {
            let q: f64 = p[1..]
                .parse()
                .map_err(|_| ThresholdError::NotAPercentile(m.to_owned()))?;
            if !(0.0..=100.0).contains(&q) {
                return Err(ThresholdError::PercentileRange(m.to_owned()));
            }
            // Rounded so that p99.9 is exactly 0.999.
            Metric::Quantile((q * 1e6).round() / 1e8)
        }
        _ => return Err(ThresholdError::UnknownMetric(m.to_owned())),
    })
}

fn parse_value(metric: Metric, v: &str) -> Result<f64, ThresholdError> {
    let v = v.trim();
    let num = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| ThresholdError::NotANumber(v.to_owned()))
    };
    match metric {
        Metric::Quantile(_) | Metric::Mean | Metric::Min | Metric::Max => {
            let (n, scale) = if let Some(n) = v.strip_suffix("us").or_else(|| v.strip_suffix("µs"))
            {
                (n, 1.0)
            } else if let Some(n) = v.strip_suffix("ms") {
                (n, 1e3)
            } else if let Some(n) = v.strip_suffix('s') {
                (n, 1e6)
            } else {
                return Err(ThresholdError::NoUnit(v.to_owned()));
            };
            Ok(num(n)? * scale)
        }
        Metric::ErrorRate => match v.strip_suffix('%') {
            Some(n) => Ok(num(n)? / 100.0),
            None => num(v),
        },
        _ => num(v),
    }
}

impl Threshold {
    /// Parses one threshold.
    pub fn parse(text: &str) -> Result<Self, ThresholdError> {
        let t = text.trim();
        let (pos, op, len) = ["<=", ">=", "<", ">"]
            .iter()
            .filter_map(|o| t.find(o).map(|p| (p, *o)))
            .min_by_key(|(p, o)| (*p, std::cmp::Reverse(o.len())))
            .map(|(p, o)| {
                let op = match o {
                    "<=" => Op::Le,
                    ">=" => Op::Ge,
                    "<" => Op::Lt,
                    _ => Op::Gt,
                };
                (p, op, o.len())
            })
            .ok_or(ThresholdError::NoOperator)?;
        let lhs = t[..pos].trim();
        let rhs = &t[pos + len..];
        let (name, metric) = match lhs.rsplit_once(':') {
            Some((n, m)) => (Some(n.trim().to_owned()), m.trim()),
            None => (None, lhs),
        };
        let metric = parse_metric(metric)?;
        let value = parse_value(metric, rhs)?;
        Ok(Threshold {
            text: t.to_owned(),
            name,
            metric,
            op,
            value,
            abort: None,
        })
    }

    /// The measured value of this threshold's metric.
    pub fn observe(&self, run: &RunStats) -> Result<f64, UnknownName> {
        let total;
        let stats: &NameTotals = match &self.name {
            None => {
                total = run.total();
                &total
            }
            Some(n) => {
                let i = run
                    .names
                    .iter()
                    .position(|x| x == n)
                    .ok_or_else(|| UnknownName {
                        threshold: self.text.clone(),
                        name: n.clone(),
                    })?;
                &run.totals[i]
            }
        };
        Ok(match self.metric {
            Metric::Quantile(q) => stats.hist.quantile(q) as f64,
            Metric::Mean => {
                if stats.hist.is_empty() {
                    0.0
                } else {
                    stats.hist.mean()
                }
            }
            Metric::Min => stats.hist.min() as f64,
            Metric::Max => stats.hist.max() as f64,
            Metric::ErrorRate => {
                if stats.requests == 0 {
                    0.0
                } else {
                    stats.failures as f64 / stats.requests as f64
                }
            }
            Metric::Rps => run.rps(stats),
            Metric::Requests => stats.requests as f64,
            Metric::Failures => stats.failures as f64,
        })
    }

    fn format(&self, v: f64) -> String {
        match self.metric {
            Metric::Quantile(_) | Metric::Mean | Metric::Min | Metric::Max => {
                crate::stats::format_micros(v)
            }
            Metric::ErrorRate => format!("{:.3}%", v * 100.0),
            Metric::Rps => format!("{v:.1}"),
            _ => format!("{v:.0}"),
        }
    }

    /// The requests of what this threshold judges (a name, or all).
    pub fn requests(&self, run: &RunStats) -> Option<u64> {
        match &self.name {
            None => Some(run.total().requests),
            Some(n) => run
                .names
                .iter()
                .position(|x| x == n)
                .map(|i| run.totals[i].requests),
        }
    }

    /// Checks the threshold against a run. Over no requests every metric
    /// fails, saying so ("no requests"): an empty run must not pass by
    /// having no latency to exceed; `allow_empty` lets it pass instead.
    pub fn evaluate(&self, run: &RunStats, allow_empty: bool) -> Verdict {
        if self.requests(run) == Some(0) {
            return Verdict {
                threshold: self.text.clone(),
                passed: allow_empty,
                observed: if allow_empty {
                    format!("{NO_REQUESTS} (allowed)")
                } else {
                    NO_REQUESTS.into()
                },
                implicit: false,
            };
        }
        match self.observe(run) {
            Ok(v) => {
                let passed = match self.op {
                    Op::Lt => v < self.value,
                    Op::Le => v <= self.value,
                    Op::Gt => v > self.value,
                    Op::Ge => v >= self.value,
                };
                Verdict {
                    threshold: self.text.clone(),
                    passed,
                    observed: self.format(v),
                    implicit: false,
                }
            }
            Err(e) => Verdict {
                threshold: self.text.clone(),
                passed: false,
                observed: e.to_string(),
                implicit: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Snapshot;
    use crate::stats::histogram::record;

    #[test]
    fn parses_metrics_units_names_and_operators() {
        let t = Threshold::parse("p99<250ms").unwrap();
        assert_eq!(
            (t.name.as_deref(), t.metric, t.op, t.value),
            (None, Metric::Quantile(0.99), Op::Lt, 250_000.0)
        );
        let t = Threshold::parse("predict-rest:p95 <= 1.5s").unwrap();
        assert_eq!(t.name.as_deref(), Some("predict-rest"));
        assert_eq!((t.op, t.value), (Op::Le, 1_500_000.0));
        let t = Threshold::parse("flow:checkout:p99.9<2s").unwrap();
        assert_eq!(t.name.as_deref(), Some("flow:checkout"));
        assert_eq!(t.metric, Metric::Quantile(0.999));
        assert_eq!(Threshold::parse("error_rate<1%").unwrap().value, 0.01);
        assert_eq!(Threshold::parse("error_rate<0.05").unwrap().value, 0.05);
        assert_eq!(Threshold::parse("rps>=1000").unwrap().op, Op::Ge);
        assert_eq!(Threshold::parse("mean<500us").unwrap().value, 500.0);
        for bad in ["p99", "p99<250", "p101<1s", "latency<1s", "rps>many", "<1s"] {
            assert!(Threshold::parse(bad).is_err(), "{bad}");
        }
        let e = Threshold::parse("p99<250").unwrap_err();
        assert!(e.to_string().contains("needs a unit"), "{e}");
    }

    #[test]
    fn an_abort_threshold_breaks_only_past_its_delay_and_with_requests() {
        use std::time::Duration;
        let mut run = RunStats::new(vec!["a".into(), "b".into()]);
        let mut n = crate::stats::NameSnapshot::empty(crate::stats::StatId(0));
        for v in 1..=100u64 {
            record(&mut n.hist, v * 1000);
            n.requests += 1;
        }
        run.apply(
            0,
            &Snapshot {
                at_ms: 1000,
                interval_ms: 1000,
                names: vec![n],
                ..Snapshot::default()
            },
        );
        run.finish();
        let with = |text: &str, delay: Option<u64>| {
            let mut t = Threshold::parse(text).unwrap();
            t.abort = delay.map(Duration::from_secs);
            t
        };
        let list = [
            with("p99<10ms", None),
            with("b:p99<1ms", Some(0)),
            with("a:p99<50ms", Some(5)),
        ];
        // Without abort: never live. b has no requests: not judged yet.
        // a breaks, but only from 5 s on.
        assert_eq!(broken_abort(&list, &run, Duration::from_secs(4)), None);
        let a = broken_abort(&list, &run, Duration::from_secs(5)).unwrap();
        assert_eq!((a.threshold.as_str(), a.at_s), ("a:p99<50ms", 5.0));
        assert_eq!(a.observed, "99.0ms");
        let note = a.note();
        assert!(
            note.starts_with("aborted at 5.0 s: threshold a:p99<50ms broke"),
            "{note}"
        );
    }

    #[test]
    fn evaluates_against_a_run() {
        let mut run = RunStats::new(vec!["a".into(), "b".into()]);
        let mut n = crate::stats::NameSnapshot::empty(crate::stats::StatId(0));
        for v in 1..=1000u64 {
            record(&mut n.hist, v * 1000);
            n.requests += 1;
        }
        n.failures = 5;
        run.apply(
            0,
            &Snapshot {
                at_ms: 10_000,
                interval_ms: 1000,
                names: vec![n],
                ..Snapshot::default()
            },
        );
        let check = |s: &str| Threshold::parse(s).unwrap().evaluate(&run, false);
        assert!(check("p99<1s").passed);
        assert!(!check("p99<900ms").passed);
        assert!(check("a:p50<=501ms").passed);
        assert!(check("error_rate<1%").passed);
        assert!(!check("error_rate<0.4%").passed);
        assert!(check("rps>=100").passed);
        assert_eq!(check("rps>=100").observed, "100.0");
        let v = check("nope:p99<1s");
        assert!(!v.passed);
        assert!(v.observed.contains("no request is named"), "{}", v.observed);
        // A name that saw nothing fails every metric, whatever its bound.
        for t in [
            "b:p99<1s",
            "b:error_rate<1%",
            "b:failures<1",
            "b:requests<5",
            "b:max<10s",
        ] {
            let v = check(t);
            assert_eq!((v.passed, v.observed.as_str()), (false, NO_REQUESTS), "{t}");
        }
        let v = Threshold::parse("b:p99<1s").unwrap().evaluate(&run, true);
        assert!(v.passed && v.observed.contains("allowed"), "{v:?}");
        // An empty run: the total too.
        let empty = RunStats::new(vec!["a".into()]);
        let v = Threshold::parse("error_rate<1%")
            .unwrap()
            .evaluate(&empty, false);
        assert_eq!((v.passed, v.observed.as_str()), (false, NO_REQUESTS));
    }

    /// The messages word for word (`--threshold`, `--slo` and the file's
    /// `[thresholds]` quote them).
    #[test]
    fn refusals_are_worded_as_users_see_them() {
        for (text, want) in [
            ("p99", "expected METRIC<VALUE, e.g. p99<250ms"),
            ("pxx<1s", "unknown metric \"pxx\""),
            ("p101<1s", "percentile \"p101\" is outside p0..p100"),
            (
                "latency<1s",
                "unknown metric \"latency\" (known: p50, p95, p99, p99.9, mean, min, max, error_rate, rps, requests, failures)",
            ),
            ("p99< 250 ", "\"250\" needs a unit: us, ms or s"),
            ("p99<fastms", "\"fastms\" is not a number"),
            ("rps>many", "\"many\" is not a number"),
            ("error_rate<x%", "\"x%\" is not a number"),
        ] {
            let e = Threshold::parse(text).unwrap_err().to_string();
            assert_eq!(e, want, "{text}");
        }
        let run = RunStats::new(vec!["a".into()]);
        let t = Threshold::parse("nope:p99<1s").unwrap();
        assert_eq!(
            t.observe(&run).unwrap_err().to_string(),
            "threshold \"nope:p99<1s\": no request is named \"nope\""
        );
    }
}
