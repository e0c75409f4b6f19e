//! One run over the connected workers: wait until enough have joined, hand
//! each a plan with its share (by cores), merge their reports exactly into
//! the run's statistics, re-split the load when a worker joins or is lost,
//! and end when every worker has finished and every report has arrived.
//!
//! This module holds what a run is asked to do ([`RunSpec`]) and how it went
//! ([`Outcome`]), the pool of joined workers and the wait for them, and the
//! loop that waits for events; what each event does is in `state`, the
//! workers' bookkeeping in `members`, and what broke a run in `faults`.

mod faults;
mod members;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::live::{Board, Command, Interrupt, Phase, SearchBoard, Watcher};
use super::master::{Event, Master, WorkerInfo, WorkerLink};
use crate::engine::pacing;
use crate::scenario::{LoadModel, LoadSpec, Scenario, Stage};
use crate::stats::threshold::{Aborted, Threshold};
use crate::stats::{Latency, RunStats};

pub use faults::{EngineFailure, Fault, Gone};
pub use members::WorkerSummary;
pub use state::status_line;

use members::Member;
use state::{RunState, Stop};

/// Which workers a run waits for, and how they run.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    /// Workers to wait for before starting.
    pub expect: usize,
    pub join_timeout: Duration,
    /// Load threads per worker (0: the worker's cores).
    pub threads: u32,
}

/// What to run.
#[derive(Clone)]
pub struct RunSpec {
    pub scenario: Arc<Scenario>,
    pub load: LoadSpec,
    pub workers: Workers,
    pub interval: Duration,
    /// Status lines on stderr this often (None: none).
    pub status_every: Option<Duration>,
    /// Keep each name's run so far in every second of the series
    /// (`--csv-full-history`).
    pub name_history: bool,
    /// Thresholds judged live (those with `abort`): the first to break
    /// stops every worker.
    pub aborts: Vec<Threshold>,
    /// Whether the console's + and - may change the load (not in a
    /// capacity probe, whose rate is the measurement).
    pub steerable: bool,
    /// A capacity search this run is a probe of, for the console.
    pub search: Option<SearchBoard>,
    /// Forget what was measured this long after the start: a capacity
    /// probe judges the target warm, not its first connections' moments.
    pub warmup: Option<Duration>,
    /// Each worker writes every HTTP request it sends here (`--record`).
    pub record: Option<std::path::PathBuf>,
}

impl RunSpec {
    /// A run of `load` on `workers`, reporting every second, steerable
    /// from the console, with no status lines, per-name history, abort
    /// thresholds, search or warm-up: callers set what differs with
    /// `RunSpec { field, ..RunSpec::new(..) }`, so a new field is given its
    /// default here only.
    pub fn new(scenario: Arc<Scenario>, load: LoadSpec, workers: Workers) -> Self {
        RunSpec {
            scenario,
            load,
            workers,
            interval: Duration::from_secs(1),
            status_every: None,
            name_history: false,
            aborts: Vec::new(),
            steerable: true,
            search: None,
            warmup: None,
            record: None,
        }
    }

    /// The load's target over time, before any override.
    fn target(&self) -> LoadTarget {
        match &self.load.model {
            LoadModel::Closed { users, stages, .. } => LoadTarget {
                open: false,
                base: *users as f64,
                stages: stages.clone(),
            },
            LoadModel::Open { rate, stages, .. } => LoadTarget {
                open: true,
                base: *rate,
                stages: stages.clone(),
            },
        }
    }

    /// What the console shows of a run about to start.
    fn board(&self, target: &LoadTarget) -> Board {
        Board {
            phase: Phase::Waiting,
            open: target.open,
            target: target.at(Duration::ZERO),
            step: if self.steerable { 1.0 } else { 0.0 },
            duration: self.load.duration,
            workers: Vec::new(),
            expected_workers: self.workers.expect,
            notes: Vec::new(),
            search: self.search.clone(),
        }
    }
}

/// A load's target over time: users (closed) or requests/s (open), from
/// `base` as the stages move it.
struct LoadTarget {
    open: bool,
    base: f64,
    stages: Vec<Stage>,
}

impl LoadTarget {
    fn at(&self, elapsed: Duration) -> f64 {
        pacing::target_at(self.base, &self.stages, elapsed)
    }
}

/// How a run went.
pub struct Outcome {
    pub stats: RunStats,
    /// Workers that took part.
    pub workers: Vec<WorkerSummary>,
    /// Things the summary must say (lost workers, busy workers).
    pub notes: Vec<String>,
    /// What kept the run from running as planned: an engine that failed, or
    /// load lost with no worker left to take it. A run with errors fails
    /// whatever its thresholds say (exit 3); what it measured is reported.
    pub errors: Vec<Fault>,
    /// How late reports were merged, in ms after their interval ended on
    /// the master's clock: how far the master's view lags the workers.
    pub report_lag_ms: Latency,
    /// The threshold that stopped the run, if one did.
    pub aborted: Option<Aborted>,
    /// Stopped by a signal or from the console before its end.
    pub interrupted: bool,
}

/// Why a run did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "{came} of {expected} workers joined within {timeout:?}; not starting (raise --join-timeout or check the workers' logs)"
    )]
    TooFewWorkers {
        came: usize,
        expected: usize,
        timeout: Duration,
    },
    /// Every engine failed before measuring anything; the reasons, each
    /// once (workers in one process fail alike).
    #[error("the scenario could not run: {0}")]
    Failed(String),
}

/// The workers joined to a master between runs: what the next run hands
/// its plans to. Several runs (a capacity search's probes) share one pool.
#[derive(Default)]
pub struct Pool {
    members: BTreeMap<u64, (WorkerInfo, WorkerLink)>,
}

impl Pool {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Takes in what happened while no run was going: workers that joined
    /// or were lost. Reports and Done of earlier runs are dropped.
    pub fn refresh(&mut self, master: &mut Master) {
        while let Some(ev) = master.try_next() {
            match ev {
                Event::Joined(info, link) => {
                    self.members.insert(info.serial, (info, link));
                }
                Event::Lost { serial, .. } => {
                    self.members.remove(&serial);
                }
                _ => {}
            }
        }
    }
}

/// Runs once over the master's workers: waits for them, then runs.
pub async fn run(
    master: &mut Master,
    spec: &RunSpec,
    run_id: u64,
    interrupt: &Interrupt,
    mut watcher: Option<Watcher>,
) -> Result<Outcome, RunError> {
    let mut pool = gather(master, spec, &mut watcher).await?;
    run_on(master, &mut pool, spec, run_id, interrupt, &mut watcher).await
}

/// What the console shows of a run about to start.
pub(super) fn board_of(spec: &RunSpec) -> Board {
    spec.board(&spec.target())
}

/// Waits until `spec.workers.expect` have joined (or the console says start
/// now), at most `spec.workers.join_timeout`.
pub async fn gather(
    master: &mut Master,
    spec: &RunSpec,
    watcher: &mut Option<Watcher>,
) -> Result<Pool, RunError> {
    let mut pool: BTreeMap<u64, (WorkerInfo, WorkerLink)> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + spec.workers.join_timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut board = board_of(spec);
    let waiting_stats = RunStats::new(spec.scenario.rows.clone());
    let mut by_hand = false;
    'waiting: while pool.len() < spec.workers.expect {
        tokio::select! {
            ev = master.next() => match ev {
                Some(Event::Joined(info, link)) => { pool.insert(info.serial, (info, link)); }
                Some(Event::Lost { serial, .. }) => { pool.remove(&serial); }
                Some(_) => {}
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => break,
            _ = tick.tick(), if watcher.is_some() => {
                if let Some(w) = watcher.as_mut() {
                    while let Ok(c) = w.commands.try_recv() {
                        if c == Command::StartNow && !pool.is_empty() {
                            by_hand = true;
                            break 'waiting;
                        }
                    }
                    board.workers = pool
                        .values()
                        .map(|(info, link)| Member::new(info.clone(), link.clone()).row(Instant::now(), None))
                        .collect();
                    (w.publish)(&waiting_stats, &board);
                }
            }
        }
    }
    // Only the console looked at it while waiting; a histogram per name.
    drop(waiting_stats);
    // Started by hand with fewer workers than expected: those are enough.
    let expected = if by_hand { 1 } else { spec.workers.expect };
    if pool.len() < expected {
        return Err(RunError::TooFewWorkers {
            came: pool.len(),
            expected: spec.workers.expect,
            timeout: spec.workers.join_timeout,
        });
    }
    Ok(Pool { members: pool })
}

/// Runs once over the workers of `pool`, which holds those still connected
/// (the ones that joined during the run included) when it returns. The loop
/// only waits: each event is a method of [`RunState`].
pub async fn run_on(
    master: &mut Master,
    pool: &mut Pool,
    spec: &RunSpec,
    run_id: u64,
    interrupt: &Interrupt,
    watcher: &mut Option<Watcher>,
) -> Result<Outcome, RunError> {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut run = RunState::start(pool, spec, run_id, watcher)?;
    while !run.finished() {
        tokio::select! {
            ev = master.next() => match ev {
                Some(ev) => run.on_event(ev),
                None => break,
            },
            _ = tick.tick() => run.on_tick(watcher),
            () = interrupt.triggered(), if !run.stopping => {
                run.on_stop(Stop::Interrupt(interrupt.by().unwrap_or("an interrupt")));
            }
        }
    }
    run.finish(pool, watcher)
}
