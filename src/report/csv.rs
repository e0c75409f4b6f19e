//! CSV files with the columns Locust's users know: PREFIX_stats.csv,
//! PREFIX_stats_history.csv and PREFIX_failures.csv. Times in milliseconds.

use std::io::Write;

use crate::stats::histogram::quantile;
use crate::stats::{NameSnapshot, RunStats};

const PCTS: [f64; 11] = [
    0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];
const PCT_HEADERS: [&str; 11] = [
    "50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%",
];

fn ms(us: f64) -> String {
    format!("{:.3}", us / 1000.0)
}

fn stats_row(kind: &str, name: &str, n: &NameSnapshot, run: &RunStats) -> Vec<String> {
    let h = &n.hist;
    let secs = run.measured_secs().max(1e-9);
    let mut r = vec![
        kind.to_owned(),
        name.to_owned(),
        n.requests.to_string(),
        n.failures.to_string(),
        ms(quantile(h, 0.5) as f64),
        ms(if h.is_empty() { 0.0 } else { h.mean() }),
        ms(if h.is_empty() { 0.0 } else { h.min() as f64 }),
        ms(if h.is_empty() { 0.0 } else { h.max() as f64 }),
        format!(
            "{:.1}",
            if n.requests > 0 {
                n.bytes_received as f64 / n.requests as f64
            } else {
                0.0
            }
        ),
        format!("{:.3}", n.requests as f64 / secs),
        format!("{:.3}", n.failures as f64 / secs),
    ];
    r.extend(PCTS.iter().map(|q| ms(quantile(h, *q) as f64)));
    r
}

/// Writes PREFIX_stats.csv. `kinds[i]` is the Type column of name i.
pub fn write_stats(out: impl Write, run: &RunStats, kinds: &[&str]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
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
    for (i, (name, n)) in run.names.iter().zip(&run.totals).enumerate() {
        w.write_record(stats_row(kinds.get(i).copied().unwrap_or(""), name, n, run))?;
    }
    w.write_record(stats_row("", "Aggregated", &run.total(), run))?;
    w.flush()?;
    Ok(())
}

/// Writes PREFIX_stats_history.csv: one row per second and name, and an
/// Aggregated row per second. Percentiles the series does not keep are N/A.
pub fn write_history(
    out: impl Write,
    run: &RunStats,
    kinds: &[&str],
    started_unix_s: u64,
) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec![
        "Timestamp",
        "User Count",
        "Type",
        "Name",
        "Requests/s",
        "Failures/s",
    ];
    header.extend(PCT_HEADERS);
    header.extend(["Total Request Count", "Total Failure Count"]);
    w.write_record(&header)?;
    let (mut total_req, mut total_fail) = (0u64, 0u64);
    for p in &run.series.points {
        let pct = |l: &crate::stats::series::Percentiles| -> Vec<String> {
            PCTS.iter()
                .map(|q| match *q {
                    0.5 => ms(l.p50 as f64),
                    0.9 => ms(l.p90 as f64),
                    0.95 => ms(l.p95 as f64),
                    0.99 => ms(l.p99 as f64),
                    1.0 => ms(l.max as f64),
                    _ => "N/A".into(),
                })
                .collect()
        };
        let step = p.step.max(1) as f64;
        for n in &p.names {
            let mut r = vec![
                (started_unix_s + p.t).to_string(),
                p.users.to_string(),
                kinds.get(n.name as usize).copied().unwrap_or("").to_owned(),
                run.names.get(n.name as usize).cloned().unwrap_or_default(),
                format!("{:.3}", n.requests as f64 / step),
                format!("{:.3}", n.failures as f64 / step),
            ];
            r.extend(pct(&n.latency));
            r.extend(["".into(), "".into()]);
            w.write_record(r)?;
        }
        total_req += p.requests;
        total_fail += p.failures;
        let mut r = vec![
            (started_unix_s + p.t).to_string(),
            p.users.to_string(),
            String::new(),
            "Aggregated".into(),
            format!("{:.3}", p.rps()),
            format!("{:.3}", p.fps()),
        ];
        r.extend(pct(&p.latency));
        r.extend([total_req.to_string(), total_fail.to_string()]);
        w.write_record(r)?;
    }
    w.flush()?;
    Ok(())
}

/// Writes PREFIX_failures.csv. `methods[i]` is the Method column of name i.
pub fn write_failures(out: impl Write, run: &RunStats, methods: &[String]) -> csv::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(["Method", "Name", "Error", "Occurrences"])?;
    for (i, (name, n)) in run.names.iter().zip(&run.totals).enumerate() {
        for f in &n.failure_counts {
            w.write_record([
                methods.get(i).cloned().unwrap_or_default(),
                name.clone(),
                format!("{}: {}", f.kind.as_str(), f.reason),
                f.count.to_string(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}
