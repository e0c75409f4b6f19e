//! A replay: the sources' requests sent at their own times (or at a fixed
//! rate, in order), each by an executor of a fixed pool, as the open model
//! sends its arrivals: latency counts from the intended start when every
//! executor was busy, late and missed starts are counted the same way.
//!
//! The sources are read on a thread of their own, ahead of the schedule
//! and bounded (a few batches), so that parsing never waits on the network
//! and memory does not grow with the source. Each engine reads every
//! request and sends those in its share ([`Entry::position`]): a session's
//! requests all fall in one engine's share, and go, in order, to one
//! executor of it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::handoff::{Arrival, Handoff, Offered};
use super::timer::Timer;
use super::{Active, Control, EngineError, Shared};
use crate::scenario::replay::{Entry, Replay};
use crate::scenario::{LoadModel, LoadSpec};

/// Requests read per message from the reading thread.
const BATCH: usize = 512;
/// Batches the reading thread may be ahead.
const AHEAD: usize = 8;
/// Requests due within this of each other leave together (as the open
/// model's [`super::open`] coalesces): one wake-up for all of them.
const COALESCE: Duration = Duration::from_micros(200);

/// A request and when it is due, from the schedule's start.
type Due = (Duration, Entry);

pub(super) async fn run(
    shared: Arc<Shared>,
    load: LoadSpec,
    control: watch::Receiver<Control>,
    replay: Arc<Replay>,
) {
    let LoadModel::Open {
        max_in_flight,
        connections,
        ..
    } = load.model
    else {
        return;
    };
    let share = control.borrow().share;
    let pool = super::open::pool_size(&shared, share, connections, max_in_flight).max(1);
    let handoff: Arc<Handoff<Entry>> = Arc::new(Handoff::new(
        usize::try_from(max_in_flight).unwrap_or(usize::MAX),
    ));
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let compare = replay.spec.compare_status;
    let executors: Vec<tokio::task::JoinHandle<()>> = (0..pool)
        .map(|id| {
            shared.spawn(
                "a replay executor",
                executor(shared.clone(), id, handoff.clone(), ready.clone(), compare),
            )
        })
        .collect();
    super::open::pool_ready(&shared, &ready, pool, load.timeout).await;
    let (tx, rx) = mpsc::channel::<Result<Vec<Due>, String>>(AHEAD);
    let reading = replay.clone();
    let stop = shared.stop.clone();
    let reader = std::thread::Builder::new()
        .name("volley-replay".into())
        .spawn(move || read(&reading, &tx, &stop));
    if let Err(e) = reader {
        shared.fail(EngineError::Replay(format!(
            "the OS refused the thread that reads the sources: {e}"
        )));
        handoff.close();
        return;
    }
    let completed = dispatch(&shared, rx, control, &handoff, pool).await;
    handoff.close();
    for e in executors {
        let _ = e.await;
    }
    if completed {
        // Every request of the sources is sent and answered: the run ends.
        shared.stop.cancel();
    }
}

/// Reads every pass of the sources into batches of requests with their due
/// times, until they end, the engine stops or nobody listens.
fn read(
    replay: &Replay,
    tx: &mpsc::Sender<Result<Vec<Due>, String>>,
    stop: &tokio_util::sync::CancellationToken,
) {
    let spec = &replay.spec;
    let n = replay.index.requests;
    let span = replay.index.span;
    // One pass's length in the sources' time: its span and one mean gap,
    // so that the next pass starts as the requests went.
    let pass_len = if n > 1 {
        span.saturating_add(span / u32::try_from(n - 1).unwrap_or(u32::MAX))
    } else {
        Duration::from_secs(1)
    };
    for pass in 0..spec.loops {
        let mut entries = replay.entries(u64::from(pass).saturating_mul(n));
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            if stop.is_cancelled() {
                return;
            }
            let e = match entries.next_entry() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.to_string()));
                    return;
                }
            };
            let due = match spec.rate {
                Some(rate) => {
                    Duration::try_from_secs_f64(e.seq as f64 / rate).unwrap_or(Duration::MAX)
                }
                None => pass_len
                    .saturating_mul(pass)
                    .saturating_add(e.at)
                    .div_f64(spec.speed),
            };
            batch.push((due, e));
            if batch.len() == BATCH {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                if tx.blocking_send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
            return;
        }
    }
}

/// Hands each request of this engine's share to the pool at its time;
/// true when the sources ended (not a stop).
async fn dispatch(
    shared: &Shared,
    mut rx: mpsc::Receiver<Result<Vec<Due>, String>>,
    control: watch::Receiver<Control>,
    handoff: &Handoff<Entry>,
    pool: u64,
) -> bool {
    let mut timer = Timer::new();
    let pool = usize::try_from(pool).unwrap_or(1).max(1);
    let mut base: Option<Instant> = None;
    loop {
        let batch = tokio::select! {
            b = rx.recv() => b,
            () = shared.stop.cancelled() => return false,
        };
        let batch = match batch {
            None => return true,
            Some(Ok(b)) => b,
            Some(Err(why)) => {
                shared.fail(EngineError::Replay(why));
                return false;
            }
        };
        // The timeline starts when the pool is ready and the first requests
        // are read (not before: reading them is not the target's delay);
        // an engine that joins a running replay (its start a second or
        // more ago) starts where the others are.
        let base = *base.get_or_insert_with(|| {
            if shared.t0.elapsed() < Duration::from_secs(1) {
                Instant::now()
            } else {
                shared.t0
            }
        });
        // A new share (a worker lost or joined) applies from this batch.
        let share = control.borrow().share;
        for (due, entry) in batch {
            let p = entry.position();
            if p < share.lo || p >= share.hi {
                continue;
            }
            let at = base.checked_add(due).unwrap_or(base);
            if at > Instant::now() + COALESCE {
                tokio::select! {
                    () = timer.sleep_until(at) => {}
                    () = shared.stop.cancelled() => return false,
                }
            }
            let offered = match entry.session {
                // A session's requests go to one executor, in order.
                Some(h) => handoff.offer_to((h % pool as u64) as usize, at, entry),
                None => handoff.offer_item(at, entry),
            };
            if offered == Offered::Missed {
                shared.missed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn executor(
    shared: Arc<Shared>,
    id: u64,
    handoff: Arc<Handoff<Entry>>,
    ready: Arc<tokio::sync::Semaphore>,
    compare: bool,
) {
    let is_ready = super::open::Ready(ready);
    let slot = usize::try_from(id).unwrap_or(usize::MAX);
    let mut user = shared.requests.new_user(id);
    let stop = shared.stop.clone();
    tokio::select! {
        () = shared.requests.connect(&mut user) => {}
        () = stop.cancelled() => {}
    }
    drop(is_ready);
    let mut jars = Jars::default();
    loop {
        let free_at = Instant::now();
        let Some(Arrival {
            intended,
            free,
            item,
        }) = handoff.next(slot).await
        else {
            break;
        };
        if stop.is_cancelled() {
            break;
        }
        // As the open model's (a wait for a busy executor is the target's).
        let start = super::open::start_of(&shared, intended, free, free_at);
        let in_flight = Active::new(&shared.active);
        // A session's own cookies: its jar is lent for its request.
        if let Some(h) = item.session {
            user.put_jar(jars.take(h));
        }
        let sample = tokio::select! {
            s = shared.requests.execute_replayed(&item, compare, &mut user, start, &shared.recorder) => s,
            () = stop.cancelled() => {
                shared.abandoned.fetch_add(1, Ordering::Relaxed);
                break;
            }
        };
        if let Some(h) = item.session {
            jars.keep(h, user.take_jar());
        }
        shared.recorder.record(sample);
        drop(in_flight);
    }
}

/// The most sessions whose cookies one executor keeps: past this, the
/// session kept longest ago starts again without its cookies.
const MAX_JARS: usize = 4096;

/// The cookie jars of the sessions an executor carries (several sessions
/// may share an executor; each keeps its own cookies).
#[derive(Default)]
struct Jars {
    /// Per session: its jar, and the turn it was last kept at.
    by_session: std::collections::HashMap<u64, (u64, Box<crate::client::cookies::Jar>)>,
    /// (session, turn) in the order kept, oldest first; an entry whose
    /// turn is not the session's last is stale and passed.
    order: std::collections::VecDeque<(u64, u64)>,
    turn: u64,
}

impl Jars {
    fn take(&mut self, session: u64) -> Option<Box<crate::client::cookies::Jar>> {
        self.by_session.remove(&session).map(|(_, jar)| jar)
    }

    fn keep(&mut self, session: u64, jar: Option<Box<crate::client::cookies::Jar>>) {
        let Some(jar) = jar.filter(|j| !j.is_empty()) else {
            return;
        };
        self.turn = self.turn.wrapping_add(1);
        self.by_session.insert(session, (self.turn, jar));
        self.order.push_back((session, self.turn));
        while self.by_session.len() > MAX_JARS || self.order.len() > MAX_JARS.saturating_mul(4) {
            let Some((old, turn)) = self.order.pop_front() else {
                break;
            };
            if self.by_session.get(&old).is_some_and(|(t, _)| *t == turn) {
                self.by_session.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar() -> Option<Box<crate::client::cookies::Jar>> {
        let mut j = Box::<crate::client::cookies::Jar>::default();
        let url = url::Url::parse("http://127.0.0.1/").unwrap();
        let mut map = http::HeaderMap::new();
        map.insert("set-cookie", http::HeaderValue::from_static("a=1"));
        j.store(&url, &crate::client::answer::Headers::Map(map));
        assert!(!j.is_empty());
        Some(j)
    }

    #[test]
    fn each_session_keeps_its_jar_and_the_oldest_go_past_the_bound() {
        let mut jars = Jars::default();
        assert!(jars.take(1).is_none());
        jars.keep(1, jar());
        // An empty jar is not kept.
        jars.keep(2, Some(Box::default()));
        assert!(jars.take(2).is_none());
        assert!(jars.take(1).is_some());
        assert!(jars.take(1).is_none());
        for s in 0..(MAX_JARS as u64 + 10) {
            jars.keep(s, jar());
        }
        assert_eq!(jars.by_session.len(), MAX_JARS);
        assert!(jars.take(0).is_none(), "the oldest went");
        assert!(jars.take(MAX_JARS as u64 + 9).is_some());
        // Kept again and again: stale entries do not grow without bound.
        for _ in 0..(MAX_JARS * 5) {
            jars.keep(7, jar());
        }
        assert!(jars.order.len() <= MAX_JARS * 4);
        assert!(jars.take(7).is_some());
    }
}
