//! Where a finished run's report goes: the summary on stdout, the files asked
//! for (JSON, CSV, JUnit XML, HTML), and the exit code from the verdicts.
//! `run`, `master`, `demo` and `report` all end here.
//!
//! `--json -` puts the JSON result on stdout instead of in a file, for a
//! pod whose files die with it (the headless Job): stdout then carries the
//! JSON document and nothing else, so the summary and notes go to stderr,
//! and the JSON is written last, after every other line, so that in a log
//! that merges the two streams (`kubectl logs`) it comes after them all, one
//! block from a line `{` to a line `}`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::Exit;
use crate::report::run_report::{Outcome, RunReport};
use crate::report::{csv, html, json, junit, summary};

/// The report files to write.
#[derive(Debug, Clone, Default, Args)]
pub struct ReportFiles {
    /// Write the whole result as JSON (with encoded histograms) to FILE;
    /// `volley report` draws every other report from it again, or merges it.
    /// `-` writes it to stdout, last, and the summary to stderr instead.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv
    /// and PREFIX_exceptions.csv, as Locust writes them, and
    /// PREFIX_ttfb.csv (times to first byte) when the run has HTTP requests.
    #[arg(long, value_name = "PREFIX")]
    pub csv: Option<PathBuf>,
    /// With --csv: a row per request name each second in the history too,
    /// not only the Aggregated row (Locust's --csv-full-history).
    #[arg(long, requires = "csv")]
    pub csv_full_history: bool,
    /// Write the thresholds' verdicts as JUnit XML (one test case each).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML report (tables and charts, no network
    /// needed to view it) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Creates `path` and fills it with `fill`, naming the file in any error.
pub(super) fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> Result<(), Exit> {
    let mut f = File::create(path)
        .map(BufWriter::new)
        .with_context(|| format!("creating {}", path.display()))
        .map_err(Exit::CannotStart)?;
    fill(&mut f)
        .and_then(|()| f.flush().map_err(Into::into))
        .with_context(|| format!("writing {}", path.display()))
        .map_err(Exit::CannotStart)
}

/// The summary, then the run's notes and errors: what a person reads.
fn print_summary(out: &mut impl Write, report: &RunReport) {
    // A replay's first line says how far behind its timeline it fell, and
    // how much of its sources went (report/replay.rs).
    let (first, rest): (Vec<&String>, Vec<&String>) = report
        .notes
        .iter()
        .partition(|n| n.starts_with(crate::report::replay::FIRST));
    for n in first {
        let _ = writeln!(out, "{n}");
    }
    // Best effort: a closed terminal must not cost the files and the verdict.
    let _ = summary::write_summary(out, &report.stats, &report.verdicts, &report.invalid);
    for n in rest {
        let _ = writeln!(out, "note: {n}");
    }
    for e in &report.errors {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = out.flush();
}

/// Prints the summary, writes the files, and returns the exit code: 0 when
/// every threshold passed, 1 when one failed, 3 when the run broke.
pub fn write(report: &RunReport, files: &ReportFiles) -> Result<Exit, Exit> {
    let stats = &report.stats;
    // `--json -`: stdout is the JSON document's alone.
    let json_to_stdout = files.json.as_deref() == Some(Path::new("-"));
    if json_to_stdout {
        print_summary(&mut std::io::stderr().lock(), report);
    } else {
        print_summary(&mut std::io::stdout().lock(), report);
    }
    if let Some(path) = files.json.as_ref().filter(|_| !json_to_stdout) {
        write_file(path, |f| {
            serde_json::to_writer_pretty(f, &json::result(report)).map_err(Into::into)
        })?;
    }
    if let Some(prefix) = &files.csv {
        let kinds: Vec<&str> = report.kinds.iter().map(String::as_str).collect();
        let path = |suffix: &str| PathBuf::from(format!("{}_{suffix}.csv", prefix.display()));
        let methods = &report.methods;
        write_file(&path("stats"), |f| {
            csv::write_stats(f, stats, &kinds, methods).map_err(Into::into)
        })?;
        write_file(&path("stats_history"), |f| {
            csv::write_history(
                f,
                stats,
                &kinds,
                methods,
                report.started_unix_ms / 1000,
                files.csv_full_history,
            )
            .map_err(Into::into)
        })?;
        write_file(&path("failures"), |f| {
            csv::write_failures(f, stats, methods, report.started_unix_ms).map_err(Into::into)
        })?;
        write_file(&path("exceptions"), |f| {
            csv::write_exceptions(f, stats).map_err(Into::into)
        })?;
        if stats.tail.ttfb > 0 {
            write_file(&path("ttfb"), |f| {
                csv::write_ttfb(f, stats, &kinds, methods).map_err(Into::into)
            })?;
        }
    }
    if let Some(path) = &files.junit {
        write_file(path, |f| {
            junit::write(
                f,
                &report.config.scenario,
                stats.elapsed_secs(),
                &report.verdicts,
                &report.invalid,
            )
            .map_err(Into::into)
        })?;
    }
    if let Some(path) = &files.html {
        write_file(path, |f| {
            f.write_all(html::render(report).as_bytes())
                .map_err(Into::into)
        })?;
    }
    let failed: Vec<_> = report.verdicts.iter().filter(|v| !v.passed).collect();
    for v in &failed {
        eprintln!(
            "threshold failed: {} (observed {})",
            v.threshold, v.observed
        );
    }
    for e in &report.errors {
        eprintln!("the run broke: {e}");
    }
    for why in &report.invalid {
        eprintln!("INVALID: {why}");
    }
    // Last, after every stderr line, so that where a log interleaves stdout
    // and stderr those lines come before the JSON, not inside it.
    if json_to_stdout {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &json::result(report))
            .map_err(anyhow::Error::from)
            .and_then(|()| writeln!(out).and_then(|()| out.flush()).map_err(Into::into))
            .context("writing the JSON result to stdout (--json -)")
            .map_err(Exit::CannotStart)?;
    }
    Ok(match report.outcome() {
        Outcome::Broken => Exit::Broken,
        Outcome::Invalid => Exit::Invalid,
        Outcome::Failed => Exit::Failed,
        Outcome::Passed => Exit::Passed,
    })
}
