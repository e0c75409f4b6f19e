//! The run's live statistics in Prometheus' text exposition format (0.0.4),
//! served by [`super::metrics_endpoint`] for `--metrics-addr`.
//!
//! Rendered from the same [`RunStats`] and [`Board`] that the console is
//! handed about four times a second, by one pure function, so a scrape
//! costs one string and never touches the merge.
//!
//! Choices a reader of the metrics should know:
//! - Durations are in seconds (Prometheus' base unit), from the HDR
//!   histograms in microseconds.
//! - A summary of a name without samples has no quantile lines (there is no
//!   latency to report, and NaN would poison aggregations); its `_sum` and
//!   `_count` are still written, as 0, so that every series exists from the
//!   first scrape.
//! - A summary's `_count` is the histogram's count, which is what its
//!   quantiles and `_sum` are computed from, so `_sum / _count` is the mean.
//!   Histograms take each second once it is sealed, so `_count` trails
//!   `volley_requests_total` by a second or two while the run goes on.
//! - Flows (`flow:NAME`, the rows after the requests) appear only in the
//!   `volley_flow_*` families, labelled `flow="NAME"`; their failures by
//!   reason are the failures of their steps, which are requests.
//! - Streaming calls' rows (`sent:`, `first:` and `msg:NAME`, after the
//!   flows) appear only in the `volley_stream_*` families, labelled
//!   `name="NAME"` (the call's own name).
//! - Times to first byte (`ttfb:NAME`, the last rows) appear only in
//!   `volley_ttfb_seconds`, labelled with the request's own name.
//! - Which protocol answered is its own family,
//!   `volley_protocol_requests_total{name, protocol}` (protocol `HTTP/1.1`,
//!   `HTTP/2` or `HTTP/3`), a breakdown of `volley_requests_total` as
//!   `volley_failures_total` is of the failures: a `protocol` label on
//!   `volley_requests_total` itself would split its series when a name
//!   moves to HTTP/3 and change every existing one. Written once some
//!   request counted a protocol; a protocol's series from its first
//!   request on. Requests that made no connection are in no series.
//! - Resetting the statistics (the console's `r`) starts the counters again
//!   from zero, which Prometheus' `rate()` reads as a counter reset.

use super::exposition::{Exposition, Num};
use crate::cluster::live::{Board, Phase, WorkerRow};
use crate::scenario::{FLOW_PREFIX, STREAM_PREFIXES};
use crate::stats::rows::TTFB_PREFIX;
use crate::stats::{NameTotals, RunStats};

/// The quantiles of every duration summary, with their label values.
const QUANTILES: [(f64, &str); 5] = [
    (0.5, "0.5"),
    (0.9, "0.9"),
    (0.95, "0.95"),
    (0.99, "0.99"),
    (0.999, "0.999"),
];

/// Every phase, in order, for the stateset `volley_run_phase`.
const PHASES: [Phase; 5] = [
    Phase::Waiting,
    Phase::Ramping,
    Phase::Running,
    Phase::Stopping,
    Phase::Done,
];

/// Worker states that are always written (0 when no worker is in them), so
/// that a state's series does not vanish and reappear.
const WORKER_STATES: [&str; 4] = ["running", "rejoined", "lost", "done"];

/// The phase's label value: one word (the console's text for `Waiting` is a
/// phrase).
fn phase_label(phase: Phase) -> &'static str {
    match phase {
        Phase::Waiting => "waiting",
        Phase::Ramping => "ramping",
        Phase::Running => "running",
        Phase::Stopping => "stopping",
        Phase::Done => "done",
    }
}

/// Renders the run as Prometheus text (format 0.0.4). `scenario` is the
/// scenario's name, for `volley_info`.
pub fn render(stats: &RunStats, board: &Board, scenario: &str) -> String {
    // About 2 kB per name and 300 bytes per worker, so that the string
    // rarely grows while it is written.
    let capacity = 4096 + stats.names.len() * 2048 + board.workers.len() * 300;
    let mut t = Exposition::with_capacity(capacity);
    run_families(&mut t, stats, board, scenario);
    worker_families(&mut t, board);
    request_families(&mut t, stats);
    flow_families(&mut t, stats);
    if stats.tail.streams > 0 {
        stream_families(&mut t, stats);
    }
    if stats.tail.ttfb > 0 {
        ttfb_family(&mut t, stats);
    }
    t.finish()
}

fn run_families(t: &mut Exposition, stats: &RunStats, board: &Board, scenario: &str) {
    t.one(
        "volley_info",
        "gauge",
        "Always 1; the labels tell the volley version and the scenario.",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("scenario", scenario),
        ],
        Num::Int(1),
    );
    t.family(
        "volley_run_phase",
        "gauge",
        "1 for the phase the run is in, 0 for the others.",
    );
    for phase in PHASES {
        t.sample(
            "volley_run_phase",
            "",
            &[("phase", phase_label(phase))],
            Num::Int(u64::from(phase == board.phase)),
        );
    }
    t.one(
        "volley_elapsed_seconds",
        "gauge",
        "Time since the run started, as of the latest statistics.",
        &[],
        Num::Float(stats.elapsed_secs()),
    );
    t.one(
        "volley_users",
        "gauge",
        "Virtual users running (closed model) or requests in flight (open model), over all workers.",
        &[],
        Num::Int(stats.users()),
    );
    let kind = if board.open { "rate" } else { "users" };
    t.one(
        "volley_target",
        "gauge",
        "The load target in force: users (closed model) or requests per second (open model).",
        &[("kind", kind)],
        Num::Float(board.target),
    );
    t.one(
        "volley_requests_per_second",
        "gauge",
        "Requests per second over the latest complete second, flows left out.",
        &[],
        Num::Float(stats.current_rps()),
    );
    t.one(
        "volley_late_starts_total",
        "counter",
        "Open model: arrivals that left more than 10 ms after they could have (the generator's own delay).",
        &[],
        Num::Int(stats.late_starts),
    );
    t.one(
        "volley_missed_starts_total",
        "counter",
        "Open model: arrivals dropped because max_in_flight arrivals were already waiting or in flight.",
        &[],
        Num::Int(stats.missed_starts),
    );
    t.one(
        "volley_waited_starts_total",
        "counter",
        "Open model: arrivals that found every connection of the pool busy and waited for one (the wait is in their latency).",
        &[],
        Num::Int(stats.waited_starts),
    );
    t.one(
        "volley_abandoned_total",
        "counter",
        "Requests in flight when load stopped, cut off unanswered.",
        &[],
        Num::Int(stats.abandoned),
    );
    t.one(
        "volley_invalid",
        "gauge",
        "1 while the generator, not the target, limits the run (the run would be INVALID), else 0.",
        &[],
        Num::Int(u64::from(!stats.invalid_reasons().is_empty())),
    );
    t.one(
        "volley_retries_total",
        "counter",
        "Requests sent again on a new connection because the server had closed the kept-alive one before answering.",
        &[],
        Num::Int(stats.retries),
    );
    t.one(
        "volley_cookies_dropped_total",
        "counter",
        "Cookies the users' jars dropped: longer than 4 KiB, or the least recently set over 50 for one domain or 3,000 for one user.",
        &[],
        Num::Int(stats.cookies_dropped),
    );
}

/// One figure of a worker's row.
type WorkerValue = fn(&WorkerRow) -> Num;

fn worker_families(t: &mut Exposition, board: &Board) {
    // The fixed states first, then any other the board carries.
    let mut states: Vec<(&str, u64)> = WORKER_STATES.iter().map(|s| (*s, 0)).collect();
    for w in &board.workers {
        match states.iter_mut().find(|(s, _)| *s == w.state) {
            Some(entry) => entry.1 += 1,
            None => states.push((w.state, 1)),
        }
    }
    t.family("volley_workers", "gauge", "Workers by state.");
    for (state, n) in &states {
        t.sample("volley_workers", "", &[("state", state)], Num::Int(*n));
    }
    t.one(
        "volley_workers_expected",
        "gauge",
        "Workers the run waits for before it starts.",
        &[],
        Num::Int(board.expected_workers as u64),
    );
    let per_worker: [(&str, &str, WorkerValue); 3] = [
        (
            "volley_worker_users",
            "Virtual users (or requests in flight) per worker.",
            |w| Num::Int(w.users),
        ),
        (
            "volley_worker_requests_per_second",
            "Requests per second per worker, from its latest report.",
            |w| Num::Float(w.rps),
        ),
        (
            "volley_worker_cpu_percent",
            "CPU use of each worker process, in percent of all its cores (0 to 100), from its latest report.",
            |w| Num::Float(w.cpu_percent),
        ),
    ];
    for (family, help, value) in per_worker {
        t.family(family, "gauge", help);
        for w in &board.workers {
            let labels = [("worker", w.id.as_str()), ("host", w.host.as_str())];
            t.sample(family, "", &labels, value(w));
        }
    }
}

/// The requests (flow steps included): every name before the flows.
fn requests(stats: &RunStats) -> impl Iterator<Item = (&str, &NameTotals)> {
    stats
        .names
        .iter()
        .zip(&stats.totals)
        .take(stats.request_names())
        .map(|(name, totals)| (name.as_str(), totals))
}

/// The streaming calls' rows of one kind (`prefix`), the prefix taken off.
fn streams<'a>(
    stats: &'a RunStats,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a str, &'a NameTotals)> {
    stats
        .names
        .iter()
        .zip(&stats.totals)
        .skip(stats.stream_names().start)
        .take(stats.tail.streams)
        .filter_map(move |(name, totals)| Some((name.strip_prefix(prefix)?, totals)))
}

/// The flows, their `flow:` prefix taken off.
fn flows(stats: &RunStats) -> impl Iterator<Item = (&str, &NameTotals)> {
    stats
        .names
        .iter()
        .zip(&stats.totals)
        .skip(stats.request_names())
        .take(stats.tail.flows)
        .map(|(name, totals)| {
            let flow = name.strip_prefix(FLOW_PREFIX).unwrap_or(name);
            (flow, totals)
        })
}

/// A counter family with one sample per name, labelled `label`.
fn per_name<'a>(
    t: &mut Exposition,
    (family, help): (&str, &str),
    label: &str,
    names: impl Iterator<Item = (&'a str, &'a NameTotals)>,
    value: fn(&NameTotals) -> u64,
) {
    t.family(family, "counter", help);
    for (name, n) in names {
        t.sample(family, "", &[(label, name)], Num::Int(value(n)));
    }
}

fn request_families(t: &mut Exposition, stats: &RunStats) {
    per_name(
        t,
        (
            "volley_requests_total",
            "Requests sent, failed ones included, per request name.",
        ),
        "name",
        requests(stats),
        |n| n.requests,
    );
    per_name(
        t,
        (
            "volley_request_failures_total",
            "Requests that failed, per request name.",
        ),
        "name",
        requests(stats),
        |n| n.failures,
    );
    t.family(
        "volley_failures_total",
        "counter",
        "Failed requests per request name, failure kind and reason.",
    );
    for (name, n) in requests(stats) {
        for f in &n.failure_counts {
            t.sample(
                "volley_failures_total",
                "",
                &[
                    ("name", name),
                    ("kind", f.kind.as_str()),
                    ("reason", f.reason.as_str()),
                ],
                Num::Int(f.count),
            );
        }
    }
    if requests(stats).any(|(_, n)| !n.protocols.is_empty()) {
        let family = "volley_protocol_requests_total";
        t.family(
            family,
            "counter",
            "Requests per request name and the protocol of the connection that answered them (HTTP/1.1, HTTP/2, HTTP/3); requests that made no connection are in none.",
        );
        for (name, n) in requests(stats) {
            for (p, count) in n.protocols.seen() {
                t.sample(
                    family,
                    "",
                    &[("name", name), ("protocol", p.label())],
                    Num::Int(count),
                );
            }
        }
    }
    t.family(
        "volley_request_duration_seconds",
        "summary",
        "Request latency per request name, from its start (closed model) or intended start (open model) to the end of the answer.",
    );
    for (name, n) in requests(stats) {
        t.summary(
            "volley_request_duration_seconds",
            ("name", name),
            &n.hist,
            &QUANTILES,
        );
    }
    per_name(
        t,
        ("volley_bytes_sent_total", "Bytes sent per request name."),
        "name",
        requests(stats),
        |n| n.bytes_sent,
    );
    per_name(
        t,
        (
            "volley_bytes_received_total",
            "Bytes received per request name.",
        ),
        "name",
        requests(stats),
        |n| n.bytes_received,
    );
}

fn flow_families(t: &mut Exposition, stats: &RunStats) {
    per_name(
        t,
        (
            "volley_flow_iterations_total",
            "Flow iterations run, failed ones included, per flow.",
        ),
        "flow",
        flows(stats),
        |n| n.requests,
    );
    per_name(
        t,
        (
            "volley_flow_failures_total",
            "Flow iterations in which a step failed, per flow.",
        ),
        "flow",
        flows(stats),
        |n| n.failures,
    );
    t.family(
        "volley_flow_duration_seconds",
        "summary",
        "Duration of one flow iteration, all its steps together, per flow.",
    );
    for (flow, n) in flows(stats) {
        t.summary(
            "volley_flow_duration_seconds",
            ("flow", flow),
            &n.hist,
            &QUANTILES,
        );
    }
}

fn ttfb_family(t: &mut Exposition, stats: &RunStats) {
    let family = "volley_ttfb_seconds";
    t.family(
        family,
        "summary",
        "From an HTTP request's start to the first byte of its answer's body, per request name.",
    );
    let rows = stats.ttfb_names().filter_map(|i| {
        let name = stats.names.get(i)?.strip_prefix(TTFB_PREFIX)?;
        Some((name, stats.totals.get(i)?))
    });
    for (name, n) in rows {
        t.summary(family, ("name", name), &n.hist, &QUANTILES);
    }
}

fn stream_families(t: &mut Exposition, stats: &RunStats) {
    let [sent, first, msg] = STREAM_PREFIXES;
    per_name(
        t,
        (
            "volley_stream_messages_sent_total",
            "Messages sent by streaming calls, per request name.",
        ),
        "name",
        streams(stats, sent),
        |n| n.requests,
    );
    per_name(
        t,
        (
            "volley_stream_messages_received_total",
            "Answer messages received by streaming calls, per request name.",
        ),
        "name",
        streams(stats, msg),
        |n| n.requests,
    );
    for (family, help, prefix) in [
        (
            "volley_stream_send_wait_seconds",
            "How long each message of a streaming call waited past its time for a place in the send queue, per request name.",
            sent,
        ),
        (
            "volley_stream_first_message_seconds",
            "From a streaming call's start to its first answer message, per request name.",
            first,
        ),
        (
            "volley_stream_message_seconds",
            "Each answer message of a streaming call, from the message it answers (or the answer before), per request name.",
            msg,
        ),
    ] {
        t.family(family, "summary", help);
        for (name, n) in streams(stats, prefix) {
            t.summary(family, ("name", name), &n.hist, &QUANTILES);
        }
    }
}

#[cfg(test)]
#[path = "prometheus_tests.rs"]
mod tests;
