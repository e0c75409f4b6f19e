//! CSV files as Locust 2.x writes them, so that tooling made for Locust's
//! files reads volley's unchanged: PREFIX_stats.csv,
//! PREFIX_stats_history.csv, PREFIX_failures.csv and PREFIX_exceptions.csv,
//! with Locust's columns, order and number formats (checked against files
//! real Locust wrote: tests/integration/locust_csv.rs).
//!
//! Where volley cannot mean what Locust means, it says so here and in
//! docs/scenario.md ("CSV files"):
//! - `Average Content Size` is the bytes received per request, the answer's
//!   head included: volley counts what came over the wire.
//! - The history keeps the percentiles volley records per second (50%, 90%,
//!   95%, 99%, 100%); the others are `N/A`, as Locust writes them where it
//!   has none. A name's own rows (`--csv-full-history`) carry its totals so
//!   far (`Total Median Response Time` …) when the run kept them, which it
//!   does when `--csv-full-history` is given to the run itself; drawn again
//!   by `volley report` from a run without it, they are `N/A`.
//! - Errors are volley's `kind: reason` (`status: HTTP 500 Internal Server
//!   Error`), not a Python exception's repr.
//! - The history's percentiles are each second's; Locust's cover the last
//!   10 seconds (a window its response-time cache keeps). volley's result
//!   keeps a second's percentiles, not its histogram, so it cannot merge
//!   ten of them exactly; the stats file's percentiles are the run's, as
//!   Locust's are.
//! - Minima and maxima are milliseconds with volley's microsecond
//!   resolution (`7.949`), Locust's with its own timer's (`7.949184000608511`).
//! - `_exceptions.csv` lists volley's own failures (kind `internal`, a
//!   caught panic), the nearest thing to an exception in a user's code.
//! - Times to first byte (`ttfb:NAME` rows) are no Locust row: they go to
//!   a file of their own, PREFIX_ttfb.csv, written only when the run has
//!   HTTP requests, and Locust's four files stay as Locust writes them.

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use crate::stats::rows::TTFB_PREFIX;
use crate::stats::series::{Cumulative, Percentiles, Point};
use crate::stats::{FailureKind, Latencies, NameTotals, RunStats};

const PCTS: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];
const PCT_HEADERS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

/// Locust's current rate: the mean of the seconds from 12 to 2 before.
const RATE_WINDOW: (u64, u64) = (12, 2);

/// A CSV writer as Python's csv module makes one: records end with CR LF.
fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out)
}

/// Milliseconds as Locust writes a mean, a minimum or a maximum (a float).
fn ms(us: f64) -> String {
    let v = us / 1000.0;
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// Milliseconds as Locust writes a median or a percentile: a whole number,
/// rounded as Locust rounds the times it keeps (to 1 ms below 100 ms, to 10
/// below 1 s, to 100 below 10 s, to 1,000 above).
fn rounded_ms(us: u64) -> String {
    let v = us as f64 / 1000.0;
    let step = if v < 100.0 {
        1.0
    } else if v < 1000.0 {
        10.0
    } else if v < 10_000.0 {
        100.0
    } else {
        1000.0
    };
    format!("{}", ((v / step).round() * step) as u64)
}

/// A rate as Locust writes it in the stats (a float).
fn rate(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// The Type column of name `i`: the HTTP method, `grpc`, `flow` or
/// `stream` (Locust's request_type: the method for HTTP).
fn type_of(methods: &[String], kinds: &[&str], i: usize) -> String {
    match kinds.get(i).copied() {
        Some("gRPC") => "grpc".into(),
        Some("flow") => "flow".into(),
        Some("stream") => "stream".into(),
        _ => methods.get(i).cloned().unwrap_or_default(),
    }
}

/// Median, mean, min and max in milliseconds, as Locust writes them.
fn summary_ms(h: &Latencies) -> [String; 4] {
    let empty = h.is_empty();
    [
        rounded_ms(h.quantile(0.5)),
        ms(if empty { 0.0 } else { h.mean() }),
        ms(if empty { 0.0 } else { h.min() as f64 }),
        ms(if empty { 0.0 } else { h.max() as f64 }),
    ]
}

/// The stats file's percentile columns (`N/A` without samples).
fn percentiles_ms(h: &Latencies) -> impl Iterator<Item = String> + '_ {
    PCTS.iter().map(move |q| {
        if h.is_empty() {
            "N/A".to_string()
        } else {
            rounded_ms(h.quantile(*q))
        }
    })
}

fn stats_row(kind: &str, name: &str, n: &NameTotals, run: &RunStats) -> Vec<String> {
    let secs = run.measured_secs().max(1e-9);
    let mut r = vec![
        kind.to_owned(),
        name.to_owned(),
        n.requests.to_string(),
        n.failures.to_string(),
    ];
    r.extend(summary_ms(&n.hist));
    r.extend([
        rate(if n.requests > 0 {
            n.bytes_received as f64 / n.requests as f64
        } else {
            0.0
        }),
        rate(n.requests as f64 / secs),
        rate(n.failures as f64 / secs),
    ]);
    r.extend(percentiles_ms(&n.hist));
    r
}

/// Writes PREFIX_stats.csv: a row per name, sorted by name then type as
/// Locust sorts them, then the Aggregated row.
pub fn write_stats(
    out: impl Write,
    run: &RunStats,
    kinds: &[&str],
    methods: &[String],
) -> csv::Result<()> {
    let mut w = writer(out);
    let mut header = vec![
        "Type",
        "Name",
        "Request Count",
        "Failure Count",
        "Median Response Time",
        "Average Response Time",
        "Min Response Time",
        "Max Response Time",
        "Average Content Size",
        "Requests/s",
        "Failures/s",
    ];
    header.extend(PCT_HEADERS);
    w.write_record(&header)?;
    let mut rows: Vec<(String, &str, usize)> = (0..run.ttfb_names().start)
        .map(|i| (type_of(methods, kinds, i), run.names[i].as_str(), i))
        .collect();
    rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    for (kind, name, i) in rows {
        w.write_record(stats_row(&kind, name, &run.totals[i], run))?;
    }
    w.write_record(stats_row("", "Aggregated", &run.total(), run))?;
    w.flush()?;
    Ok(())
}

/// Writes PREFIX_ttfb.csv: per HTTP request, sorted by name then type as
/// the stats file is, its time to first byte (from its start to the first
/// byte of its answer's body) in milliseconds: count, mean, min, max and
/// the stats file's percentiles.
pub fn write_ttfb(
    out: impl Write,
    run: &RunStats,
    kinds: &[&str],
    methods: &[String],
) -> csv::Result<()> {
    let mut w = writer(out);
    let mut header = vec![
        "Type",
        "Name",
        "Answer Count",
        "Median Time to First Byte",
        "Average Time to First Byte",
        "Min Time to First Byte",
        "Max Time to First Byte",
    ];
    header.extend(PCT_HEADERS);
    w.write_record(&header)?;
    let mut rows: Vec<(String, &str, &NameTotals)> = Vec::new();
    for i in run.ttfb_names() {
        let (Some(row), Some(n)) = (run.names.get(i), run.totals.get(i)) else {
            continue;
        };
        let name = row.strip_prefix(TTFB_PREFIX).unwrap_or(row);
        rows.push((type_of(methods, kinds, i), name, n));
    }
    rows.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    for (kind, name, n) in rows {
        let mut r = vec![kind, name.to_owned(), n.requests.to_string()];
        r.extend(summary_ms(&n.hist));
        r.extend(percentiles_ms(&n.hist));
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(())
}

/// Locust's rate at second `t`: the mean count of the seconds in its
/// window, over the points of the series.
fn current_rate(points: &[Point], t: u64, count: impl Fn(&Point) -> u64) -> f64 {
    let from = t.saturating_sub(RATE_WINDOW.0);
    let to = t.saturating_sub(RATE_WINDOW.1);
    if to <= from {
        return 0.0;
    }
    let sum: u64 = points
        .iter()
        .filter(|p| p.t >= from && p.t < to)
        .map(&count)
        .sum();
    sum as f64 / (to - from) as f64
}

fn history_pcts(l: Option<&Percentiles>) -> Vec<String> {
    PCTS.iter()
        .map(|q| match (l, *q) {
            (Some(l), 0.5) => rounded_ms(l.p50),
            (Some(l), 0.9) => rounded_ms(l.p90),
            (Some(l), 0.95) => rounded_ms(l.p95),
            (Some(l), 0.99) => rounded_ms(l.p99),
            (Some(l), 1.0) => rounded_ms(l.max),
            _ => "N/A".into(),
        })
        .collect()
}

/// Writes PREFIX_stats_history.csv: Locust's 24 columns, a first row at the
/// start, then an Aggregated row a second (and with `full`, as
/// `--csv-full-history`, a row per name a second before it). Rates are
/// Locust's current rate (the mean of 10 earlier seconds); the totals are
/// the run's so far.
pub fn write_history(
    out: impl Write,
    run: &RunStats,
    kinds: &[&str],
    methods: &[String],
    started_unix_s: u64,
    full: bool,
) -> csv::Result<()> {
    let mut w = writer(out);
    let mut header = vec![
        "Timestamp",
        "User Count",
        "Type",
        "Name",
        "Requests/s",
        "Failures/s",
    ];
    header.extend(PCT_HEADERS);
    header.extend([
        "Total Request Count",
        "Total Failure Count",
        "Total Median Response Time",
        "Total Average Response Time",
        "Total Min Response Time",
        "Total Max Response Time",
        "Total Average Content Size",
    ]);
    w.write_record(&header)?;
    let points = &run.series.points;
    let first = points.first().map_or(0, |p| p.t.saturating_sub(1));
    // The start, before anything was measured, as Locust writes it.
    let mut r = vec![
        started_unix_s.saturating_add(first).to_string(),
        "0".into(),
        String::new(),
        "Aggregated".into(),
        "0.000000".into(),
        "0.000000".into(),
    ];
    r.extend(history_pcts(None));
    r.extend(["0", "0", "0", "0.0", "0", "0", "0"].map(String::from));
    w.write_record(r)?;
    let mut per_name: Vec<(u64, u64)> = vec![(0, 0); run.names.len()];
    let (mut total_req, mut total_fail) = (0u64, 0u64);
    let mut users_before = 0u64;
    for (k, p) in points.iter().enumerate() {
        let at = started_unix_s.saturating_add(p.t).to_string();
        // The last second is recorded as the users stop (some or all of
        // them may have stopped when it is sealed); Locust's last row still
        // shows them.
        let users = if k + 1 == points.len() {
            p.users.max(users_before)
        } else {
            p.users
        };
        users_before = p.users;
        // A second's rows per name, in Locust's order: by name, then type.
        let mut named: Vec<Vec<String>> = Vec::new();
        for n in &p.names {
            let i = n.name.index();
            if i >= run.ttfb_names().start {
                continue;
            }
            let Some(c) = per_name.get_mut(i) else {
                continue;
            };
            c.0 = c.0.saturating_add(n.requests);
            c.1 = c.1.saturating_add(n.failures);
            if !full {
                continue;
            }
            let of = |q: &Point| {
                q.names
                    .iter()
                    .find(|x| x.name == n.name)
                    .map_or(0, |x| x.requests)
            };
            let failed = |q: &Point| {
                q.names
                    .iter()
                    .find(|x| x.name == n.name)
                    .map_or(0, |x| x.failures)
            };
            let mut r = vec![
                at.clone(),
                users.to_string(),
                type_of(methods, kinds, i),
                run.names.get(i).cloned().unwrap_or_default(),
                format!("{:.6}", current_rate(points, p.t, of)),
                format!("{:.6}", current_rate(points, p.t, failed)),
            ];
            r.extend(history_pcts(Some(&n.latency)));
            r.extend([c.0.to_string(), c.1.to_string()]);
            r.extend(totals(n.cumulative.as_deref()));
            named.push(r);
        }
        named.sort_by(|a, b| (&a[3], &a[2]).cmp(&(&b[3], &b[2])));
        for r in named {
            w.write_record(r)?;
        }
        total_req = total_req.saturating_add(p.requests);
        total_fail = total_fail.saturating_add(p.failures);
        let mut r = vec![
            at,
            users.to_string(),
            String::new(),
            "Aggregated".into(),
            format!("{:.6}", current_rate(points, p.t, |q| q.requests)),
            format!("{:.6}", current_rate(points, p.t, |q| q.failures)),
        ];
        r.extend(history_pcts(Some(&p.latency)));
        r.extend([total_req.to_string(), total_fail.to_string()]);
        r.extend(totals(p.cumulative.as_ref()));
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(())
}

/// The history's five `Total …` columns after the counts: median, mean,
/// min, max and average content size of the run so far (`N/A` where the
/// run kept none: a merged result, or a name's row without
/// `--csv-full-history` during the run).
fn totals(c: Option<&Cumulative>) -> [String; 5] {
    match c {
        Some(c) => [
            rounded_ms(c.p50),
            ms(c.mean_us),
            ms(c.min as f64),
            ms(c.max as f64),
            rate(c.bytes_per_request),
        ],
        None => ["N/A", "N/A", "N/A", "N/A", "N/A"].map(String::from),
    }
}

/// A time since the start as Locust writes First and Last Seen.
fn seen(started_unix_ms: u64, at_ms: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(started_unix_ms.saturating_add(at_ms));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Writes PREFIX_failures.csv, Locust's columns: Method, Name, Error,
/// Occurrences, First Seen, Last Seen (seen to the second of the report
/// that brought them).
pub fn write_failures(
    out: impl Write,
    run: &RunStats,
    methods: &[String],
    started_unix_ms: u64,
) -> csv::Result<()> {
    let mut w = writer(out);
    w.write_record([
        "Method",
        "Name",
        "Error",
        "Occurrences",
        "First Seen",
        "Last Seen",
    ])?;
    for (i, (name, n)) in run.names.iter().zip(&run.totals).enumerate() {
        for f in &n.failure_counts {
            let (first, last) = match f.seen_ms {
                Some((a, b)) => (seen(started_unix_ms, a), seen(started_unix_ms, b)),
                None => (String::new(), String::new()),
            };
            w.write_record([
                methods.get(i).cloned().unwrap_or_default(),
                name.clone(),
                format!("{}: {}", f.kind.as_str(), f.reason),
                f.count.to_string(),
                first,
                last,
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// Writes PREFIX_exceptions.csv, Locust's columns: volley's own failures
/// (kind `internal`: a panic it caught), with the panic's message.
pub fn write_exceptions(out: impl Write, run: &RunStats) -> csv::Result<()> {
    let mut w = writer(out);
    w.write_record(["Count", "Message", "Traceback", "Nodes"])?;
    for n in &run.totals {
        for f in n
            .failure_counts
            .iter()
            .filter(|f| f.kind == FailureKind::Internal)
        {
            w.write_record([
                f.count.to_string(),
                f.reason.clone(),
                f.last_detail.clone().unwrap_or_default(),
                "local".into(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_locust_writes_them() {
        assert_eq!(rounded_ms(45_600), "46");
        assert_eq!(rounded_ms(134_000), "130");
        assert_eq!(rounded_ms(135_000), "140");
        assert_eq!(rounded_ms(1_260_000), "1300");
        assert_eq!(rounded_ms(12_345_000), "12000");
        assert_eq!(rounded_ms(200), "0");
        assert_eq!(ms(1_000_000.0), "1000.0");
        assert_eq!(ms(45_956.5), "45.9565");
        assert_eq!(rate(4.0), "4.0");
    }

    #[test]
    fn the_current_rate_is_the_mean_of_ten_earlier_seconds() {
        let points: Vec<Point> = (1..=20u64)
            .map(|t| Point {
                t,
                requests: 10 * t,
                ..Point::default()
            })
            .collect();
        // At 20 s: seconds 8 to 17, 80 + ... + 170 over 10.
        assert_eq!(current_rate(&points, 20, |p| p.requests), 125.0);
        assert_eq!(current_rate(&points, 2, |p| p.requests), 0.0);
    }
}
