//! `volley master`: listens for workers over QUIC, waits until enough have
//! joined, runs the scenario over them and reports exactly as `volley run`
//! does (summary, --json, --csv, thresholds, exit codes).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use clap::Args;

use super::Exit;
use super::load_args::LoadArgs;
use super::run::{OutputArgs, close_console, cluster_runtime, finish, open_console, prepare};
use crate::cluster::coordinator::{self, Workers};
use crate::cluster::identity::MasterIdentity;
use crate::cluster::live::Interrupt;
use crate::cluster::master::Master;
use crate::cluster::token::Token;

#[derive(Debug, Args)]
pub struct MasterArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub cluster: MasterCluster,
    /// Search for the capacity over the workers instead of one run (as
    /// `volley capacity` does in one process): each probe's rate is split
    /// across them. Needs --slo or thresholds in the scenario.
    #[arg(long, help_heading = "Capacity search")]
    pub capacity: bool,
    #[command(flatten)]
    pub search: super::capacity::SearchArgs,
}

/// How the master listens and whom it lets in.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster")]
pub struct MasterCluster {
    /// Address to listen on (UDP, QUIC).
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7700")]
    pub bind: SocketAddr,
    /// Workers to wait for before the run starts.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::scenario::limits::parse_workers)]
    pub expect_workers: usize,
    /// How long to wait for them; then exit 2 saying how many came.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = crate::scenario::compile::parse_duration)]
    pub join_timeout: Duration,
    /// Without the live console: status lines on stderr, the summary on
    /// stdout. Without a terminal (a pipe, CI) there is no console anyway.
    #[arg(long)]
    pub headless: bool,
    /// Keep the console open when the run ends, until q (by default it
    /// closes and the summary is printed).
    #[arg(long)]
    pub keep_open: bool,
    /// The master's certificate chain (PEM). Without --cert and --key the
    /// master generates a self-signed certificate and prints its fingerprint.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// The key of --cert (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    /// File holding the join token workers must show (else VOLLEY_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Load threads per worker (default: each worker's cores).
    #[arg(long, value_name = "N", default_value_t = 0, hide_default_value = true, value_parser = crate::scenario::limits::parse_threads::<u32>)]
    pub threads: u32,
}

/// What the master ran.
enum Ran {
    Run(Box<coordinator::Outcome>),
    Search(Box<crate::cluster::capacity::SearchOutcome>),
}

/// What the master runs: one run, or a capacity search.
enum Mode {
    Run,
    Search(Box<super::capacity::Planned>),
}

pub fn master(args: MasterArgs) -> Result<Exit, Exit> {
    let mode = if args.capacity {
        let o = &args.output;
        if !o.thresholds.is_empty() || !o.abort_on.is_empty() || o.exit_code_on_error.is_some() {
            return Err(Exit::cannot_start(anyhow::anyhow!(
                "with --capacity the SLOs are --slo; --threshold, --abort-on and --exit-code-on-error are for a run"
            )));
        }
        Mode::Search(Box::new(super::capacity::plan(
            &args.load,
            &args.search,
            &o.files,
            true,
        )?))
    } else {
        if !args.search.slos.is_empty() || args.search.markdown.is_some() {
            return Err(Exit::cannot_start(anyhow::anyhow!(
                "--slo and --markdown belong to a capacity search: add --capacity"
            )));
        }
        Mode::Run
    };
    let prepared = match &mode {
        Mode::Search(p) => super::run::Prepared {
            scenario: p.prepared.scenario.clone(),
            load: p.prepared.load.clone(),
            thresholds: Vec::new(),
            record: None,
        },
        Mode::Run => prepare(&args.load, &args.output, true)?,
    };
    let c = &args.cluster;
    let token = Token::from_flag_or_env(c.token_file.as_deref()).map_err(Exit::cannot_start)?;
    let identity = match (&c.cert, &c.key) {
        (Some(cert), Some(key)) => MasterIdentity::from_files(cert, key),
        _ => MasterIdentity::generate(),
    }
    .map_err(Exit::cannot_start)?;
    let started = SystemTime::now();
    let rt = cluster_runtime()?;
    let mut console = None;
    let mut interrupt = Interrupt::default();
    let outcome = rt.block_on(async {
        let mut master = Master::bind(c.bind, &identity, token).map_err(Exit::cannot_start)?;
        let addr = master.local_addr().map_err(Exit::cannot_start)?;
        eprintln!(
            "volley master listening on {addr} (QUIC over UDP)\ncertificate SHA-256 fingerprint: {}\nwaiting up to {:?} for {} worker(s)",
            master.fingerprint(),
            c.join_timeout,
            c.expect_workers
        );
        let info = format!(
            "listening on {addr}, certificate SHA-256 {}; enter starts with the workers that joined",
            master.fingerprint()
        );
        let metrics =
            super::metrics::start(args.output.metrics_addr, &prepared.scenario.name).await?;
        let shown = open_console(crate::console::wanted(c.headless), &prepared, info)?;
        console = shown.console;
        let watcher = shown.watcher;
        let status_every = watcher.is_none().then_some(args.output.status_every);
        let watcher = super::metrics::watchers(metrics.as_ref(), watcher);
        interrupt = super::signals::interrupt();
        let workers = Workers {
            expect: c.expect_workers.max(1),
            join_timeout: c.join_timeout,
            threads: c.threads,
        };
        let spec = prepared.run_spec(workers, status_every, args.output.files.csv_full_history);
        let result = match &mode {
            Mode::Run => coordinator::run(&mut master, &spec, 1, &interrupt, watcher)
                .await
                .map(|o| Ran::Run(Box::new(o)))
                .map_err(|e| Exit::cannot_start(anyhow::anyhow!(e))),
            Mode::Search(p) => {
                let search = super::capacity::spec(p, spec.workers);
                let mut watcher = watcher;
                super::capacity::run_search(&mut master, &search, &interrupt, &mut watcher)
                    .await
                    .map(|o| Ran::Search(Box::new(o)))
            }
        };
        // Remote workers stay up and reconnect to the next master.
        master.shutdown("the run is over").await;
        result
    });
    close_console(console, outcome.is_ok(), &interrupt, c.keep_open);
    let outcome = match (outcome?, &mode) {
        (Ran::Search(o), Mode::Search(p)) => return super::capacity::finish(p, *o, started),
        (Ran::Run(o), _) => *o,
        (Ran::Search(_), Mode::Run) => {
            return Err(Exit::cannot_start(anyhow::anyhow!(
                "a search ran where a run was asked"
            )));
        }
    };
    let lag = &outcome.report_lag_ms;
    if !lag.is_empty() {
        eprintln!(
            "reports merged within p50 {} ms, p99 {} ms, max {} ms of their interval's end",
            lag.value_at_quantile(0.5),
            lag.value_at_quantile(0.99),
            lag.max()
        );
    }
    finish(&prepared, outcome, &args.output, started)
}
