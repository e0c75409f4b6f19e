//! Recording without a lock shared between connections: each thread of the
//! engine records into its own shard (a mutex that only the once-per-interval
//! flush ever contends, so recording is an uncontended lock plus an O(1)
//! histogram increment), and the flush drains every shard into one snapshot.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::histogram::{self, Latency};
use super::protocol::ProtocolCounts;
use super::rows::{Rows, StatId};
use super::snapshot::{FailureCount, NameSnapshot, Sparse};
use super::{Failure, FailureKind, Sample};

static NEXT_RECORDER_ID: AtomicU64 = AtomicU64::new(1);

/// Latencies kept as themselves, per shard and name, before a histogram is
/// worth its 16 KB: 256 of them take 1 KB.
pub const FEW_VALUES: usize = 256;

/// One name's latencies in one shard over one interval: the values while
/// few, a dense (auto-resizing) histogram past [`FEW_VALUES`].
enum Values {
    /// Microseconds, clamped into the histogram's range (which fits in 32 bits).
    Few(Vec<u32>),
    Dense(Latency),
}

impl Default for Values {
    fn default() -> Self {
        Values::Few(Vec::new())
    }
}

impl Values {
    #[inline]
    fn record(&mut self, micros: u64) {
        // MAX_MICROS (an hour) fits in a u32.
        let v = micros.clamp(1, histogram::MAX_MICROS) as u32;
        match self {
            Values::Few(vs) if vs.len() < FEW_VALUES => vs.push(v),
            Values::Few(vs) => {
                let mut h = histogram::new();
                for &x in vs.iter() {
                    histogram::record(&mut h, u64::from(x));
                }
                histogram::record(&mut h, u64::from(v));
                *self = Values::Dense(h);
            }
            Values::Dense(h) => histogram::record(h, u64::from(v)),
        }
    }

    /// Adds these values into `h`.
    fn add_into(&self, h: &mut Latency) {
        match self {
            Values::Few(vs) => {
                for &x in vs {
                    histogram::record(h, u64::from(x));
                }
            }
            Values::Dense(d) => histogram::add(h, d),
        }
    }

    /// Adds another shard's values of the same name.
    fn absorb(&mut self, other: Values) {
        match (&mut *self, other) {
            (Values::Few(a), Values::Few(b)) => a.extend(b),
            (Values::Dense(a), Values::Dense(mut b)) => {
                // Add the smaller histogram into the larger: the sum is the
                // same, and the larger one need not grow.
                if b.distinct_values() > a.distinct_values() {
                    std::mem::swap(a, &mut b);
                }
                histogram::add(a, &b);
            }
            (Values::Dense(a), few) => few.add_into(a),
            (few, Values::Dense(mut b)) => {
                few.add_into(&mut b);
                *few = Values::Dense(b);
            }
        }
    }

    /// The sparse form, as it goes on the wire; a histogram only when a shard
    /// had one.
    fn into_sparse(self) -> Sparse {
        match self {
            Values::Few(mut vs) => {
                vs.sort_unstable();
                Sparse::of_sorted(&vs)
            }
            Values::Dense(h) => Sparse::of(&h),
        }
    }

    /// A histogram of these values: the shard's own when it has one (moved,
    /// not copied), else a new one sized to the values.
    fn into_latency(self) -> Latency {
        match self {
            Values::Dense(h) => h,
            few => {
                let mut h = histogram::new();
                few.add_into(&mut h);
                h
            }
        }
    }
}

type Reasons = HashMap<(FailureKind, std::borrow::Cow<'static, str>), (u64, Option<String>)>;

/// One name's counters in one shard over one interval.
#[derive(Default)]
struct Counts {
    requests: u64,
    failures: u64,
    bytes_sent: u64,
    bytes_received: u64,
    reasons: Reasons,
    /// Requests per protocol: three counters, no allocation per sample.
    protocols: ProtocolCounts,
}

impl Counts {
    /// Adds another shard's counters of the same name (saturating: counts
    /// of one interval, far from the limit).
    fn absorb(&mut self, other: Counts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.bytes_sent = self.bytes_sent.saturating_add(other.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(other.bytes_received);
        self.protocols.add(&other.protocols);
        for (key, (count, detail)) in other.reasons {
            let e = self.reasons.entry(key).or_insert((0, None));
            e.0 = e.0.saturating_add(count);
            if detail.is_some() {
                e.1 = detail;
            }
        }
    }

    fn add_into<H>(self, snap: &mut NameSnapshot<H>) {
        snap.requests += self.requests;
        snap.failures += self.failures;
        snap.bytes_sent += self.bytes_sent;
        snap.bytes_received += self.bytes_received;
        snap.protocols.add(&self.protocols);
        for ((kind, reason), (count, detail)) in self.reasons {
            snap.add_failure(FailureCount {
                kind,
                reason: reason.into_owned(),
                count,
                last_detail: detail,
                seen_ms: None,
            });
        }
    }
}

#[derive(Default)]
struct NameData {
    values: Values,
    counts: Counts,
}

impl NameData {
    fn is_empty(&self) -> bool {
        self.counts.requests == 0
    }

    /// This name's first snapshot of the interval: the shard's histogram
    /// moved into it.
    fn into_snapshot(self, name: StatId) -> NameSnapshot {
        let mut snap = NameSnapshot {
            name,
            hist: self.values.into_latency(),
            requests: 0,
            failures: 0,
            bytes_sent: 0,
            bytes_received: 0,
            failure_counts: Vec::new(),
            protocols: ProtocolCounts::default(),
        };
        self.counts.add_into(&mut snap);
        snap
    }

    /// Adds another shard's data of the same name.
    fn absorb(&mut self, other: NameData) {
        self.values.absorb(other.values);
        self.counts.absorb(other.counts);
    }
}

#[derive(Default)]
struct Shard {
    names: Vec<NameData>,
    /// Start lags (open model, replays): how late each arrival left.
    lag: Option<Values>,
}

impl Shard {
    /// Row `row`'s data, made on its first sample.
    fn name(&mut self, row: StatId) -> &mut NameData {
        let idx = row.index();
        if self.names.len() <= idx {
            self.names.resize_with(idx + 1, NameData::default);
        }
        &mut self.names[idx]
    }
}

thread_local! {
    /// The shards of this thread, one per live recorder (usually one).
    static SHARDS: RefCell<Vec<(u64, Arc<Mutex<Shard>>)>> = const { RefCell::new(Vec::new()) };
}

/// Collects samples from any number of tasks and threads; [`Recorder::drain`]
/// takes everything recorded since the last drain.
pub struct Recorder {
    id: u64,
    shards: Mutex<Vec<Arc<Mutex<Shard>>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            id: NEXT_RECORDER_ID.fetch_add(1, Ordering::Relaxed),
            shards: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on this thread's shard for this recorder, registering one on
    /// first use. No reference count is touched on the way.
    fn with_shard<R>(&self, f: impl FnOnce(&mut Shard) -> R) -> R {
        SHARDS.with(|cell| {
            {
                let list = cell.borrow();
                if let Some((_, s)) = list.iter().find(|(id, _)| *id == self.id) {
                    return f(&mut s.lock());
                }
            }
            let mut list = cell.borrow_mut();
            // Shards whose recorder is gone are held by this list alone.
            list.retain(|(_, s)| Arc::strong_count(s) > 1);
            let shard = Arc::new(Mutex::new(Shard::default()));
            list.push((self.id, shard.clone()));
            self.shards.lock().push(shard.clone());
            drop(list);
            f(&mut shard.lock())
        })
    }

    /// Records one finished request.
    pub fn record(&self, sample: Sample) {
        self.with_shard(|shard| {
            if let Some(fb) = sample.first_byte {
                let d = shard.name(fb.row);
                d.values.record(fb.micros);
                d.counts.requests += 1;
            }
            let d = shard.name(sample.name);
            d.values.record(sample.micros);
            let c = &mut d.counts;
            c.requests += 1;
            c.bytes_sent += sample.bytes_sent;
            c.bytes_received += sample.bytes_received;
            c.protocols.record(sample.protocol);
            if let Some(Failure {
                kind,
                reason,
                detail,
            }) = sample.failure
            {
                c.failures += 1;
                let e = c.reasons.entry((kind, reason)).or_insert((0, None));
                e.0 += 1;
                if detail.is_some() {
                    e.1 = detail;
                }
            }
        })
    }

    /// Records how late an arrival left its intended time (open model,
    /// replays), in this thread's shard, as a sample is.
    pub fn record_lag(&self, micros: u64) {
        self.with_shard(|shard| shard.lag.get_or_insert_with(Values::default).record(micros));
    }

    /// Takes the start lags recorded since the last drain, as they go on
    /// the wire; None when none was.
    pub fn drain_lag(&self) -> Option<Sparse> {
        let shards: Vec<_> = self.shards.lock().clone();
        let mut all: Option<Values> = None;
        for shard in shards {
            let Some(taken) = shard.lock().lag.take() else {
                continue;
            };
            match &mut all {
                Some(a) => a.absorb(taken),
                slot => *slot = Some(taken),
            }
        }
        all.map(Values::into_sparse)
    }

    /// Takes everything recorded since the last drain: per request name, in
    /// the order of the names, the shards' values and counters taken
    /// together. Costs the names plus what was recorded.
    fn take(&self) -> Vec<(StatId, NameData)> {
        let shards: Vec<_> = self.shards.lock().clone();
        // Indexed by name.
        let mut out: Vec<Option<NameData>> = Vec::new();
        for shard in shards {
            // Swap the data out under the lock; merge after releasing it.
            let taken = std::mem::take(&mut shard.lock().names);
            if out.len() < taken.len() {
                out.resize_with(taken.len(), || None);
            }
            for (idx, d) in taken.into_iter().enumerate() {
                if d.is_empty() {
                    continue;
                }
                match &mut out[idx] {
                    Some(all) => all.absorb(d),
                    slot => *slot = Some(d),
                }
            }
        }
        out.into_iter()
            .enumerate()
            .filter_map(|(i, d)| d.map(|d| (Rows::request(i), d)))
            .collect()
    }

    /// Takes everything recorded since the last drain, per request name,
    /// with dense histograms (a shard's own, moved, when it has one; else
    /// one sized to the values).
    pub fn drain(&self) -> Vec<NameSnapshot> {
        self.take()
            .into_iter()
            .map(|(name, d)| d.into_snapshot(name))
            .collect()
    }

    /// What [`Recorder::drain`] takes, with each name's latencies in the
    /// sparse form that goes on the wire (the same bytes as
    /// `Snapshot::to_sparse` of `drain`'s), built from the values themselves
    /// when they were few: no 16 KB histogram per name and interval on the
    /// way. What the engine publishes.
    pub fn drain_sparse(&self) -> Vec<NameSnapshot<Sparse>> {
        self.take()
            .into_iter()
            .map(|(name, d)| {
                let mut snap = NameSnapshot {
                    name,
                    hist: d.values.into_sparse(),
                    requests: 0,
                    failures: 0,
                    bytes_sent: 0,
                    bytes_received: 0,
                    failure_counts: Vec::new(),
                    protocols: ProtocolCounts::default(),
                };
                d.counts.add_into(&mut snap);
                snap
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::FirstByte;

    fn sample(name: u32, micros: u64, failure: Option<Failure>) -> Sample {
        Sample {
            first_byte: None,
            protocol: None,
            name: StatId(name),
            micros,
            bytes_sent: 10,
            bytes_received: 20,
            failure,
        }
    }

    #[test]
    fn start_lags_from_many_threads_drain_exactly_once() {
        let rec = Arc::new(Recorder::new());
        assert!(rec.drain_lag().is_none());
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let rec = rec.clone();
                // Past FEW_VALUES in one thread: a dense shard among few ones.
                let n = if t == 0 { 1000 } else { 10 };
                std::thread::spawn(move || {
                    for i in 0..n {
                        rec.record_lag(100 + i);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let lag = rec.drain_lag().unwrap();
        let mut h = histogram::new();
        crate::stats::snapshot::Hist::add_into(&lag, &mut h);
        assert_eq!(h.len(), 1020);
        assert_eq!(h.max(), histogram::new().highest_equivalent(1099));
        assert!(rec.drain_lag().is_none(), "taken once");
    }

    #[test]
    fn samples_from_many_threads_drain_exactly_once() {
        let rec = Arc::new(Recorder::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        let failure =
                            (i % 10 == 0).then(|| Failure::new(FailureKind::Status, "HTTP 503"));
                        rec.record(sample(t % 2, 100 + i, failure));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = rec.drain();
        assert_eq!(snap.len(), 2);
        for n in &snap {
            assert_eq!(n.requests, 2000);
            assert_eq!(n.hist.len(), 2000);
            assert_eq!(n.failures, 200);
            assert_eq!(n.bytes_sent, 20_000);
            assert_eq!(n.failure_counts.len(), 1);
            assert_eq!(n.failure_counts[0].count, 200);
            assert_eq!(n.failure_counts[0].reason, "HTTP 503");
        }
        // Drained: the next interval starts empty.
        assert!(rec.drain().is_empty());
        rec.record(sample(1, 5, None));
        let again = rec.drain();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].name, StatId(1));
    }

    #[test]
    fn two_recorders_on_one_thread_stay_apart() {
        let a = Recorder::new();
        let b = Recorder::new();
        a.record(sample(0, 1, None));
        b.record(sample(0, 2, None));
        b.record(sample(0, 3, None));
        assert_eq!(a.drain()[0].requests, 1);
        assert_eq!(b.drain()[0].requests, 2);
    }

    #[test]
    fn many_names_from_many_threads_drain_exactly() {
        use crate::stats::histogram::equal;
        const NAMES: u32 = 3_000;
        // Name n gets n % 700 samples from each of three threads: some stay
        // few, some go dense, in some shards and not others.
        let value = |name: u32, t: u32, i: u32| u64::from(1 + (name * 7 + t * 13 + i * 31) % 5_000);
        let rec = Arc::new(Recorder::new());
        let threads: Vec<_> = (0..3u32)
            .map(|t| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    for name in (0..NAMES).filter(|n| n % 3 != 1 || t == 0) {
                        for i in 0..name % 700 {
                            rec.record(sample(name, value(name, t, i), None));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = rec.drain();
        let mut expected = 0;
        for name in 0..NAMES {
            let mut truth = histogram::new();
            for t in (0..3u32).filter(|t| name % 3 != 1 || *t == 0) {
                for i in 0..name % 700 {
                    histogram::record(&mut truth, value(name, t, i));
                }
            }
            if truth.is_empty() {
                continue;
            }
            let n = &snap[expected];
            expected += 1;
            assert_eq!(n.name, StatId(name));
            assert_eq!(n.requests, truth.len());
            assert_eq!(n.bytes_sent, 10 * truth.len());
            assert!(equal(&n.hist, &truth), "name {name}");
        }
        assert_eq!(snap.len(), expected);
        assert!(rec.drain().is_empty());
    }

    #[test]
    fn a_name_with_few_latencies_drains_into_a_small_histogram() {
        let rec = Recorder::new();
        for v in [120, 150, 1_500] {
            rec.record(sample(9_999, v, None));
        }
        let snap = rec.drain();
        assert_eq!(snap.len(), 1);
        assert_eq!(snap[0].name, StatId(9_999));
        // 2,048 counters, not 23,552.
        assert!(snap[0].hist.distinct_values() <= 2048);
        // Past FEW_VALUES in one shard: dense, still sized to the range.
        for i in 0..(FEW_VALUES as u64 * 3) {
            rec.record(sample(0, 100 + i, None));
        }
        let snap = rec.drain();
        assert_eq!(snap[0].hist.len(), FEW_VALUES as u64 * 3);
        assert!(snap[0].hist.distinct_values() <= 2048);
        assert_eq!(snap[0].hist.max(), 100 + FEW_VALUES as u64 * 3 - 1);
        // An hour and more: clamped, as ever.
        rec.record(sample(0, u64::MAX, None));
        rec.record(sample(0, 0, None));
        let snap = rec.drain();
        assert_eq!(
            snap[0].hist.max(),
            histogram::highest_equivalent(histogram::MAX_MICROS)
        );
        assert_eq!(snap[0].hist.min(), 1);
    }

    #[test]
    fn drain_sparse_sends_the_bytes_that_drain_then_to_sparse_would() {
        use crate::stats::Snapshot;
        let (dense, sparse) = (Arc::new(Recorder::new()), Arc::new(Recorder::new()));
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let (dense, sparse) = (dense.clone(), sparse.clone());
                std::thread::spawn(move || {
                    for name in 0..400u32 {
                        // Few, many (dense in a shard), and out of range.
                        for i in 0..u64::from(name) * (t + 1) {
                            let micros = match i % 97 {
                                0 => 0,
                                1 => u64::MAX,
                                _ => (u64::from(name) * 131 + i * 7919) % 3_000_000,
                            };
                            let failure =
                                (i % 5 == 0).then(|| Failure::new(FailureKind::Reset, "reset"));
                            dense.record(sample(name, micros, failure.clone()));
                            sparse.record(sample(name, micros, failure));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let via_dense = Snapshot {
            names: dense.drain(),
            ..Snapshot::default()
        }
        .to_sparse();
        let direct = sparse.drain_sparse();
        assert_eq!(direct.len(), 399);
        assert_eq!(direct, via_dense.names);
        assert!(sparse.drain_sparse().is_empty());
    }

    /// Each row counts its requests per protocol across threads' shards;
    /// a request with no connection counts under none, and its time to
    /// first byte's row under none (the request's row says it).
    #[test]
    fn protocols_are_counted_per_row_across_shards() {
        use crate::stats::Protocol;
        let rec = Arc::new(Recorder::new());
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let rec = rec.clone();
                std::thread::spawn(move || {
                    // Past FEW_VALUES in one thread: a dense shard too.
                    for i in 0..(if t == 0 { 1_000 } else { 100 }) {
                        let mut s = sample(0, 100 + i, None);
                        s.protocol = Some(if i < 10 {
                            Protocol::Http2
                        } else {
                            Protocol::Http3
                        });
                        s.first_byte = Some(FirstByte {
                            row: StatId(2),
                            micros: 50,
                        });
                        rec.record(s);
                        let mut other = sample(1, 100, None);
                        other.protocol = (i % 2 == 0).then_some(Protocol::Http1);
                        rec.record(other);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let snap = rec.drain_sparse();
        let row = |r: u32| snap.iter().find(|n| n.name == StatId(r)).unwrap();
        let p = row(0).protocols;
        assert_eq!(
            (p.get(Protocol::Http2), p.get(Protocol::Http3)),
            (30, 1_170)
        );
        assert_eq!(p.get(Protocol::Http1), 0);
        assert_eq!(row(1).protocols.get(Protocol::Http1), 600);
        assert_eq!(row(1).protocols.checked_total(), Some(600));
        assert_eq!(row(1).requests, 1_200);
        assert!(row(2).protocols.is_empty());
        // Drained with the rest.
        rec.record(sample(0, 5, None));
        assert!(rec.drain()[0].protocols.is_empty());
    }

    /// A time to first byte goes in its own row with the request's sample:
    /// counted as an answer, its latency its own, no bytes or failures.
    #[test]
    fn a_first_byte_is_recorded_in_its_row_with_the_request() {
        let rec = Recorder::new();
        let mut s = sample(0, 900, Some(Failure::new(FailureKind::Status, "HTTP 500")));
        s.first_byte = Some(FirstByte {
            row: StatId(3),
            micros: 250,
        });
        rec.record(s);
        rec.record(sample(0, 800, None));
        let snap = rec.drain();
        let row = |r: u32| snap.iter().find(|n| n.name == StatId(r)).unwrap();
        assert_eq!((row(0).requests, row(0).failures), (2, 1));
        let fb = row(3);
        assert_eq!((fb.requests, fb.failures, fb.bytes_sent), (1, 0, 0));
        assert_eq!((fb.hist.min(), fb.hist.max()), (250, 250));
    }
}
