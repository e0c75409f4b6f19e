//! The open model: arrivals on a schedule, a dispatcher task that hands
//! them out on time, and a fixed pool of executors that take them.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::flow::{self, Claims, Turn};
use super::handoff::{Arrival, Handoff, Offered};
use super::timer::Timer;
use super::{Active, Control, Share, Shared, pacing, total_now};
use crate::scenario::{LoadModel, LoadSpec};

/// The most arrivals dispatched before the dispatcher yields.
const DISPATCH_BATCH: usize = 1024;

/// Open model: arrivals on a schedule, independent of answers, taken by a
/// fixed pool of executors (each with its own connection, or a handle on a
/// shared one, opened before the first arrival). A dispatcher task hands
/// each arrival out at its intended time (those due within [`COALESCE`] of
/// each other together); an arrival that finds every executor busy waits
/// for one, and its latency counts from its intended start (the wait is the
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
    let handoff = Arc::new(Handoff::new(
        usize::try_from(max_in_flight).unwrap_or(usize::MAX),
    ));
    let ready = Arc::new(tokio::sync::Semaphore::new(0));
    let mut executors: Vec<tokio::task::JoinHandle<()>> = (0..pool)
        .map(|id| spawn_executor(&shared, id, &handoff, &ready))
        .collect();
    pool_ready(&shared, &ready, pool, load.timeout).await;
    let dispatcher = Dispatcher {
        shared: shared.clone(),
        rate,
        stages,
        connections,
        max_in_flight,
        control,
        handoff,
        ready,
        pool,
    };
    let end = dispatcher.run().await;
    executors.extend(end.added);
    if end.exhausted {
        // Every request is scheduled: the backlog drains (the hand-off is
        // closed), then the run ends.
        for e in executors.drain(..) {
            let _ = e.await;
        }
        shared.stop.cancel();
    }
    for e in executors {
        let _ = e.await;
    }
}

/// Waits until the pool's `pool` executors are connected (and logged in),
/// at most `timeout`: the schedule starts then, so that no arrival waits
/// for a connect, and none are opened in a burst later.
pub(super) async fn pool_ready(
    shared: &Shared,
    ready: &tokio::sync::Semaphore,
    pool: u64,
    timeout: Duration,
) {
    let all_ready = async {
        let n = u32::try_from(pool).unwrap_or(u32::MAX);
        let _ = ready.acquire_many(n).await;
    };
    tokio::select! {
        () = all_ready => {}
        () = tokio::time::sleep(timeout) => {
            tracing::warn!("not every connection of the pool opened within {timeout:?}: starting anyway");
        }
        () = shared.stop.cancelled() => {}
    }
}

/// An engine's share of the open model's connection pool.
pub(super) fn pool_size(
    shared: &Shared,
    share: Share,
    connections: u64,
    max_in_flight: u64,
) -> u64 {
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

/// How many HTTP/2 connections an engine's executors share per gRPC
/// endpoint when `[grpc] connections` does not say: two per load thread, no
/// more than the engine's part of the pool. A connection carries many calls
/// at once and batches their writes (a connection per executor cost a write
/// and a wake-up per call). With one, client and server take turns, each
/// waiting while the other handles a batch: against grpc_const on one core
/// one connection carried at most about 80,000 calls/s with both cores
/// partly idle, two carried 110,000/s (by hand, 2026-12-05).
pub(super) fn grpc_connections(threads: u32, share: Share, connections: u64) -> u64 {
    u64::from(threads.max(1))
        .saturating_mul(2)
        .min(share.users(connections as f64).max(1))
}

fn spawn_executor(
    shared: &Arc<Shared>,
    id: u64,
    handoff: &Arc<Handoff>,
    ready: &Arc<tokio::sync::Semaphore>,
) -> tokio::task::JoinHandle<()> {
    shared.spawn(
        "an open-model executor",
        executor(shared.clone(), id, handoff.clone(), ready.clone()),
    )
}

/// The open model's schedule, as a task on the engine's runtime: it waits
/// on a timer with the kernel's resolution ([`Timer`]) and wakes the
/// executors from the runtime's own thread, so an arrival costs no thread
/// crossing. Arrivals closer together than [`COALESCE`] are dispatched
/// together: one wake-up of the runtime for all of them.
struct Dispatcher {
    shared: Arc<Shared>,
    rate: f64,
    stages: Vec<crate::scenario::Stage>,
    connections: u64,
    max_in_flight: u64,
    control: watch::Receiver<Control>,
    handoff: Arc<Handoff>,
    ready: Arc<tokio::sync::Semaphore>,
    pool: u64,
}

/// The longest the dispatcher sleeps at once: it sees a new share or a new
/// rate within this.
const DISPATCH_NAP: Duration = Duration::from_millis(5);

/// The least time between two wake-ups of the dispatcher. Each wake-up of
/// an idle runtime costs a context switch (several microseconds on a VM):
/// at 20,000 arrivals/s against nginx, one wake-up per arrival kept the
/// runtime 70% busy, one per 200 µs 31% (2026-12-05, this project's 2-core
/// VM). Arrivals due within this of each other leave together, at
/// most this late; those that find a connection free count their latency
/// from when they left (the delay is the generator's, as any scheduling
/// delay), and the schedule itself never moves. At rates under 1/COALESCE
/// every arrival has a wake-up of its own.
const COALESCE: Duration = Duration::from_micros(200);

impl Drop for Dispatcher {
    /// However the dispatcher ends (a stop, the count used up, a panic),
    /// the executors waiting for arrivals learn that none will come.
    fn drop(&mut self) {
        self.handoff.close();
    }
}

/// How the schedule ended.
struct ScheduleEnd {
    /// The executors the dispatcher added (a larger share came).
    added: Vec<tokio::task::JoinHandle<()>>,
    /// Whether the request count was used up (else the run was stopped).
    exhausted: bool,
}

impl Dispatcher {
    /// Runs the schedule until stopped or every request is scheduled.
    async fn run(mut self) -> ScheduleEnd {
        let shared = self.shared.clone();
        let t0 = shared.t0;
        let mut timer = Timer::new();
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
                        &self.handoff,
                        &self.ready,
                    ));
                    self.pool += 1;
                }
            }
            if shared.exhausted() {
                break true;
            }
            let woke = t0.elapsed();
            let r = c.share.rate(total_now(self.rate, &self.stages, &c, woke));
            arrivals.follow(r);
            let batch = self.dispatch_due(&mut arrivals, r, woke);
            if batch == DISPATCH_BATCH {
                // Behind schedule: carry on at once, after letting the
                // executors just woken have the thread.
                tokio::task::yield_now().await;
                continue;
            }
            let next = if r > 0.0 {
                arrivals.peek()
            } else {
                woke.saturating_add(DISPATCH_NAP)
            };
            let at = next
                .min(woke.saturating_add(DISPATCH_NAP))
                .max(woke.saturating_add(COALESCE));
            tokio::select! {
                () = timer.sleep_until(t0 + at) => {}
                () = shared.stop.cancelled() => {}
            }
        };
        // Closing lets the executors drain what waits, then end.
        self.handoff.close();
        ScheduleEnd { added, exhausted }
    }

    /// Hands every arrival due by `now` to the pool (at most
    /// [`DISPATCH_BATCH`]); returns how many it handed.
    fn dispatch_due(&self, arrivals: &mut pacing::Arrivals, r: f64, now: Duration) -> usize {
        let shared = &self.shared;
        let mut batch = 0usize;
        while arrivals.peek() <= now && batch < DISPATCH_BATCH {
            let Some(at) = arrivals.take(r, now) else {
                break;
            };
            if !shared.claim() {
                break;
            }
            batch += 1;
            if self.handoff.offer(shared.t0 + at) == Offered::Missed {
                // max_in_flight arrivals wait already: this one and all
                // the others due now are missed, counted in one step.
                let n = arrivals.skip_due(r, now).saturating_add(1);
                shared.missed.fetch_add(n, Ordering::Relaxed);
                // A missed start sends nothing: it does not use up the count.
                if shared.limit.is_some() {
                    shared.issued.fetch_sub(1, Ordering::Relaxed);
                }
                break;
            }
        }
        batch
    }
}

/// Counts an executor ready however its setup ends (dropped), so that the
/// pool's start never waits on a task that is gone.
pub(super) struct Ready(pub(super) Arc<tokio::sync::Semaphore>);

impl Drop for Ready {
    fn drop(&mut self) {
        self.0.add_permits(1);
    }
}

/// When an arrival taken now starts, for its latency: one that found a
/// connection free when it was dispatched (`free`) left when it could,
/// and any delay (the dispatcher's, the task's wake-up) is the
/// generator's, counted as a late start if long, not as latency; one that
/// found every connection busy waited for one, the target's doing, and
/// counts from its intended start. Its start lag is recorded either way.
pub(super) fn start_of(
    shared: &Shared,
    intended: Instant,
    free: bool,
    free_at: Instant,
) -> Instant {
    let taken = Instant::now();
    shared.record_lag(intended, taken);
    let late_after = Duration::from_millis(crate::stats::LATE_AFTER_MS);
    if free {
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
    }
}

async fn executor(
    shared: Arc<Shared>,
    id: u64,
    handoff: Arc<Handoff>,
    ready: Arc<tokio::sync::Semaphore>,
) {
    let is_ready = Ready(ready);
    let slot = usize::try_from(id).unwrap_or(usize::MAX);
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
    loop {
        let free_at = Instant::now();
        // No select on the stop here: the dispatcher closes the hand-off
        // when it stops (also when it unwinds), and a cancellation future
        // per arrival costs a lock and a registration.
        let Some(Arrival { intended, free, .. }) = handoff.next(slot).await else {
            break;
        };
        if stop.is_cancelled() {
            break;
        }
        let start = start_of(&shared, intended, free, free_at);
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

    #[test]
    fn executors_share_two_grpc_connections_per_load_thread() {
        assert_eq!(grpc_connections(1, Share::WHOLE, 64), 2);
        assert_eq!(grpc_connections(16, Share::WHOLE, 64), 32);
        assert_eq!(grpc_connections(0, Share::WHOLE, 64), 2);
        // No more connections than executors.
        assert_eq!(grpc_connections(16, Share::WHOLE, 4), 4);
        assert_eq!(grpc_connections(1, Share::WHOLE, 1), 1);
        let shares = Share::split(&[1, 1, 1]);
        assert_eq!(grpc_connections(8, shares[0], 6), 2);
    }
}
