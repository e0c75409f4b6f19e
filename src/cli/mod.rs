//! The command line: flags in groups with their help, turned into checked
//! settings before anything runs. Exit codes: 0 all thresholds passed, 1 a
//! threshold failed (or the run completed no requests), 2 the run could not
//! start (bad scenario, flags, target), 3 the run broke (an engine failed,
//! load was lost with no worker left to take it, volley panicked), 4 the
//! run is INVALID (the generator, not the target, limited it): what was
//! measured is still reported and written.

pub mod capacity;
pub mod check;
pub mod compare;
pub mod demo;
pub mod import;
pub mod load_args;
pub mod master;
pub mod metrics;
pub mod outputs;
pub mod panics;
pub mod reflected;
pub mod replay;
pub mod report;
pub mod run;
pub mod signals;
pub mod worker;

use clap::{Parser, Subcommand};

/// How a command ended, as the process's exit code: [`Exit::code`] is the
/// one place the codes are numbered. A command returns `Ok` when it ran to
/// its verdict and `Err` when it stopped early (`?`), always with why.
#[derive(Debug)]
pub enum Exit {
    /// Every threshold passed (0).
    Passed,
    /// A threshold failed, or the run completed no requests (1).
    Failed,
    /// The run could not start: bad input or an unreachable target (2).
    CannotStart(anyhow::Error),
    /// The run broke while it ran; its report says why (3).
    Broken,
    /// The run is INVALID: the generator, not the target, limited the
    /// measurement (late or missed starts, a saturated CPU, late reports)
    /// (4).
    Invalid,
    /// The code `--exit-code-on-error` asked for: every threshold passed
    /// but a request failed.
    OnError(i32),
}

impl Exit {
    /// Could not start: bad input or an unreachable target (exit 2).
    pub fn cannot_start(e: impl Into<anyhow::Error>) -> Self {
        Exit::CannotStart(e.into())
    }

    /// The process's exit code.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Passed => 0,
            Exit::Failed => 1,
            Exit::CannotStart(_) => 2,
            Exit::Broken => 3,
            Exit::Invalid => 4,
            Exit::OnError(n) => *n,
        }
    }
}

/// `volley --version`: the version and the commit built.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("VOLLEY_GIT_COMMIT"),
    ")"
);

/// volley: a distributed load tester for REST and gRPC APIs.
#[derive(Parser)]
#[command(version = VERSION, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a scenario from this machine and report (headless: a status line
    /// every few seconds, a summary at the end, thresholds as the exit code).
    Run(Box<run::RunArgs>),
    /// Run a scenario over workers that join over QUIC (`volley worker`),
    /// and report as `run` does.
    Master(Box<master::MasterArgs>),
    /// Join a master and generate the load it hands out, until stopped.
    Worker(Box<worker::WorkerArgs>),
    /// Draw the reports of saved results again (--html, --csv, --junit,
    /// --json), or merge several results into one, exactly.
    Report(Box<report::ReportArgs>),
    /// Compare a baseline's results with a candidate's, per name, from
    /// their exact histograms: a verdict per name (worse beyond noise?),
    /// exit 1 on a regression. See docs/compare.md.
    Compare(Box<compare::CompareArgs>),
    /// Find the highest arrival rate the target serves within its SLOs:
    /// open-model probes up a ladder, then bisection, each judged on its
    /// whole length (`--slo 'p99<20ms'`). See docs/capacity.md.
    Capacity(Box<capacity::CapacityArgs>),
    /// Send recorded traffic again at its own times: access logs, HAR
    /// files or volley's JSON lines, against --target (faster or slower
    /// with --speed), sessions kept in order; the report sets the target's
    /// statuses against the sources'. See docs/replay.md.
    Replay(Box<replay::ReplayArgs>),
    /// Validate a scenario file without sending anything.
    Check(check::CheckArgs),
    /// Write a scenario file from what describes an API (`volley import
    /// openapi SPEC`): a request per operation, to review and run. See
    /// docs/import.md.
    Import {
        #[command(subcommand)]
        what: import::ImportCommand,
    },
    /// See volley work: the prediction servers (REST and gRPC) in this
    /// process, and the mixed scenario against them for 20 s.
    Demo(Box<demo::DemoArgs>),
    /// Print a shell's completion script: `volley completions bash >
    /// ~/.local/share/bash-completion/completions/volley` (zsh, fish,
    /// elvish, powershell alike).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `volley man > volley.1; man ./volley.1`.
    Man,
    /// Print the scenario format's JSON Schema (docs/scenario.schema.json),
    /// for editors that complete and check TOML with it.
    Schema {
        /// The schema of one line of a replay's JSON lines instead
        /// (docs/replay.schema.json).
        #[arg(long)]
        replay: bool,
    },
}

/// Runs the parsed command; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    panics::install();
    let result = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Master(args) => master::master(*args),
        Command::Worker(args) => worker::worker(*args),
        Command::Capacity(args) => capacity::capacity(*args),
        Command::Replay(args) => replay::replay(*args),
        Command::Check(args) => check::check(args),
        Command::Import { what } => import::import(what),
        Command::Report(args) => report::report(*args),
        Command::Compare(args) => compare::compare(*args),
        Command::Demo(args) => demo::demo(*args),
        Command::Completions { shell } => completions(shell),
        Command::Man => man(),
        Command::Schema { replay: false } => write_out(crate::scenario::schema().as_bytes()),
        Command::Schema { replay: true } => {
            write_out(crate::scenario::replay::jsonl::schema().as_bytes())
        }
    };
    let (Ok(exit) | Err(exit)) = result;
    if let Exit::CannotStart(e) = &exit {
        eprintln!("error: {e:#}");
    }
    exit.code()
}

fn completions(shell: clap_complete::Shell) -> Result<Exit, Exit> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "volley", &mut out);
    write_out(&out)
}

fn man() -> Result<Exit, Exit> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(Exit::cannot_start)?;
    write_out(&out)
}

/// Writes to stdout; a reader that stops early (`| head`) is not an error.
fn write_out(bytes: &[u8]) -> Result<Exit, Exit> {
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Exit::cannot_start(e)),
        _ => Ok(Exit::Passed),
    }
}
