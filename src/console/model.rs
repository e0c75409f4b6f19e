//! What one frame of the console shows, built from the run's statistics and
//! board: plain numbers, so that drawing is a pure function of it and tests
//! can build one by hand.

use std::time::Duration;

use crate::cluster::live::{Board, Phase, WorkerRow};
use crate::scenario::{Scenario, Step};
use crate::stats::{NameTotals, ProtocolCounts, Rows, RunStats, StatId};

/// Seconds of history the charts show.
pub const HISTORY_SECS: u64 = 300;

/// What a table row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Request,
    Flow,
    /// A flow's step, shown beneath its flow.
    Step,
}

/// One row of the requests table; latencies in microseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: RowKind,
    /// Its statistics row ([`StatId::TOTAL`] for the total).
    pub stat: StatId,
    /// Rows of one group (a request, or a flow and its steps) sort together.
    pub group: usize,
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Mean bytes received.
    pub size: f64,
    /// An HTTP request's time to first byte, p50 and p99.
    pub ttfb: Option<(u64, u64)>,
    /// Its requests per protocol that answered them (none for a flow).
    pub protocols: ProtocolCounts,
}

/// One second of the charts; latencies in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Point {
    pub t: f64,
    pub rps: f64,
    pub failures: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Point {
    /// A second of the series as the charts draw it: counts per second,
    /// latencies in milliseconds.
    fn of(
        p: &crate::stats::series::Point,
        requests: u64,
        failures: u64,
        l: &crate::stats::series::Percentiles,
    ) -> Self {
        let secs = p.step.max(1) as f64;
        Point {
            t: p.t as f64,
            rps: requests as f64 / secs,
            failures: failures as f64 / secs,
            p50: l.p50 as f64 / 1000.0,
            p95: l.p95 as f64 / 1000.0,
            p99: l.p99 as f64 / 1000.0,
            max: l.max as f64 / 1000.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FailureRow {
    pub reason: String,
    pub name: String,
    pub count: u64,
    pub last: String,
}

/// Everything one frame shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub phase: Phase,
    pub scenario: String,
    pub target: String,
    pub elapsed: Duration,
    pub duration: Option<Duration>,
    pub users: u64,
    pub open: bool,
    /// Users or rate in force, and the step of + and -.
    pub total: f64,
    pub step: f64,
    pub expected_workers: usize,
    /// Requests per second of the last complete second.
    pub rps: f64,
    pub failure_percent: f64,
    pub series: Vec<Point>,
    /// The selected row's name and its own series, which the charts show
    /// instead of the totals'.
    pub selected: Option<(String, Vec<Point>)>,
    /// The whole run's latency distribution: bucket label, count.
    pub distribution: Vec<(String, u64)>,
    pub rows: Vec<Row>,
    pub total_row: Row,
    pub workers: Vec<WorkerRow>,
    pub failures: Vec<FailureRow>,
    pub notes: Vec<String>,
    /// Why the run is INVALID so far (the generator limits it); empty: it
    /// is not.
    pub invalid: Vec<String>,
    /// Shown while waiting for workers.
    pub info: String,
    /// The capacity search this run is a probe of, if it is one.
    pub search: Option<crate::cluster::live::SearchBoard>,
}

/// Which statistics names form the table's groups: top-level requests, and
/// flows with their steps beneath them.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub scenario: String,
    pub target: String,
    /// Shown while waiting for workers (where the master listens).
    pub info: String,
    /// The table's rows in display order.
    pub order: Vec<Placed>,
}

/// A row of the requests table as the layout places it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placed {
    pub kind: RowKind,
    pub stat: StatId,
    /// Rows of one group (a request, or a flow and its steps) sort together.
    pub group: usize,
    /// Its time-to-first-byte row (an HTTP request).
    pub ttfb: Option<StatId>,
}

impl Placed {
    pub fn new(kind: RowKind, stat: StatId, group: usize) -> Placed {
        Placed {
            kind,
            stat,
            group,
            ttfb: None,
        }
    }
}

impl Layout {
    pub fn of(s: &Scenario) -> Self {
        let mut order = Vec::new();
        let mut group = 0;
        let steps: Vec<usize> = s
            .flows
            .iter()
            .flat_map(|f| &f.steps)
            .filter_map(|st| match st {
                Step::Request(i) => Some(*i),
                Step::Think(_) => None,
            })
            .collect();
        // A request's row carries its time to first byte; a streaming
        // call's rows follow it, as steps follow their flow.
        let request = |kind, i: usize, group: usize, order: &mut Vec<Placed>| {
            order.push(Placed {
                ttfb: s.rows.ttfb(i),
                ..Placed::new(kind, Rows::request(i), group)
            });
            for stat in s.rows.stream_of(i).into_iter().flatten() {
                order.push(Placed::new(RowKind::Step, stat, group));
            }
        };
        for i in (0..s.requests.len()).filter(|i| !steps.contains(i)) {
            request(RowKind::Request, i, group, &mut order);
            group += 1;
        }
        for (f, flow) in s.flows.iter().enumerate() {
            order.push(Placed::new(RowKind::Flow, s.flow_stat(f), group));
            for st in &flow.steps {
                if let Step::Request(i) = st {
                    request(RowKind::Step, *i, group, &mut order);
                }
            }
            group += 1;
        }
        Layout {
            scenario: s.name.clone(),
            target: s.targets().join(", "),
            info: String::new(),
            order,
        }
    }
}

fn row(at: Placed, name: &str, n: &NameTotals, run: &RunStats) -> Row {
    let h = &n.hist;
    let empty = h.is_empty();
    let ttfb = at
        .ttfb
        .and_then(|t| run.totals.get(t.index()))
        .filter(|t| !t.hist.is_empty())
        .map(|t| (t.hist.quantile(0.5), t.hist.quantile(0.99)));
    Row {
        kind: at.kind,
        stat: at.stat,
        group: at.group,
        ttfb,
        name: name.to_owned(),
        requests: n.requests,
        failures: n.failures,
        rps: run.rps(n),
        mean: if empty { 0.0 } else { h.mean() },
        p50: h.quantile(0.5),
        p90: h.quantile(0.9),
        p95: h.quantile(0.95),
        p99: h.quantile(0.99),
        p999: h.quantile(0.999),
        max: if empty { 0 } else { h.max() },
        size: if n.requests > 0 {
            n.bytes_received as f64 / n.requests as f64
        } else {
            0.0
        },
        protocols: n.protocols,
    }
}

/// Bucket edges of the distribution, in microseconds.
const EDGES: [(u64, &str); 13] = [
    (100, "<100us"),
    (250, "<250us"),
    (500, "<500us"),
    (1_000, "<1ms"),
    (2_500, "<2.5ms"),
    (5_000, "<5ms"),
    (10_000, "<10ms"),
    (25_000, "<25ms"),
    (50_000, "<50ms"),
    (100_000, "<100ms"),
    (250_000, "<250ms"),
    (1_000_000, "<1s"),
    (u64::MAX, ">=1s"),
];

fn distribution(total: &NameTotals) -> Vec<(String, u64)> {
    let h = total.hist.dense();
    if h.is_empty() {
        return Vec::new();
    }
    let mut lo = 0u64;
    let mut out: Vec<(String, u64)> = Vec::new();
    for (hi, label) in EDGES {
        let n = h.count_between(lo, hi.saturating_sub(1).min(h.high()));
        out.push((label.to_string(), n));
        lo = hi;
    }
    // Only the span that holds samples.
    let first = out.iter().position(|(_, n)| *n > 0).unwrap_or(0);
    let last = out.iter().rposition(|(_, n)| *n > 0).unwrap_or(0);
    out[first..=last].to_vec()
}

impl Model {
    /// One frame's worth of the run's state.
    /// `selected`: the statistics index of the row the console has
    /// selected, whose own series the charts then show.
    pub fn build(
        run: &RunStats,
        board: &Board,
        layout: &Layout,
        selected: Option<StatId>,
    ) -> Model {
        let rows = layout
            .order
            .iter()
            .filter_map(|&at| {
                let n = run.totals.get(at.stat.index())?;
                Some(row(at, run.names.get(at.stat.index())?, n, run))
            })
            .collect();
        let total = run.total();
        let newest = run.series.points.last().map_or(0, |p| p.t);
        let series = run
            .series
            .points
            .iter()
            .filter(|p| p.t + HISTORY_SECS > newest)
            .map(|p| Point::of(p, p.requests, p.failures, &p.latency))
            .collect();
        let selected = selected.and_then(|stat| {
            let name = run.names.get(stat.index())?.clone();
            let points = run
                .series
                .points
                .iter()
                .filter(|p| p.t + HISTORY_SECS > newest)
                .map(|p| match p.names.iter().find(|n| n.name == stat) {
                    Some(n) => Point::of(p, n.requests, n.failures, &n.latency),
                    None => Point::of(p, 0, 0, &Default::default()),
                })
                .collect();
            Some((name, points))
        });
        let mut failures: Vec<FailureRow> = run
            .names
            .iter()
            .zip(&run.totals)
            .flat_map(|(name, n)| {
                n.failure_counts.iter().map(move |f| FailureRow {
                    reason: format!("{}: {}", f.kind.as_str(), f.reason),
                    name: name.clone(),
                    count: f.count,
                    last: f.last_detail.clone().unwrap_or_default(),
                })
            })
            .collect();
        failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        Model {
            phase: board.phase,
            scenario: layout.scenario.clone(),
            target: layout.target.clone(),
            elapsed: Duration::from_millis(run.elapsed_ms),
            duration: board.duration,
            users: run.users(),
            open: board.open,
            total: board.target,
            step: board.step,
            expected_workers: board.expected_workers,
            // Once load stops the last second's rate is stale: the run's
            // mean then.
            rps: if matches!(board.phase, Phase::Stopping | Phase::Done) {
                run.rps(&total)
            } else {
                run.current_rps()
            },
            failure_percent: if total.requests > 0 {
                total.failures as f64 * 100.0 / total.requests as f64
            } else {
                0.0
            },
            series,
            selected,
            distribution: distribution(&total),
            rows,
            total_row: row(
                Placed::new(RowKind::Request, StatId::TOTAL, usize::MAX),
                "total",
                &total,
                run,
            ),
            workers: board.workers.clone(),
            failures,
            notes: board.notes.clone(),
            invalid: run.invalid_reasons(),
            info: layout.info.clone(),
            search: board.search.clone(),
        }
    }
}
