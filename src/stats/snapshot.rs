//! The statistics of one interval, as the engine publishes them once per
//! interval and as a worker sends them to the master. Snapshots add up
//! exactly: histograms are added, never percentiles averaged.

use super::FailureKind;
use super::histogram::{self, Latency};

/// Failures of one kind and reason for one request name.
#[derive(Debug, Clone, PartialEq)]
pub struct FailureCount {
    pub kind: FailureKind,
    pub reason: String,
    pub count: u64,
    /// The detail of the most recent failure of this reason, if any.
    pub last_detail: Option<String>,
}

/// A latency histogram as something that adds into a dense one: the dense
/// histogram itself, or the (value, count) pairs of its non-empty buckets,
/// which is how snapshots travel from workers. Adding the sparse form costs
/// what was recorded, not the histogram's size: that is what lets one
/// master merge a thousand workers' reports a second.
pub trait Hist {
    fn add_into(&self, into: &mut Latency);
}

impl Hist for Latency {
    fn add_into(&self, into: &mut Latency) {
        histogram::add(into, self);
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
        let mut out = Vec::new();
        let mut prev = 0u64;
        for v in h.iter_recorded() {
            let (value, count) = (v.value_iterated_to(), v.count_at_value());
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
    pub fn checked(bytes: Vec<u8>) -> Result<Sparse, String> {
        match bytes.last() {
            Some(b) if b & 0x80 != 0 => Err("the bucket list ends inside a number".into()),
            _ => Ok(Sparse(bytes)),
        }
    }

    /// Calls `f(value, count)` per bucket.
    fn walk(mut buf: &[u8], mut f: impl FnMut(u64, u64)) -> Result<(), String> {
        let mut value = 0u64;
        while !buf.is_empty() {
            let head = prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?;
            value = value
                .checked_add(head >> 1)
                .filter(|v| *v <= histogram::MAX_MICROS * 2)
                .ok_or("bucket value out of range")?;
            let count = if head & 1 == 1 {
                1
            } else {
                prost::encoding::decode_varint(&mut buf).map_err(|e| e.to_string())?
            };
            f(value, count);
        }
        Ok(())
    }
}

impl Hist for Sparse {
    fn add_into(&self, into: &mut Latency) {
        // Checked on arrival; both sides share the bounds, so a value lands
        // in its own bucket.
        let _ = Sparse::walk(&self.0, |value, count| {
            let _ = into.record_n(value.clamp(1, histogram::MAX_MICROS), count);
        });
    }
}

/// One request name's statistics over an interval (or, added up, a run).
#[derive(Debug, Clone, PartialEq)]
pub struct NameSnapshot<H = Latency> {
    /// Index of the name in the scenario's list of names.
    pub name: u32,
    pub hist: H,
    pub requests: u64,
    pub failures: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub failure_counts: Vec<FailureCount>,
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
                e.count += f.count;
                if f.last_detail.is_some() {
                    e.last_detail = f.last_detail;
                }
            }
            None => self.failure_counts.push(f),
        }
    }
}

impl NameSnapshot {
    pub fn empty(name: u32) -> Self {
        NameSnapshot {
            name,
            hist: histogram::new(),
            requests: 0,
            failures: 0,
            bytes_sent: 0,
            bytes_received: 0,
            failure_counts: Vec::new(),
        }
    }

    /// Adds another snapshot of the same name into this one.
    pub fn add<H: Hist>(&mut self, other: &NameSnapshot<H>) {
        other.hist.add_into(&mut self.hist);
        self.add_counts(other);
    }

    /// Adds another snapshot's counters, not its histogram.
    pub fn add_counts<H>(&mut self, other: &NameSnapshot<H>) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        for f in &other.failure_counts {
            self.add_failure(f.clone());
        }
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
    /// Per request name, only the names that saw requests.
    pub names: Vec<NameSnapshot<H>>,
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
            names: Vec::new(),
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
                })
                .collect(),
        }
    }
}

impl<H> Snapshot<H> {
    pub fn requests(&self) -> u64 {
        self.names.iter().map(|n| n.requests).sum()
    }

    pub fn failures(&self) -> u64 {
        self.names.iter().map(|n| n.failures).sum()
    }
}
