//! A name's latencies over a whole run, as the run's totals keep them: the
//! non-empty buckets of what was recorded, packed into a few bytes each,
//! while they are few, and a dense histogram once they are not. Most names
//! of a scenario with many (templated names, a result merged from many
//! files) see few distinct latencies, and the smallest dense histogram is
//! 16 KB: 200,000 names held densely need 3.2 GB at the least (`volley
//! report` of such a result did not fit in 6 GiB), where packed they take
//! about what their result file takes.
//!
//! Every figure (count, min, max, mean, quantiles) is computed exactly as
//! hdrhistogram computes it from the dense form, so a report does not depend
//! on which form a name's latencies were in.

use std::borrow::Cow;

use super::histogram::{self, Latency};

/// Distinct buckets kept packed before going dense: past 1,024 the packed
/// form is no longer much smaller than the smallest dense histogram, and
/// reading it costs more.
pub const FEW_MAX: usize = 1024;

/// One name's latencies; adds up exactly, as histograms do.
#[derive(Debug, Clone)]
pub struct Latencies(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Few(Packed),
    Dense(Box<Latency>),
}

/// Buckets ascending, each once with a count above 0: per bucket a varint
/// of (its lowest value's distance from the previous one's << 1 | 1 when
/// its count is 1), then, when the count is not 1, a varint of the count.
/// Most buckets cost one or two bytes.
#[derive(Debug, Clone, Default)]
struct Packed {
    bytes: Vec<u8>,
    /// The counts' sum, saturated at `u64::MAX` as hdrhistogram's is.
    total: u64,
    buckets: usize,
    /// The last bucket's lowest value (0 when there is none).
    last: u64,
}

impl Packed {
    fn pairs(&self) -> Pairs<'_> {
        Pairs {
            buf: &self.bytes,
            value: 0,
        }
    }

    /// Appends a bucket above the last one.
    fn push(&mut self, value: u64, count: u64) {
        let one = u64::from(count == 1);
        prost::encoding::encode_varint(((value - self.last) << 1) | one, &mut self.bytes);
        if count != 1 {
            prost::encoding::encode_varint(count, &mut self.bytes);
        }
        self.last = value;
        self.buckets += 1;
        self.total = self.total.saturating_add(count);
    }
}

/// (lowest value of the bucket, count) per bucket of a [`Packed`].
struct Pairs<'a> {
    buf: &'a [u8],
    value: u64,
}

impl Iterator for Pairs<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        // Written by `Packed::push` only: a varint that does not decode
        // cannot occur, and would end the list.
        if self.buf.is_empty() {
            return None;
        }
        let head = prost::encoding::decode_varint(&mut self.buf).ok()?;
        self.value = self.value.saturating_add(head >> 1);
        let count = if head & 1 == 1 {
            1
        } else {
            prost::encoding::decode_varint(&mut self.buf).ok()?
        };
        Some((self.value, count))
    }
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::new()
    }
}

impl PartialEq for Latencies {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.buckets().eq(other.buckets())
    }
}

impl From<&Latency> for Latencies {
    fn from(h: &Latency) -> Self {
        let mut l = Latencies::new();
        l.add_latency(h);
        l
    }
}

impl Latencies {
    pub fn new() -> Self {
        Latencies(Repr::Few(Packed::default()))
    }

    /// Records one latency, clamped into the histogram's range.
    pub fn record(&mut self, micros: u64) {
        self.record_n(micros, 1);
    }

    /// Records `count` latencies of `micros`, clamped into the histogram's
    /// range (as [`histogram::record_n`] does).
    pub fn record_n(&mut self, micros: u64, count: u64) {
        self.merge_sorted([(micros, count)]);
    }

    /// Adds a dense histogram's latencies.
    pub fn add_latency(&mut self, h: &Latency) {
        match &mut self.0 {
            Repr::Dense(d) => histogram::add(d, h),
            Repr::Few(_) => self.merge_sorted(
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value())),
            ),
        }
    }

    /// Adds another's latencies.
    pub fn add(&mut self, other: &Latencies) {
        match &other.0 {
            Repr::Dense(h) => self.add_latency(h),
            Repr::Few(p) => self.merge_sorted(p.pairs()),
        }
    }

    /// Adds (value, count) pairs whose buckets ascend (values anywhere in
    /// their bucket; each clamped into the histogram's range, as recording
    /// does). One pass over what is held while it stays few.
    pub(crate) fn merge_sorted(&mut self, incoming: impl IntoIterator<Item = (u64, u64)>) {
        let incoming = incoming.into_iter().filter(|p| p.1 > 0).map(|(v, c)| {
            (
                histogram::lowest_equivalent(v.clamp(1, histogram::MAX_MICROS)),
                c,
            )
        });
        let packed = match &mut self.0 {
            Repr::Dense(h) => {
                for (v, c) in incoming {
                    histogram::record_n(h, v, c);
                }
                return;
            }
            Repr::Few(p) => p,
        };
        let mut incoming: Vec<(u64, u64)> = incoming.collect();
        if incoming.is_empty() {
            return;
        }
        // Callers give ascending buckets; a peer's may not.
        if !incoming.is_sorted_by_key(|p| p.0) {
            incoming.sort_unstable_by_key(|p| p.0);
        }
        let appending = packed.buckets == 0 || packed.last < incoming[0].0;
        let held = if appending {
            Packed::default()
        } else {
            std::mem::replace(
                packed,
                Packed {
                    bytes: Vec::with_capacity(packed.bytes.len() + 2 * incoming.len()),
                    ..Packed::default()
                },
            )
        };
        let mut held = held.pairs().peekable();
        let mut incoming = incoming.into_iter().peekable();
        // Buckets of one value from either side (or twice from one) are
        // added before they are written.
        let mut pending: Option<(u64, u64)> = None;
        loop {
            let next = match (held.peek(), incoming.peek()) {
                (Some(a), Some(b)) if a.0 <= b.0 => held.next(),
                (_, Some(_)) => incoming.next(),
                (Some(_), None) => held.next(),
                (None, None) => break,
            };
            let Some((v, c)) = next else { break };
            match &mut pending {
                Some(p) if p.0 == v => p.1 = p.1.saturating_add(c),
                _ => {
                    if let Some((pv, pc)) = pending.replace((v, c)) {
                        packed.push(pv, pc);
                    }
                }
            }
        }
        if let Some((pv, pc)) = pending {
            packed.push(pv, pc);
        }
        if packed.buckets > FEW_MAX {
            let mut h = histogram::new();
            for (v, c) in packed.pairs() {
                histogram::record_n(&mut h, v, c);
            }
            self.0 = Repr::Dense(Box::new(h));
        } else if packed.bytes.capacity() > packed.bytes.len() + 64 {
            packed.bytes.shrink_to_fit();
        }
    }

    /// How many latencies (saturated at `u64::MAX`, as hdrhistogram does).
    pub fn len(&self) -> u64 {
        match &self.0 {
            Repr::Few(p) => p.total,
            Repr::Dense(h) => h.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowest latency's bucket's lowest value; 0 when empty.
    pub fn min(&self) -> u64 {
        match &self.0 {
            Repr::Few(p) => p.pairs().next().map_or(0, |b| b.0),
            Repr::Dense(h) => h.min(),
        }
    }

    /// The highest latency's bucket's highest value; 0 when empty.
    pub fn max(&self) -> u64 {
        match &self.0 {
            Repr::Few(p) if p.buckets == 0 => 0,
            Repr::Few(p) => histogram::highest_equivalent(p.last),
            Repr::Dense(h) => h.max(),
        }
    }

    /// The mean, each latency taken at its bucket's middle; 0 when empty.
    pub fn mean(&self) -> f64 {
        match &self.0 {
            Repr::Dense(h) => h.mean(),
            Repr::Few(p) => {
                if p.total == 0 {
                    return 0.0;
                }
                // In hdrhistogram's order and arithmetic, so the figure is
                // the same to the bit.
                p.pairs().fold(0.0_f64, |sum, (v, c)| {
                    sum + histogram::median_equivalent(v) as f64 * c as f64 / p.total as f64
                })
            }
        }
    }

    /// Latency at quantile `q` (0..=1) in microseconds, as hdrhistogram's
    /// `value_at_quantile` gives it; 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let p = match &self.0 {
            Repr::Dense(h) => return histogram::quantile(h, q),
            Repr::Few(p) => p,
        };
        if p.total == 0 {
            return 0;
        }
        let q = q.min(1.0);
        let want = ((q * p.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (v, c) in p.pairs() {
            seen = seen.saturating_add(c);
            if seen >= want {
                return if q == 0.0 {
                    v
                } else {
                    histogram::highest_equivalent(v)
                };
            }
        }
        // Only a saturated total gets here: the top is as far as it goes.
        self.max()
    }

    /// (highest value of the bucket, count) per non-empty bucket,
    /// ascending: what hdrhistogram's `iter_recorded` gives.
    pub fn buckets(&self) -> Box<dyn Iterator<Item = (u64, u64)> + '_> {
        match &self.0 {
            Repr::Few(p) => Box::new(
                p.pairs()
                    .map(|(v, c)| (histogram::highest_equivalent(v), c)),
            ),
            Repr::Dense(h) => Box::new(
                h.iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value())),
            ),
        }
    }

    /// As a dense histogram: borrowed when it is one, built when it is not
    /// (16 KB or so, for as long as the caller holds it).
    pub fn dense(&self) -> Cow<'_, Latency> {
        match &self.0 {
            Repr::Dense(h) => Cow::Borrowed(h),
            Repr::Few(_) => {
                let mut h = histogram::new();
                self.add_into(&mut h);
                Cow::Owned(h)
            }
        }
    }

    /// Adds these latencies into a dense histogram.
    pub fn add_into(&self, into: &mut Latency) {
        match &self.0 {
            Repr::Dense(h) => histogram::add(into, h),
            Repr::Few(p) => {
                for (v, c) in p.pairs() {
                    histogram::record_n(into, v, c);
                }
            }
        }
    }

    /// Bytes held on the heap (the packed buckets, or the histogram's
    /// counters).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Few(p) => p.bytes.capacity(),
            Repr::Dense(h) => h.distinct_values() * 8,
        }
    }

    /// Whether the latencies are held packed (few distinct buckets).
    pub fn is_few(&self) -> bool {
        matches!(self.0, Repr::Few(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::histogram::{equal, new, record};

    /// Values over many magnitudes, `distinct` of them at most.
    fn values(n: u64, seed: u64, spread: u32) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1 + x % (1 + 10u64.pow((i as u32 % spread) + 1))
            })
            .collect()
    }

    fn both(vs: &[u64]) -> (Latencies, Latency) {
        let mut l = Latencies::new();
        let mut h = new();
        for &v in vs {
            l.record(v);
            record(&mut h, v);
        }
        (l, h)
    }

    fn same_figures(l: &Latencies, h: &Latency, what: &str) {
        assert_eq!(l.len(), h.len(), "{what}: len");
        if h.is_empty() {
            assert!(l.is_empty());
            assert_eq!(
                (l.min(), l.max(), l.mean(), l.quantile(0.5)),
                (0, 0, 0.0, 0)
            );
            return;
        }
        assert_eq!(l.min(), h.min(), "{what}: min");
        assert_eq!(l.max(), h.max(), "{what}: max");
        assert_eq!(l.mean().to_bits(), h.mean().to_bits(), "{what}: mean");
        for q in [
            0.0, 0.001, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 0.9999, 1.0, 1.5,
        ] {
            assert_eq!(
                l.quantile(q),
                histogram::quantile(h, q),
                "{what}: quantile {q}"
            );
        }
        let dense: Vec<_> = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        assert_eq!(l.buckets().collect::<Vec<_>>(), dense, "{what}: buckets");
        assert!(equal(&l.dense(), h), "{what}: dense");
    }

    #[test]
    fn every_figure_is_hdrhistograms_whichever_the_form() {
        for (n, spread) in [(0, 1), (1, 1), (7, 2), (500, 3), (5_000, 4), (50_000, 7)] {
            let (l, h) = both(&values(n, n + 3, spread));
            same_figures(&l, &h, &format!("{n} values over 10^{spread}"));
        }
        // Clamped as a histogram clamps: 0 and past the hour.
        let (l, h) = both(&[0, u64::MAX, histogram::MAX_MICROS + 1, 5]);
        same_figures(&l, &h, "clamped");
    }

    #[test]
    fn few_stay_few_and_many_go_dense() {
        let (few, _) = both(&values(10_000, 5, 2));
        assert!(few.is_few(), "values under 1,000 take under 1,024 buckets");
        // A byte or a few a bucket, where a pair of numbers took 16.
        assert!(few.heap_bytes() <= FEW_MAX * 4, "{}", few.heap_bytes());
        // Buckets given in any order (a peer's) come out in order.
        let mut shuffled = Latencies::new();
        shuffled.merge_sorted([(900, 2), (5, 1), (900, 1), (70, 4)]);
        let (in_order, _) = both(&[5, 70, 70, 70, 70, 900, 900, 900]);
        assert!(shuffled == in_order);
        let (many, h) = both(&values(10_000, 5, 6));
        assert!(!many.is_few());
        same_figures(&many, &h, "dense");
    }

    #[test]
    fn adding_is_exact_in_any_order_and_form() {
        let parts: Vec<Vec<u64>> = (0..6).map(|i| values(300 * i, i, 1 + i as u32)).collect();
        let mut truth = new();
        let mut sum = Latencies::new();
        let mut backwards = Latencies::new();
        for p in &parts {
            let (l, h) = both(p);
            histogram::add(&mut truth, &h);
            sum.add(&l);
        }
        for p in parts.iter().rev() {
            let (_, h) = both(p);
            backwards.add_latency(&h);
        }
        same_figures(&sum, &truth, "added");
        same_figures(&backwards, &truth, "added backwards, dense");
        assert!(sum == backwards);
        let mut into = new();
        sum.add_into(&mut into);
        assert!(equal(&into, &truth));
        // Counts saturate, never wrap.
        let mut big = Latencies::new();
        big.record_n(10, u64::MAX - 1);
        big.record_n(20, 5);
        assert_eq!(big.len(), u64::MAX);
        assert_eq!(big.quantile(1.0), 20);
    }
}
