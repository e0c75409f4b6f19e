//! The open model: arrivals on a schedule, a dispatcher thread of its own,
//! and a fixed pool of executors that take them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::flow::{self, Claims, Turn};
use super::{Active, Control, Share, Shared, guard, health, pacing, total_now};
use crate::scenario::{LoadModel, LoadSpec};

/// The most arrivals dispatched before the dispatcher yields.
const DISPATCH_BATCH: usize = 1024;

/// Open model: arrivals on a schedule, independent of answers, taken by a
/// fixed pool of executors (each with its own connection, opened before the
/// first arrival). A dispatcher thread of its own sends each arrival at its
/// intended time; an arrival that finds every executor busy waits for one,
/// and its latency counts from its intended start (the wait is the
/// target's doing). One that found an executor free counts from when it was
/// taken: the dispatcher's own delay is the generator's, measured as late
/// starts, not put in the target's latency.
pub(super) async fn run(shared: Arc<Shared>, load: LoadSpec, control: watch::Receiver<Control>) {
    let LoadModel::Open {
        rate,
        max_in_flight,
        connections,
        stages,
    } = load.model
    else {
        return;
    };
    let share = control.borrow().share;
    // This engine's part of the pool, split like users, at least one; no
    // more than per-user records (each executor holds one) or the cap.
    let pool = pool_size(&shared, share, connections, max_in_flight);
    let (tx, rx) = async_channel::bounded::<Arrival>(max_in_flight.max(1) as usize);
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let idle = Arc::new(AtomicU64::new(0));
    let mut executors: Vec<tokio::task::JoinHandle<()>> = (0..pool)
        .map(|id| spawn_executor(&shared, id, &rx, &ready, &idle))
        .collect();
    // The pool connects (and logs in) before the schedule starts: no
    // arrival waits for a connect, and none are opened in a burst later.
    let all_ready = async {
        let n = u32::try_from(pool).unwrap_or(u32::MAX);
        let _ = ready.acquire_many(n).await;
    };
    tokio::select! {
        () = all_ready => {}
        () = tokio::time::sleep(load.timeout) => {
            tracing::warn!("not every connection of the pool opened within {:?}: starting anyway", load.timeout);
        }
        () = shared.stop.cancelled() => {}
    }
    let dispatcher = Dispatcher {
        shared: shared.clone(),
        rate,
        stages,
        connections,
        max_in_flight,
        control,
        tx,
        rx,
        ready,
        idle,
        pool,
        runtime: tokio::runtime::Handle::current(),
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("volley-dispatch".into())
        .spawn(move || {
            let out = guard::catch_sync(|| dispatcher.run());
            let _ = done_tx.send(out);
        });
    if let Err(e) = spawned {
        shared.fail(format!("starting the open model's dispatcher thread: {e}"));
    } else {
        match done_rx.await {
            Ok(Ok((more, exhausted))) => {
                executors.extend(more);
                if exhausted {
                    // Every request is scheduled: the backlog drains (the
                    // channel is closed), then the run ends.
                    for e in executors.drain(..) {
                        let _ = e.await;
                    }
                    shared.stop.cancel();
                }
            }
            Ok(Err(panic)) => shared.fail(format!("the open model's dispatcher panicked: {panic}")),
            Err(_) => shared.fail("the open model's dispatcher ended without a word".into()),
        }
    }
    for e in executors {
        let _ = e.await;
    }
}

/// An engine's share of the open model's connection pool.
fn pool_size(shared: &Shared, share: Share, connections: u64, max_in_flight: u64) -> u64 {
    let records = shared
        .records
        .capacity()
        .map_or(u64::MAX, |n| u64::try_from(n).unwrap_or(u64::MAX));
    pool_share(share, connections, max_in_flight, records)
}

/// This share of `connections`, split like users (the engines' parts add
/// up to the whole), at least one (an engine with arrivals needs a
/// connection), at most `max_in_flight` and the per-user `records` it has.
fn pool_share(share: Share, connections: u64, max_in_flight: u64, records: u64) -> u64 {
    share
        .users(connections as f64)
        .max(1)
        .min(max_in_flight.max(1))
        .min(records.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_splits_like_users_and_every_engine_has_a_connection() {
        let shares = Share::split(&[1, 1, 1]);
        let parts: Vec<u64> = shares
            .iter()
            .map(|s| pool_share(*s, 64, 10_000, u64::MAX))
            .collect();
        assert_eq!(parts.iter().sum::<u64>(), 64);
        assert!(parts.iter().all(|&p| p == 21 || p == 22), "{parts:?}");
        // One connection for three engines: each still gets one.
        assert!(
            shares
                .iter()
                .all(|s| pool_share(*s, 1, 10_000, u64::MAX) == 1)
        );
        // Bounded by the waiting slots and by the records to hold.
        assert_eq!(pool_share(Share::WHOLE, 64, 8, u64::MAX), 8);
        assert_eq!(pool_share(Share::WHOLE, 64, 10_000, 5), 5);
        assert_eq!(pool_share(Share::WHOLE, 64, 0, 0), 1);
    }
}

/// One arrival, as the dispatcher hands it to the pool.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    /// When it was meant to start.
    intended: Instant,
    /// Whether an executor was idle when it was dispatched: it found a free
    /// connection, and any delay before it leaves is the generator's.
    free: bool,
}

fn spawn_executor(
    shared: &Arc<Shared>,
    id: u64,
    rx: &async_channel::Receiver<Arrival>,
    ready: &Arc<tokio::sync::Semaphore>,
    idle: &Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    shared.spawn(
        "an open-model executor",
        executor(shared.clone(), id, rx.clone(), ready.clone(), idle.clone()),
    )
}

/// The open model's schedule, on a thread of its own: tokio's timer wheel
/// ticks in milliseconds, a thread sleeping on the kernel's high-resolution
/// timer wakes within microseconds of each arrival, and the runtime's
/// threads stay free for the requests.
struct Dispatcher {
    shared: Arc<Shared>,
    rate: f64,
    stages: Vec<crate::scenario::Stage>,
    connections: u64,
    max_in_flight: u64,
    control: watch::Receiver<Control>,
    tx: async_channel::Sender<Arrival>,
    rx: async_channel::Receiver<Arrival>,
    ready: Arc<tokio::sync::Semaphore>,
    /// Executors waiting for an arrival.
    idle: Arc<AtomicU64>,
    pool: u64,
    runtime: tokio::runtime::Handle,
}

/// The longest the dispatcher sleeps at once: it sees a stop, a new share
/// or a new rate within this.
const DISPATCH_NAP: Duration = Duration::from_millis(5);

impl Dispatcher {
    /// Runs the schedule until stopped or every request is scheduled;
    /// returns the executors it added (a larger share) and whether the
    /// request count was used up.
    fn run(mut self) -> (Vec<tokio::task::JoinHandle<()>>, bool) {
        health::tight_timer_slack();
        self.shared.threads.register_current();
        // Executors are spawned onto the engine's runtime from here.
        let _rt = self.runtime.enter();
        let shared = self.shared.clone();
        let t0 = shared.t0;
        let mut added = Vec::new();
        let mut arrivals = pacing::Arrivals::new();
        // The schedule starts now, with the pool ready; an engine that
        // joins a running test owes no arrivals from before it either.
        arrivals.reset_to(t0.elapsed());
        let mut share = self.control.borrow().share;
        let exhausted = loop {
            if shared.stop.is_cancelled() {
                break false;
            }
            let c = *self.control.borrow();
            if c.share != share {
                share = c.share;
                shared.records.set_share(share);
                // A larger share gets its part of the pool (a smaller one
                // keeps its connections: they cost nothing idle).
                let want = pool_size(&shared, share, self.connections, self.max_in_flight);
                while self.pool < want {
                    added.push(spawn_executor(
                        &shared,
                        self.pool,
                        &self.rx,
                        &self.ready,
                        &self.idle,
                    ));
                    self.pool += 1;
                }
            }
            if shared.exhausted() {
                break true;
            }
            let now = t0.elapsed();
            let r = c.share.rate(total_now(self.rate, &self.stages, &c, now));
            arrivals.follow(r);
            let mut batch = 0usize;
            while arrivals.peek() <= now && batch < DISPATCH_BATCH {
                if self.tx.is_full() {
                    // max_in_flight arrivals wait already: all that is due
                    // now is missed.
                    let n = arrivals.skip_due(r, now);
                    shared.missed.fetch_add(n, Ordering::Relaxed);
                    break;
                }
                let Some(at) = arrivals.take(r, now) else {
                    break;
                };
                if !shared.claim() {
                    break;
                }
                batch += 1;
                // Free when more executors wait than arrivals are queued
                // for them.
                let free = self.idle.load(Ordering::Relaxed) > self.tx.len() as u64;
                let arrival = Arrival {
                    intended: t0 + at,
                    free,
                };
                if self.tx.try_send(arrival).is_err() {
                    shared.missed.fetch_add(1, Ordering::Relaxed);
                    // A missed start sends nothing: it does not use up the count.
                    if shared.limit.is_some() {
                        shared.issued.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            if batch == DISPATCH_BATCH {
                // Behind schedule: carry on at once, after letting the
                // runtime's threads have the core for a moment.
                std::thread::yield_now();
                continue;
            }
            let wait = if r > 0.0 {
                arrivals.peek().saturating_sub(t0.elapsed())
            } else {
                DISPATCH_NAP
            };
            if !wait.is_zero() {
                std::thread::sleep(wait.min(DISPATCH_NAP));
            }
        };
        // Closing the channel lets the executors drain what waits, then end.
        self.tx.close();
        (added, exhausted)
    }
}

async fn executor(
    shared: Arc<Shared>,
    id: u64,
    rx: async_channel::Receiver<Arrival>,
    ready: Arc<tokio::sync::Semaphore>,
    idle: Arc<AtomicU64>,
) {
    // Counted ready however this setup ends, so that the pool's start
    // never waits on a task that is gone.
    struct Ready(Arc<tokio::sync::Semaphore>);
    impl Drop for Ready {
        fn drop(&mut self) {
            self.0.add_permits(1);
        }
    }
    let is_ready = Ready(ready);
    let mut user = shared.requests.new_user(id);
    let stop = shared.stop.clone();
    if !flow::acquire(&shared, &mut user, &stop).await {
        return;
    }
    // Log in (the on-start flow) and connect before taking arrivals, so
    // that arrivals measure the journeys, not the setup.
    let mut started = false;
    let mut claims = Claims::default();
    if flow::ready(
        &shared,
        &mut user,
        &mut started,
        Instant::now(),
        &stop,
        &mut claims,
    )
    .await
    .is_some_and(|t| t == Turn::Stop)
    {
        shared.records.release(&mut user.own);
        return;
    }
    tokio::select! {
        () = shared.requests.connect(&mut user) => {}
        () = stop.cancelled() => {}
    }
    drop(is_ready);
    let late_after = Duration::from_millis(crate::stats::LATE_AFTER_MS);
    loop {
        let free_at = Instant::now();
        idle.fetch_add(1, Ordering::Relaxed);
        let next = tokio::select! {
            n = rx.recv() => n,
            () = stop.cancelled() => Err(async_channel::RecvError),
        };
        idle.fetch_sub(1, Ordering::Relaxed);
        let Ok(Arrival { intended, free }) = next else {
            break;
        };
        let taken = Instant::now();
        // A connection was free when it was dispatched: it left when it
        // could, and any delay (the dispatcher's, this task's wake-up) is the
        // generator's, counted as a late start if long, not as latency.
        // Every connection was busy: the wait for one is the target's doing,
        // and counts in its latency, from the intended start.
        let start = if free {
            if taken.saturating_duration_since(intended) > late_after {
                shared.late.fetch_add(1, Ordering::Relaxed);
            }
            taken
        } else {
            shared.waited.fetch_add(1, Ordering::Relaxed);
            if taken.saturating_duration_since(free_at) > late_after {
                shared.late.fetch_add(1, Ordering::Relaxed);
            }
            intended
        };
        let in_flight = Active::new(&shared.active);
        let mut claims = Claims::prepaid();
        flow::turn(
            &shared,
            &mut user,
            &mut started,
            Some(start),
            &stop,
            &mut claims,
        )
        .await;
        claims.refund(&shared);
        drop(in_flight);
        if stop.is_cancelled() {
            break;
        }
    }
    shared.records.release(&mut user.own);
}
