//! An engine's share of the whole load: the slice [lo, hi) of the unit
//! interval. Users split by rounding the cumulative edges, so that the shares
//! of all engines add up to the total exactly, remainders spread; rates and
//! counts split in proportion.

/// This engine's slice of the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    pub lo: f64,
    pub hi: f64,
}

impl Share {
    /// The whole load (one engine).
    pub const WHOLE: Share = Share { lo: 0.0, hi: 1.0 };

    /// Splits the unit interval by weights (e.g. cores): engine i gets
    /// [sum(w[..i]), sum(w[..=i])) / sum(w).
    pub fn split(weights: &[u64]) -> Vec<Share> {
        let total: u64 = weights.iter().sum::<u64>().max(1);
        let mut acc = 0u64;
        weights
            .iter()
            .map(|w| {
                let lo = acc as f64 / total as f64;
                acc += w;
                let hi = acc as f64 / total as f64;
                Share { lo, hi }
            })
            .collect()
    }

    pub fn fraction(&self) -> f64 {
        (self.hi - self.lo).max(0.0)
    }

    /// This engine's users of `total`.
    pub fn users(&self, total: f64) -> u64 {
        let edge = |x: f64| (total * x).round().max(0.0) as u64;
        edge(self.hi).saturating_sub(edge(self.lo))
    }

    /// This engine's slice of `total` items (rows of a per-user data file),
    /// cut like users: the engines' slices are disjoint and cover them all.
    pub fn range(&self, total: usize) -> std::ops::Range<usize> {
        let edge = |x: f64| ((total as f64 * x).round().max(0.0) as usize).min(total);
        edge(self.lo)..edge(self.hi).max(edge(self.lo))
    }

    /// This engine's part of a rate.
    pub fn rate(&self, total: f64) -> f64 {
        total * self.fraction()
    }

    /// This engine's part of a request count, split like users.
    pub fn count(&self, total: u64) -> u64 {
        self.users(total as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_split_exactly_with_remainders_spread() {
        for weights in [vec![1, 1, 1], vec![2, 1], vec![4, 4, 8, 1], vec![1]] {
            let shares = Share::split(&weights);
            for total in [0u64, 1, 2, 7, 10, 99, 1000, 10_001] {
                let parts: Vec<u64> = shares.iter().map(|s| s.users(total as f64)).collect();
                assert_eq!(parts.iter().sum::<u64>(), total, "{weights:?} {total}");
                let wsum: u64 = weights.iter().sum();
                for (p, w) in parts.iter().zip(&weights) {
                    let ideal = total as f64 * *w as f64 / wsum as f64;
                    assert!(
                        (*p as f64 - ideal).abs() <= 1.0,
                        "{parts:?} {weights:?} {total}"
                    );
                }
            }
        }
        let s = Share::split(&[1, 3]);
        assert_eq!(s[1].rate(100.0), 75.0);
        assert_eq!(Share::WHOLE.count(5), 5);
    }
}
