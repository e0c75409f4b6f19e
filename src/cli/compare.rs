//! `volley compare`: a baseline's results against a candidate's, per
//! request name, step, flow and stream row, from their exact histograms;
//! a verdict per name (is the candidate worse beyond noise?) and the exit
//! code: 0 no regression, 1 a regression, 2 bad input.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::Args;

use super::Exit;
use crate::report::compare::{self, Comparison, Judged, Settings, Side};
use crate::report::merge;

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// BASELINE.json CANDIDATE.json, results written by `--json`. With
    /// --vs, every file here is the baseline's (repeats merged exactly).
    #[arg(value_name = "RESULT.json", required = true)]
    pub results: Vec<PathBuf>,
    /// The candidate's results (one or more, merged exactly); the files
    /// before --vs are then the baseline's: `a1.json a2.json --vs b1.json
    /// b2.json`.
    #[arg(long, value_name = "RESULT.json", num_args = 1..)]
    pub vs: Vec<PathBuf>,
    #[command(flatten)]
    pub rule: RuleArgs,
    #[command(flatten)]
    pub files: CompareFiles,
}

/// How a change is judged.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Statistics")]
pub struct RuleArgs {
    /// The practical bound: a percentile counts as worse (or better) only
    /// when its whole interval lies beyond this relative change.
    #[arg(long, value_name = "PERCENT", default_value = "5%", value_parser = parse_percent)]
    pub min_change: f64,
    /// The practical bound on the error rate, in percentage points.
    #[arg(long, value_name = "PERCENT", default_value = "0.1%", value_parser = parse_percent)]
    pub min_error_change: f64,
    /// 1 − the intervals' confidence: 0.05 gives 95% intervals.
    #[arg(long, value_name = "ALPHA", default_value_t = 0.05, value_parser = parse_alpha)]
    pub alpha: f64,
    /// The percentiles that decide (the others are shown): any of p50,
    /// p90, p95, p99, comma-separated. By default p50 and p90 when a side
    /// has one run (the tails' noise from run to run needs repeats to be
    /// seen), all four when both sides have several.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub percentiles: Option<Vec<Judged>>,
    /// A name with fewer latencies than this on either side is not judged
    /// ("not enough data").
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub min_samples: u64,
}

/// Where the comparison goes besides the terminal's table.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Outputs")]
pub struct CompareFiles {
    /// Write Markdown (a pull request's comment) to FILE, `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Write every figure and interval as JSON to FILE, `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write JUnit XML (a test case per name, a regression failed) to FILE,
    /// `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a self-contained HTML page (the distributions overlaid per
    /// name) to FILE, `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// "5%" or "5": five percent, as the fraction 0.05.
pub(super) fn parse_percent(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches('%').trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!(
            "{s:?} is not a percentage from 0% to 1000% (e.g. 5%)"
        )),
    }
}

fn parse_alpha(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number between 0 and 1 (e.g. 0.05)")),
    }
}

impl RuleArgs {
    fn settings(&self) -> Settings {
        let judged = self.percentiles.clone().map(|mut j| {
            j.sort_by_key(|j| j.label());
            j.dedup();
            j
        });
        Settings {
            alpha: self.alpha,
            min_change: self.min_change,
            min_error_change: self.min_error_change,
            judged,
            min_samples: self.min_samples,
            ..Settings::default()
        }
    }
}

/// The baseline's files and the candidate's, from the command line.
fn sides(args: &CompareArgs) -> Result<(&[PathBuf], &[PathBuf]), Exit> {
    if !args.vs.is_empty() {
        return Ok((&args.results, &args.vs));
    }
    match args.results.as_slice() {
        [base, cand] => Ok((std::slice::from_ref(base), std::slice::from_ref(cand))),
        other => Err(Exit::cannot_start(anyhow!(
            "give BASELINE.json CANDIDATE.json (got {} files), or several per side: A1.json A2.json --vs B1.json B2.json",
            other.len()
        ))),
    }
}

fn load(paths: &[PathBuf]) -> Result<Side, Exit> {
    let mut loaded = Vec::with_capacity(paths.len());
    for path in paths {
        let r = merge::load(path).map_err(Exit::cannot_start)?;
        loaded.push((path.display().to_string(), r));
    }
    Side::new(loaded).map_err(Exit::cannot_start)
}

fn is_stdout(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Writes `fill` to `path` (stdout for `-`), naming the file in any error.
fn write_to(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Exit> {
    let result = if is_stdout(path) {
        let mut out = std::io::stdout().lock();
        fill(&mut out).and_then(|()| out.flush())
    } else {
        File::create(path).and_then(|f| {
            let mut out = BufWriter::new(f);
            fill(&mut out).and_then(|()| out.flush())
        })
    };
    match result {
        // A reader that stops early (`| head`) is not an error.
        Err(e) if !(is_stdout(path) && e.kind() == std::io::ErrorKind::BrokenPipe) => {
            Err(Exit::cannot_start(
                anyhow::Error::from(e).context(format!("writing {}", path.display())),
            ))
        }
        _ => Ok(()),
    }
}

fn write_files(c: &Comparison, files: &CompareFiles, base: &Side, cand: &Side) -> Result<(), Exit> {
    if let Some(p) = &files.markdown {
        write_to(p, |mut out| compare::text::write_markdown(&mut out, c))?;
    }
    if let Some(p) = &files.json {
        write_to(p, |mut out| compare::files::write_json(&mut out, c))?;
    }
    if let Some(p) = &files.junit {
        write_to(p, |mut out| compare::files::write_junit(&mut out, c))?;
    }
    if let Some(p) = &files.html {
        let page = compare::html::render(c, base, cand);
        write_to(p, |out| out.write_all(page.as_bytes()))?;
    }
    Ok(())
}

pub fn compare(args: CompareArgs) -> Result<Exit, Exit> {
    let (base_paths, cand_paths) = sides(&args)?;
    let files = &args.files;
    let outputs = [&files.markdown, &files.json, &files.junit, &files.html];
    let to_stdout = outputs
        .iter()
        .filter(|p| p.as_deref().is_some_and(is_stdout))
        .count();
    if to_stdout > 1 {
        return Err(Exit::cannot_start(anyhow!(
            "only one of --markdown, --json, --junit and --html can be `-` (stdout)"
        )));
    }
    let base = load(base_paths)?;
    let cand = load(cand_paths)?;
    let c = compare::compare(&base, &cand, &args.rule.settings())
        .context("comparing the results")
        .map_err(Exit::CannotStart)?;
    // With a file on stdout, the table goes to stderr and stdout stays
    // that file alone.
    let table = if to_stdout == 1 {
        compare::text::write_table(&mut std::io::stderr().lock(), &c)
    } else {
        compare::text::write_table(&mut std::io::stdout().lock(), &c)
    };
    if let Err(e) = table
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(Exit::cannot_start(e));
    }
    write_files(&c, files, &base, &cand)?;
    if c.regressed() {
        for n in c
            .names
            .iter()
            .filter(|n| n.verdict == compare::Verdict::Regression)
        {
            eprintln!("regression: {}: {}", n.name, n.reasons.join("; "));
        }
        Ok(Exit::Failed)
    } else {
        Ok(Exit::Passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_alpha_parse() {
        assert_eq!(parse_percent("5%"), Ok(0.05));
        assert_eq!(parse_percent("5"), Ok(0.05));
        assert_eq!(parse_percent("0.1%"), Ok(0.001));
        assert!(parse_percent("-1%").is_err() && parse_percent("x").is_err());
        assert!(parse_percent("NaN").is_err());
        assert_eq!(parse_alpha("0.01"), Ok(0.01));
        assert!(parse_alpha("0").is_err() && parse_alpha("1").is_err());
    }
}
