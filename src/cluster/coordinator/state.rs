//! One run's state while it goes, and what each event does to it: a report
//! merged, a worker done, joined or lost, the 250 ms tick (warm-up, abort
//! thresholds, status line, console), and a stop (a signal, the console, a
//! threshold). The coordinator's loop only waits for events and calls these.

use std::cell::OnceCell;
use std::time::{Duration, Instant};

use tracing::warn;

use super::super::convert;
use super::super::live::{self, Board, Command, Phase, Watcher};
use super::super::master::{Event, WorkerInfo, WorkerLink};
use super::super::shared::Lease;
use super::super::wire::{self, master_message, worker_message};
use super::faults::{EngineFailure, Fault, Gone, said_once};
use super::members::{Done, Member, Members, NewShare};
use super::{LoadTarget, Outcome, Pool, RunError, RunSpec};
use crate::engine::Share;
use crate::stats::health::BUSY_CPU_PERCENT;
use crate::stats::threshold::{Aborted, broken_abort};
use crate::stats::{Latency, RunStats, format_micros, histogram};

/// The plans of one run: the same scenario, load and interval for every
/// worker, each with its own share.
struct Plans<'a> {
    spec: &'a RunSpec,
    run_id: u64,
    /// Workers in this process borrow the scenario's files for the run (the
    /// lease ends with it); others get their bytes, copied for the wire only
    /// when the first such worker is planned.
    _lease: Lease,
    lent: wire::ScenarioSource,
    sent: OnceCell<wire::ScenarioSource>,
    load: wire::Load,
}

impl<'a> Plans<'a> {
    fn new(spec: &'a RunSpec, run_id: u64) -> Self {
        let lease = Lease::lend(&spec.scenario.source.files);
        let lent = convert::source_to_wire(&spec.scenario.source, Some(&lease));
        Plans {
            spec,
            run_id,
            _lease: lease,
            lent,
            sent: OnceCell::new(),
            load: convert::load_to_wire(&spec.load),
        }
    }

    /// `to`'s plan for `share`; start_in_ms is set as each plan is written
    /// (see WorkerLink::send_plan).
    fn plan(&self, share: Share, to: &WorkerInfo) -> wire::Plan {
        wire::Plan {
            run_id: self.run_id,
            scenario: Some(if to.in_process {
                self.lent.clone()
            } else {
                self.sent
                    .get_or_init(|| convert::source_to_wire(&self.spec.scenario.source, None))
                    .clone()
            }),
            load: Some(self.load.clone()),
            share: Some(convert::share_to_wire(share)),
            start_in_ms: 0,
            interval_ms: self.spec.interval.as_millis() as u64,
            threads: self.spec.workers.threads,
            record: self
                .spec
                .record
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        }
    }
}

/// Why a run stops before its end.
pub(super) enum Stop<'a> {
    /// A signal (or whatever triggered the interrupt), by this name.
    Interrupt(&'a str),
    /// The console's stop.
    Console,
}

/// A run in progress.
pub(super) struct RunState<'a> {
    spec: &'a RunSpec,
    run_id: u64,
    plans: Plans<'a>,
    /// When the workers start, together.
    started: Instant,
    members: Members,
    stats: RunStats,
    name_count: usize,
    target: LoadTarget,
    board: Board,
    notes: Vec<String>,
    lag: Latency,
    /// Why workers could not start or failed, from their Done.
    failures: Vec<EngineFailure>,
    /// What broke the run (see Outcome::errors).
    broken: Vec<Fault>,
    last_status: Instant,
    /// The last sealed second when the abort thresholds were last judged.
    judged_at: u64,
    aborted: Option<Aborted>,
    pub stopping: bool,
    interrupted: bool,
    warmed: bool,
    /// With a console on the terminal, news goes to its notes, not stderr.
    loud: bool,
    /// Set from the console (+ and -): replaces the stages for the rest of
    /// the run.
    total_override: Option<f64>,
}

impl<'a> RunState<'a> {
    /// Takes the pool's workers and sends each its plan.
    pub fn start(
        pool: &mut Pool,
        spec: &'a RunSpec,
        run_id: u64,
        watcher: &Option<Watcher>,
    ) -> Result<Self, RunError> {
        let target = spec.target();
        let mut board = spec.board(&target);
        board.phase = Phase::Running;
        if pool.is_empty() {
            return Err(RunError::Failed("no worker is connected any more".into()));
        }
        let name_count = spec.scenario.rows.names().len();
        let mut stats =
            RunStats::new(spec.scenario.rows.clone()).with_name_history(spec.name_history);
        let members = Members(
            std::mem::take(&mut pool.members)
                .into_values()
                .map(|(info, link)| (info.serial, Member::new(info, link)))
                .collect(),
        );
        stats.expect_sources(members.0.len());
        let plans = Plans::new(spec, run_id);
        // Workers of one run start together, a moment from now: long enough
        // for every plan to leave (about a millisecond each).
        let lead = Duration::from_millis(300 + 2 * members.0.len() as u64);
        let started = Instant::now() + lead;
        for (m, share) in members.0.values().zip(members.shares()) {
            m.link.send_plan(plans.plan(share, &m.info), started);
        }
        Ok(RunState {
            spec,
            run_id,
            plans,
            started,
            members,
            stats,
            name_count,
            target,
            board,
            notes: Vec::new(),
            lag: histogram::new(),
            failures: Vec::new(),
            broken: Vec::new(),
            last_status: Instant::now(),
            judged_at: 0,
            aborted: None,
            stopping: false,
            interrupted: false,
            warmed: spec.warmup.is_none(),
            loud: !watcher.as_ref().is_some_and(|w| w.on_terminal),
            total_override: None,
        })
    }

    /// Every worker is done (its reports in, or waited for long enough) or
    /// lost.
    pub fn finished(&self) -> bool {
        let now = Instant::now();
        self.members.0.values().all(|m| m.finished(now))
    }

    fn say(&self, line: &str) {
        if self.loud {
            eprintln!("{line}");
        }
    }

    /// A warning said (unless a console shows it) and kept in the notes.
    fn warn_note(&mut self, note: String) {
        self.say(&format!("warning: {note}"));
        self.notes.push(note);
    }

    /// Whether the run is at its end anyway (stopping, or its time is up):
    /// a worker that goes then leaves no load behind.
    fn over(&self) -> bool {
        self.stopping || self.spec.load.duration.is_some_and(|d| self.elapsed() >= d)
    }

    fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.started)
    }

    fn expect_active(&mut self) {
        self.stats.expect_sources(self.members.active().len());
    }

    /// What a worker's connection said.
    pub fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Report { serial, report } => self.on_report(serial, report),
            Event::Message {
                serial,
                msg: worker_message::Msg::Done(d),
            } => self.on_done(serial, &d),
            Event::Message { .. } => {}
            Event::Joined(info, link) => self.on_joined(info, link),
            Event::Lost { serial, reason } => self.on_lost(serial, &reason),
        }
    }

    /// A worker's report: merged, and its figures kept for the console and
    /// the report.
    fn on_report(&mut self, serial: u64, mut report: wire::StatsReport) {
        // A percentage from a peer: a number in range, or 0.
        report.cpu_percent = if report.cpu_percent.is_finite() {
            report.cpu_percent.clamp(0.0, 100.0)
        } else {
            0.0
        };
        let Some(m) = self.members.0.get_mut(&serial) else {
            return;
        };
        if report.run_id != self.run_id || m.lost {
            return;
        }
        let Some(snap) = report.snapshot else { return };
        match convert::snapshot_from_wire(snap, self.name_count) {
            Ok(s) => {
                m.reports += 1;
                m.users = s.users;
                // Requests only: a worker's figures add up to the totals.
                let requests = s.requests_before(self.stats.request_names());
                m.rps = requests as f64 * 1000.0 / s.interval_ms.max(1) as f64;
                m.cpu = report.cpu_percent;
                m.requests = m.requests.saturating_add(requests);
                m.peak_users = m.peak_users.max(s.users);
                m.cpu_sum += report.cpu_percent;
                m.peak_cpu = m.peak_cpu.max(report.cpu_percent);
                m.last_report = Some(Instant::now());
                self.stats.apply(serial, &s);
                let now_ms = Instant::now()
                    .saturating_duration_since(self.started)
                    .as_millis() as u64;
                histogram::record(&mut self.lag, now_ms.saturating_sub(s.at_ms).max(1));
            }
            Err(e) => warn!(worker = %m.info.id, "dropping a report: {e}"),
        }
        if report.cpu_percent > BUSY_CPU_PERCENT && !m.busy_warned {
            m.busy_warned = true;
            let note = format!(
                "worker {} ({}) ran at {:.0}% CPU: the load generator, not the target, may be what limits these numbers; add workers or cores",
                m.info.id, m.info.hostname, report.cpu_percent
            );
            self.warn_note(note);
        }
    }

    /// A worker's Done: its engine ended (at the run's end, stopped, or
    /// failed).
    fn on_done(&mut self, serial: u64, d: &wire::Done) {
        let over = self.over();
        let run_id = self.run_id;
        let Some(m) = self
            .members
            .0
            .get_mut(&serial)
            .filter(|_| d.run_id == run_id)
        else {
            return;
        };
        m.done = Some(Done {
            reports: d.snapshots,
            at: Instant::now(),
        });
        let at = self.stats.elapsed_secs();
        let (id, host) = (m.info.id.clone(), m.info.hostname.clone());
        if !d.error.is_empty() {
            self.failures.push(EngineFailure {
                worker: id.clone(),
                why: d.error.clone(),
            });
        }
        // A worker that ends before the run does leaves its share to the
        // others.
        if (d.left || !d.error.is_empty()) && !over {
            m.left = true;
            self.expect_active();
            let gone = if d.left { Gone::Left } else { Gone::Failed };
            if self.members.active().is_empty() {
                self.broken.push(Fault::Stranded { id, host, gone, at });
            } else {
                self.warn_note(format!(
                    "worker {id} ({host}) {} at {at:.1} s; its share went to the others",
                    gone.as_str()
                ));
                self.members.reshare(run_id, None, self.total_override);
            }
        }
    }

    /// A worker joined mid-run: the newcomer starts where the run is.
    fn on_joined(&mut self, info: WorkerInfo, link: WorkerLink) {
        if self.stopping {
            return;
        }
        let serial = info.serial;
        self.say(&format!(
            "worker {} ({}) joined; sharing the load with it",
            info.id, info.hostname
        ));
        let mut m = Member::new(info, link);
        m.rejoined = self
            .members
            .0
            .values()
            .any(|o| o.lost && o.info.id == m.info.id);
        self.members.0.insert(serial, m);
        self.expect_active();
        let total = self.total_override;
        if let Some(NewShare { serial, share }) =
            self.members.reshare(self.run_id, Some(serial), total)
            && let Some(m) = self.members.0.get(&serial)
        {
            m.link
                .send_plan(self.plans.plan(share, &m.info), self.started);
            if total.is_some() {
                // The plan carries the stages; the override follows it.
                m.link.send(master_message::Msg::Update(wire::Update {
                    run_id: self.run_id,
                    share: Some(convert::share_to_wire(share)),
                    total,
                }));
            }
        }
    }

    /// A worker's connection ended.
    fn on_lost(&mut self, serial: u64, reason: &str) {
        let Some(m) = self.members.0.get_mut(&serial) else {
            return;
        };
        // A worker that left said so first; its connection ending after
        // that is no news.
        if m.finished(Instant::now()) || m.left {
            return;
        }
        m.lost = true;
        let (id, host) = (m.info.id.clone(), m.info.hostname.clone());
        self.stats.forget_source(serial);
        let at = self.stats.elapsed_secs();
        self.expect_active();
        if self.members.active().is_empty() && !self.over() {
            let fault = Fault::Lost {
                id,
                host,
                at,
                reason: reason.to_owned(),
            };
            self.say(&format!("error: {fault}"));
            self.broken.push(fault);
        } else {
            self.warn_note(format!(
                "worker {id} ({host}) was lost at {at:.1} s ({reason}); its statistics until then are kept and its share went to the others"
            ));
            self.members.reshare(self.run_id, None, self.total_override);
        }
    }

    /// Stops every worker, once; the reason goes to the notes.
    pub fn on_stop(&mut self, why: Stop<'_>) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.interrupted = true;
        let at = self.stats.elapsed_secs();
        match why {
            Stop::Interrupt(by) => {
                self.say(&format!("stopping ({by}): finishing and reporting"));
                self.notes.push(format!("stopped by {by} at {at:.1} s"));
            }
            Stop::Console => {
                self.notes
                    .push(format!("stopped from the console at {at:.1} s"));
            }
        }
        self.members.stop_all(self.run_id);
    }

    /// The 250 ms tick: warm-up's end, abort thresholds, the status line,
    /// and the console (its commands, then a frame).
    pub fn on_tick(&mut self, watcher: &mut Option<Watcher>) {
        if let Some(w) = self.spec.warmup
            && !self.warmed
            && self.elapsed() >= w
        {
            self.warmed = true;
            self.stats.reset();
            self.expect_active();
        }
        self.judge_aborts();
        if let Some(every) = self.spec.status_every
            && self.last_status.elapsed() >= every
        {
            self.last_status = Instant::now();
            eprintln!("{}", status_line(&self.stats));
        }
        if let Some(w) = watcher.as_mut() {
            while let Ok(c) = w.commands.try_recv() {
                self.on_command(c);
            }
            self.publish(w);
        }
    }

    /// A threshold with `abort`, on everything merged so far, each time a
    /// second more was sealed (not on a clock of its own, which would judge
    /// up to a second late).
    fn judge_aborts(&mut self) {
        let sealed = self.stats.series.points.last().map_or(0, |p| p.t);
        if self.stopping || self.spec.aborts.is_empty() || sealed <= self.judged_at {
            return;
        }
        self.judged_at = sealed;
        if let Some(a) = broken_abort(&self.spec.aborts, &self.stats, self.elapsed()) {
            self.stopping = true;
            let note = a.note();
            // A capacity probe says it in its own line.
            if self.spec.search.is_none() {
                self.say(&format!("stopping: {note}"));
            }
            self.notes.push(note);
            self.members.stop_all(self.run_id);
            self.aborted = Some(a);
        }
    }

    /// A command from the console.
    fn on_command(&mut self, c: Command) {
        match c {
            Command::StartNow => {}
            Command::Stop => self.on_stop(Stop::Console),
            Command::SetTotal(t) if !self.stopping && self.spec.steerable => {
                self.total_override = Some(t.max(0.0));
                self.members.reshare(self.run_id, None, self.total_override);
            }
            Command::SetTotal(_) => {}
            Command::Reset => {
                self.stats.reset();
                self.expect_active();
            }
        }
    }

    /// Hands the console a frame of where the run is.
    fn publish(&mut self, w: &mut Watcher) {
        let elapsed = self.elapsed();
        let b = &mut self.board;
        b.target = self
            .total_override
            .unwrap_or_else(|| self.target.at(elapsed));
        b.step = if self.spec.steerable {
            live::step_for(b.target)
        } else {
            0.0
        };
        b.phase = if self.stopping || self.spec.load.duration.is_some_and(|d| elapsed >= d) {
            Phase::Stopping
        } else if !self.target.open && (self.stats.users() as f64) < b.target.round() {
            Phase::Ramping
        } else {
            Phase::Running
        };
        b.workers = self.members.rows(&self.stats);
        b.notes.clone_from(&self.notes);
        (w.publish)(&self.stats, b);
    }

    /// The run's end: the workers still connected go back to `pool` for the
    /// next run, and what was measured becomes the outcome (or, when every
    /// engine failed before measuring anything, the reasons why).
    pub fn finish(
        mut self,
        pool: &mut Pool,
        watcher: &mut Option<Watcher>,
    ) -> Result<Outcome, RunError> {
        pool.members = self
            .members
            .0
            .iter()
            .filter(|(_, m)| !m.lost && !m.left)
            .map(|(s, m)| (*s, (m.info.clone(), m.link.clone())))
            .collect();
        if self.members.0.values().all(|m| m.done.is_some() || m.lost)
            && !self.failures.is_empty()
            && self.stats.total().requests == 0
        {
            return Err(RunError::Failed(said_once(&self.failures)));
        }
        // An engine that failed broke the run, even when others took its
        // share: its numbers stop short, and the failure is a fault to look
        // into.
        self.broken
            .extend(self.failures.into_iter().map(Fault::Engine));
        self.stats.finish();
        if let Some(w) = watcher.as_mut() {
            self.board.phase = if self.spec.search.is_some() {
                Phase::Stopping
            } else {
                Phase::Done
            };
            self.board.workers = self.members.rows(&self.stats);
            self.board.notes.clone_from(&self.notes);
            (w.publish)(&self.stats, &self.board);
        }
        let workers = self
            .members
            .0
            .iter()
            .map(|(serial, m)| m.summary(self.stats.health.get(serial)))
            .collect();
        Ok(Outcome {
            stats: self.stats,
            workers,
            notes: self.notes,
            errors: self.broken,
            report_lag_ms: self.lag,
            aborted: self.aborted,
            interrupted: self.interrupted,
        })
    }
}

/// One line of progress: elapsed, users, current RPS, p50 and p99 of the last
/// second, failure percentage so far.
pub fn status_line(run: &RunStats) -> String {
    let total = run.total();
    let last = run.series.points.last();
    let (p50, p99) = last
        .map(|p| (p.latency.p50, p.latency.p99))
        .unwrap_or((0, 0));
    format!(
        "[{:>6.1}s] users {:>5}  rps {:>9.1}  p50 {:>8}  p99 {:>8}  failures {:.2}%",
        run.elapsed_secs(),
        run.users(),
        run.current_rps(),
        format_micros(p50 as f64),
        format_micros(p99 as f64),
        if total.requests > 0 {
            total.failures as f64 * 100.0 / total.requests as f64
        } else {
            0.0
        }
    )
}
