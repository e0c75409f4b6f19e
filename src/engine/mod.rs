//! The load engine: runs a [`Plan`] (a scenario, its load model, and this
//! engine's [`Share`] of the load) on a runtime of its own, and publishes one
//! [`Snapshot`] per interval to whoever listens. It knows nothing of workers,
//! masters or consoles: a local run and a cluster worker drive it the same way.

pub mod capture;
pub mod exec;
mod flow;
pub mod guard;
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

/// Open-model starts later than this behind schedule count as late.
pub const LATE_AFTER: Duration = Duration::from_millis(10);

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
            let mut rt = tokio::runtime::Builder::new_multi_thread();
            if plan.threads > 0 {
                rt.worker_threads(plan.threads);
            }
            let rt = match rt.enable_all().thread_name("volley-load").build() {
                Ok(rt) => rt,
                Err(e) => return EngineEnd::Failed(format!("starting the engine's runtime: {e}")),
            };
            rt.block_on(run(plan, control_rx, stop2, snapshots))
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
    /// This engine's slice of every per-user data source.
    records: Records,
    /// Whether a user has waited for a free record (warned once).
    starved: AtomicBool,
    stop: CancellationToken,
    t0: Instant,
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
        stop: stop.clone(),
        t0: Instant::now()
            .checked_sub(plan.offset)
            .unwrap_or_else(Instant::now),
        fault: parking_lot::Mutex::new(None),
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
                last = publish(&shared, last, &snapshots);
            }
            () = until_deadline => stop.cancel(),
            () = stop.cancelled() => break,
        }
    }
    // Let the users see the stop and let go of their last samples.
    let _ = tokio::time::timeout(Duration::from_secs(2), driver).await;
    publish(&shared, last, &snapshots);
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
    out: &mpsc::UnboundedSender<Snapshot<Sparse>>,
) -> Duration {
    let now = shared.t0.elapsed();
    let names = shared.recorder.drain_sparse();
    let snap = Snapshot {
        at_ms: now.as_millis() as u64,
        interval_ms: (now - last).as_millis() as u64,
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

/// Open model: arrivals on a schedule, independent of answers; each arrival is
/// taken by an idle executor (each with its own connection), and latency
/// counts from the arrival's intended start.
async fn open(shared: Arc<Shared>, load: LoadSpec, control: watch::Receiver<Control>) {
    let LoadModel::Open {
        rate,
        max_in_flight,
        stages,
    } = load.model
    else {
        return;
    };
    let (tx, rx) = async_channel::bounded::<Instant>(max_in_flight as usize);
    let idle = Arc::new(AtomicU64::new(0));
    let mut executors: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    let mut arrivals = pacing::Arrivals::new();
    let t0 = shared.t0;
    // An engine that joins a running test owes no arrivals from before it.
    arrivals.reset_to(t0.elapsed());
    let mut share = control.borrow().share;
    loop {
        let c = *control.borrow();
        if c.share != share {
            share = c.share;
            shared.records.set_share(share);
        }
        // Executors hold per-user records: no more of them than records.
        let most = shared
            .records
            .capacity()
            .map_or(max_in_flight, |n| max_in_flight.min(n as u64));
        let now = t0.elapsed();
        let r = c.share.rate(total_now(rate, &stages, &c, now));
        if shared.exhausted() {
            // Every request is scheduled: drain the backlog, then end.
            tx.close();
            for e in executors.drain(..) {
                let _ = e.await;
            }
            shared.stop.cancel();
            break;
        }
        // The step from the last arrival follows the rate now in force.
        arrivals.follow(r);
        // At most a batch per pass: at any rate the loop yields to the
        // runtime (Ctrl-C, snapshots), and what is left is taken next pass.
        let mut batch = 0usize;
        while arrivals.peek() <= now {
            if batch == DISPATCH_BATCH {
                break;
            }
            if tx.is_full() {
                // Every slot is busy: all that is due now is missed.
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
            if tx.try_send(t0 + at).is_err() {
                shared.missed.fetch_add(1, Ordering::Relaxed);
                // A missed start sends nothing: it does not use up the count.
                if shared.limit.is_some() {
                    shared.issued.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        // Grow the pool when the backlog exceeds the idle executors.
        let backlog = tx.len() as u64;
        let idle_now = idle.load(Ordering::Relaxed);
        if backlog > idle_now {
            let want = (backlog - idle_now).min(most.saturating_sub(executors.len() as u64));
            for _ in 0..want {
                let id = executors.len() as u64;
                executors.push(shared.spawn(
                    "an open-model executor",
                    executor(shared.clone(), id, rx.clone(), idle.clone()),
                ));
            }
        }
        if shared.stop.is_cancelled() {
            break;
        }
        if batch == DISPATCH_BATCH {
            // Behind schedule: carry on at once, after letting others run.
            tokio::task::yield_now().await;
            continue;
        }
        let wake = if r > 0.0 {
            arrivals
                .peek()
                .saturating_sub(t0.elapsed())
                .min(Duration::from_millis(50))
        } else {
            Duration::from_millis(10)
        };
        tokio::select! {
            () = tokio::time::sleep(wake) => {}
            () = shared.stop.cancelled() => break,
        }
    }
    tx.close();
    for e in executors {
        let _ = e.await;
    }
}

async fn executor(
    shared: Arc<Shared>,
    id: u64,
    rx: async_channel::Receiver<Instant>,
    idle: Arc<AtomicU64>,
) {
    let mut user = shared.requests.new_user(id);
    let stop = shared.stop.clone();
    if !flow::acquire(&shared, &mut user, &stop).await {
        return;
    }
    // Log in (the on-start flow) before taking arrivals, so that arrivals
    // measure the journeys, not the setup.
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
    loop {
        idle.fetch_add(1, Ordering::Relaxed);
        let next = tokio::select! {
            n = rx.recv() => n,
            () = stop.cancelled() => Err(async_channel::RecvError),
        };
        idle.fetch_sub(1, Ordering::Relaxed);
        let Ok(intended) = next else { break };
        if intended.elapsed() > LATE_AFTER {
            shared.late.fetch_add(1, Ordering::Relaxed);
        }
        let in_flight = Active::new(&shared.active);
        let mut claims = Claims::prepaid();
        flow::turn(
            &shared,
            &mut user,
            &mut started,
            Some(intended),
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
