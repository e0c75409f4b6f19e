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

/// One request name's statistics over an interval (or, added up, a run).
#[derive(Debug, Clone, PartialEq)]
pub struct NameSnapshot {
    /// Index of the name in the scenario's list of names.
    pub name: u32,
    pub hist: Latency,
    pub requests: u64,
    pub failures: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub failure_counts: Vec<FailureCount>,
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

    /// Adds another snapshot of the same name into this one.
    pub fn add(&mut self, other: &NameSnapshot) {
        histogram::add(&mut self.hist, &other.hist);
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
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
    /// Per request name, only the names that saw requests.
    pub names: Vec<NameSnapshot>,
}

impl Snapshot {
    pub fn requests(&self) -> u64 {
        self.names.iter().map(|n| n.requests).sum()
    }

    pub fn failures(&self) -> u64 {
        self.names.iter().map(|n| n.failures).sum()
    }
}
