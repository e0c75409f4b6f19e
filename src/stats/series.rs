//! The per-second time series of a run, bounded in memory: past a limit of
//! points, or of per-name entries in all of them, the oldest half of the
//! points is merged pairwise (counts added, percentiles and maxima taken as
//! the larger of the pair), so a run of days, or of many names, keeps a
//! bounded number of points at a coarser step.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::rows::StatId;

/// The most points kept; past it, old points merge.
pub const MAX_POINTS: usize = 7200;
/// The most per-name entries ([`NamePoint`]s, 56 bytes each) kept in all
/// points together: about 60 MB. Past it, old points merge as past
/// [`MAX_POINTS`] (10,000 names, all busy, keep about 100 points).
pub const MAX_NAME_POINTS: usize = 1_000_000;

/// Latency figures of one point, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(h: &super::Latency) -> Self {
        use super::histogram::quantile;
        Percentiles {
            p50: quantile(h, 0.5),
            p90: quantile(h, 0.9),
            p95: quantile(h, 0.95),
            p99: quantile(h, 0.99),
            max: if h.is_empty() { 0 } else { h.max() },
        }
    }

    fn upper(&self, o: &Self) -> Self {
        Percentiles {
            p50: self.p50.max(o.p50),
            p90: self.p90.max(o.p90),
            p95: self.p95.max(o.p95),
            p99: self.p99.max(o.p99),
            max: self.max.max(o.max),
        }
    }
}

/// One request name within a point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamePoint {
    pub name: StatId,
    pub requests: u64,
    pub failures: u64,
    #[serde(flatten)]
    pub latency: Percentiles,
    /// This name's requests up to the point, kept only when asked for
    /// (`--csv-full-history`: Locust's per-name totals in its history).
    /// Boxed: most runs keep none, and an empty one costs a pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative: Option<Box<Cumulative>>,
}

/// The run's requests up to a point (all names together, or one name's):
/// what Locust's history calls its totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cumulative {
    /// Microseconds.
    pub p50: u64,
    pub mean_us: f64,
    pub min: u64,
    pub max: u64,
    /// Bytes received per request.
    pub bytes_per_request: f64,
}

impl Cumulative {
    /// From everything recorded so far: `hist`, and the bytes received by
    /// `requests` requests.
    pub fn of(hist: &super::Latencies, bytes_received: u64, requests: u64) -> Self {
        Cumulative {
            p50: hist.quantile(0.5),
            mean_us: hist.mean(),
            min: hist.min(),
            max: hist.max(),
            bytes_per_request: bytes_received as f64 / requests.max(1) as f64,
        }
    }
}

/// One step of the series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds since the start, at the end of the step.
    pub t: u64,
    /// Length of the step in seconds.
    pub step: u64,
    pub requests: u64,
    pub failures: u64,
    pub users: u64,
    #[serde(flatten)]
    pub latency: Percentiles,
    pub names: Vec<NamePoint>,
    /// The run so far, when this point was sealed (absent in merged
    /// results, where no run's totals are the merge's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cumulative: Option<Cumulative>,
}

impl Point {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.step.max(1) as f64
    }

    pub fn fps(&self) -> f64 {
        self.failures as f64 / self.step.max(1) as f64
    }

    /// Adds the names of another point: counts summed, percentiles the
    /// higher of the two (a point keeps percentiles, not histograms, so the
    /// higher is the bound that stays true). A name's run so far is the
    /// `later` point's when it follows, none when both ran side by side.
    /// Counts saturate: a point may come from a file.
    fn add_names(names: &mut Vec<NamePoint>, other: &[NamePoint], later: bool) {
        let mut at: HashMap<StatId, usize> =
            names.iter().enumerate().map(|(i, n)| (n.name, i)).collect();
        for n in other {
            match at.get(&n.name) {
                Some(&i) => {
                    let m = &mut names[i];
                    m.requests = m.requests.saturating_add(n.requests);
                    m.failures = m.failures.saturating_add(n.failures);
                    m.latency = m.latency.upper(&n.latency);
                    m.cumulative = if later { n.cumulative.clone() } else { None };
                }
                None => {
                    at.insert(n.name, names.len());
                    names.push(n.clone());
                }
            }
        }
    }

    /// Adds a point of another run over the same time (merged results):
    /// requests, failures and users add up; percentiles as in `add_names`.
    pub fn add_concurrent(&mut self, other: &Point) {
        self.step = self.step.max(other.step);
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.users = self.users.saturating_add(other.users);
        self.latency = self.latency.upper(&other.latency);
        Self::add_names(&mut self.names, &other.names, false);
    }

    /// Adds a report of this run that came after its second was sealed
    /// (an engine's last, partial interval): as `add_concurrent`, except
    /// that the run so far, the run's and each of its names', is the later
    /// report's, since it was taken after this point's.
    pub fn add_late(&mut self, later: &Point) {
        self.add_concurrent(later);
        for n in &later.names {
            if let Some(m) = self.names.iter_mut().find(|m| m.name == n.name) {
                m.cumulative = n.cumulative.clone();
            }
        }
        if later.cumulative.is_some() {
            self.cumulative = later.cumulative;
        }
    }

    fn merge(self, later: &Point) -> Point {
        let mut names = self.names;
        Self::add_names(&mut names, &later.names, true);
        Point {
            t: later.t,
            step: self.step.saturating_add(later.step),
            requests: self.requests.saturating_add(later.requests),
            failures: self.failures.saturating_add(later.failures),
            users: self.users.max(later.users),
            latency: self.latency.upper(&later.latency),
            names,
            // The later point's view of the run so far.
            cumulative: later.cumulative,
        }
    }
}

/// The series.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Series {
    pub points: Vec<Point>,
}

impl Series {
    pub fn push(&mut self, p: Point) {
        self.points.push(p);
        self.bound();
    }

    /// Per-name entries in all points.
    pub fn name_points(&self) -> usize {
        self.points.iter().map(|p| p.names.len()).sum()
    }

    /// Merges the oldest half of the points pairwise while there are more
    /// than [`MAX_POINTS`] points or [`MAX_NAME_POINTS`] per-name entries
    /// (and two points to merge). `push` does it; call it after setting
    /// `points` by hand (a series read from a file).
    pub fn bound(&mut self) {
        while self.points.len() > 1
            && (self.points.len() > MAX_POINTS || self.name_points() > MAX_NAME_POINTS)
        {
            self.merge_oldest_half();
        }
    }

    fn merge_oldest_half(&mut self) {
        let half = (self.points.len() / 2).max(2);
        let mut old = self.points.drain(..half);
        let mut merged = Vec::with_capacity(half.div_ceil(2));
        while let Some(a) = old.next() {
            merged.push(match old.next() {
                Some(b) => a.merge(&b),
                None => a,
            });
        }
        drop(old);
        self.points.splice(0..0, merged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: u64) -> Point {
        Point {
            t,
            step: 1,
            requests: 10,
            failures: 1,
            users: 5,
            latency: Percentiles {
                p50: t,
                p90: t,
                p95: t,
                p99: t,
                max: t,
            },
            names: vec![],
            cumulative: None,
        }
    }

    #[test]
    fn memory_stays_bounded_and_counts_are_kept() {
        let mut s = Series::default();
        let n = 3 * MAX_POINTS as u64;
        for t in 1..=n {
            s.push(point(t));
        }
        assert!(s.points.len() <= MAX_POINTS);
        let total: u64 = s.points.iter().map(|p| p.requests).sum();
        assert_eq!(total, 10 * n);
        let steps: u64 = s.points.iter().map(|p| p.step).sum();
        assert_eq!(steps, n);
        assert_eq!(s.points.last().unwrap().t, n);
        // Time stays ordered.
        assert!(s.points.windows(2).all(|w| w[0].t < w[1].t));
    }

    #[test]
    fn the_name_budget_merges_old_points_and_keeps_counts() {
        const NAMES: u32 = 10_000;
        let mut s = Series::default();
        let n = 300u64;
        for t in 1..=n {
            let mut p = point(t);
            p.names = (0..NAMES)
                .map(|name| NamePoint {
                    name: StatId(name),
                    requests: 2,
                    failures: u64::from(name % 2),
                    latency: Percentiles {
                        p50: t,
                        p90: t,
                        p95: t,
                        p99: t,
                        max: t * 10 + u64::from(name),
                    },
                    cumulative: None,
                })
                .collect();
            s.push(p);
            assert!(s.name_points() <= MAX_NAME_POINTS);
        }
        assert!(s.points.len() < n as usize);
        assert!(s.points.len() >= MAX_NAME_POINTS / NAMES as usize / 2);
        // Counts kept, per point and per name.
        assert_eq!(s.points.iter().map(|p| p.requests).sum::<u64>(), 10 * n);
        assert_eq!(s.points.iter().map(|p| p.step).sum::<u64>(), n);
        assert!(s.points.windows(2).all(|w| w[0].t < w[1].t));
        for name in [0, 1, 4_321, NAMES - 1] {
            let of = |p: &Point| {
                p.names
                    .iter()
                    .find(|m| m.name == StatId(name))
                    .cloned()
                    .unwrap()
            };
            let requests: u64 = s.points.iter().map(|p| of(p).requests).sum();
            assert_eq!(requests, 2 * n);
            let failures: u64 = s.points.iter().map(|p| of(p).failures).sum();
            assert_eq!(failures, u64::from(name % 2) * n);
            // A merged point keeps the higher percentiles: its last second's.
            for p in &s.points {
                assert_eq!(of(p).latency.p99, p.t);
                assert_eq!(of(p).latency.max, p.t * 10 + u64::from(name));
            }
        }
        // The oldest points are the coarsest.
        assert!(s.points[0].step > 1);
        assert_eq!(s.points.last().unwrap().step, 1);
    }

    #[test]
    fn a_series_set_by_hand_is_bounded_on_request() {
        let mut s = Series {
            points: (1..=3 * MAX_POINTS as u64).map(point).collect(),
        };
        s.bound();
        assert!(s.points.len() <= MAX_POINTS);
        assert_eq!(
            s.points.iter().map(|p| p.step).sum::<u64>(),
            3 * MAX_POINTS as u64
        );
        let mut one = Series::default();
        one.bound();
        one.push(point(1));
        assert_eq!(one.points.len(), 1);
    }
}
