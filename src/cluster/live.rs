//! What a running test publishes besides its statistics, for whoever watches
//! it live (the console): the phase, the workers, the target in force; and
//! the commands a watcher may send back to steer it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::stats::RunStats;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for workers to join.
    Waiting,
    /// Users are still being started towards the target.
    Ramping,
    Running,
    /// Stop was asked or the time is up; waiting for the last reports.
    Stopping,
    Done,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting for workers",
            Phase::Ramping => "ramping",
            Phase::Running => "running",
            Phase::Stopping => "stopping",
            Phase::Done => "done",
        }
    }
}

/// One worker as the master sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    pub id: String,
    pub host: String,
    /// running, done, lost, or rejoined (running again after being lost).
    pub state: &'static str,
    pub users: u64,
    pub rps: f64,
    pub cpu_percent: f64,
    /// Age of its last report.
    pub last_report: Option<Duration>,
    /// Why this worker's generator limited its measurement (empty: it did
    /// not): late or missed starts, a saturated CPU, late reports.
    pub invalid: Vec<String>,
}

/// The run's state besides its statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct Board {
    pub phase: Phase,
    /// Open model: the target is a rate; closed: users.
    pub open: bool,
    /// The total in force now (users or requests/s).
    pub target: f64,
    /// What + and - add and take.
    pub step: f64,
    pub duration: Option<Duration>,
    pub workers: Vec<WorkerRow>,
    pub expected_workers: usize,
    pub notes: Vec<String>,
    /// The capacity search this run is a probe of, if it is one.
    pub search: Option<SearchBoard>,
}

/// A capacity search as the console shows it: the probes so far and the
/// one running.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchBoard {
    pub slos: Vec<String>,
    /// Finished probes, in the order they ran.
    pub probes: Vec<crate::stats::capacity::Probe>,
    /// The probe running now; none between probes and once the search ends.
    pub current: Option<RunningProbe>,
    /// What the search found so far, in a line.
    pub found: String,
}

/// The probe a capacity search is running: the console shows it as the
/// last row of its probes, with the run's live figures beside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunningProbe {
    /// Its place among the search's probes, counted from 1 as the console
    /// numbers them.
    pub number: usize,
    /// The rate it offers, in requests per second.
    pub rate: f64,
}

/// What a watcher may ask of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Start with the workers that have joined, without waiting for more.
    StartNow,
    /// Stop the load; the run ends and reports.
    Stop,
    /// Users (closed) or rate (open) from now on, replacing the stages.
    SetTotal(f64),
    /// Forget everything measured so far.
    Reset,
}

/// Called with the run's state at a steady rate (about 4 per second).
pub type Publish = Box<dyn FnMut(&RunStats, &Board) + Send>;

/// A watcher: what it is shown, and a channel of its commands.
pub struct Watcher {
    pub publish: Publish,
    pub commands: mpsc::UnboundedReceiver<Command>,
    /// It owns the terminal (the console): news goes to it, not to stderr.
    pub on_terminal: bool,
}

impl Watcher {
    /// A watcher that only looks (a metrics endpoint): it sends no commands.
    pub fn looking(publish: Publish) -> Watcher {
        let (_, commands) = mpsc::unbounded_channel();
        Watcher {
            publish,
            commands,
            on_terminal: false,
        }
    }

    /// This watcher and one more publisher, shown the same state.
    pub fn and(self, mut more: Publish) -> Watcher {
        let mut first = self.publish;
        Watcher {
            publish: Box::new(move |stats, board| {
                first(stats, board);
                more(stats, board);
            }),
            commands: self.commands,
            on_terminal: self.on_terminal,
        }
    }
}

/// How much + and - change a total: about a tenth of it, at least one.
pub fn step_for(total: f64) -> f64 {
    (total / 10.0).round().max(1.0)
}

/// A request to stop a run early, and what asked for it: the run stops its
/// workers, waits for their last reports and reports what was measured.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
    by: Arc<OnceLock<String>>,
}

impl Interrupt {
    /// Asks the run to stop; `by` names the cause (e.g. "SIGTERM"). The
    /// first cause is kept.
    pub fn trigger(&self, by: &str) {
        let _ = self.by.set(by.to_owned());
        self.token.cancel();
    }

    /// Resolves once the run is asked to stop.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// What asked the run to stop, if anything did.
    pub fn by(&self) -> Option<&str> {
        self.by.get().map(String::as_str)
    }
}
