//! `volley capacity`: the highest open-model rate the target serves within
//! its SLOs, found by probes (a ladder up, then bisection) on workers in
//! this process; `volley master --capacity` runs the same search over
//! remote workers. Exit codes: 0 a rate was found, 1 none was kept (or the
//! search was stopped before it ended), 2 it could not start, 3 it broke,
//! 4 the generator limited the search (the rate found is a lower bound).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

use super::Exit;
use super::load_args::LoadArgs;
use super::outputs::{ReportFiles, write_file};
use super::run::{
    OutputArgs, Prepared, Shown, close_console, cluster_runtime, open_console, prepare,
};
use crate::cluster::capacity::{SearchOutcome, SearchSpec};
use crate::cluster::coordinator::{RunError, RunSpec, Workers};
use crate::cluster::live::{Interrupt, Watcher};
use crate::cluster::master::Master;
use crate::report::capacity as show;
use crate::scenario::{LoadModel, limits};
use crate::stats::capacity::{CapacityReport, Limit, Settings, early_stops, slos_with_default};
use crate::stats::threshold::Threshold;

/// The first probe's rate when neither --start-rate nor the scenario says.
const DEFAULT_START: f64 = 10.0;

/// How the search moves, and what every probe must keep.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Capacity search")]
pub struct SearchArgs {
    /// SLO every probe must keep, repeatable: 'p99<20ms', 'error_rate<0.1%',
    /// 'NAME:p95<50ms'. Without --slo, the scenario's thresholds. When no
    /// SLO judges failures over all requests, error_rate<1% is added.
    #[arg(long = "slo", value_name = "RULE")]
    pub slos: Vec<String>,
    /// The first probe's rate, requests/s over all workers (default: the
    /// scenario's rate when it is an open model, else 10).
    #[arg(long, value_name = "R", value_parser = rate)]
    pub start_rate: Option<f64>,
    /// Each rung of the ladder multiplies the last kept rate by this.
    #[arg(long, value_name = "X", default_value_t = 2.0, value_parser = number)]
    pub factor: f64,
    /// No probe above this rate.
    #[arg(long, value_name = "R", value_parser = rate)]
    pub max_rate: Option<f64>,
    /// When the first probe breaks, the ladder goes down to this rate at
    /// most (default: the start rate / 16).
    #[arg(long, value_name = "R", value_parser = rate)]
    pub min_rate: Option<f64>,
    /// Bisection ends when the rate kept is within this of the rate not kept.
    #[arg(long, value_name = "PERCENT", default_value = "5%", value_parser = super::compare::parse_percent)]
    pub precision: f64,
    /// Each probe's length. An SLO broken by half again its bound stops a
    /// probe from a third of it on.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::scenario::compile::parse_duration)]
    pub probe: Duration,
    /// Load before each probe is judged, then forgotten (new connections
    /// and cold caches are not the target's steady state).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = crate::scenario::compile::parse_duration)]
    pub warmup: Duration,
    /// The pause between probes, for the target to drain its queues.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = crate::scenario::compile::parse_duration)]
    pub drain: Duration,
    /// No more probes than this.
    #[arg(long, value_name = "N", default_value_t = 30, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub max_probes: u16,
    /// Write the search as a Markdown table (a PR comment) to FILE.
    #[arg(long, value_name = "FILE", help_heading = "Results")]
    pub markdown: Option<PathBuf>,
}

fn rate(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v <= 0.0 {
        return Err(format!("{s:?}: a rate must be above 0"));
    }
    // This parser's own refusals are texts (its flags are not load flags);
    // the bound's message joins them as text, word for word.
    limits::rate(v).map_err(|e| e.to_string())
}

fn number(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{s:?} is not a number"))
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub search: SearchArgs,
    #[command(flatten)]
    pub files: ReportFiles,
    /// Without the live console: a line per probe on stderr, the summary
    /// on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Keep the console open when the search ends, until q.
    #[arg(long)]
    pub keep_open: bool,
    /// Threads generating load, all workers together (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true, value_parser = crate::scenario::limits::parse_threads::<usize>)]
    pub threads: usize,
    /// Workers in this process, each joined over QUIC on loopback.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::scenario::limits::parse_local_workers)]
    pub local_workers: usize,
}

/// A checked search: the scenario, how to move, the SLOs, where results go.
pub struct Planned {
    pub prepared: Prepared,
    pub settings: Settings,
    pub slos: Vec<Threshold>,
    pub files: ReportFiles,
    pub markdown: Option<PathBuf>,
}

/// Compiles the scenario with the flags and checks the search's settings.
pub fn plan(
    load: &LoadArgs,
    search: &SearchArgs,
    files: &ReportFiles,
    note_unreached: bool,
) -> Result<Planned, Exit> {
    let refuse = |why: &str| Err(Exit::cannot_start(anyhow::anyhow!("{why}")));
    if load.users.is_some() {
        return refuse(
            "a capacity search probes arrival rates (the open model): --users has no place in it",
        );
    }
    if load.requests.is_some() || load.duration.is_some() {
        return refuse(
            "a capacity search runs probes of --probe each: -n and -t have no place in it",
        );
    }
    if files.csv.is_some() || files.junit.is_some() {
        return refuse(
            "a capacity search writes --json, --html and --markdown; --csv and --junit are for a run",
        );
    }
    let output = OutputArgs {
        files: ReportFiles::default(),
        thresholds: Vec::new(),
        abort_on: Vec::new(),
        abort_delay: Duration::ZERO,
        metrics_addr: None,
        exit_code_on_error: None,
        status_every: Duration::from_secs(5),
        record: None,
    };
    let mut prepared = prepare(load, &output, note_unreached)?;
    // A closed-model scenario is probed in the open model, with
    // --connections or the default pool.
    if let LoadModel::Closed { .. } = prepared.load.model {
        prepared.load.model = LoadModel::Open {
            rate: search.start_rate.unwrap_or(DEFAULT_START),
            max_in_flight: limits::DEFAULT_MAX_IN_FLIGHT,
            connections: load.connections.unwrap_or(limits::DEFAULT_CONNECTIONS),
            stages: Vec::new(),
        };
    }
    // --slo replaces the scenario's thresholds; without it they are the SLOs.
    let mut slos: Vec<Threshold> = Vec::new();
    for t in &search.slos {
        let th = Threshold::parse(t)
            .map_err(|e| Exit::cannot_start(anyhow::anyhow!("--slo {t:?}: {e}")))?;
        if let Some(n) = &th.name
            && !prepared.scenario.has_stat(n)
        {
            return Err(Exit::cannot_start(anyhow::anyhow!(
                "--slo {t:?}: there is no request, step or flow named {n:?} (the scenario has {})",
                prepared.scenario.names().join(", ")
            )));
        }
        if !slos.iter().any(|s| s.text == th.text) {
            slos.push(th);
        }
    }
    if slos.is_empty() {
        slos = prepared
            .thresholds
            .iter()
            .cloned()
            .map(|mut t| {
                t.abort = None;
                t
            })
            .collect();
    }
    if slos.is_empty() {
        return refuse(
            "give the SLOs the target must keep: --slo 'p99<20ms' (repeatable), or thresholds in the scenario",
        );
    }
    let slos = slos_with_default(slos);
    let start = match (search.start_rate, &prepared.load.model) {
        (Some(r), _) => r,
        (None, LoadModel::Open { rate, .. }) if *rate > 0.0 => *rate,
        _ => DEFAULT_START,
    };
    let settings = Settings {
        start,
        factor: search.factor,
        max_rate: search.max_rate.unwrap_or(limits::MAX_RATE),
        min_rate: search.min_rate.unwrap_or(start / 16.0),
        precision: search.precision,
        max_probes: usize::from(search.max_probes),
        probe: search.probe,
        warmup: search.warmup,
        drain: search.drain,
    };
    settings.check().map_err(Exit::cannot_start)?;
    Ok(Planned {
        prepared,
        settings,
        slos,
        files: files.clone(),
        markdown: search.markdown.clone(),
    })
}

/// The search over `workers`.
pub fn spec(p: &Planned, workers: Workers) -> SearchSpec {
    SearchSpec {
        run: RunSpec {
            steerable: false,
            ..RunSpec::new(
                p.prepared.scenario.clone(),
                p.prepared.load.clone(),
                workers,
            )
        },
        settings: p.settings,
        slos: p.slos.clone(),
    }
}

pub fn capacity(args: CapacityArgs) -> Result<Exit, Exit> {
    let planned = plan(&args.load, &args.search, &args.files, false)?;
    let started = SystemTime::now();
    let rt = cluster_runtime()?;
    let wanted = crate::console::wanted(args.headless);
    let Shown {
        console,
        mut watcher,
    } = open_console(wanted, &planned.prepared, String::new())?;
    let n = args.local_workers.max(1);
    let per_worker = super::run::threads_per_worker(args.threads, n);
    let mut interrupt = Interrupt::default();
    let outcome = rt.block_on(async {
        let mut local = super::run::local_cluster(n, per_worker)?;
        interrupt = super::signals::interrupt();
        let workers = Workers {
            expect: n,
            join_timeout: Duration::from_secs(10),
            threads: per_worker as u32,
        };
        let spec = spec(&planned, workers);
        let result = run_search(&mut local.master, &spec, &interrupt, &mut watcher).await;
        local.release("the search is over").await;
        result
    });
    close_console(console, outcome.is_ok(), &interrupt, args.keep_open);
    finish(&planned, outcome?, started)
}

/// Runs the search; a run that could not start is exit 2.
pub async fn run_search(
    master: &mut Master,
    spec: &SearchSpec,
    interrupt: &Interrupt,
    watcher: &mut Option<Watcher>,
) -> Result<SearchOutcome, Exit> {
    crate::cluster::capacity::search(master, spec, interrupt, watcher)
        .await
        .map_err(|e: RunError| Exit::cannot_start(anyhow::anyhow!(e)))
}

/// The search's report, as the files and the summary show it.
pub fn report_of(p: &Planned, outcome: &SearchOutcome, started: SystemTime) -> CapacityReport {
    let mut notes = outcome.notes.clone();
    notes.extend(outcome.errors.iter().map(|e| format!("error: {e}")));
    if let Some(panic) = super::panics::uncaught() {
        notes.push(format!("error: {panic}"));
    }
    CapacityReport {
        scenario: p.prepared.scenario.name.clone(),
        slos: p.slos.iter().map(|t| t.text.clone()).collect(),
        early_stops: early_stops(&p.slos, Duration::ZERO)
            .iter()
            .map(|t| format!("{} {} {}", t.text, t.op, loosened(t)))
            .collect(),
        settings: p.settings,
        workers: outcome.workers,
        connections: match &p.prepared.load.model {
            LoadModel::Open { connections, .. } => *connections,
            LoadModel::Closed { .. } => limits::DEFAULT_CONNECTIONS,
        },
        started_unix_ms: started
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        probes: outcome.search.probes.clone(),
        found: outcome.search.found(),
        notes,
    }
}

/// A loosened threshold's bound, in its unit.
fn loosened(t: &Threshold) -> String {
    use crate::stats::threshold::Metric;
    match t.metric {
        Metric::ErrorRate => format!("{:.3}%", t.value * 100.0),
        Metric::Quantile(_) | Metric::Mean | Metric::Min | Metric::Max => {
            crate::stats::format_micros(t.value)
        }
        _ => format!("{}", t.value),
    }
}

/// Prints the summary, writes the files, returns the exit code.
pub fn finish(p: &Planned, outcome: SearchOutcome, started: SystemTime) -> Result<Exit, Exit> {
    let report = report_of(p, &outcome, started);
    let json_to_stdout = p.files.json.as_deref() == Some(Path::new("-"));
    {
        let mut out: Box<dyn std::io::Write> = if json_to_stdout {
            Box::new(std::io::stderr().lock())
        } else {
            Box::new(std::io::stdout().lock())
        };
        // Best effort: a closed terminal must not cost the files.
        let _ = show::write_summary(&mut out, &report);
        for n in &report.notes {
            let _ = writeln!(out, "note: {n}");
        }
        let _ = out.flush();
    }
    if let Some(path) = p.files.json.as_ref().filter(|_| !json_to_stdout) {
        write_file(path, |f| {
            serde_json::to_writer_pretty(f, &report).map_err(Into::into)
        })?;
    }
    if let Some(path) = &p.files.html {
        write_file(path, |f| {
            f.write_all(show::render(&report).as_bytes())
                .map_err(Into::into)
        })?;
    }
    if let Some(path) = &p.markdown {
        write_file(path, |f| {
            f.write_all(show::markdown(&report).as_bytes())
                .map_err(Into::into)
        })?;
    }
    if json_to_stdout {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)
            .map_err(anyhow::Error::from)
            .and_then(|()| writeln!(out).and_then(|()| out.flush()).map_err(Into::into))
            .context("writing the JSON result to stdout (--json -)")
            .map_err(Exit::cannot_start)?;
    }
    Ok(
        if !outcome.errors.is_empty() || super::panics::uncaught().is_some() {
            Exit::Broken
        } else {
            match (report.found.rate, &report.found.limit) {
                (_, Limit::Invalid { .. }) => Exit::Invalid,
                (Some(_), Limit::Stopped) | (None, _) => Exit::Failed,
                (Some(_), _) => Exit::Passed,
            }
        },
    )
}
