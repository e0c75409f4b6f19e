//! A run's statistics, merged from snapshots of any number of engines:
//! cumulative per request name, and the per-second series. Exact: histograms
//! are added; percentiles are computed from the sums.

use std::collections::BTreeMap;

use super::buckets::Buckets;
use super::health::{self, Health};
use super::histogram;
use super::latencies::Latencies;
use super::rows::{Rows, StatId, Tail};
use super::series::{Cumulative, NamePoint, Percentiles, Point, Series};
use super::snapshot::{Hist, NameSnapshot, Snapshot};

/// Cumulative statistics of one request name: its latencies as few pairs
/// or a dense histogram, whichever is smaller.
pub type NameTotals = NameSnapshot<Latencies>;

/// One name's latencies and counts of a second not yet sealed: as small as
/// what arrived (a few buckets cost a few pairs, not a histogram).
#[derive(Default)]
struct PendingName {
    latency: Buckets,
    requests: u64,
    failures: u64,
}

#[derive(Default)]
struct Pending {
    users: u64,
    /// Engines that reported this second.
    reports: u64,
    names: BTreeMap<StatId, PendingName>,
}

/// What a statistics name measures, in the order names are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NameClass {
    /// A request or a flow's step: what the totals add up.
    Request,
    /// A flow's iterations.
    Flow,
    /// A streaming call's messages (`sent:`, `first:`, `msg:NAME`).
    Stream,
    /// An HTTP request's time to first byte (`ttfb:NAME`).
    Ttfb,
}

/// Everything measured in a run so far.
pub struct RunStats {
    /// Requests (and flow steps), then flows, then streaming calls' rows,
    /// then times to first byte, as [`Rows`] lays them out.
    pub names: Vec<String>,
    /// How many of the names, after the requests, are flows (journeys
    /// whose iterations are not requests), streaming calls' messages and
    /// times to first byte: none of them is a request, and they stay out
    /// of the totals.
    pub tail: Tail,
    /// Per name, everything so far. A name that saw nothing holds an empty
    /// histogram, which is small (16 KB) and grows with what it gets.
    pub totals: Vec<NameTotals>,
    /// Milliseconds since the start, of the latest snapshot.
    pub elapsed_ms: u64,
    /// When the statistics were last cleared (the console's reset), in
    /// milliseconds since the start: rates are over the time since.
    pub reset_at_ms: u64,
    pub late_starts: u64,
    pub missed_starts: u64,
    /// Open model and replays: each arrival's start after its intended
    /// time (None: none measured, the closed model).
    pub start_lag: Option<Latencies>,
    /// Requests sent again on a new connection (a kept-alive one was found
    /// closed by the server): not failures, but worth knowing.
    pub retries: u64,
    /// Cookies the users' jars dropped (longer than 4 KiB, or the least
    /// recently set over a bound): the run's sessions differ from a
    /// browser's only there.
    pub cookies_dropped: u64,
    /// Open model: arrivals that waited for a connection of the pool.
    pub waited_starts: u64,
    /// Requests in flight when load stopped (sent, never answered).
    pub abandoned: u64,
    /// Per engine source, what it measured of itself (late and missed
    /// starts, waits for a connection, abandoned requests, CPU, late
    /// reports): whether the generator limited the run.
    pub health: BTreeMap<u64, Health>,
    pub series: Series,
    pending: BTreeMap<u64, Pending>,
    /// Users per engine source, latest.
    users_by_source: BTreeMap<u64, u64>,
    /// Engines expected to report each second (0: those seen so far).
    expected_sources: usize,
    /// Every sealed second's requests in one histogram, and the bytes
    /// received by requests so far: the series' cumulative view (Locust's
    /// totals in its history), one histogram whatever the names.
    so_far: Latencies,
    received_so_far: u64,
    /// Whether each point keeps every name's run so far
    /// ([`NamePoint::cumulative`]), as `--csv-full-history` needs.
    pub name_history: bool,
}

impl RunStats {
    pub fn new(rows: impl Into<Rows>) -> Self {
        let (names, tail) = rows.into().into_parts();
        let totals = (0..names.len())
            .map(|i| NameTotals::empty(Rows::request(i)))
            .collect();
        RunStats {
            names,
            tail,
            totals,
            elapsed_ms: 0,
            reset_at_ms: 0,
            late_starts: 0,
            start_lag: None,
            missed_starts: 0,
            retries: 0,
            cookies_dropped: 0,
            waited_starts: 0,
            abandoned: 0,
            health: BTreeMap::new(),
            series: Series::default(),
            pending: BTreeMap::new(),
            users_by_source: BTreeMap::new(),
            expected_sources: 0,
            so_far: Latencies::new(),
            received_so_far: 0,
            name_history: false,
        }
    }

    /// Keeps each name's run so far in every point (see
    /// [`RunStats::name_history`]).
    pub fn with_name_history(mut self, on: bool) -> Self {
        self.name_history = on;
        self
    }

    /// Every engine's health added up (CPU is per engine: see
    /// [`RunStats::invalid_reasons`]).
    pub fn health_total(&self) -> Health {
        let mut all = Health::default();
        for h in self.health.values() {
            all.add_counts(h);
        }
        all
    }

    /// Why the generator, not the target, limited this run (empty: it did
    /// not). Starts and reports are judged over all engines together; CPU
    /// per engine, since one saturated engine skews the whole.
    pub fn invalid_reasons(&self) -> Vec<String> {
        self.limits(self.health_total().reasons())
    }

    /// The reasons of [`RunStats::invalid_reasons`] that lie with the
    /// generator alone (see [`Health::own_reasons`]): missed starts left out.
    pub fn generator_reasons(&self) -> Vec<String> {
        self.limits(self.health_total().own_reasons())
    }

    /// `why`, and the busiest engine's CPU when it was saturated.
    fn limits(&self, mut why: Vec<String>) -> Vec<String> {
        if let Some(cpu) = self.busiest_cpu()
            && cpu > health::BUSY_CPU_PERCENT
        {
            let of = if self.health.len() > 1 {
                format!(" on the busiest of {} engines", self.health.len())
            } else {
                String::new()
            };
            why.push(format!(
                "generator CPU averaged {cpu:.0}% of the cores it may use{of} (above {:.0}%)",
                health::BUSY_CPU_PERCENT
            ));
        }
        why
    }

    /// The highest of the engines' mean CPU readings, if any reported one.
    pub fn busiest_cpu(&self) -> Option<f64> {
        self.health
            .values()
            .filter_map(Health::mean_cpu)
            .reduce(f64::max)
    }

    /// What name `i` measures.
    pub fn class(&self, i: usize) -> NameClass {
        if self.ttfb_names().contains(&i) {
            NameClass::Ttfb
        } else if self.is_stream(i) {
            NameClass::Stream
        } else if self.is_flow(i) {
            NameClass::Flow
        } else {
            NameClass::Request
        }
    }

    /// Whether name `i` is a flow.
    pub fn is_flow(&self, i: usize) -> bool {
        self.flow_names().contains(&i)
    }

    /// Whether name `i` is a streaming call's row.
    pub fn is_stream(&self, i: usize) -> bool {
        self.stream_names().contains(&i)
    }

    /// How many names are requests (they come first).
    pub fn request_names(&self) -> usize {
        let t = self.tail;
        self.names.len() - t.flows - t.streams - t.ttfb
    }

    /// The flows' names' indices.
    pub fn flow_names(&self) -> std::ops::Range<usize> {
        let r = self.request_names();
        r..r + self.tail.flows
    }

    /// The streaming calls' rows' indices.
    pub fn stream_names(&self) -> std::ops::Range<usize> {
        let f = self.flow_names().end;
        f..f + self.tail.streams
    }

    /// The time-to-first-byte rows' indices (they come last).
    pub fn ttfb_names(&self) -> std::ops::Range<usize> {
        self.names.len() - self.tail.ttfb..self.names.len()
    }

    /// How many engines report each second, so that a second is complete
    /// as soon as all of them did (the cluster knows; a lone engine is 1).
    pub fn expect_sources(&mut self, n: usize) {
        self.expected_sources = n;
    }

    /// Adds one engine's snapshot. `source` tells engines apart (0 for a
    /// single engine).
    pub fn apply<H: Hist>(&mut self, source: u64, snap: &Snapshot<H>) {
        // Counts from peers are saturated, never wrapped.
        self.elapsed_ms = self.elapsed_ms.max(snap.at_ms);
        self.late_starts = self.late_starts.saturating_add(snap.late_starts);
        if let Some(h) = &snap.start_lag {
            h.add_to(self.start_lag.get_or_insert_with(Latencies::default));
        }
        self.missed_starts = self.missed_starts.saturating_add(snap.missed_starts);
        self.retries = self.retries.saturating_add(snap.retries);
        self.cookies_dropped = self.cookies_dropped.saturating_add(snap.cookies_dropped);
        let requests = snap
            .names
            .iter()
            .filter(|n| n.name.index() < self.request_names())
            .fold(0u64, |a, n| a.saturating_add(n.requests));
        self.health.entry(source).or_default().add(snap, requests);
        self.waited_starts = self.waited_starts.saturating_add(snap.waited_starts);
        self.abandoned = self.abandoned.saturating_add(snap.abandoned);
        self.users_by_source.insert(source, snap.users);
        // Engines' ticks drift a little apart: the nearest second groups them.
        let second = (snap.at_ms.saturating_add(500) / 1000).max(1);
        let first_other = self.request_names();
        let pending = self.pending.entry(second).or_default();
        pending.users = pending.users.saturating_add(snap.users);
        pending.reports += 1;
        for n in &snap.names {
            // Counters go into the totals now; the histogram once, when its
            // second is sealed (a master merging a thousand workers adds
            // each report's buckets once, not twice).
            if n.name.index() < first_other {
                self.received_so_far = self.received_so_far.saturating_add(n.bytes_received);
            }
            if let Some(t) = self.totals.get_mut(n.name.index()) {
                t.add_counts(n);
                // Failures are seen in the second of the report that
                // brought them (Locust's First Seen and Last Seen).
                for f in &n.failure_counts {
                    if let Some(e) = t
                        .failure_counts
                        .iter_mut()
                        .find(|e| e.kind == f.kind && e.reason == f.reason)
                    {
                        let at = snap.at_ms;
                        e.seen_ms =
                            Some(e.seen_ms.map_or((at, at), |(a, b)| (a.min(at), b.max(at))));
                    }
                }
            }
            let e = pending.names.entry(n.name).or_default();
            n.hist.add_into_buckets(&mut e.latency);
            e.requests = e.requests.saturating_add(n.requests);
            e.failures = e.failures.saturating_add(n.failures);
        }
        // A second is complete when every engine reported it, or (an engine
        // late or gone) once it is two behind the newest.
        let sources = self.expected_sources.max(self.users_by_source.len());
        let everyone = pending.reports >= sources as u64;
        let newest = second;
        let upto = if everyone {
            newest + 1
        } else {
            newest.saturating_sub(1)
        };
        let ready: Vec<u64> = self.pending.range(..upto).map(|(s, _)| *s).collect();
        for s in ready {
            self.seal(s);
        }
    }

    /// An engine left: its users no longer count.
    pub fn forget_source(&mut self, source: u64) {
        self.users_by_source.remove(&source);
    }

    fn seal(&mut self, second: u64) {
        let Some(p) = self.pending.remove(&second) else {
            return;
        };
        let mut total = histogram::new();
        let mut names = Vec::with_capacity(p.names.len());
        let (mut requests, mut failures) = (0u64, 0u64);
        let first_flow = self.request_names();
        for (name, mut n) in p.names {
            let latency = n.latency.percentiles();
            let mut so_far = None;
            if let Some(t) = self.totals.get_mut(name.index()) {
                n.latency.add_to(&mut t.hist);
                if self.name_history && !t.hist.is_empty() {
                    so_far = Some(Box::new(Cumulative::of(
                        &t.hist,
                        t.bytes_received,
                        t.requests,
                    )));
                }
            }
            // A flow's iterations and a stream's messages are not requests:
            // they stay out of the sums.
            if name.index() < first_flow {
                n.latency.add_into(&mut total);
                requests = requests.saturating_add(n.requests);
                failures = failures.saturating_add(n.failures);
            }
            names.push(NamePoint {
                name,
                requests: n.requests,
                failures: n.failures,
                latency,
                cumulative: so_far,
            });
        }
        self.so_far.add_latency(&total);
        let cumulative = (!self.so_far.is_empty())
            .then(|| Cumulative::of(&self.so_far, self.received_so_far, self.so_far.len()));
        let point = Point {
            t: second,
            step: 1,
            requests,
            failures,
            users: p.users,
            latency: Percentiles::of(&total),
            names,
            cumulative,
        };
        // A report that comes after its second was sealed (an engine's last,
        // partial interval) joins that second's point rather than adding a
        // second point for the same time.
        let points = &mut self.series.points;
        match points.iter().rposition(|q| q.t <= second) {
            Some(i) if points[i].t == second => points[i].add_late(&point),
            Some(i) if i + 1 < points.len() => points.insert(i + 1, point),
            None if !points.is_empty() => points.insert(0, point),
            _ => self.series.push(point),
        }
    }

    /// Seals every pending second (at the end of a run).
    pub fn finish(&mut self) {
        let all: Vec<u64> = self.pending.keys().copied().collect();
        for s in all {
            self.seal(s);
        }
    }

    /// Users (or requests in flight) now, over all engines.
    pub fn users(&self) -> u64 {
        self.users_by_source.values().sum()
    }

    /// All requests added together (flows left out).
    pub fn total(&self) -> NameTotals {
        let mut t = NameTotals::empty(StatId::TOTAL);
        for n in &self.totals[..self.request_names()] {
            t.add(n);
        }
        t
    }

    pub fn elapsed_secs(&self) -> f64 {
        self.elapsed_ms as f64 / 1000.0
    }

    /// Requests per second over the run.
    pub fn rps<H>(&self, n: &NameSnapshot<H>) -> f64 {
        let s = self.measured_secs();
        if s > 0.0 { n.requests as f64 / s } else { 0.0 }
    }

    /// How long the statistics cover: since the start, or since the last
    /// reset. Rates divide by this, not by the run's whole time.
    pub fn measured_secs(&self) -> f64 {
        self.elapsed_ms.saturating_sub(self.reset_at_ms) as f64 / 1000.0
    }

    /// The latest complete second's rate, over all names.
    pub fn current_rps(&self) -> f64 {
        self.series.points.last().map(Point::rps).unwrap_or(0.0)
    }

    /// Clears everything measured (the console's reset). The run's clock
    /// goes on; rates count from now.
    pub fn reset(&mut self) {
        let (elapsed_ms, expected) = (self.elapsed_ms, self.expected_sources);
        let name_history = self.name_history;
        let rows = Rows::from_parts(std::mem::take(&mut self.names), self.tail);
        *self = RunStats::new(rows).with_name_history(name_history);
        self.elapsed_ms = elapsed_ms;
        self.reset_at_ms = elapsed_ms;
        self.expected_sources = expected;
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
