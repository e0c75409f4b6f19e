//! Where a finished run's report goes: the summary on stdout, the files asked
//! for (JSON, CSV, JUnit XML, HTML), and the exit code from the verdicts.
//! `run`, `master`, `demo` and `report` all end here.

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
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write PREFIX_stats.csv, PREFIX_stats_history.csv, PREFIX_failures.csv
    /// and PREFIX_exceptions.csv, as Locust writes them.
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

fn write_err(e: anyhow::Error) -> Exit {
    Exit {
        code: 2,
        error: Some(e),
    }
}

/// Creates `path` and fills it with `fill`, naming the file in any error.
fn write_file(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> Result<(), Exit> {
    let mut f = File::create(path)
        .map(BufWriter::new)
        .with_context(|| format!("creating {}", path.display()))
        .map_err(write_err)?;
    fill(&mut f)
        .and_then(|()| f.flush().map_err(Into::into))
        .with_context(|| format!("writing {}", path.display()))
        .map_err(write_err)
}

/// Prints the summary, writes the files, and returns the exit code: 0 when
/// every threshold passed, 1 when one failed, 3 when the run broke.
pub fn write(report: &RunReport, files: &ReportFiles) -> Result<i32, Exit> {
    let stats = &report.stats;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let _ = summary::write_summary(&mut out, stats, &report.verdicts, &report.invalid);
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    for e in &report.errors {
        let _ = writeln!(out, "error: {e}");
    }
    let _ = out.flush();
    if let Some(path) = &files.json {
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
    Ok(match report.outcome() {
        Outcome::Broken => super::EXIT_BROKEN,
        Outcome::Invalid => super::EXIT_INVALID,
        Outcome::Failed => super::EXIT_FAILED,
        Outcome::Passed => super::EXIT_PASSED,
    })
}
