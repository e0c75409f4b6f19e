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

/// Writes `count` rows under a header, columns aligned (the first `left`
/// to the left, as text; the others to the right, as numbers); a rule above
/// the last row when `rule_before_last`. Rows are made twice (once to
/// measure, once to write) rather than held: a result of 200,000 names
/// would hold some 90 MB of cells.
fn write_table(
    out: &mut impl Write,
    header: &[&str],
    left: usize,
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
                if i < left {
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

/// Under the requests table, each request answered over more than one
/// protocol (`version = "auto"` moving to HTTP/3, or users whose
/// connections differ) with its count per protocol; nothing when every
/// name kept to one, so such a run's `proto` column says it all.
fn write_moved(out: &mut impl Write, run: &RunStats) -> io::Result<()> {
    let mut moved = run
        .names
        .iter()
        .zip(&run.totals)
        .take(run.request_names())
        .filter(|(_, n)| n.protocols.mixed())
        .peekable();
    if moved.peek().is_none() {
        return Ok(());
    }
    writeln!(out, "\nanswered over more than one protocol:")?;
    for (name, n) in moved {
        writeln!(out, "  {name}: {}", n.protocols.breakdown())?;
    }
    Ok(())
}

/// Writes the summary: one row per request name and a total row (with the
/// protocols that answered, when counted); flows (iterations, failed
/// iterations, journey latency) in a table of their own; the names answered
/// over more than one protocol; failures by reason, open-model late/missed/waited starts, abandoned
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
    // Which protocol answered, only where some request counted one: a
    // result from before volley counted them reads as it did.
    let proto = !total.protocols.is_empty();
    let mut header = columns(["name", "requests", "failures", "rps"]);
    if proto {
        header.insert(1, "proto");
    }
    write_table(
        out,
        &header,
        1 + usize::from(proto),
        requests + 1,
        |i| {
            let (name, n) = match (run.names.get(i), run.totals.get(i)) {
                (Some(name), Some(n)) if i < requests => (name.as_str(), n),
                _ => ("total", &total),
            };
            let mut r = row(name, n, run);
            if proto {
                r.insert(1, n.protocols.short());
            }
            r
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
            1,
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
            1,
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
            1,
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
    write_moved(out, run)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Latency, NameSnapshot, Protocol, Snapshot, StatId, histogram};

    /// The summary of a run whose names answered `counts` per protocol, 10
    /// requests each.
    fn summary(counts: &[(&str, &[(Protocol, u64)])]) -> String {
        let mut run = RunStats::new(counts.iter().map(|c| c.0.to_owned()).collect::<Vec<_>>());
        let mut snap = Snapshot {
            at_ms: 1000,
            interval_ms: 1000,
            ..Snapshot::default()
        };
        for (i, (_, protocols)) in counts.iter().enumerate() {
            let mut n = NameSnapshot::<Latency>::empty(StatId(i as u32));
            for v in 1..=10 {
                histogram::record(&mut n.hist, 1000 * v);
            }
            n.requests = 10;
            for &(p, c) in *protocols {
                n.protocols.set(p, c);
            }
            snap.names.push(n);
        }
        run.apply(0, &snap);
        run.finish();
        let mut out = Vec::new();
        write_summary(&mut out, &run, &[], &[]).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The table row that starts with `name`, its cells.
    fn cells<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row {name}: {text}"));
        line.split_whitespace().collect()
    }

    #[test]
    fn one_protocol_reads_clean() {
        let text = summary(&[
            ("health", &[(Protocol::Http3, 10)]),
            ("ready", &[(Protocol::Http3, 10)]),
        ]);
        assert_eq!(cells(&text, "name")[..3], ["name", "proto", "requests"]);
        assert_eq!(cells(&text, "health")[..3], ["health", "h3", "10"]);
        assert_eq!(cells(&text, "total")[..3], ["total", "h3", "20"]);
        assert!(!text.contains("more than one protocol"), "{text}");
    }

    #[test]
    fn a_name_that_moved_is_said_under_the_table() {
        // Two requests never connected: counted under no protocol.
        let text = summary(&[
            ("GET /", &[(Protocol::Http2, 1), (Protocol::Http3, 7)]),
            ("health", &[(Protocol::Http1, 10)]),
        ]);
        assert_eq!(cells(&text, "GET")[..4], ["GET", "/", "h2+h3", "10"]);
        assert_eq!(cells(&text, "health")[..3], ["health", "h1", "10"]);
        assert_eq!(cells(&text, "total")[..3], ["total", "h1+h2+h3", "20"]);
        // The name column, then the protocol's, both to the left.
        let header = text.lines().next().unwrap();
        let row = text.lines().find(|l| l.starts_with("health")).unwrap();
        assert_eq!(header.find("proto"), row.find("h1"), "{text}");
        let under = text
            .split("\nanswered over more than one protocol:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("no line for the moved name: {text}"));
        assert_eq!(under.lines().next(), Some("  GET /: HTTP/2 1, HTTP/3 7"));
        // Only the name that moved.
        assert!(!under.contains("health:"), "{text}");
    }

    #[test]
    fn no_protocol_counted_leaves_the_table_as_it_was() {
        let text = summary(&[("health", &[]), ("ready", &[])]);
        assert_eq!(cells(&text, "name")[..2], ["name", "requests"]);
        assert_eq!(cells(&text, "health")[..2], ["health", "10"]);
        assert!(!text.contains("proto"), "{text}");
    }
}
