//! The load engine: runs a [`Plan`] (a scenario, its load model, and this
//! engine's [`Share`] of the load) on a runtime of its own, and publishes one
//! [`Snapshot`] per interval to whoever listens. It knows nothing of workers,
//! masters or consoles: a local run and a cluster worker drive it the same way.

pub mod capture;
pub mod exec;
mod flow;
pub mod guard;
pub mod health;
pub mod http_request;
pub mod pacing;
pub mod records;
pub mod share;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use exec::{PrepareError, Requests};
pub use share::Share;

use crate::scenario::{LoadModel, LoadSpec, Scenario, Think};
use crate::stats::snapshot::Sparse;
use crate::stats::{Recorder, Snapshot};
use flow::{Claims, Turn};
use records::Records;

/// Open model: the most arrivals dispatched before the dispatcher yields.
const DISPATCH_BATCH: usize = 1024;

/// What an engine runs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: Arc<Scenario>,
    /// The load, with any command-line overrides applied.
    pub load: LoadSpec,
    pub share: Share,
    /// Runtime threads (0: one per core).
    pub threads: usize,
    /// How often a snapshot is published.
    pub interval: Duration,
    /// When load starts (workers of one run start together); None: now.
    pub start_at: Option<std::time::SystemTime>,
    /// How far into the run this engine starts (a worker that joins a
    /// running test): stages and the duration count from the run's start.
    pub offset: Duration,
}

/// Commands to a running engine.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Control {
    share: Share,
    /// Replaces the stages with a constant total (users or rate).
    total_override: Option<f64>,
}

/// How the engine ended.
#[derive(Debug)]
pub enum EngineEnd {
    /// The duration or request count was reached, or stop was asked.
    Finished,
    /// The engine could not start.
    Failed(String),
}

/// A running engine.
pub struct EngineHandle {
    control: watch::Sender<Control>,
    stop: CancellationToken,
    thread: Option<std::thread::JoinHandle<EngineEnd>>,
}

impl EngineHandle {
    /// Changes this engine's share of the load.
    pub fn set_share(&self, share: Share) {
        self.control.send_modify(|c| c.share = share);
    }

    /// Sets the total users (closed) or rate (open), replacing the stages.
    pub fn set_total(&self, total: f64) {
        self.control
            .send_modify(|c| c.total_override = Some(total.max(0.0)));
    }

    /// Stops load now: no new requests, those in flight are abandoned. The
    /// last snapshot still arrives.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits for the engine to end.
    pub fn join(mut self) -> EngineEnd {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(end)) => end,
            _ => EngineEnd::Failed("engine thread panicked".into()),
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts an engine on threads of its own. Snapshots go to `snapshots`; the
/// last one is sent before the engine ends.
pub fn start(plan: Plan, snapshots: mpsc::UnboundedSender<Snapshot<Sparse>>) -> EngineHandle {
    let (control, control_rx) = watch::channel(Control {
        share: plan.share,
        total_override: None,
    });
    let stop = CancellationToken::new();
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("volley-engine".into())
        .spawn(move || {
            let threads = health::Threads::default();
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if plan.threads > 0 {
                rt.worker_threads(plan.threads);
            }
            let register = threads.clone();
            rt.on_thread_start(move || register.register_current());
            let rt = match rt.enable_all().thread_name("volley-load").build() {
                Ok(rt) => rt,
                Err(e) => return EngineEnd::Failed(format!("starting the engine's runtime: {e}")),
            };
            rt.block_on(run(plan, control_rx, stop2, snapshots, threads))
        })
        .ok();
    EngineHandle {
        control,
        stop,
        thread,
    }
}

/// Shared by the tasks of one run.
struct Shared {
    requests: Requests,
    recorder: Recorder,
    /// Requests started (for the count limit).
    issued: AtomicU64,
    /// This engine's request limit, if any.
    limit: Option<u64>,
    /// Closed: users running; open: requests in flight.
    active: AtomicU64,
    late: AtomicU64,
    missed: AtomicU64,
    /// Open model: arrivals that found every connection busy.
    waited: AtomicU64,
    /// Requests cut off in flight by the stop.
    abandoned: AtomicU64,
    /// This engine's slice of every per-user data source.
    records: Records,
    /// Whether a user has waited for a free record (warned once).
    starved: AtomicBool,
    stop: CancellationToken,
    t0: Instant,
    /// This engine's threads (its CPU reading adds them up).
    threads: health::Threads,
    /// Why the engine failed (a panic outside a request), if it did: the
    /// engine stops and ends with this.
    fault: parking_lot::Mutex<Option<String>>,
}

impl Shared {
    /// Claims the right to start one more request; false once the count
    /// limit is used up (requests in flight still finish and are counted).
    fn claim(&self) -> bool {
        match self.limit {
            None => true,
            Some(limit) => self.issued.fetch_add(1, Ordering::Relaxed) < limit,
        }
    }

    /// Whether the count limit is used up.
    fn exhausted(&self) -> bool {
        self.limit
            .is_some_and(|l| self.issued.load(Ordering::Relaxed) >= l)
    }

    /// Fails the engine: the first fault is kept, and load stops.
    fn fail(&self, why: String) {
        tracing::error!("{why}");
        self.fault.lock().get_or_insert(why);
        self.stop.cancel();
    }

    /// Spawns a task of the load; a panic in it fails the engine.
    fn spawn<F>(self: &Arc<Self>, what: &'static str, task: F) -> tokio::task::JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let shared = self.clone();
        tokio::spawn(async move {
            if let Err(panic) = guard::catch(task).await {
                shared.fail(format!("{what} panicked: {panic}"));
            }
        })
    }
}

/// Counts one user (or request in flight) for as long as it lives, also
/// when its task unwinds.
struct Active<'a>(&'a AtomicU64);

impl<'a> Active<'a> {
    fn new(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Active(counter)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn run(
    plan: Plan,
    control: watch::Receiver<Control>,
    stop: CancellationToken,
    snapshots: mpsc::UnboundedSender<Snapshot<Sparse>>,
    threads: health::Threads,
) -> EngineEnd {
    let requests = match Requests::prepare(plan.scenario.clone(), plan.load.timeout).await {
        Ok(r) => r,
        Err(e) => return EngineEnd::Failed(e.to_string()),
    };
    if let Some(at) = plan.start_at
        && let Ok(wait) = at.duration_since(std::time::SystemTime::now())
    {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => {}
        }
    }
    let limit = plan.load.requests.map(|n| plan.share.count(n));
    let records = Records::new(&plan.scenario.data, plan.share);
    let shared = Arc::new(Shared {
        requests,
        records,
        starved: AtomicBool::new(false),
        recorder: Recorder::new(),
        issued: AtomicU64::new(0),
        limit,
        active: AtomicU64::new(0),
        late: AtomicU64::new(0),
        missed: AtomicU64::new(0),
        waited: AtomicU64::new(0),
        abandoned: AtomicU64::new(0),
        stop: stop.clone(),
        t0: Instant::now()
            .checked_sub(plan.offset)
            .unwrap_or_else(Instant::now),
        fault: parking_lot::Mutex::new(None),
        threads,
    });

    let driver = {
        let load = plan.load.clone();
        let s = shared.clone();
        shared.spawn("the load driver", async move {
            match &load.model {
                LoadModel::Closed { .. } => closed(s, load, control).await,
                LoadModel::Open { .. } => open(s, load, control).await,
            }
        })
    };

    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + plan.interval, plan.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Duration::ZERO;
    // CPU over the cores the runtime may use: a run given one thread on a
    // machine of sixteen is saturated at one core.
    let cores = match u32::try_from(plan.threads) {
        Ok(n) if n > 0 => n.min(health::cores()),
        _ => health::cores(),
    };
    let mut cpu = health::CpuClock::of_threads(shared.threads.clone(), cores);
    // Durations are bounded when compiled; an Instant that cannot hold the
    // end anyway means no deadline, not a panic.
    let deadline = plan.load.duration.and_then(|d| shared.t0.checked_add(d));
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ticker.tick() => {
                last = publish(&shared, last, Some(plan.interval), &mut cpu, &snapshots);
            }
            () = until_deadline => stop.cancel(),
            () = stop.cancelled() => break,
        }
    }
    // Let the users see the stop and let go of their last samples.
    let _ = tokio::time::timeout(Duration::from_secs(2), driver).await;
    // The last snapshot comes when the load has stopped, not on a tick:
    // however long the stop took, it is not a late report.
    publish(&shared, last, None, &mut cpu, &snapshots);
    match shared.fault.lock().take() {
        Some(why) => EngineEnd::Failed(why),
        None => EngineEnd::Finished,
    }
}

/// Drains the recorder into one snapshot, its histograms as they travel
/// (bucket lists built from what was recorded, no dense histogram per name
/// on the way); returns its end time.
fn publish(
    shared: &Shared,
    last: Duration,
    interval: Option<Duration>,
    cpu: &mut health::CpuClock,
    out: &mpsc::UnboundedSender<Snapshot<Sparse>>,
) -> Duration {
    let now = shared.t0.elapsed();
    let names = shared.recorder.drain_sparse();
    let since = now.saturating_sub(last);
    let snap = Snapshot {
        at_ms: now.as_millis() as u64,
        interval_ms: since.as_millis() as u64,
        waited_starts: shared.waited.swap(0, Ordering::Relaxed),
        abandoned: shared.abandoned.swap(0, Ordering::Relaxed),
        cpu_percent: cpu.percent(),
        late_reports: u64::from(interval.is_some_and(|i| since > i.saturating_mul(2))),
        users: shared.active.load(Ordering::Relaxed),
        late_starts: shared.late.swap(0, Ordering::Relaxed),
        missed_starts: shared.missed.swap(0, Ordering::Relaxed),
        retries: shared.requests.retries.swap(0, Ordering::Relaxed),
        names,
    };
    let _ = out.send(snap);
    now
}

/// The total (users or rate) in force now.
fn total_now(base: f64, stages: &[crate::scenario::Stage], c: &Control, t: Duration) -> f64 {
    c.total_override
        .unwrap_or_else(|| pacing::target_at(base, stages, t))
}

/// Closed model: users that each send, wait for the answer, think, repeat.
async fn closed(shared: Arc<Shared>, load: LoadSpec, control: watch::Receiver<Control>) {
    let LoadModel::Closed {
        users,
        spawn_rate,
        think,
        stages,
    } = load.model
    else {
        return;
    };
    let mut running: Vec<(CancellationToken, tokio::task::JoinHandle<()>)> = Vec::new();
    let mut next_id = 0u64;
    let mut credit = 0.0f64;
    let tick = Duration::from_millis(50);
    let mut last = Instant::now();
    let mut share = control.borrow().share;
    loop {
        let c = *control.borrow();
        if c.share != share {
            share = c.share;
            shared.records.set_share(share);
        }
        let t = shared.t0.elapsed();
        let desired = c.share.users(total_now(users as f64, &stages, &c, t)) as usize;
        let now = Instant::now();
        // The spawn rate is the run's; this engine spawns its share of it.
        credit += spawn_rate * c.share.fraction().max(1e-9) * (now - last).as_secs_f64();
        last = now;
        running.retain(|(_, h)| !h.is_finished());
        if shared.exhausted() {
            // Every request is claimed: let those in flight finish, then end.
            for (_, handle) in running.drain(..) {
                let _ = handle.await;
            }
            shared.stop.cancel();
            break;
        }
        if running.len() < desired {
            let can = (credit.floor() as usize).min(desired - running.len());
            // The first user starts at once.
            let can = if running.is_empty() && next_id == 0 {
                can.max(1)
            } else {
                can
            };
            credit -= can as f64;
            for _ in 0..can {
                let token = shared.stop.child_token();
                let handle = shared.spawn(
                    "a virtual user",
                    user_loop(shared.clone(), next_id, think, token.clone()),
                );
                running.push((token, handle));
                next_id += 1;
            }
        } else {
            credit = credit.min(1.0);
            while running.len() > desired {
                if let Some((token, _)) = running.pop() {
                    token.cancel();
                }
            }
        }
        if running.len() >= desired {
            credit = credit.min(spawn_rate.max(1.0));
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = shared.stop.cancelled() => break,
        }
    }
    for (token, handle) in running {
        token.cancel();
        let _ = handle.await;
    }
}

async fn user_loop(shared: Arc<Shared>, id: u64, think: Think, stop: CancellationToken) {
    let mut user = shared.requests.new_user(id);
    // A user holds its own records before it counts as running.
    if !flow::acquire(&shared, &mut user, &stop).await {
        return;
    }
    let active = Active::new(&shared.active);
    let mut started = false;
    while !stop.is_cancelled() {
        let mut claims = Claims::default();
        let t = flow::turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
        if t == Turn::Stop {
            break;
        }
        if let Some(pause) = think.draw(&mut user.rng) {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => break,
            }
        }
    }
    drop(active);
    shared.records.release(&mut user.own);
}

/// Open model: arrivals on a schedule, independent of answers, taken by a
/// fixed pool of executors (each with its own connection, opened before the
/// first arrival). A dispatcher thread of its own sends each arrival at its
/// intended time; an arrival that finds every executor busy waits for one,
/// and its latency counts from its intended start (the wait is the
/// target's doing). One that found an executor free counts from when it was
/// taken: the dispatcher's own delay is the generator's, measured as late
/// starts, not put in the target's latency.
async fn open(shared: Arc<Shared>, load: LoadSpec, control: watch::Receiver<Control>) {
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
