//! One run over the connected workers: wait until enough have joined, hand
//! each a plan with its share (by cores), merge their reports exactly into
//! the run's statistics, re-split the load when a worker joins or is lost,
//! and end when every worker has finished and every report has arrived.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::warn;

use super::convert;
use super::live::{self, Board, Command, Interrupt, Phase, SearchBoard, Watcher, WorkerRow};
use super::master::{Event, Master, WorkerInfo, WorkerLink};
use super::wire::{self, master_message, worker_message};
use crate::engine::{Share, pacing};
use crate::report::json::WorkerJson;
use crate::report::summary;
use crate::scenario::{LoadModel, LoadSpec, Scenario};
use crate::stats::threshold::{Aborted, Threshold, broken_abort};
use crate::stats::{Health, Latency, RunStats, histogram};

/// Above this CPU use a worker may be what limits the numbers.
pub const BUSY_CPU_PERCENT: f64 = crate::stats::health::BUSY_CPU_PERCENT;

/// How long after a worker's Done its missing reports are waited for.
const REPORT_GRACE: Duration = Duration::from_secs(2);

/// What to run.
pub struct RunSpec {
    pub scenario: Arc<Scenario>,
    pub load: LoadSpec,
    /// Workers to wait for before starting.
    pub expect_workers: usize,
    pub join_timeout: Duration,
    pub interval: Duration,
    /// Load threads per worker (0: the worker's cores).
    pub threads: u32,
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
}

/// How a run went.
pub struct Outcome {
    pub stats: RunStats,
    /// Workers that took part.
    pub workers: Vec<WorkerJson>,
    /// Things the summary must say (lost workers, busy workers).
    pub notes: Vec<String>,
    /// What kept the run from running as planned: an engine that failed, or
    /// load lost with no worker left to take it. A run with errors fails
    /// whatever its thresholds say (exit 3); what it measured is reported.
    pub errors: Vec<String>,
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

struct Member {
    info: WorkerInfo,
    link: WorkerLink,
    /// In the current run: reports received; Done's count once it came.
    reports: u64,
    done: Option<(u64, Instant)>,
    /// It stopped before the run's end (a signal, or its engine failed).
    left: bool,
    lost: bool,
    busy_warned: bool,
    /// A worker with this id was lost before in this run.
    rejoined: bool,
    /// From its latest report, for the console.
    users: u64,
    rps: f64,
    cpu: f64,
    last_report: Option<Instant>,
    /// Over the run, for the report.
    requests: u64,
    peak_users: u64,
    cpu_sum: f64,
    peak_cpu: f64,
}

impl Member {
    fn new(info: WorkerInfo, link: WorkerLink) -> Self {
        Member {
            info,
            link,
            reports: 0,
            done: None,
            left: false,
            lost: false,
            busy_warned: false,
            rejoined: false,
            users: 0,
            rps: 0.0,
            cpu: 0.0,
            last_report: None,
            requests: 0,
            peak_users: 0,
            cpu_sum: 0.0,
            peak_cpu: 0.0,
        }
    }

    fn row(&self, now: Instant, health: Option<&Health>) -> WorkerRow {
        WorkerRow {
            invalid: health.map(Health::reasons).unwrap_or_default(),
            id: self.info.id.clone(),
            host: self.info.hostname.clone(),
            state: if self.lost {
                "lost"
            } else if self.left {
                "left"
            } else if self.done.is_some() {
                "done"
            } else if self.rejoined {
                "rejoined"
            } else {
                "running"
            },
            users: if self.lost { 0 } else { self.users },
            rps: self.rps,
            cpu_percent: self.cpu,
            last_report: self.last_report.map(|t| now.saturating_duration_since(t)),
        }
    }

    /// What the report says of it.
    fn summary(&self, health: Option<&Health>) -> WorkerJson {
        WorkerJson {
            invalid: health.map(Health::reasons).unwrap_or_default(),
            id: self.info.id.clone(),
            host: self.info.hostname.clone(),
            state: if self.lost {
                "lost"
            } else if self.left {
                "left"
            } else {
                "done"
            }
            .into(),
            requests: self.requests,
            peak_users: self.peak_users,
            mean_cpu_percent: if self.reports > 0 {
                self.cpu_sum / self.reports as f64
            } else {
                0.0
            },
            peak_cpu_percent: self.peak_cpu,
        }
    }

    fn finished(&self, now: Instant) -> bool {
        self.lost
            || self
                .done
                .is_some_and(|(n, at)| self.reports >= n || now.duration_since(at) > REPORT_GRACE)
    }
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
pub(super) fn board_of(spec: &RunSpec) -> (Board, bool, f64, Vec<crate::scenario::Stage>) {
    let (open, base, stages) = match &spec.load.model {
        LoadModel::Closed { users, stages, .. } => (false, *users as f64, stages.clone()),
        LoadModel::Open { rate, stages, .. } => (true, *rate, stages.clone()),
    };
    let board = Board {
        phase: Phase::Waiting,
        open,
        target: pacing::target_at(base, &stages, Duration::ZERO),
        step: if spec.steerable { 1.0 } else { 0.0 },
        duration: spec.load.duration,
        workers: Vec::new(),
        expected_workers: spec.expect_workers,
        notes: Vec::new(),
        search: spec.search.clone(),
    };
    (board, open, base, stages)
}

/// Waits until `spec.expect_workers` have joined (or the console says start
/// now), at most `spec.join_timeout`.
pub async fn gather(
    master: &mut Master,
    spec: &RunSpec,
    watcher: &mut Option<Watcher>,
) -> Result<Pool, RunError> {
    let mut pool: BTreeMap<u64, (WorkerInfo, WorkerLink)> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + spec.join_timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let (mut board, ..) = board_of(spec);
    let waiting_stats = RunStats::new(spec.scenario.names())
        .with_streams(spec.scenario.stream_names())
        .with_flows(spec.scenario.flows.len());
    let mut by_hand = false;
    'waiting: while pool.len() < spec.expect_workers {
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
    let expected = if by_hand { 1 } else { spec.expect_workers };
    if pool.len() < expected {
        return Err(RunError::TooFewWorkers {
            came: pool.len(),
            expected: spec.expect_workers,
            timeout: spec.join_timeout,
        });
    }
    Ok(Pool { members: pool })
}

/// Runs once over the workers of `pool`, which holds those still connected
/// (the ones that joined during the run included) when it returns.
pub async fn run_on(
    master: &mut Master,
    pool: &mut Pool,
    spec: &RunSpec,
    run_id: u64,
    interrupt: &Interrupt,
    watcher: &mut Option<Watcher>,
) -> Result<Outcome, RunError> {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let (mut board, open, base, stages) = board_of(spec);
    board.phase = Phase::Running;
    if pool.is_empty() {
        return Err(RunError::Failed("no worker is connected any more".into()));
    }
    let names = spec.scenario.names();
    let name_count = names.len();
    let mut stats = RunStats::new(names)
        .with_streams(spec.scenario.stream_names())
        .with_flows(spec.scenario.flows.len())
        .with_name_history(spec.name_history);
    let mut members: BTreeMap<u64, Member> = std::mem::take(&mut pool.members)
        .into_values()
        .map(|(info, link)| (info.serial, Member::new(info, link)))
        .collect();
    stats.expect_sources(members.len());
    // Workers in this process borrow the scenario's files for the run (the
    // lease ends with it); others get their bytes, copied for the wire only
    // when the first such worker is planned.
    let lease = super::shared::Lease::lend(&spec.scenario.source.files);
    let lent = convert::source_to_wire(&spec.scenario.source, Some(&lease));
    let sent = std::cell::OnceCell::new();
    let load = convert::load_to_wire(&spec.load);
    // start_in_ms is set as each plan is written (see WorkerLink::send_plan).
    let plan = |share: Share, to: &WorkerInfo| wire::Plan {
        run_id,
        scenario: Some(if to.in_process {
            lent.clone()
        } else {
            sent.get_or_init(|| convert::source_to_wire(&spec.scenario.source, None))
                .clone()
        }),
        load: Some(load.clone()),
        share: Some(convert::share_to_wire(share)),
        start_in_ms: 0,
        interval_ms: spec.interval.as_millis() as u64,
        threads: spec.threads,
    };
    // Workers of one run start together, a moment from now: long enough
    // for every plan to leave (about a millisecond each).
    let lead = Duration::from_millis(300 + 2 * members.len() as u64);
    let started = Instant::now() + lead;
    for (m, share) in members.values().zip(shares(&members)) {
        m.link.send_plan(plan(share, &m.info), started);
    }

    let mut notes = Vec::new();
    let mut lag = histogram::new();
    // Why workers could not start or failed, from their Done.
    let mut errors: Vec<String> = Vec::new();
    // What broke the run (see Outcome::errors).
    let mut broken: Vec<String> = Vec::new();
    let mut last_status = Instant::now();
    // The last sealed second when the abort thresholds were last judged.
    let mut judged_at = 0;
    let mut aborted: Option<Aborted> = None;
    let mut stopping = false;
    let mut interrupted = false;
    let mut warmed = spec.warmup.is_none();
    // With a console on the terminal, news goes to its notes, not stderr.
    let loud = !watcher.as_ref().is_some_and(|w| w.on_terminal);
    let say = |line: &str| {
        if loud {
            eprintln!("{line}");
        }
    };
    // Whether the run is at its end anyway (stopping, or its time is up): a
    // worker that goes then leaves no load behind.
    let over = |stopping: bool| {
        stopping
            || spec
                .load
                .duration
                .is_some_and(|d| Instant::now().saturating_duration_since(started) >= d)
    };
    // Set from the console (+ and -): replaces the stages for the rest of the run.
    let mut total_override: Option<f64> = None;
    loop {
        let now = Instant::now();
        if members.values().all(|m| m.finished(now)) {
            break;
        }
        tokio::select! {
            ev = master.next() => {
                let Some(ev) = ev else { break };
                match ev {
                    Event::Report { serial, mut report } => {
                        // A percentage from a peer: a number in range, or 0.
                        report.cpu_percent = if report.cpu_percent.is_finite() {
                            report.cpu_percent.clamp(0.0, 100.0)
                        } else {
                            0.0
                        };
                        let Some(m) = members.get_mut(&serial) else { continue };
                        if report.run_id != run_id || m.lost {
                            continue;
                        }
                        let Some(snap) = report.snapshot else { continue };
                        match convert::snapshot_from_wire(snap, name_count) {
                            Ok(s) => {
                                m.reports += 1;
                                m.users = s.users;
                                // Requests only: a worker's figures add up
                                // to the totals.
                                let requests = s.requests_before(stats.request_names());
                                m.rps = requests as f64 * 1000.0 / s.interval_ms.max(1) as f64;
                                m.cpu = report.cpu_percent;
                                m.requests = m.requests.saturating_add(requests);
                                m.peak_users = m.peak_users.max(s.users);
                                m.cpu_sum += report.cpu_percent;
                                m.peak_cpu = m.peak_cpu.max(report.cpu_percent);
                                m.last_report = Some(Instant::now());
                                stats.apply(serial, &s);
                                let now_ms = Instant::now().saturating_duration_since(started).as_millis() as u64;
                                histogram::record(&mut lag, now_ms.saturating_sub(s.at_ms).max(1));
                            }
                            Err(e) => warn!(worker = %m.info.id, "dropping a report: {e}"),
                        }
                        if report.cpu_percent > BUSY_CPU_PERCENT && !m.busy_warned {
                            m.busy_warned = true;
                            let note = format!(
                                "worker {} ({}) ran at {:.0}% CPU: the load generator, not the target, may be what limits these numbers; add workers or cores",
                                m.info.id, m.info.hostname, report.cpu_percent
                            );
                            say(&format!("warning: {note}"));
                            notes.push(note);
                        }
                    }
                    Event::Message { serial, msg: worker_message::Msg::Done(d) } => {
                        let Some(m) = members.get_mut(&serial).filter(|_| d.run_id == run_id) else {
                            continue;
                        };
                        m.done = Some((d.snapshots, Instant::now()));
                        let at = stats.elapsed_secs();
                        if !d.error.is_empty() {
                            errors.push(format!("worker {}: {}", m.info.id, d.error));
                        }
                        // A worker that ends before the run does leaves its
                        // share to the others.
                        if (d.left || !d.error.is_empty()) && !over(stopping) {
                            m.left = true;
                            let (id, host) = (m.info.id.clone(), m.info.hostname.clone());
                            stats.expect_sources(active(&members).len());
                            let why = if d.left { "left (stopped by a signal)" } else { "failed" };
                            if active(&members).is_empty() {
                                broken.push(format!(
                                    "worker {id} ({host}) {why} at {at:.1} s and no other worker was left to take its share of the load"
                                ));
                            } else {
                                let note = format!("worker {id} ({host}) {why} at {at:.1} s; its share went to the others");
                                say(&format!("warning: {note}"));
                                notes.push(note);
                                reshare(&members, run_id, None, total_override);
                            }
                        }
                    }
                    Event::Message { .. } => {}
                    Event::Joined(info, link) => {
                        if stopping {
                            continue;
                        }
                        // Mid-run: the newcomer starts where the run is.
                        let serial = info.serial;
                        say(&format!("worker {} ({}) joined; sharing the load with it", info.id, info.hostname));
                        let mut m = Member::new(info, link);
                        m.rejoined = members.values().any(|o| o.lost && o.info.id == m.info.id);
                        members.insert(serial, m);
                        stats.expect_sources(active(&members).len());
                        if let Some((s, share)) = reshare(&members, run_id, Some(serial), total_override) {
                            members[&s].link.send_plan(plan(share, &members[&s].info), started);
                            if total_override.is_some() {
                                // The plan carries the stages; the override follows it.
                                members[&s].link.send(master_message::Msg::Update(wire::Update {
                                    run_id,
                                    share: Some(convert::share_to_wire(share)),
                                    total: total_override,
                                }));
                            }
                        }
                    }
                    Event::Lost { serial, reason } => {
                        let Some(m) = members.get_mut(&serial) else { continue };
                        // A worker that left said so first; its connection
                        // ending after that is no news.
                        if m.finished(Instant::now()) || m.left {
                            continue;
                        }
                        m.lost = true;
                        stats.forget_source(serial);
                        let (id, host, at) = (m.info.id.clone(), m.info.hostname.clone(), stats.elapsed_secs());
                        stats.expect_sources(active(&members).len());
                        if active(&members).is_empty() && !over(stopping) {
                            let error = format!(
                                "worker {id} ({host}) was lost at {at:.1} s ({reason}) and no other worker was left to take its share of the load; its statistics until then are kept"
                            );
                            say(&format!("error: {error}"));
                            broken.push(error);
                        } else {
                            let note = format!(
                                "worker {id} ({host}) was lost at {at:.1} s ({reason}); its statistics until then are kept and its share went to the others"
                            );
                            say(&format!("warning: {note}"));
                            notes.push(note);
                            reshare(&members, run_id, None, total_override);
                        }
                    }
                }
            }
            _ = tick.tick() => {
                if let Some(w) = spec.warmup
                    && !warmed
                    && Instant::now().saturating_duration_since(started) >= w
                {
                    warmed = true;
                    stats.reset();
                    stats.expect_sources(active(&members).len());
                }
                // A threshold with `abort`, on everything merged so far,
                // each time a second more was sealed (not on a clock of its
                // own, which would judge up to a second late).
                let sealed = stats.series.points.last().map_or(0, |p| p.t);
                if !stopping && !spec.aborts.is_empty() && sealed > judged_at {
                    judged_at = sealed;
                    let elapsed = Instant::now().saturating_duration_since(started);
                    if let Some(a) = broken_abort(&spec.aborts, &stats, elapsed) {
                        stopping = true;
                        let note = a.note();
                        // A capacity probe says it in its own line.
                        if spec.search.is_none() {
                            say(&format!("stopping: {note}"));
                        }
                        notes.push(note);
                        for m in members.values() {
                            m.link.send(master_message::Msg::Stop(wire::Stop { run_id }));
                        }
                        aborted = Some(a);
                    }
                }
                if let Some(every) = spec.status_every
                    && last_status.elapsed() >= every
                {
                    last_status = Instant::now();
                    eprintln!("{}", summary::status_line(&stats));
                }
                if let Some(w) = watcher.as_mut() {
                    while let Ok(c) = w.commands.try_recv() {
                        match c {
                            Command::StartNow => {}
                            Command::Stop => {
                                if !stopping {
                                    stopping = true;
                                    interrupted = true;
                                    notes.push(format!("stopped from the console at {:.1} s", stats.elapsed_secs()));
                                    for m in members.values() {
                                        m.link.send(master_message::Msg::Stop(wire::Stop { run_id }));
                                    }
                                }
                            }
                            Command::SetTotal(t) if !stopping && spec.steerable => {
                                total_override = Some(t.max(0.0));
                                reshare(&members, run_id, None, total_override);
                            }
                            Command::SetTotal(_) => {}
                            Command::Reset => {
                                stats.reset();
                                stats.expect_sources(active(&members).len());
                            }
                        }
                    }
                    let elapsed = Instant::now().saturating_duration_since(started);
                    board.target = total_override
                        .unwrap_or_else(|| pacing::target_at(base, &stages, elapsed));
                    board.step = if spec.steerable { live::step_for(board.target) } else { 0.0 };
                    board.phase = if stopping || spec.load.duration.is_some_and(|d| elapsed >= d) {
                        Phase::Stopping
                    } else if !open && (stats.users() as f64) < board.target.round() {
                        Phase::Ramping
                    } else {
                        Phase::Running
                    };
                    board.workers = rows(&members, &stats);
                    board.notes.clone_from(&notes);
                    (w.publish)(&stats, &board);
                }
            }
            () = interrupt.triggered(), if !stopping => {
                stopping = true;
                interrupted = true;
                let by = interrupt.by().unwrap_or("an interrupt");
                say(&format!("stopping ({by}): finishing and reporting"));
                notes.push(format!("stopped by {by} at {:.1} s", stats.elapsed_secs()));
                for m in members.values() {
                    m.link.send(master_message::Msg::Stop(wire::Stop { run_id }));
                }
            }
        }
    }
    // The workers still connected serve the next run.
    pool.members = members
        .iter()
        .filter(|(_, m)| !m.lost && !m.left)
        .map(|(s, m)| (*s, (m.info.clone(), m.link.clone())))
        .collect();
    if members.values().all(|m| m.done.is_some() || m.lost)
        && !errors.is_empty()
        && stats.total().requests == 0
    {
        // "worker local-1: request \"a\": ..." from each of several workers
        // that failed alike says the reason once, naming them.
        let mut by_reason: Vec<(String, Vec<String>)> = Vec::new();
        for e in &errors {
            let (who, why) = e
                .strip_prefix("worker ")
                .and_then(|r| r.split_once(": "))
                .unwrap_or(("", e.as_str()));
            match by_reason.iter_mut().find(|(w, _)| w == why) {
                Some((_, whos)) => whos.push(who.to_owned()),
                None => by_reason.push((why.to_owned(), vec![who.to_owned()])),
            }
        }
        let said: Vec<String> = by_reason
            .into_iter()
            .map(|(why, whos)| match whos.as_slice() {
                [one] if one.is_empty() => why,
                _ => format!("{why} (worker {})", whos.join(", ")),
            })
            .collect();
        return Err(RunError::Failed(said.join("; ")));
    }
    // An engine that failed broke the run, even when others took its share:
    // its numbers stop short, and the failure is a fault to look into.
    broken.extend(errors);
    stats.finish();
    if let Some(w) = watcher.as_mut() {
        board.phase = if spec.search.is_some() {
            Phase::Stopping
        } else {
            Phase::Done
        };
        board.workers = rows(&members, &stats);
        board.notes.clone_from(&notes);
        (w.publish)(&stats, &board);
    }
    let workers = members
        .iter()
        .map(|(serial, m)| m.summary(stats.health.get(serial)))
        .collect();
    Ok(Outcome {
        stats,
        workers,
        notes,
        errors: broken,
        report_lag_ms: lag,
        aborted,
        interrupted,
    })
}

/// Serials of the workers still running, in order.
/// The console's worker rows, each judged on its own reports.
fn rows(members: &BTreeMap<u64, Member>, stats: &RunStats) -> Vec<WorkerRow> {
    let now = Instant::now();
    members
        .iter()
        .map(|(serial, m)| m.row(now, stats.health.get(serial)))
        .collect()
}

fn active(members: &BTreeMap<u64, Member>) -> Vec<u64> {
    members
        .iter()
        .filter(|(_, m)| !m.lost && m.done.is_none())
        .map(|(s, _)| *s)
        .collect()
}

/// Sends every active worker its new share, except `newcomer`, whose share
/// is returned for its plan.
fn reshare(
    members: &BTreeMap<u64, Member>,
    run_id: u64,
    newcomer: Option<u64>,
    total: Option<f64>,
) -> Option<(u64, Share)> {
    let mut out = None;
    for (s, share) in active(members).into_iter().zip(shares(members)) {
        if Some(s) == newcomer {
            out = Some((s, share));
        } else {
            members[&s]
                .link
                .send(master_message::Msg::Update(wire::Update {
                    run_id,
                    share: Some(convert::share_to_wire(share)),
                    total,
                }));
        }
    }
    out
}

/// Shares of the active workers, by cores.
fn shares(members: &BTreeMap<u64, Member>) -> Vec<Share> {
    let cores: Vec<u64> = active(members)
        .iter()
        .map(|s| u64::from(members[s].info.cores))
        .collect();
    Share::split(&cores)
}
