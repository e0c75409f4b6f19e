//! `volley run`: a master and its workers in this process (one by default,
//! `--local-workers N` for more), their snapshots merged into the run's
//! statistics over the same QUIC path a cluster takes, the console or a
//! status line while it runs, and at the end the summary, the result files
//! and the thresholds' verdict as the exit code.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Args;

use super::Exit;
use super::load_args::{LoadArgs, Target};
use super::outputs::ReportFiles;
use super::reflected::Asked;

use crate::cluster::coordinator::{self, Outcome, RunSpec, Workers};
use crate::cluster::identity::MasterIdentity;
use crate::cluster::live::{Interrupt, Watcher};
use crate::cluster::local;
use crate::cluster::master::Master;
use crate::cluster::token::Token;
use crate::console::Console;
use crate::console::model::Layout;
use crate::report::run_report::RunReport;
use crate::report::run_report::{LagJson, RunConfig};
use crate::scenario::compile::Options;
use crate::scenario::{LoadModel, RequestKind, Scenario};
use crate::stats::threshold::Threshold;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Without the live console: status lines on stderr, the summary on
    /// stdout. Without a terminal (a pipe, CI) there is no console anyway.
    #[arg(long)]
    pub headless: bool,
    /// Keep the console open when the run ends, until q (by default it
    /// closes and the summary is printed, so a script in a terminal ends).
    #[arg(long)]
    pub keep_open: bool,
    /// Threads generating load, all workers together (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true, value_parser = crate::scenario::limits::parse_threads::<usize>)]
    pub threads: usize,
    /// Workers in this process. Each joins a master on loopback over QUIC,
    /// exactly as remote workers join `volley master`.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::scenario::limits::parse_local_workers)]
    pub local_workers: usize,
}

/// Where results go.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Results")]
pub struct OutputArgs {
    #[command(flatten)]
    pub files: ReportFiles,
    /// Pass/fail rule, repeatable: 'p99<250ms', 'error_rate<1%', 'rps>1000',
    /// 'NAME:p95<100ms'. Any failed threshold makes the exit code 1.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Pass/fail rule that also stops the run when it breaks, repeatable:
    /// judged every second on the merged statistics of every worker (from
    /// --abort-delay on); when broken, every worker is stopped, the reports
    /// are written with the reason, and the exit code is 1.
    #[arg(long = "abort-on", value_name = "RULE")]
    pub abort_on: Vec<String>,
    /// How long after the start --abort-on rules begin to be judged (a
    /// percentile over the first few requests says little).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = crate::scenario::compile::parse_duration)]
    pub abort_delay: Duration,
    /// Serve Prometheus metrics at http://ADDR/metrics while the test runs
    /// (e.g. 127.0.0.1:9646; port 0 picks a free port, printed on stderr).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Exit with this code when every threshold passed but a request failed
    /// (Locust's --exit-code-on-error; by default failures alone do not
    /// change the exit code, thresholds decide).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(0..=255))]
    pub exit_code_on_error: Option<i32>,
    /// Seconds between status lines on stderr.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::scenario::compile::parse_duration)]
    pub status_every: Duration,
    /// Write every HTTP request sent (method, path, headers, body, its
    /// intended start, name, user and status) to FILE as JSON lines, which
    /// `volley replay FILE` sends again exactly. A cluster's workers each
    /// write FILE on their own machine.
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
}

/// A compiled, checked run: what `run` (and later `master`) executes.
pub struct Prepared {
    pub scenario: Arc<Scenario>,
    pub load: crate::scenario::LoadSpec,
    pub thresholds: Vec<Threshold>,
    /// `--record`: where workers write the requests they send (absolute:
    /// local workers write where the command was started).
    pub record: Option<std::path::PathBuf>,
}

impl Prepared {
    /// The run of this scenario on `workers`, its `abort` thresholds judged
    /// live and steerable from the console: what `run` and `master` run.
    pub fn run_spec(
        &self,
        workers: Workers,
        status_every: Option<Duration>,
        name_history: bool,
    ) -> RunSpec {
        RunSpec {
            status_every,
            name_history,
            record: self.record.clone(),
            aborts: self
                .thresholds
                .iter()
                .filter(|t| t.abort.is_some())
                .cloned()
                .collect(),
            ..RunSpec::new(self.scenario.clone(), self.load.clone(), workers)
        }
    }
}

/// Loads the scenario, applies the flags, parses every threshold. With
/// `note_unreached`, says on stderr when server reflection could not be
/// asked before the run (a master's workers may reach what it cannot).
pub fn prepare(
    load: &LoadArgs,
    output: &OutputArgs,
    note_unreached: bool,
) -> Result<Prepared, Exit> {
    let options = Options {
        host: load.host.clone(),
        headers: load.headers.clone(),
        ..Options::default()
    };
    let what = load.what().map_err(Exit::cannot_start)?;
    let text = match &what {
        Target::File(_) => String::new(),
        Target::Url(url) => load.one_line_scenario(url).map_err(Exit::cannot_start)?,
    };
    let dir = std::env::current_dir().unwrap_or_default();
    let compile = |options: &Options| match &what {
        Target::File(f) => crate::scenario::load(f, options),
        Target::Url(_) => crate::scenario::compile::compile(
            std::path::Path::new("command line"),
            &text,
            &crate::scenario::compile::DiskSources(dir.clone()),
            options,
        ),
    };
    let scenario = compile(&options).map_err(Exit::cannot_start)?;
    let timeout = load.timeout.unwrap_or(scenario.load.timeout);
    let (scenario, asked) = super::reflected::recompile(scenario, &options, timeout, compile)
        .map_err(Exit::cannot_start)?;
    // A one-process run's workers would fail on it the same way; a
    // cluster's may reach what the master cannot.
    if let (Asked::Unreached { endpoint, why }, true) = (&asked, note_unreached) {
        eprintln!(
            "note: server reflection at {endpoint} could not be asked ({why}); the workers check the gRPC methods and messages when the run starts"
        );
    }
    prepare_compiled(scenario, load, output)
}

/// Applies the flags to a compiled scenario and parses every threshold.
pub fn prepare_compiled(
    scenario: Scenario,
    load: &LoadArgs,
    output: &OutputArgs,
) -> Result<Prepared, Exit> {
    let spec = load
        .apply(scenario.load.clone())
        .map_err(Exit::cannot_start)?;
    check_records(&scenario, &spec).map_err(Exit::cannot_start)?;
    if scenario.replay.is_some() && !matches!(spec.model, LoadModel::Open { .. }) {
        return Err(Exit::cannot_start(anyhow::anyhow!(
            "a replay sends its sources' requests at their times: --users (the closed model) does not apply"
        )));
    }
    let mut thresholds = Vec::new();
    let given = scenario
        .thresholds
        .iter()
        .map(|t| (t.rule.as_str(), t.abort, "threshold"))
        .chain(
            output
                .thresholds
                .iter()
                .map(|t| (t.as_str(), None, "--threshold")),
        )
        .chain(
            output
                .abort_on
                .iter()
                .map(|t| (t.as_str(), Some(output.abort_delay), "--abort-on")),
        );
    for (t, abort, flag) in given {
        let mut th = Threshold::parse(t)
            .map_err(|e| Exit::cannot_start(anyhow::anyhow!("{flag} {t:?}: {e}")))?;
        th.abort = abort;
        if let Some(n) = &th.name
            && !scenario.has_stat(n)
        {
            return Err(Exit::cannot_start(anyhow::anyhow!(
                "{flag} {t:?}: there is no request, step or flow named {n:?} (the scenario has {})",
                scenario.names().join(", ")
            )));
        }
        // The same rule given twice is judged once (stopping the run if
        // either said so).
        match thresholds
            .iter_mut()
            .find(|u: &&mut Threshold| u.text == th.text)
        {
            Some(u) => u.abort = u.abort.or(th.abort),
            None => thresholds.push(th),
        }
    }
    let record = match &output.record {
        None => None,
        Some(p) if p.is_absolute() => Some(p.clone()),
        Some(p) => Some(
            std::env::current_dir()
                .map_err(|e| Exit::cannot_start(anyhow::anyhow!("--record: {e}")))?
                .join(p),
        ),
    };
    Ok(Prepared {
        scenario: Arc::new(scenario),
        load: spec,
        thresholds,
        record,
    })
}

/// A per-user data source needs a record for every user the run will have
/// at its peak (the closed model; open-model executors are capped instead).
fn check_records(scenario: &Scenario, load: &crate::scenario::LoadSpec) -> anyhow::Result<()> {
    let LoadModel::Closed { users, stages, .. } = &load.model else {
        return Ok(());
    };
    let peak = if stages.is_empty() {
        *users
    } else {
        stages.iter().map(|s| s.target).fold(0.0, f64::max).ceil() as u64
    };
    for d in &scenario.data {
        if d.pick == crate::scenario::data::Pick::PerUser && (d.rows.len() as u64) < peak {
            anyhow::bail!(
                "data {:?} has {} records for {peak} users: pick = \"per_user\" gives each user its own record, so it needs at least one per user (fewer users, or more records)",
                d.name,
                d.rows.len()
            );
        }
    }
    Ok(())
}

pub fn run_config(p: &Prepared, workers: usize) -> RunConfig {
    let (model, users, spawn_rate, rate, connections) = match &p.load.model {
        LoadModel::Closed {
            users, spawn_rate, ..
        } => ("closed", Some(*users), Some(*spawn_rate), None, None),
        LoadModel::Open {
            rate, connections, ..
        } => ("open", None, None, Some(*rate), Some(*connections)),
    };
    RunConfig {
        scenario: p.scenario.name.clone(),
        targets: p.scenario.targets(),
        model: model.into(),
        users,
        spawn_rate,
        rate,
        connections,
        duration_s: p.load.duration.map(|d| d.as_secs_f64()),
        requests: p.load.requests,
        timeout_s: p.load.timeout.as_secs_f64(),
        workers,
        allow_empty: p.scenario.allow_empty,
        allow_all_failed: p.scenario.allow_all_failed,
    }
}

pub fn run(args: RunArgs) -> Result<Exit, Exit> {
    let prepared = prepare(&args.load, &args.output, false)?;
    let console = crate::console::wanted(args.headless);
    execute(
        &prepared,
        args.threads,
        args.local_workers,
        &args.output,
        console.then_some(args.keep_open),
    )
}

/// The live console, when there is one, and the watcher the run publishes
/// to for it.
pub struct Shown {
    pub console: Option<Console>,
    pub watcher: Option<Watcher>,
}

/// Starts the console when `wanted`.
pub fn open_console(wanted: bool, p: &Prepared, info: String) -> Result<Shown, Exit> {
    if !wanted {
        return Ok(Shown {
            console: None,
            watcher: None,
        });
    }
    let mut layout = Layout::of(&p.scenario);
    layout.info = info;
    let (console, watcher) = crate::console::start(layout).map_err(Exit::cannot_start)?;
    Ok(Shown {
        console: Some(console),
        watcher: Some(watcher),
    })
}

/// Closes the console when the run is over, or with `keep_open` waits for
/// the user to leave it (it closes at once anyway when the run could not
/// start or a signal stopped it), so that the terminal is back before any
/// output.
pub fn close_console(console: Option<Console>, ran: bool, interrupt: &Interrupt, keep_open: bool) {
    let abandon = !keep_open || !ran || interrupt.by().is_some_and(|by| by.starts_with("SIG"));
    if let Some(c) = console
        && let Err(e) = c.finish(abandon)
    {
        eprintln!("warning: the console failed: {e}");
    }
}

/// Runs a prepared scenario on `local_workers` workers in this process, each
/// connected to a master on loopback over QUIC as a remote worker would be,
/// and reports.
pub fn execute(
    prepared: &Prepared,
    threads: usize,
    local_workers: usize,
    output: &OutputArgs,
    // Some(keep_open) with a console.
    console: Option<bool>,
) -> Result<Exit, Exit> {
    let started = SystemTime::now();
    let rt = cluster_runtime()?;
    let metrics = rt.block_on(super::metrics::start(
        output.metrics_addr,
        &prepared.scenario.name,
    ))?;
    let keep_open = console;
    let Shown { console, watcher } = open_console(console.is_some(), prepared, String::new())?;
    let status_every = watcher.is_none().then_some(output.status_every);
    let watcher = super::metrics::watchers(metrics.as_ref(), watcher);
    let n = local_workers.max(1);
    let mut interrupt = Interrupt::default();
    let per_worker = threads_per_worker(threads, n);
    let outcome = rt.block_on(async {
        let mut local = local_cluster(n, per_worker)?;
        interrupt = super::signals::interrupt();
        let workers = Workers {
            expect: n,
            join_timeout: Duration::from_secs(10),
            threads: per_worker as u32,
        };
        let spec = prepared.run_spec(workers, status_every, output.files.csv_full_history);
        let result = coordinator::run(&mut local.master, &spec, 1, &interrupt, watcher).await;
        local.release("the run is over").await;
        result.map_err(|e| Exit::cannot_start(anyhow::anyhow!(e)))
    });
    close_console(
        console,
        outcome.is_ok(),
        &interrupt,
        keep_open.unwrap_or(false),
    );
    finish(prepared, outcome?, output, started)
}

/// A master on loopback and the workers in this process joined to it.
pub struct LocalCluster {
    pub master: Master,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// A master on loopback and `n` workers in this process joined to it over
/// QUIC, as remote workers join `volley master`. Call within a runtime.
pub fn local_cluster(n: usize, per_worker: usize) -> Result<LocalCluster, Exit> {
    let identity = MasterIdentity::generate().map_err(Exit::cannot_start)?;
    let token = Token::generate();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let master = Master::bind(loopback, &identity, token.clone()).map_err(Exit::cannot_start)?;
    let addr = master.local_addr().map_err(Exit::cannot_start)?;
    let workers = local::spawn(n, addr, master.fingerprint(), &token, per_worker)
        .map_err(Exit::cannot_start)?;
    Ok(LocalCluster { master, workers })
}

impl LocalCluster {
    /// Lets the local workers go (they exit with their master) and waits
    /// for them, 5 s at most each.
    pub async fn release(self, why: &str) {
        self.master.shutdown(why).await;
        for w in self.workers {
            let _ = tokio::time::timeout(Duration::from_secs(5), w).await;
        }
    }
}

/// Load threads for each of `n` workers in this process, from `threads`
/// for them all (0: the cores, shared; one worker alone takes them all).
pub fn threads_per_worker(threads: usize, n: usize) -> usize {
    if threads > 0 {
        (threads / n).max(1)
    } else if n > 1 {
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        (cores / n).max(1)
    } else {
        0
    }
}

/// The runtime a master (and local workers' connections) live on: one
/// thread, as merging is one task and hopping between threads cost more than
/// it gave; engines have runtimes of their own.
pub fn cluster_runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Exit::cannot_start)
}

/// The run's report: what was run, what it measured, the verdicts.
pub fn report_of(p: &Prepared, outcome: Outcome, started: SystemTime) -> RunReport {
    let flows = p
        .scenario
        .flows
        .iter()
        .map(|_| ("flow".to_owned(), "flow".to_owned()));
    let (kinds, methods) =
        p.scenario
            .requests
            .iter()
            .map(|r| match &r.kind {
                RequestKind::Http(h) => ("HTTP".to_owned(), h.method.to_string()),
                RequestKind::Grpc(_) => ("gRPC".to_owned(), "gRPC".to_owned()),
                RequestKind::WebSocket(_) => ("WebSocket".to_owned(), "GET".to_owned()),
            })
            .chain(flows)
            .chain(p.scenario.streaming().flat_map(|_| {
                ["sent", "first", "msg"].map(|m| ("stream".to_owned(), m.to_owned()))
            }))
            // Each HTTP request's time to first byte, in request order (as
            // `stats::Rows` lays them out).
            .chain(p.scenario.requests.iter().filter_map(|r| match &r.kind {
                RequestKind::Http(h) => Some(("ttfb".to_owned(), h.method.to_string())),
                RequestKind::Grpc(_) | RequestKind::WebSocket(_) => None,
            }))
            .unzip();
    let mut report = RunReport {
        config: run_config(p, outcome.workers.len()),
        started_unix_ms: started
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
        kinds,
        methods,
        thresholds: p.thresholds.clone(),
        verdicts: Vec::new(),
        notes: outcome.notes,
        errors: outcome.errors.iter().map(ToString::to_string).collect(),
        invalid: Vec::new(),
        generator_cpu_percent: None,
        report_lag_ms: LagJson::of(&outcome.report_lag_ms),
        workers: outcome.workers,
        merged_from: Vec::new(),
        aborted: outcome.aborted,
        stats: outcome.stats,
    };
    // A replay says first what of its sources went, and where the target
    // answered otherwise than the sources' server.
    if let Some(r) = &p.scenario.replay {
        let mut notes = crate::report::replay::notes(r, &report.stats);
        notes.append(&mut report.notes);
        report.notes = notes;
    }
    report.notes.extend(crate::report::auto_version::notes(
        &p.scenario.requests,
        &report.stats,
    ));
    // A panic nobody caught (the master, merging, a connection) breaks the
    // run: its numbers may be incomplete.
    if let Some(panic) = super::panics::uncaught() {
        report.errors.push(panic);
    }
    report.evaluate();
    report
}

/// Prints the summary, writes the files, and returns the exit code.
pub fn finish(
    p: &Prepared,
    outcome: Outcome,
    output: &OutputArgs,
    started: SystemTime,
) -> Result<Exit, Exit> {
    let report = report_of(p, outcome, started);
    let code = super::outputs::write(&report, &output.files)?;
    // Locust's --exit-code-on-error: a run that passed but saw a failed
    // request exits with the code asked for.
    Ok(match output.exit_code_on_error {
        Some(n) if matches!(code, Exit::Passed) && report.stats.total().failures > 0 => {
            Exit::OnError(n)
        }
        _ => code,
    })
}
