//! `volley report`: draws the reports of saved results again (HTML, CSV,
//! JUnit, JSON, the summary), or merges several results into one, exactly,
//! from their encoded histograms. Thresholds are evaluated again on what is
//! reported, with any given here added.

use std::path::PathBuf;

use clap::Args;

use super::Exit;
use super::outputs::{self, ReportFiles};
use crate::report::merge::{self, Align};
use crate::stats::threshold::Threshold;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files written by `--json` (one to draw again, several to merge).
    #[arg(value_name = "RESULT.json", required = true)]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub files: ReportFiles,
    /// Pass/fail rule, repeatable, added to the results' own: 'p99<250ms',
    /// 'error_rate<1%', 'NAME:p95<100ms'. A failed threshold makes the exit
    /// code 1.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// How merged results line up in time: `clock` adds runs that ran side
    /// by side second by second; `start` lays repeats of a run over each
    /// other from their starts.
    #[arg(long, value_enum, default_value = "clock")]
    pub align: Align,
}

pub fn report(args: ReportArgs) -> Result<Exit, Exit> {
    let mut loaded = Vec::with_capacity(args.results.len());
    for path in &args.results {
        let r = merge::load(path).map_err(Exit::cannot_start)?;
        loaded.push((path.display().to_string(), r));
    }
    let mut report = merge::merge(loaded, args.align).map_err(Exit::cannot_start)?;
    for t in &args.thresholds {
        let th = Threshold::parse(t)
            .map_err(|e| Exit::cannot_start(anyhow::anyhow!("--threshold {t:?}: {e}")))?;
        if let Some(n) = &th.name
            && !report.stats.names.contains(n)
        {
            return Err(Exit::cannot_start(anyhow::anyhow!(
                "--threshold {t:?}: the results have no request, step or flow named {n:?} (they have {})",
                report.stats.names.join(", ")
            )));
        }
        if !report.thresholds.iter().any(|u| u.text == th.text) {
            report.thresholds.push(th);
        }
    }
    report.evaluate();
    outputs::write(&report, &args.files)
}
