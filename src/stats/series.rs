//! The per-second time series of a run, bounded in memory: past a limit, the
//! oldest half of the points is merged pairwise (rates averaged, percentiles
//! and maxima taken as the larger of the pair), so a run of days keeps a fixed
//! number of points at a coarser step.

use serde::{Deserialize, Serialize};

/// The most points kept; past it, old points merge.
pub const MAX_POINTS: usize = 7200;

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
    pub name: u32,
    pub requests: u64,
    pub failures: u64,
    #[serde(flatten)]
    pub latency: Percentiles,
}

/// One step of the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// higher is the bound that stays true).
    fn add_names(names: &mut Vec<NamePoint>, other: &[NamePoint]) {
        for n in other {
            match names.iter_mut().find(|m| m.name == n.name) {
                Some(m) => {
                    m.requests += n.requests;
                    m.failures += n.failures;
                    m.latency = m.latency.upper(&n.latency);
                }
                None => names.push(n.clone()),
            }
        }
    }

    /// Adds a point of another run over the same time (merged results):
    /// requests, failures and users add up; percentiles as in `add_names`.
    pub fn add_concurrent(&mut self, other: &Point) {
        self.step = self.step.max(other.step);
        self.requests += other.requests;
        self.failures += other.failures;
        self.users += other.users;
        self.latency = self.latency.upper(&other.latency);
        Self::add_names(&mut self.names, &other.names);
    }

    fn merge(&self, later: &Point) -> Point {
        let mut names = self.names.clone();
        Self::add_names(&mut names, &later.names);
        Point {
            t: later.t,
            step: self.step + later.step,
            requests: self.requests + later.requests,
            failures: self.failures + later.failures,
            users: self.users.max(later.users),
            latency: self.latency.upper(&later.latency),
            names,
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
        if self.points.len() > MAX_POINTS {
            let half = self.points.len() / 2;
            let old: Vec<Point> = self.points.drain(..half).collect();
            let merged: Vec<Point> = old
                .chunks(2)
                .map(|c| {
                    if c.len() == 2 {
                        c[0].merge(&c[1])
                    } else {
                        c[0].clone()
                    }
                })
                .collect();
            self.points.splice(0..0, merged);
        }
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
}
