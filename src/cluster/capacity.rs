//! A capacity search over the connected workers: one open-model run (a
//! probe) per rate that [`stats::capacity::Search`] asks for, all on the
//! same pool of workers, each rate split across them as any run's is. Each
//! SLO, loosened, stops a probe early once clearly broken; between probes
//! the target is given `drain` to empty its queues.

use std::time::{Duration, Instant};

use super::coordinator::{Outcome, Pool, RunError, RunSpec, gather, run_on};
use super::live::{Interrupt, RunningProbe, SearchBoard, Watcher};
use super::master::Master;
use crate::scenario::{LoadModel, limits};
use crate::stats::RunStats;
use crate::stats::capacity::{Kind, Probe, Search, Settings, early_stops, format_rate};
use crate::stats::threshold::Threshold;

/// A probe is judged on its whole length, but stopped early by an SLO only
/// from this fraction of it on (the first requests say little).
pub const EARLY_STOP_AFTER: f64 = 1.0 / 3.0;

/// What to search.
pub struct SearchSpec {
    /// The run each probe is: its load's rate and length are the probe's.
    pub run: RunSpec,
    pub settings: Settings,
    /// What every probe must keep.
    pub slos: Vec<Threshold>,
}

/// How a search went.
pub struct SearchOutcome {
    pub search: Search,
    /// Lost or busy workers, probes stopped before their end.
    pub notes: Vec<String>,
    /// What broke the search (an engine failed, no worker left).
    pub errors: Vec<String>,
    /// Workers that took part in the last probe.
    pub workers: usize,
    /// The last probe's statistics (the console's last frame).
    pub last: Option<RunStats>,
}

/// The run of one probe at `rate`.
fn probe_spec(base: &RunSpec, rate: f64, settings: &Settings, slos: &[Threshold]) -> RunSpec {
    let (max_in_flight, connections) = match &base.load.model {
        LoadModel::Open {
            max_in_flight,
            connections,
            ..
        } => (*max_in_flight, *connections),
        LoadModel::Closed { .. } => (limits::DEFAULT_MAX_IN_FLIGHT, limits::DEFAULT_CONNECTIONS),
    };
    let mut load = base.load.clone();
    load.model = LoadModel::Open {
        rate,
        max_in_flight,
        connections,
        stages: Vec::new(),
    };
    load.duration = Some(settings.warmup + settings.probe);
    load.requests = None;
    RunSpec {
        load,
        status_every: None,
        name_history: false,
        aborts: early_stops(
            slos,
            settings.warmup + settings.probe.mul_f64(EARLY_STOP_AFTER),
        ),
        steerable: false,
        warmup: (!settings.warmup.is_zero()).then_some(settings.warmup),
        ..base.clone()
    }
}

/// One line per finished probe, for stderr.
pub fn probe_line(n: usize, p: &Probe) -> String {
    let mut line = format!(
        "probe {n}: {}/s {} · answered {:.1}/s · p50 {} p99 {} · errors {:.2}%",
        format_rate(p.rate),
        p.kind.as_str(),
        p.achieved_rps,
        crate::stats::format_micros(p.p50_us as f64),
        crate::stats::format_micros(p.p99_us as f64),
        p.error_rate * 100.0
    );
    if let Some(why) = p.why.first() {
        line.push_str(&format!(" · {why}"));
    }
    line
}

/// Runs the search: waits for the workers, then probes until the search is
/// over, the probe budget is spent, or `interrupt` fires.
pub async fn search(
    master: &mut Master,
    spec: &SearchSpec,
    interrupt: &Interrupt,
    watcher: &mut Option<Watcher>,
) -> Result<SearchOutcome, RunError> {
    let loud = !watcher.as_ref().is_some_and(|w| w.on_terminal);
    let say = |line: &str| {
        if loud {
            eprintln!("{line}");
        }
    };
    let mut search = Search::new(spec.settings);
    let mut board = SearchBoard {
        slos: spec.slos.iter().map(|t| t.text.clone()).collect(),
        probes: Vec::new(),
        current: None,
        found: String::new(),
    };
    let first = probe_spec(&spec.run, spec.settings.start, &spec.settings, &spec.slos);
    let mut pool: Pool = gather(master, &first, watcher).await?;
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let mut last: Option<RunStats> = None;
    let mut workers = pool.len();
    let started = Instant::now();
    let mut run_id = 1u64;
    while let Some(rate) = search.next_rate() {
        if interrupt.by().is_some() {
            search.stopped = true;
            break;
        }
        pool.refresh(master);
        if pool.is_empty() {
            errors.push(format!(
                "no worker was left for the probe at {}/s",
                format_rate(rate)
            ));
            break;
        }
        let n = search.probes.len() + 1;
        board.current = Some(RunningProbe { number: n, rate });
        board.found = search.found().line();
        let mut run = probe_spec(&spec.run, rate, &spec.settings, &spec.slos);
        run.search = Some(board.clone());
        workers = pool.len();
        let warmup = if spec.settings.warmup.is_zero() {
            String::new()
        } else {
            format!(" after {} of warm-up", humantime(spec.settings.warmup))
        };
        say(&format!(
            "probe {n}: {}/s for {}{warmup} on {workers} worker(s)",
            format_rate(rate),
            humantime(spec.settings.probe)
        ));
        let outcome: Outcome = run_on(master, &mut pool, &run, run_id, interrupt, watcher).await?;
        run_id += 1;
        notes.extend(
            outcome
                .notes
                .iter()
                .filter(|n| !n.starts_with("aborted at"))
                .map(|note| format!("probe at {}/s: {note}", format_rate(rate))),
        );
        if !outcome.errors.is_empty() {
            errors.extend(
                outcome
                    .errors
                    .iter()
                    .map(|e| format!("probe at {}/s: {e}", format_rate(rate))),
            );
            last = Some(outcome.stats);
            break;
        }
        if outcome.interrupted {
            // A probe cut short by hand says nothing of its rate.
            notes.push(format!(
                "the probe at {}/s was stopped before its end and is not counted",
                format_rate(rate)
            ));
            search.stopped = true;
            last = Some(outcome.stats);
            break;
        }
        let probe = Probe::judge(rate, &outcome.stats, &spec.slos, outcome.aborted.as_ref());
        say(&probe_line(n, &probe));
        if probe.kind == Kind::Invalid {
            notes.push(format!(
                "the probe at {}/s is INVALID ({}); no rate above it is probed",
                format_rate(rate),
                probe
                    .why
                    .first()
                    .map(String::as_str)
                    .unwrap_or("the generator limited it")
            ));
        }
        search.probes.push(probe);
        board.probes.clone_from(&search.probes);
        last = Some(outcome.stats);
        if search.next_rate().is_some() && !spec.settings.drain.is_zero() {
            // The target drains; workers that join or leave meanwhile are
            // taken in before the next probe.
            tokio::select! {
                () = tokio::time::sleep(spec.settings.drain) => {}
                () = interrupt.triggered() => {}
            }
        }
    }
    board.current = None;
    board.found = search.found().line();
    if let (Some(w), Some(stats)) = (watcher.as_mut(), last.as_ref()) {
        let mut run = probe_spec(&spec.run, spec.settings.start, &spec.settings, &spec.slos);
        run.search = Some(board);
        let mut b = super::coordinator::board_of(&run);
        b.phase = super::live::Phase::Done;
        b.notes.clone_from(&notes);
        (w.publish)(stats, &b);
    }
    tracing::debug!(
        probes = search.probes.len(),
        secs = started.elapsed().as_secs_f64(),
        "capacity search over"
    );
    Ok(SearchOutcome {
        search,
        notes,
        errors,
        workers,
        last,
    })
}

/// "500ms", "10s", "1.5s", "2m".
fn humantime(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1.0 {
        format!("{}ms", d.as_millis())
    } else if s >= 120.0 && s % 60.0 == 0.0 {
        format!("{}m", s / 60.0)
    } else {
        format!("{}s", format_rate(s))
    }
}
