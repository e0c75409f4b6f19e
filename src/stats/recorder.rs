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
use super::snapshot::{FailureCount, NameSnapshot};
use super::{Failure, FailureKind, Sample};

static NEXT_RECORDER_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct NameData {
    hist: Option<Latency>,
    requests: u64,
    failures: u64,
    bytes_sent: u64,
    bytes_received: u64,
    reasons: HashMap<(FailureKind, std::borrow::Cow<'static, str>), (u64, Option<String>)>,
}

impl NameData {
    fn is_empty(&self) -> bool {
        self.requests == 0
    }
}

#[derive(Default)]
struct Shard {
    names: Vec<NameData>,
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
            let idx = sample.name as usize;
            if shard.names.len() <= idx {
                shard.names.resize_with(idx + 1, NameData::default);
            }
            let d = &mut shard.names[idx];
            histogram::record(d.hist.get_or_insert_with(histogram::new), sample.micros);
            d.requests += 1;
            d.bytes_sent += sample.bytes_sent;
            d.bytes_received += sample.bytes_received;
            if let Some(Failure {
                kind,
                reason,
                detail,
            }) = sample.failure
            {
                d.failures += 1;
                let e = d.reasons.entry((kind, reason)).or_insert((0, None));
                e.0 += 1;
                if detail.is_some() {
                    e.1 = detail;
                }
            }
        })
    }

    /// Takes everything recorded since the last drain, per request name.
    pub fn drain(&self) -> Vec<NameSnapshot> {
        let shards: Vec<_> = self.shards.lock().clone();
        let mut out: Vec<NameSnapshot> = Vec::new();
        for shard in shards {
            // Swap the data out under the lock; merge after releasing it.
            let taken = std::mem::take(&mut shard.lock().names);
            for (idx, d) in taken.into_iter().enumerate() {
                if d.is_empty() {
                    continue;
                }
                let snap = match out.iter_mut().find(|n| n.name == idx as u32) {
                    Some(s) => s,
                    None => {
                        out.push(NameSnapshot::empty(idx as u32));
                        out.last_mut().unwrap_or_else(|| unreachable!())
                    }
                };
                if let Some(h) = &d.hist {
                    histogram::add(&mut snap.hist, h);
                }
                snap.requests += d.requests;
                snap.failures += d.failures;
                snap.bytes_sent += d.bytes_sent;
                snap.bytes_received += d.bytes_received;
                for ((kind, reason), (count, detail)) in d.reasons {
                    snap.add_failure(FailureCount {
                        kind,
                        reason: reason.into_owned(),
                        count,
                        last_detail: detail,
                    });
                }
            }
        }
        out.sort_by_key(|n| n.name);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: u32, micros: u64, failure: Option<Failure>) -> Sample {
        Sample {
            name,
            micros,
            bytes_sent: 10,
            bytes_received: 20,
            failure,
        }
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
        assert_eq!(again[0].name, 1);
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
}
