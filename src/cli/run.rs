//! `volley run`: one engine on this machine, its snapshots merged into the
//! run's statistics, a status line while it runs, and at the end the summary,
//! the JSON and CSV files and the thresholds' verdict as the exit code.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Args;

use super::Exit;
use super::load_args::LoadArgs;
use crate::engine::{self, EngineEnd, Plan, Share};
use crate::report::json::RunConfig;
use crate::report::summary;
use crate::report::threshold::{Threshold, Verdict};
use crate::scenario::compile::Options;
use crate::scenario::{LoadModel, RequestKind, Scenario};
use crate::stats::RunStats;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Without a console: status lines on stderr, the summary on stdout (the
    /// console arrives in a later version; today every run is headless).
    #[arg(long)]
    pub headless: bool,
    /// Threads generating load (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

/// Where results go.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Results")]
pub struct OutputArgs {
    /// Write the whole result as JSON (with encoded histograms) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// Pass/fail rule, repeatable: 'p99<250ms', 'error_rate<1%', 'rps>1000',
    /// 'NAME:p95<100ms'. Any failed threshold makes the exit code 1.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Seconds between status lines on stderr.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::scenario::compile::parse_duration)]
    pub status_every: Duration,
}

/// A compiled, checked run: what `run` (and later `master`) executes.
pub struct Prepared {
    pub scenario: Arc<Scenario>,
    pub load: crate::scenario::LoadSpec,
    pub thresholds: Vec<Threshold>,
}

/// Loads the scenario, applies the flags, parses every threshold.
pub fn prepare(load: &LoadArgs, output: &OutputArgs) -> Result<Prepared, Exit> {
    let options = Options {
        host: load.host.clone(),
        ..Options::default()
    };
    let scenario = crate::scenario::load(&load.file, &options).map_err(Exit::cannot_start)?;
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
        .map_err(|e| Exit::cannot_start(anyhow::anyhow!(e)))?;
    let mut thresholds = Vec::new();
    for t in scenario.thresholds.iter().chain(&output.thresholds) {
        let th = Threshold::parse(t)
            .map_err(|e| Exit::cannot_start(anyhow::anyhow!("--threshold {t:?}: {e}")))?;
        if let Some(n) = &th.name
            && !scenario.requests.iter().any(|r| &r.name == n)
        {
            let names: Vec<&str> = scenario.requests.iter().map(|r| r.name.as_str()).collect();
            return Err(Exit::cannot_start(anyhow::anyhow!(
                "--threshold {t:?}: there is no request named {n:?} (the scenario has {})",
                names.join(", ")
            )));
        }
        thresholds.push(th);
    }
    Ok(Prepared {
        scenario: Arc::new(scenario),
        load: spec,
        thresholds,
    })
}

pub fn run_config(p: &Prepared, workers: usize) -> RunConfig {
    let (model, users, spawn_rate, rate) = match &p.load.model {
        LoadModel::Closed {
            users, spawn_rate, ..
        } => ("closed", Some(*users), Some(*spawn_rate), None),
        LoadModel::Open { rate, .. } => ("open", None, None, Some(*rate)),
    };
    RunConfig {
        scenario: p.scenario.name.clone(),
        targets: p.scenario.targets(),
        model: model.into(),
        users,
        spawn_rate,
        rate,
        duration_s: p.load.duration.map(|d| d.as_secs_f64()),
        requests: p.load.requests,
        timeout_s: p.load.timeout.as_secs_f64(),
        workers,
    }
}

pub fn run(args: RunArgs) -> Result<i32, Exit> {
    let prepared = prepare(&args.load, &args.output)?;
    execute(&prepared, args.threads, &args.output)
}

/// Runs a prepared scenario on one engine in this process and reports.
pub fn execute(prepared: &Prepared, threads: usize, output: &OutputArgs) -> Result<i32, Exit> {
    let started = SystemTime::now();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = engine::start(
        Plan {
            scenario: prepared.scenario.clone(),
            load: prepared.load.clone(),
            share: Share::WHOLE,
            threads,
            interval: Duration::from_secs(1),
            start_at: None,
        },
        tx,
    );
    let mut stats = RunStats::new(prepared.scenario.names());
    // A small runtime of its own for merging and signals; the engine has its own.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Exit::cannot_start)?;
    let status_every = output.status_every;
    rt.block_on(async {
        let mut status = tokio::time::interval(status_every);
        status.tick().await;
        let mut interrupted = false;
        loop {
            tokio::select! {
                snap = rx.recv() => match snap {
                    Some(s) => stats.apply(0, &s),
                    None => break,
                },
                _ = status.tick() => eprintln!("{}", summary::status_line(&stats)),
                r = tokio::signal::ctrl_c(), if !interrupted => {
                    if r.is_ok() {
                        interrupted = true;
                        eprintln!("stopping (Ctrl-C): finishing and reporting");
                        handle.stop();
                    }
                }
            }
        }
    });
    let end = handle.join();
    if let EngineEnd::Failed(e) = end {
        return Err(Exit::cannot_start(anyhow::anyhow!(
            "the run could not start: {e}"
        )));
    }
    stats.finish();
    finish(prepared, &stats, output, started, 1)
}

/// Prints the summary, writes the files, and returns the exit code.
pub fn finish(
    p: &Prepared,
    stats: &RunStats,
    output: &OutputArgs,
    started: SystemTime,
    workers: usize,
) -> Result<i32, Exit> {
    let verdicts: Vec<Verdict> = p.thresholds.iter().map(|t| t.evaluate(stats)).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = summary::write_summary(&mut out, stats, &verdicts);
    let _ = out.flush();
    let started_ms = started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let write_err = |e: anyhow::Error| Exit {
        code: 2,
        error: Some(e),
    };
    if let Some(path) = &output.json {
        let config = run_config(p, workers);
        let doc = crate::report::json::result(&config, stats, started_ms, &verdicts);
        let f = File::create(path)
            .with_context(|| format!("creating {}", path.display()))
            .map_err(write_err)?;
        serde_json::to_writer_pretty(BufWriter::new(f), &doc)
            .with_context(|| format!("writing {}", path.display()))
            .map_err(write_err)?;
    }
    if let Some(prefix) = &output.csv {
        let kinds: Vec<&str> = p
            .scenario
            .requests
            .iter()
            .map(|r| match r.kind {
                RequestKind::Http(_) => "HTTP",
                RequestKind::Grpc(_) => "gRPC",
            })
            .collect();
        let methods: Vec<String> = p
            .scenario
            .requests
            .iter()
            .map(|r| match &r.kind {
                RequestKind::Http(h) => h.method.to_string(),
                RequestKind::Grpc(_) => "gRPC".into(),
            })
            .collect();
        let path = |suffix: &str| PathBuf::from(format!("{}_{suffix}.csv", prefix.display()));
        let create = |p: PathBuf| {
            File::create(&p)
                .with_context(|| format!("creating {}", p.display()))
                .map_err(write_err)
        };
        crate::report::csv::write_stats(create(path("stats"))?, stats, &kinds)
            .map_err(|e| write_err(e.into()))?;
        crate::report::csv::write_history(
            create(path("stats_history"))?,
            stats,
            &kinds,
            started_ms / 1000,
        )
        .map_err(|e| write_err(e.into()))?;
        crate::report::csv::write_failures(create(path("failures"))?, stats, &methods)
            .map_err(|e| write_err(e.into()))?;
    }
    let failed: Vec<&Verdict> = verdicts.iter().filter(|v| !v.passed).collect();
    if failed.is_empty() {
        Ok(0)
    } else {
        for v in &failed {
            eprintln!(
                "threshold failed: {} (observed {})",
                v.threshold, v.observed
            );
        }
        Ok(1)
    }
}
