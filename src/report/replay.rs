//! What a replay adds to a run's report: how much of the sources was sent,
//! the lines that were not requests, and, per name, the statuses the
//! target answered set against the ones the sources' server gave (a
//! request answered otherwise fails with a reason that names both,
//! `HTTP 500 Internal Server Error where the source had 200`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::scenario::replay::Replay;
use crate::stats::{FailureKind, RunStats};

/// The reason's tail that marks a status other than the source's
/// (engine/exec/http.rs writes it).
const DIFFERS: &str = " where the source had ";

/// How the note that a summary prints first begins.
pub const FIRST: &str = "replay: behind its timeline by ";

/// The replay's notes, in the order a reader wants them.
pub fn notes(replay: &Replay, stats: &RunStats) -> Vec<String> {
    let spec = &replay.spec;
    let index = &replay.index;
    let mut notes = Vec::new();
    let requests = stats.request_names();
    let sent: u64 = stats.totals.iter().take(requests).map(|t| t.requests).sum();
    let planned = index.requests.saturating_mul(u64::from(spec.loops));
    let pace = match spec.rate {
        Some(r) => format!("at {r} requests/s in order"),
        None if spec.speed == 1.0 => "on the sources' timeline".to_owned(),
        None => format!("on the sources' timeline at speed {}", spec.speed),
    };
    let sources: Vec<String> = spec
        .sources
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let lag = match stats.start_lag.as_ref().filter(|h| !h.is_empty()) {
        Some(h) => format!(
            "behind its timeline by p50 {}, p99 {}, max {}",
            super::format_micros(h.quantile(0.5) as f64),
            super::format_micros(h.quantile(0.99) as f64),
            super::format_micros(h.max() as f64)
        ),
        None => "behind its timeline by nothing measured (no request left)".to_owned(),
    };
    notes.push(format!(
        "replay: {lag}; {sent} of {planned} requests answered ({} per pass, {} pass{}) from {} {pace}, spanning {:.3} s; {} late starts, {} missed{}",
        index.requests,
        spec.loops,
        if spec.loops == 1 { "" } else { "es" },
        sources.join(", "),
        index.span.as_secs_f64(),
        stats.late_starts,
        stats.missed_starts,
        index
            .sessions
            .map(|s| format!("; {s} sessions"))
            .unwrap_or_default(),
    ));
    if index.bad > 0 {
        let first = index
            .first_bad
            .first()
            .map(|b| format!("; the first: {b}"))
            .unwrap_or_default();
        notes.push(format!(
            "replay: {} lines of the sources are not requests and were not sent{first}",
            index.bad
        ));
    }
    for (why, n) in &index.skipped {
        notes.push(format!("replay: {n} requests not sent: {}", why.describe()));
    }
    if !spec.compare_status {
        return notes;
    }
    let mut all_same = true;
    for (i, name) in stats.names.iter().enumerate().take(requests) {
        let (Some(t), Some(source)) = (stats.totals.get(i), index.statuses.get(i)) else {
            continue;
        };
        let mut differ: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &t.failure_counts {
            if f.kind == FailureKind::Status && f.reason.contains(DIFFERS) {
                *differ.entry(f.reason.as_str()).or_default() += f.count;
            }
        }
        if differ.is_empty() {
            continue;
        }
        all_same = false;
        let mut line = format!("replay statuses, {name}: the source had");
        for (s, n) in source {
            let _ = write!(line, " {s}×{n}");
        }
        let differing: u64 = differ.values().sum();
        let _ = write!(
            line,
            "; the target answered {} as the source",
            t.requests.saturating_sub(t.failures)
        );
        for (reason, n) in differ {
            let _ = write!(line, ", {reason} ×{n}");
        }
        let _ = write!(line, " ({differing} differ)");
        notes.push(line);
    }
    if all_same && sent > 0 {
        notes.push("replay statuses: every answer had the source's status".to_owned());
    }
    notes
}
