//! A latency histogram that costs what was recorded: the (bucket, count)
//! pairs of the latencies added, while they are few, and a dense (though
//! auto-resizing) histogram once they are not. The run keeps each second's
//! latencies of each name in one until the second is sealed, so that a
//! scenario of many names that each see a few requests a second costs bytes
//! per request, not a histogram per name.

use super::histogram::{self, Latency};
use super::latencies::Latencies;
use super::series::Percentiles;

/// Pairs kept before going dense: 1,024 pairs take 16 KB, what the smallest
/// dense histogram (latencies up to 2 ms) takes.
pub const FEW_MAX: usize = 1024;

/// Latencies of one name, few or many. Adds up exactly, as histograms do.
#[derive(Debug, Clone)]
pub enum Buckets {
    /// (lowest value of the bucket, count), in the order added: a bucket
    /// may come more than once until [`Buckets::compact`] merges them.
    Few(Vec<(u64, u64)>),
    Dense(Latency),
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets::Few(Vec::new())
    }
}

impl Buckets {
    /// Adds `count` latencies of `micros` (clamped into the histogram's
    /// range, as [`histogram::record`] does).
    pub fn record_n(&mut self, micros: u64, count: u64) {
        if count == 0 {
            return;
        }
        match self {
            Buckets::Dense(h) => histogram::record_n(h, micros, count),
            Buckets::Few(pairs) => {
                let v = micros.clamp(1, histogram::MAX_MICROS);
                pairs.push((histogram::lowest_equivalent(v), count));
                if pairs.len() >= FEW_MAX {
                    self.compact();
                }
            }
        }
    }

    /// Adds a dense histogram's buckets.
    pub fn add_latency(&mut self, h: &Latency) {
        match self {
            Buckets::Dense(d) => histogram::add(d, h),
            Buckets::Few(_) => {
                for v in h.iter_recorded() {
                    self.record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
        }
    }

    /// Sorts and merges the pairs; goes dense when more than half of
    /// [`FEW_MAX`] distinct buckets remain.
    pub fn compact(&mut self) {
        let Buckets::Few(pairs) = self else { return };
        pairs.sort_unstable_by_key(|p| p.0);
        pairs.dedup_by(|later, kept| {
            if later.0 == kept.0 {
                kept.1 = kept.1.saturating_add(later.1);
                true
            } else {
                false
            }
        });
        if pairs.len() > FEW_MAX / 2 {
            let mut h = histogram::new();
            for &(v, c) in pairs.iter() {
                histogram::record_n(&mut h, v, c);
            }
            *self = Buckets::Dense(h);
        } else {
            pairs.shrink_to_fit();
        }
    }

    /// Adds these latencies into a histogram.
    pub fn add_into(&self, into: &mut Latency) {
        match self {
            Buckets::Dense(h) => histogram::add(into, h),
            Buckets::Few(pairs) => {
                for &(v, c) in pairs {
                    histogram::record_n(into, v, c);
                }
            }
        }
    }

    /// Adds these latencies into a run's totals.
    pub fn add_to(&mut self, into: &mut Latencies) {
        self.compact();
        match self {
            Buckets::Dense(h) => into.add_latency(h),
            Buckets::Few(pairs) => into.merge_sorted(pairs.iter().copied()),
        }
    }

    /// How many latencies, saturating.
    pub fn count(&self) -> u64 {
        match self {
            Buckets::Dense(h) => h.len(),
            Buckets::Few(pairs) => pairs.iter().fold(0, |a, p| a.saturating_add(p.1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The same figures as [`Percentiles::of`] a histogram of these
    /// latencies would give, computed the way hdrhistogram does (the
    /// highest value of the bucket where the count reaches the quantile).
    pub fn percentiles(&mut self) -> Percentiles {
        self.compact();
        let pairs = match self {
            Buckets::Dense(h) => return Percentiles::of(h),
            Buckets::Few(pairs) => pairs,
        };
        let Some(&(top, _)) = pairs.last() else {
            return Percentiles::default();
        };
        let total = pairs.iter().fold(0u64, |a, p| a.saturating_add(p.1));
        let at = |q: f64| -> u64 {
            let want = ((q * total as f64).ceil() as u64).max(1);
            let mut seen = 0u64;
            for &(v, c) in pairs.iter() {
                seen = seen.saturating_add(c);
                if seen >= want {
                    return histogram::highest_equivalent(v);
                }
            }
            0
        };
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p95: at(0.95),
            p99: at(0.99),
            max: histogram::highest_equivalent(top),
        }
    }

    /// Bytes held (the pairs, or the histogram's counters).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Buckets::Dense(h) => h.distinct_values() * 8,
            Buckets::Few(pairs) => pairs.capacity() * 16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::{equal, new, record};

    fn values(n: u64, seed: u64, span: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1 + x % span
            })
            .collect()
    }

    #[test]
    fn few_and_dense_give_the_histograms_numbers() {
        for (n, span) in [
            (1, 100),
            (3, 5_000),
            (50, 300),
            (400, 1_000_000),
            (700, 3_000),
            (5_000, 50_000),
            (20_000, 4_000_000_000),
        ] {
            let vs = values(n, n * 31 + span, span);
            let mut truth = new();
            let mut b = Buckets::default();
            for (i, v) in vs.iter().enumerate() {
                record(&mut truth, *v);
                // Some in pairs, as a worker's buckets come.
                if i % 3 == 0 {
                    b.record_n(*v, 2);
                    record(&mut truth, *v);
                } else {
                    b.record_n(*v, 1);
                }
            }
            assert_eq!(b.count(), truth.len());
            assert_eq!(
                b.percentiles(),
                Percentiles::of(&truth),
                "{n} values up to {span}"
            );
            let mut h = new();
            b.add_into(&mut h);
            assert!(equal(&h, &truth));
            let mut from_dense = Buckets::default();
            from_dense.add_latency(&truth);
            assert_eq!(from_dense.percentiles(), Percentiles::of(&truth));
        }
        assert_eq!(Buckets::default().percentiles(), Percentiles::default());
        assert!(Buckets::default().is_empty());
    }

    #[test]
    fn stays_few_while_the_buckets_are_few() {
        let mut b = Buckets::default();
        // Ten thousand latencies in 40 buckets: pairs, not a histogram.
        for i in 0..10_000u64 {
            b.record_n(100 + i % 40, 1);
        }
        assert!(matches!(b, Buckets::Few(_)));
        assert!(b.heap_bytes() <= FEW_MAX * 16, "{}", b.heap_bytes());
        assert_eq!(b.count(), 10_000);
        // Many distinct buckets: dense.
        for i in 0..2_000u64 {
            b.record_n(1_000 + i, 1);
        }
        assert!(matches!(b, Buckets::Dense(_)));
        assert_eq!(b.count(), 12_000);
    }
}
