//! The statistics of one interval, as the engine publishes them once per
//! interval and as a worker sends them to the master. Snapshots add up
//! exactly: histograms are added, never percentiles averaged.

use super::FailureKind;
use super::buckets::Buckets;
use super::histogram::{self, Latency};
use super::latencies::Latencies;
use super::protocol::ProtocolCounts;
use super::rows::StatId;

/// Failures of one kind and reason for one request name.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureCount {
    pub kind: FailureKind,
    pub reason: String,
    pub count: u64,
    /// The detail of the most recent failure of this reason, if any.
    pub last_detail: Option<String>,
    /// When failures of this reason were first and last seen, in
    /// milliseconds since the run's start (set where reports are merged:
    /// to the second of the report that brought them).
    pub seen_ms: Option<(u64, u64)>,
}

/// A latency histogram as something that adds into a dense one: the dense
/// histogram itself, or the (value, count) pairs of its non-empty buckets,
/// which is how snapshots travel from workers. Adding the sparse form costs
/// what was recorded, not the histogram's size: that is what lets one
/// master merge a thousand workers' reports a second.
pub trait Hist {
    fn add_into(&self, into: &mut Latency);
    /// Adds into a run's totals, at the cost of what this holds.
    fn add_to(&self, into: &mut Latencies);
    /// Adds into a [`Buckets`], at the cost of what this holds.
    fn add_into_buckets(&self, into: &mut Buckets);
    /// How many latencies this holds; `None` past `u64::MAX` (a peer's or a
    /// file's numbers, which may say anything).
    fn checked_count(&self) -> Option<u64>;
}

impl Hist for Latency {
    fn add_into(&self, into: &mut Latency) {
        histogram::add(into, self);
    }

    fn add_to(&self, into: &mut Latencies) {
        into.add_latency(self);
    }

    fn add_into_buckets(&self, into: &mut Buckets) {
        into.add_latency(self);
    }

    fn checked_count(&self) -> Option<u64> {
        // hdrhistogram saturates its total.
        Some(self.len()).filter(|n| *n < u64::MAX)
    }
}

impl Hist for Latencies {
    fn add_into(&self, into: &mut Latency) {
        Latencies::add_into(self, into);
    }

    fn add_to(&self, into: &mut Latencies) {
        into.add(self);
    }

    fn add_into_buckets(&self, into: &mut Buckets) {
        for (value, count) in self.buckets() {
            into.record_n(value, count);
        }
    }

    fn checked_count(&self) -> Option<u64> {
        Some(self.len()).filter(|n| *n < u64::MAX)
    }
}

/// What a snapshot's latencies add up into: a dense histogram (an engine's
/// interval) or a run's [`Latencies`] (its totals).
pub trait Sum: Sized {
    fn empty() -> Self;
    /// How many latencies, saturated at `u64::MAX`.
    fn count(&self) -> u64;
    fn add_hist<H: Hist>(&mut self, h: &H);
}

impl Sum for Latency {
    fn empty() -> Self {
        histogram::new()
    }

    fn count(&self) -> u64 {
        self.len()
    }

    fn add_hist<H: Hist>(&mut self, h: &H) {
        h.add_into(self);
    }
}

impl Sum for Latencies {
    fn empty() -> Self {
        Latencies::new()
    }

    fn count(&self) -> u64 {
        self.len()
    }

    fn add_hist<H: Hist>(&mut self, h: &H) {
        h.add_to(self);
    }
}

/// The non-empty buckets of a histogram, encoded as they travel: for each
/// bucket, ascending, a varint of (its value's distance from the previous
/// bucket's value << 1 | 1 when its count is 1), then, when the count is not
/// 1, a varint of the count. Most buckets of a second hold one sample, so
/// most cost one or two bytes, and adding them is one pass, no allocation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sparse(pub Vec<u8>);

impl Sparse {
    pub fn of(h: &Latency) -> Sparse {
        Sparse::encode(
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value())),
        )
    }

    /// The same encoding as [`Sparse::of`] a histogram of these latencies
    /// would give, without the histogram: microseconds already clamped into
    /// [1, MAX_MICROS], ascending.
    pub fn of_sorted(micros: &[u32]) -> Sparse {
        let bucket = |v: &u32| histogram::lowest_equivalent(u64::from(*v));
        Sparse::encode(micros.chunk_by(|a, b| bucket(a) == bucket(b)).map(|run| {
            (
                histogram::highest_equivalent(u64::from(run[0])),
                run.len() as u64,
            )
        }))
    }

    /// (highest value of the bucket, count) pairs, ascending.
    fn encode(buckets: impl IntoIterator<Item = (u64, u64)>) -> Sparse {
        let mut out = Vec::new();
        let mut prev = 0u64;
        for (value, count) in buckets {
            let one = u64::from(count == 1);
            prost::encoding::encode_varint(((value - prev) << 1) | one, &mut out);
            if count != 1 {
                prost::encoding::encode_varint(count, &mut out);
            }
            prev = value;
        }
        Sparse(out)
    }

    /// Accepts an encoding from the network. Only its end is checked here
    /// (a varint cut short); the one pass that adds it stops at anything
    /// else malformed and clamps every value into range, so a bad peer can
    /// spoil its own numbers, never crash or stall the master.
    pub fn checked(bytes: Vec<u8>) -> Result<Sparse, SparseError> {
        match bytes.last() {
            Some(b) if b & 0x80 != 0 => Err(SparseError::CutShort),
            _ => Ok(Sparse(bytes)),
        }
    }

    /// Calls `f(value, count)` per bucket; stops at what is malformed.
    fn walk(mut buf: &[u8], mut f: impl FnMut(u64, u64)) -> Result<(), SparseError> {
        let mut value = 0u64;
        while !buf.is_empty() {
            let head =
                prost::encoding::decode_varint(&mut buf).map_err(|_| SparseError::BadNumber)?;
            value = value
                .checked_add(head >> 1)
                .filter(|v| *v <= histogram::MAX_MICROS * 2)
                .ok_or(SparseError::OutOfRange)?;
            let count = if head & 1 == 1 {
                1
            } else {
                prost::encoding::decode_varint(&mut buf).map_err(|_| SparseError::BadNumber)?
            };
            f(value, count);
        }
        Ok(())
    }
}

/// Why a peer's bucket list is refused or stops being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SparseError {
    #[error("the bucket list ends inside a number")]
    CutShort,
    #[error("a bucket's number is not a varint")]
    BadNumber,
    #[error("bucket value out of range")]
    OutOfRange,
}

impl Hist for Sparse {
    fn add_into(&self, into: &mut Latency) {
        // Checked on arrival; both sides share the bucket layout, so a value
        // lands in its own bucket.
        let _ = Sparse::walk(&self.0, |value, count| {
            histogram::record_n(into, value, count);
        });
    }

    fn add_to(&self, into: &mut Latencies) {
        // Buckets ascend as encoded; what stops the walk ends the list.
        let mut pairs = Vec::new();
        let _ = Sparse::walk(&self.0, |value, count| pairs.push((value, count)));
        into.merge_sorted(pairs);
    }

    fn add_into_buckets(&self, into: &mut Buckets) {
        let _ = Sparse::walk(&self.0, |value, count| into.record_n(value, count));
    }

    fn checked_count(&self) -> Option<u64> {
        let mut total = Some(0u64);
        let _ = Sparse::walk(&self.0, |_, count| {
            total = total.and_then(|t| t.checked_add(count));
        });
        total
    }
}

/// A count that would pass `u64::MAX` when added: the numbers added come
/// from a peer or a file, and are wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} overflow: {have} + {adding} is past 2^64")]
pub struct CountOverflow {
    /// Which count: "requests", "failures", "bytes sent", "bytes received",
    /// "failures of one reason", "requests of one protocol" or "latencies".
    pub what: &'static str,
    pub have: u64,
    pub adding: u64,
}

fn check(what: &'static str, have: u64, adding: u64) -> Result<(), CountOverflow> {
    match have.checked_add(adding) {
        Some(_) => Ok(()),
        None => Err(CountOverflow { what, have, adding }),
    }
}

/// One request name's statistics over an interval (or, added up, a run).
#[derive(Debug, Clone, PartialEq)]
pub struct NameSnapshot<H = Latency> {
    /// The row it belongs to.
    pub name: StatId,
    pub hist: H,
    pub requests: u64,
    pub failures: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub failure_counts: Vec<FailureCount>,
    /// Requests per protocol that answered them (none for a row that is
    /// not a request's, or a peer or file from before volley counted them).
    pub protocols: ProtocolCounts,
}

impl<H> NameSnapshot<H> {
    /// Counts failures in, merging with an entry of the same kind and reason.
    pub fn add_failure(&mut self, f: FailureCount) {
        match self
            .failure_counts
            .iter_mut()
            .find(|e| e.kind == f.kind && e.reason == f.reason)
        {
            Some(e) => {
                e.count = e.count.saturating_add(f.count);
                if f.last_detail.is_some() {
                    e.last_detail = f.last_detail;
                }
                e.seen_ms = match (e.seen_ms, f.seen_ms) {
                    (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                    (x, y) => x.or(y),
                };
            }
            None => self.failure_counts.push(f),
        }
    }
}

impl<T: Sum> NameSnapshot<T> {
    pub fn empty(name: StatId) -> Self {
        NameSnapshot {
            name,
            hist: T::empty(),
            requests: 0,
            failures: 0,
            bytes_sent: 0,
            bytes_received: 0,
            failure_counts: Vec::new(),
            protocols: ProtocolCounts::default(),
        }
    }

    /// Adds another snapshot of the same name into this one.
    pub fn add<H: Hist>(&mut self, other: &NameSnapshot<H>) {
        self.hist.add_hist(&other.hist);
        self.add_counts(other);
    }

    /// Adds another snapshot's counters, not its histogram. Saturating: a
    /// peer's numbers never wrap ours (see [`NameSnapshot::checked_add`] to
    /// be told instead).
    pub fn add_counts<H>(&mut self, other: &NameSnapshot<H>) {
        self.requests = self.requests.saturating_add(other.requests);
        self.failures = self.failures.saturating_add(other.failures);
        self.bytes_sent = self.bytes_sent.saturating_add(other.bytes_sent);
        self.bytes_received = self.bytes_received.saturating_add(other.bytes_received);
        for f in &other.failure_counts {
            self.add_failure(f.clone());
        }
        self.protocols.add(&other.protocols);
    }

    /// Adds another snapshot of the same name, histogram and counters, or,
    /// if any count would pass `u64::MAX` (numbers from files or peers that
    /// cannot be right), adds nothing and says which. What `volley report`
    /// uses to merge result files.
    pub fn checked_add<H: Hist>(&mut self, other: &NameSnapshot<H>) -> Result<(), CountOverflow> {
        check("requests", self.requests, other.requests)?;
        check("failures", self.failures, other.failures)?;
        check("bytes sent", self.bytes_sent, other.bytes_sent)?;
        check("bytes received", self.bytes_received, other.bytes_received)?;
        for (i, f) in other.failure_counts.iter().enumerate() {
            let same = |e: &&FailureCount| e.kind == f.kind && e.reason == f.reason;
            // Ours, plus the other's earlier entries of the same reason.
            let mut have = self.failure_counts.iter().find(same).map_or(0, |e| e.count);
            for e in other.failure_counts[..i].iter().filter(same) {
                have = have.checked_add(e.count).ok_or(CountOverflow {
                    what: "failures of one reason",
                    have,
                    adding: e.count,
                })?;
            }
            check("failures of one reason", have, f.count)?;
        }
        if let Some((_, have, adding)) = self.protocols.overflow_with(&other.protocols) {
            return Err(CountOverflow {
                what: "requests of one protocol",
                have,
                adding,
            });
        }
        let latencies = other.hist.checked_count().ok_or(CountOverflow {
            what: "latencies",
            have: self.hist.count(),
            adding: u64::MAX,
        })?;
        // Totals saturate at u64::MAX: below it, exact.
        if self
            .hist
            .count()
            .checked_add(latencies)
            .is_none_or(|t| t == u64::MAX)
        {
            return Err(CountOverflow {
                what: "latencies",
                have: self.hist.count(),
                adding: latencies,
            });
        }
        self.add(other);
        Ok(())
    }
}

/// Everything an engine measured over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot<H = Latency> {
    /// Milliseconds since the run's start at which the interval ended.
    pub at_ms: u64,
    /// Length of the interval in milliseconds.
    pub interval_ms: u64,
    /// Virtual users running at the end of the interval (closed model), or
    /// requests in flight (open model).
    pub users: u64,
    /// Open model: arrivals that started later than scheduled.
    pub late_starts: u64,
    /// Open model: arrivals dropped because every slot was busy.
    pub missed_starts: u64,
    /// Requests sent again on a new connection after the kept-alive one
    /// turned out closed by the server before any byte of the answer.
    pub retries: u64,
    /// Open model: arrivals that found every connection busy and waited for
    /// one (the wait is in their latency).
    pub waited_starts: u64,
    /// Requests in flight when load stopped: cut off, never answered.
    pub abandoned: u64,
    /// Cookies the users' jars dropped (too long, or over a bound).
    pub cookies_dropped: u64,
    /// The engine process's CPU over the interval, in percent (0 to 100) of
    /// the cores it may use for load.
    pub cpu_percent: f64,
    /// 1 when this snapshot came more than two intervals after the previous
    /// one (the engine's runtime lagged), else 0.
    pub late_reports: u64,
    /// Per request name, only the names that saw requests.
    pub names: Vec<NameSnapshot<H>>,
    /// Open model and replays: how long after its intended time each
    /// arrival left, in microseconds (None: none measured).
    pub start_lag: Option<H>,
}

impl<H> Default for Snapshot<H> {
    fn default() -> Self {
        Snapshot {
            at_ms: 0,
            interval_ms: 0,
            users: 0,
            late_starts: 0,
            missed_starts: 0,
            retries: 0,
            waited_starts: 0,
            abandoned: 0,
            cookies_dropped: 0,
            cpu_percent: 0.0,
            late_reports: 0,
            names: Vec::new(),
            start_lag: None,
        }
    }
}

impl Snapshot {
    /// The same with sparse histograms, as it goes on the wire.
    pub fn to_sparse(&self) -> Snapshot<Sparse> {
        Snapshot {
            at_ms: self.at_ms,
            interval_ms: self.interval_ms,
            users: self.users,
            late_starts: self.late_starts,
            missed_starts: self.missed_starts,
            retries: self.retries,
            waited_starts: self.waited_starts,
            abandoned: self.abandoned,
            cookies_dropped: self.cookies_dropped,
            cpu_percent: self.cpu_percent,
            late_reports: self.late_reports,
            names: self
                .names
                .iter()
                .map(|n| NameSnapshot {
                    name: n.name,
                    hist: Sparse::of(&n.hist),
                    requests: n.requests,
                    failures: n.failures,
                    bytes_sent: n.bytes_sent,
                    bytes_received: n.bytes_received,
                    failure_counts: n.failure_counts.clone(),
                    protocols: n.protocols,
                })
                .collect(),
            start_lag: self.start_lag.as_ref().map(Sparse::of),
        }
    }
}

impl<H> Snapshot<H> {
    /// Requests of all names (saturating: a peer's numbers never wrap).
    pub fn requests(&self) -> u64 {
        self.names
            .iter()
            .fold(0, |a, n| a.saturating_add(n.requests))
    }

    /// Requests of the names before `first_other` (the requests, without
    /// flows' iterations or streams' messages, which come after them).
    pub fn requests_before(&self, first_other: usize) -> u64 {
        self.names
            .iter()
            .filter(|n| n.name.index() < first_other)
            .fold(0, |a, n| a.saturating_add(n.requests))
    }

    pub fn failures(&self) -> u64 {
        self.names
            .iter()
            .fold(0, |a, n| a.saturating_add(n.failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Protocol;
    use crate::stats::histogram::{equal, record};
    use crate::stats::series::Percentiles;

    fn spread(n: u64, seed: u64) -> Vec<u64> {
        let mut x = seed | 1;
        (0..n)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                1 + x % (1 + 10u64.pow((i % 10) as u32))
            })
            .collect()
    }

    fn named(name: u32, values: &[u64]) -> NameSnapshot {
        let mut n = NameSnapshot::empty(StatId(name));
        for v in values {
            record(&mut n.hist, *v);
            n.requests += 1;
        }
        n
    }

    #[test]
    fn sparse_round_trip_is_exact() {
        for n in [0, 1, 5, 300, 40_000] {
            let mut h = histogram::new();
            for v in spread(n, n + 7) {
                record(&mut h, v);
            }
            let sparse = Sparse::of(&h);
            let back = Sparse::checked(sparse.0.clone()).unwrap();
            let mut dense = histogram::new();
            back.add_into(&mut dense);
            assert!(equal(&dense, &h), "{n} values");
            assert_eq!(back.checked_count(), Some(h.len()));
            let mut b = Buckets::default();
            back.add_into_buckets(&mut b);
            assert_eq!(b.count(), h.len());
            assert_eq!(b.percentiles(), Percentiles::of(&h));
        }
    }

    #[test]
    fn merging_n_sparse_snapshots_equals_one_histogram_of_all_samples() {
        let values = spread(30_000, 99);
        let mut all = histogram::new();
        let parts: Vec<NameSnapshot> = values
            .chunks(997)
            .map(|c| {
                for v in c {
                    record(&mut all, *v);
                }
                named(3, c)
            })
            .collect();
        let mut merged = NameSnapshot::empty(StatId(3));
        for p in &parts {
            let sparse = NameSnapshot {
                hist: Sparse::of(&p.hist),
                ..NameSnapshot::<Sparse>::from_counts(p)
            };
            merged.checked_add(&sparse).unwrap();
        }
        assert!(equal(&merged.hist, &all));
        assert_eq!(merged.requests, 30_000);
        for q in [0.5, 0.99, 1.0] {
            assert_eq!(
                histogram::quantile(&merged.hist, q),
                histogram::quantile(&all, q)
            );
        }
    }

    impl NameSnapshot<Sparse> {
        fn from_counts(n: &NameSnapshot) -> Self {
            NameSnapshot {
                name: n.name,
                hist: Sparse::default(),
                requests: n.requests,
                failures: n.failures,
                bytes_sent: n.bytes_sent,
                bytes_received: n.bytes_received,
                failure_counts: n.failure_counts.clone(),
                protocols: n.protocols,
            }
        }
    }

    #[test]
    fn counts_from_peers_saturate_or_are_refused() {
        let failure = |count| FailureCount {
            kind: FailureKind::Status,
            reason: "HTTP 503".into(),
            count,
            last_detail: None,
            seen_ms: None,
        };
        let mut a = named(0, &[10, 20]);
        a.bytes_sent = 5;
        a.add_failure(failure(3));
        a.protocols.set(Protocol::Http3, 2);
        let mut huge = named(0, &[30]);
        huge.requests = u64::MAX - 1;
        huge.bytes_sent = u64::MAX;
        huge.add_failure(failure(u64::MAX));

        // Checked: refused, and nothing added.
        let before = a.clone();
        let e = a.checked_add(&huge).unwrap_err();
        assert_eq!(e.what, "requests");
        assert!(e.to_string().contains("requests overflow"), "{e}");
        assert_eq!(a, before);
        huge.requests = 1;
        assert_eq!(a.checked_add(&huge).unwrap_err().what, "bytes sent");
        huge.bytes_sent = 0;
        assert_eq!(
            a.checked_add(&huge).unwrap_err().what,
            "failures of one reason"
        );
        // Two entries of one reason that only overflow together.
        huge.failure_counts = vec![failure(u64::MAX / 2), failure(u64::MAX / 2)];
        assert_eq!(
            a.checked_add(&huge).unwrap_err().what,
            "failures of one reason"
        );
        huge.failure_counts = vec![failure(1)];
        huge.protocols.set(Protocol::Http3, u64::MAX);
        assert_eq!(
            a.checked_add(&huge).unwrap_err().what,
            "requests of one protocol"
        );
        huge.protocols.set(Protocol::Http3, 1);
        // A histogram whose count would pass 2^64.
        let mut many = Sparse(Vec::new());
        prost::encoding::encode_varint(100 << 1, &mut many.0);
        prost::encoding::encode_varint(u64::MAX - 1, &mut many.0);
        let sparse = NameSnapshot {
            hist: many,
            ..NameSnapshot::<Sparse>::from_counts(&huge)
        };
        assert_eq!(a.checked_add(&sparse).unwrap_err().what, "latencies");
        assert_eq!(a, before);
        // Fine numbers add.
        a.checked_add(&huge).unwrap();
        assert_eq!(
            (a.requests, a.hist.len(), a.failure_counts[0].count),
            (3, 3, 4)
        );
        assert_eq!(a.protocols.get(Protocol::Http3), 3);

        // Saturating: never wraps.
        huge.requests = u64::MAX;
        huge.failure_counts = vec![failure(u64::MAX)];
        a.add_counts(&huge);
        assert_eq!(a.requests, u64::MAX);
        assert_eq!(a.failure_counts[0].count, u64::MAX);
        let snap = Snapshot {
            names: vec![a.clone(), a],
            ..Snapshot::default()
        };
        assert_eq!(snap.requests(), u64::MAX);
    }
}
