//! The end-of-run summary table and the periodic status line, written to any
//! `Write` so that tests can read them.

use std::io::{self, Write};

use crate::stats::{NameTotals, RunStats};

use super::format_micros;
use crate::stats::threshold::Verdict;

/// The quantiles every table shows (summary, HTML).
pub(crate) const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

fn row(name: &str, n: &NameTotals, run: &RunStats) -> Vec<String> {
    let h = &n.hist;
    let mut r = vec![
        name.to_owned(),
        n.requests.to_string(),
        format!(
            "{} ({:.2}%)",
            n.failures,
            if n.requests > 0 {
                n.failures as f64 * 100.0 / n.requests as f64
            } else {
                0.0
            }
        ),
        format!("{:.1}", run.rps(n)),
        if h.is_empty() {
            "-".into()
        } else {
            format_micros(h.mean())
        },
    ];
    for (_, q) in QUANTILES {
        r.push(if h.is_empty() {
            "-".into()
        } else {
            format_micros(h.quantile(q) as f64)
        });
    }
    r.push(if h.is_empty() {
        "-".into()
    } else {
        format_micros(h.max() as f64)
    });
    r
}

/// Writes `count` rows under a header, columns aligned; a rule above the
/// last row when `rule_before_last`. Rows are made twice (once to measure,
/// once to write) rather than held: a result of 200,000 names would hold
/// some 90 MB of cells.
fn write_table(
    out: &mut impl Write,
    header: &[&str],
    count: usize,
    row: impl Fn(usize) -> Vec<String>,
    rule_before_last: bool,
) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for i in 0..count {
        for (w, cell) in widths.iter_mut().zip(row(i)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let w = widths.get(i).copied().unwrap_or(0);
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(
        out,
        "{}",
        line(&header.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    )?;
    let rule: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
    for i in 0..count {
        if rule_before_last && i + 1 == count {
            writeln!(out, "{}", "-".repeat(rule))?;
        }
        writeln!(out, "{}", line(&row(i)))?;
    }
    Ok(())
}

/// Writes the summary: one row per request name and a total row; flows
/// (iterations, failed iterations, journey latency) in a table of their own;
/// failures by reason, open-model late/missed/waited starts, abandoned
/// requests, the thresholds' verdicts, and why the run is INVALID if it is.
pub fn write_summary(
    out: &mut impl Write,
    run: &RunStats,
    verdicts: &[Verdict],
    invalid: &[String],
) -> io::Result<()> {
    let columns = |first: [&'static str; 4]| {
        let mut h: Vec<&str> = first.to_vec();
        h.push("mean");
        h.extend(QUANTILES.iter().map(|(n, _)| *n));
        h.push("max");
        h
    };
    let requests = run.request_names();
    let total = run.total();
    write_table(
        out,
        &columns(["name", "requests", "failures", "rps"]),
        requests + 1,
        |i| match (run.names.get(i), run.totals.get(i)) {
            (Some(name), Some(n)) if i < requests => row(name, n, run),
            _ => row("total", &total, run),
        },
        true,
    )?;
    let group = |range: std::ops::Range<usize>| {
        let start = range.start;
        (range.len(), move |i: usize| {
            let i = start + i;
            match (run.names.get(i), run.totals.get(i)) {
                (Some(name), Some(n)) => row(name, n, run),
                _ => Vec::new(),
            }
        })
    };
    if run.tail.flows > 0 {
        writeln!(out)?;
        let (count, row) = group(run.flow_names());
        write_table(
            out,
            &columns(["flow", "iterations", "failed", "per s"]),
            count,
            row,
            false,
        )?;
    }
    if run.tail.streams > 0 {
        // sent: each message sent (latency: its wait for a place in the send queue);
        // first: each call's first answer; msg: each answer.
        writeln!(out)?;
        let (count, row) = group(run.stream_names());
        write_table(
            out,
            &columns(["stream", "messages", "failed", "per s"]),
            count,
            row,
            false,
        )?;
    }
    if run.tail.ttfb > 0 {
        // From each HTTP request's start to the first byte of its answer's body.
        writeln!(out)?;
        let (count, row) = group(run.ttfb_names());
        write_table(
            out,
            &columns(["first byte", "answers", "failed", "per s"]),
            count,
            row,
            false,
        )?;
    }
    if run.reset_at_ms > 0 {
        // Cleared from the console: the numbers above are since then.
        writeln!(
            out,
            "duration {:.1}s (statistics since the reset at {:.1}s: {:.1}s)",
            run.elapsed_secs(),
            run.reset_at_ms as f64 / 1000.0,
            run.measured_secs()
        )?;
    } else {
        writeln!(out, "duration {:.1}s", run.elapsed_secs())?;
    }
    let mut failures: Vec<(String, &str, u64, Option<&String>)> = Vec::new();
    for (name, n) in run.names.iter().zip(&run.totals) {
        for f in &n.failure_counts {
            failures.push((name.clone(), &f.reason, f.count, f.last_detail.as_ref()));
        }
    }
    if !failures.is_empty() {
        failures.sort_by_key(|f| std::cmp::Reverse(f.2));
        writeln!(out, "\nfailures:")?;
        for (name, reason, count, detail) in failures {
            match detail {
                Some(d) => writeln!(out, "  {count:>8}  {name}: {reason} (last: {d})")?,
                None => writeln!(out, "  {count:>8}  {name}: {reason}")?,
            }
        }
    }
    if run.late_starts > 0 || run.missed_starts > 0 {
        writeln!(
            out,
            "\nthe arrival rate was not kept: {} starts left more than {} ms after they could, {} were missed (max_in_flight arrivals already waiting)",
            run.late_starts,
            crate::stats::LATE_AFTER_MS,
            run.missed_starts
        )?;
    }
    if let Some(lag) = run.start_lag.as_ref().filter(|h| !h.is_empty()) {
        writeln!(
            out,
            "\nstart lag (from each arrival's intended time to when it left, {} starts): p50 {}, p99 {}, p99.9 {}, max {}",
            lag.len(),
            format_micros(lag.quantile(0.5) as f64),
            format_micros(lag.quantile(0.99) as f64),
            format_micros(lag.quantile(0.999) as f64),
            format_micros(lag.max() as f64)
        )?;
    }
    if run.waited_starts > 0 {
        writeln!(
            out,
            "\n{} arrivals found every connection busy and waited for one; their wait is in their latency (from the intended start)",
            run.waited_starts
        )?;
    }
    if run.abandoned > 0 {
        writeln!(
            out,
            "\n{} requests were in flight when load stopped and were abandoned unanswered ({} sent in all)",
            run.abandoned,
            run.total().requests.saturating_add(run.abandoned)
        )?;
    }
    if run.retries > 0 {
        writeln!(
            out,
            "\n{} requests were sent again on a new connection: the server had closed the kept-alive one before answering (not counted as failures)",
            run.retries
        )?;
    }
    if run.cookies_dropped > 0 {
        writeln!(
            out,
            "\n{} cookies were dropped from the users' jars: longer than 4 KiB, or the least recently set over 50 for one domain or 3,000 for one user (as browsers bound them)",
            run.cookies_dropped
        )?;
    }
    if !verdicts.is_empty() {
        writeln!(out, "\nthresholds:")?;
        for v in verdicts {
            writeln!(
                out,
                "  {} {}  (observed {})",
                if v.passed { "PASS" } else { "FAIL" },
                v.threshold,
                v.observed
            )?;
        }
    }
    if !invalid.is_empty() {
        writeln!(
            out,
            "\nINVALID: the generator, not the target, limited this measurement:"
        )?;
        for why in invalid {
            writeln!(out, "  {why}")?;
        }
    }
    Ok(())
}
