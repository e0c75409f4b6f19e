//! The load engine: runs a [`Plan`] (a scenario, its load model, and this
//! engine's [`Share`] of the load) on a runtime of its own, and publishes one
//! [`Snapshot`] per interval to whoever listens. It knows nothing of workers,
//! masters or consoles: a local run and a cluster worker drive it the same way.

pub mod capture;
mod closed;
pub mod exec;
mod flow;
pub mod guard;
mod handoff;
pub mod health;
pub mod http_request;
mod open;
pub mod outcome;
pub mod pacing;
pub mod record;
pub mod records;
mod replay;
pub mod share;
mod timer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use exec::{PrepareError, Requests};
pub use share::Share;

use crate::scenario::{LoadModel, LoadSpec, Scenario};
use crate::stats::snapshot::Sparse;
use crate::stats::{Recorder, Snapshot};
use records::Records;

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
    /// Write every HTTP request sent to this file, as JSON lines
    /// (`--record`; engines of one process share it).
    pub record: Option<std::path::PathBuf>,
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
    /// The engine could not start, or broke.
    Failed(EngineError),
}

/// Why an engine ended before its load did.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "the OS refused the engine's load threads past {started} of {wanted}: {source} (a limit on processes or threads? ask for fewer with --threads)"
    )]
    ThreadsRefused {
        started: usize,
        wanted: usize,
        source: std::io::Error,
    },
    #[error(
        "the OS started only {up} of the engine's {wanted} load threads within {within:?} (a limit on processes or threads? ask for fewer with --threads)"
    )]
    ThreadsLate {
        up: u64,
        wanted: usize,
        within: Duration,
    },
    #[error("starting the engine's runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// A task of the load panicked outside a request (a request's own
    /// panic is that request's failure).
    #[error("{what} panicked: {panic}")]
    TaskPanicked { what: &'static str, panic: String },
    #[error("engine thread panicked")]
    ThreadPanicked,
    /// The replay's sources could not be read while it ran.
    #[error("replay: {0}")]
    Replay(String),
    #[error(transparent)]
    Record(#[from] record::RecordError),
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
            _ => EngineEnd::Failed(EngineError::ThreadPanicked),
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// How long the load threads of an engine may take to start.
const THREADS_START_WITHIN: Duration = Duration::from_secs(5);

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
            let one = match plan.threads {
                0 => health::cores() <= 1,
                n => n == 1,
            };
            // Load threads to start (beside this one, which drives the
            // runtime).
            let workers = match plan.threads {
                _ if one => 0,
                0 => usize::try_from(health::cores()).unwrap_or(1),
                n => n,
            };
            let mut rt = if one {
                // One thread: the load runs on this one, with no work
                // stealing to arrange and no other worker to wake for each
                // task woken.
                threads.register_current();
                tokio::runtime::Builder::new_current_thread()
            } else {
                let mut rt = tokio::runtime::Builder::new_multi_thread();
                rt.worker_threads(workers);
                rt
            };
            let register = threads.clone();
            let started = Arc::new(AtomicU64::new(0));
            let count = started.clone();
            rt.on_thread_start(move || {
                count.fetch_add(1, Ordering::Relaxed);
                register.register_current();
            });
            // tokio panics when the OS refuses a thread it launches (and
            // then waits forever, in its own clean-up, for the threads it
            // did launch), or queues that worker behind the others, which
            // never start it: the load would never start, and the run
            // would hang. The threads are asked of the OS first, and a
            // refusal ends the engine with the reason.
            if let Err(why) = can_spawn(workers) {
                return EngineEnd::Failed(why);
            }
            let rt = match rt.enable_all().thread_name("volley-load").build() {
                Ok(rt) => rt,
                Err(e) => return EngineEnd::Failed(EngineError::Runtime(e)),
            };
            let deadline = Instant::now() + THREADS_START_WITHIN;
            while started.load(Ordering::Relaxed) < workers as u64 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let up = started.load(Ordering::Relaxed);
            if up < workers as u64 {
                rt.shutdown_background();
                return EngineEnd::Failed(EngineError::ThreadsLate {
                    up,
                    wanted: workers,
                    within: THREADS_START_WITHIN,
                });
            }
            rt.block_on(run(plan, control_rx, stop2, snapshots, threads))
        })
        .ok();
    EngineHandle {
        control,
        stop,
        thread,
    }
}

/// Whether the OS lets this process run `n` more threads at once: that
/// many are started, all alive together, then let go.
fn can_spawn(n: usize) -> Result<(), EngineError> {
    let gate = Arc::new(parking_lot::RwLock::new(()));
    let closed = gate.write();
    let mut spawned = Vec::with_capacity(n);
    let mut refused = None;
    for _ in 0..n {
        let g = gate.clone();
        let probe = std::thread::Builder::new()
            .name("volley-probe".into())
            .stack_size(64 << 10)
            .spawn(move || drop(g.read()));
        match probe {
            Ok(h) => spawned.push(h),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    drop(closed);
    let started = spawned.len();
    for h in spawned {
        let _ = h.join();
    }
    match refused {
        None => Ok(()),
        Some(source) => Err(EngineError::ThreadsRefused {
            started,
            wanted: n,
            source,
        }),
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
    fault: parking_lot::Mutex<Option<EngineError>>,
}

impl Shared {
    /// An engine's state before its first user: nothing counted yet.
    fn new(
        requests: Requests,
        records: Records,
        limit: Option<u64>,
        stop: CancellationToken,
        t0: Instant,
        threads: health::Threads,
    ) -> Self {
        Shared {
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
            stop,
            t0,
            fault: parking_lot::Mutex::new(None),
            threads,
        }
    }

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

    /// Counts an arrival that left at `taken`, meant for `intended`.
    fn record_lag(&self, intended: Instant, taken: Instant) {
        let micros = u64::try_from(taken.saturating_duration_since(intended).as_micros())
            .unwrap_or(u64::MAX);
        // In this thread's shard of the recorder, as a sample is: no lock
        // shared between the load threads.
        self.recorder.record_lag(micros);
    }

    /// Fails the engine: the first fault is kept, and load stops.
    fn fail(&self, why: EngineError) {
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
                shared.fail(EngineError::TaskPanicked { what, panic });
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
    // CPU over the cores the runtime may use: a run given one thread on a
    // machine of sixteen is saturated at one core.
    let cores = match u32::try_from(plan.threads) {
        Ok(n) if n > 0 => n.min(health::cores()),
        _ => health::cores(),
    };
    let grpc_shared = match &plan.load.model {
        LoadModel::Open { connections, .. } => {
            Some(open::grpc_connections(cores, plan.share, *connections))
        }
        LoadModel::Closed { .. } => None,
    };
    let mut requests =
        match Requests::prepare(plan.scenario.clone(), plan.load.timeout, grpc_shared).await {
            Ok(r) => r,
            Err(e) => return EngineEnd::Failed(e.into()),
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
    let t0 = Instant::now()
        .checked_sub(plan.offset)
        .unwrap_or_else(Instant::now);
    if let Some(path) = &plan.record {
        match record::RecordFile::open(path, t0) {
            Ok(f) => {
                requests.record = Some(f);
                requests.record_tag = format!("{:08x}", rand::random::<u32>());
            }
            Err(e) => return EngineEnd::Failed(EngineError::Record(e)),
        }
    }
    let shared = Arc::new(Shared::new(
        requests,
        records,
        limit,
        stop.clone(),
        t0,
        threads,
    ));

    let driver = {
        let load = plan.load.clone();
        let s = shared.clone();
        let replayed = plan.scenario.replay.clone();
        shared.spawn("the load driver", async move {
            match (&load.model, replayed) {
                (LoadModel::Open { .. }, Some(r)) => replay::run(s, load, control, r).await,
                (LoadModel::Closed { .. }, _) => closed::run(s, load, control).await,
                (LoadModel::Open { .. }, None) => open::run(s, load, control).await,
            }
        })
    };

    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + plan.interval, plan.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = Duration::ZERO;
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
    // What was recorded is on disk before the run is known to be over.
    if let Some(f) = &shared.requests.record {
        f.flush();
    }
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
        cookies_dropped: shared.requests.cookies_dropped.swap(0, Ordering::Relaxed),
        names,
        start_lag: shared.recorder.drain_lag(),
    };
    let _ = out.send(snap);
    now
}

/// The total (users or rate) in force now.
fn total_now(base: f64, stages: &[crate::scenario::Stage], c: &Control, t: Duration) -> f64 {
    c.total_override
        .unwrap_or_else(|| pacing::target_at(base, stages, t))
}
