//! Tests of the Prometheus renderer: a strict reading of the format, the
//! figures against what was recorded, escaping, flows, phases, and a real
//! parser (prometheus-parse).
use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::stats::Latency;
use crate::stats::Tail;
use crate::stats::histogram;
use crate::stats::histogram::record;
use crate::stats::{FailureCount, FailureKind, NameSnapshot, Protocol, Snapshot};
use crate::stats::{Rows, StatId};

/// A request name with everything that must be escaped: `we"ird\na`,
/// a newline, `me`.
const WEIRD: &str = "we\"ird\\na\nme";
const HOME: usize = 0;
const WEIRD_I: usize = 1;
/// A request that never ran.
const IDLE: usize = 2;
const LOGIN: usize = 3;
const FLOW: usize = 4;

/// What the fixture recorded per name, counted on the side.
#[derive(Default, Clone)]
struct Recorded {
    requests: u64,
    failures: u64,
    sent: u64,
    received: u64,
}

struct Fixture {
    stats: RunStats,
    board: Board,
    truth: Vec<Latency>,
    recorded: Vec<Recorded>,
}

fn failure(kind: FailureKind, reason: &str, count: u64) -> FailureCount {
    FailureCount {
        kind,
        reason: reason.into(),
        count,
        last_detail: None,
        seen_ms: None,
    }
}

/// Two engines, three seconds, real samples through `apply`, as the
/// coordinator merges them.
fn fixture() -> Fixture {
    let names: Vec<String> = ["home", WEIRD, "idle", "login", "flow:checkout"]
        .map(String::from)
        .into();
    let mut stats = RunStats::new(Rows::from_parts(
        names,
        Tail {
            flows: 1,
            streams: 0,
            ttfb: 0,
        },
    ));
    stats.expect_sources(2);
    let mut truth: Vec<Latency> = (0..5).map(|_| histogram::new()).collect();
    let mut recorded = vec![Recorded::default(); 5];
    for sec in 1..=3u64 {
        for source in 1..=2u64 {
            let mut snap = Snapshot {
                at_ms: sec * 1000 + source,
                interval_ms: 1000,
                users: 3 + source,
                late_starts: 1,
                missed_starts: source,
                retries: 2,
                cookies_dropped: 5,
                ..Snapshot::default()
            };
            for name in [HOME, WEIRD_I, LOGIN, FLOW] {
                let mut n = NameSnapshot::empty(Rows::request(name));
                let k = name as u64 + 1;
                for i in 0..(10 * k + sec) {
                    let v = 100 + i * 37 * k * sec + source;
                    record(&mut n.hist, v);
                    record(&mut truth[name], v);
                    n.requests += 1;
                    n.bytes_sent += 10 * k;
                    n.bytes_received += 100 * k;
                }
                let f = match name {
                    HOME => Some(failure(FailureKind::Status, "HTTP 503", 2)),
                    WEIRD_I => Some(failure(FailureKind::Check, "body \"ok\" missing", 1)),
                    FLOW => Some(failure(
                        FailureKind::Status,
                        "step \"login\" failed (status)",
                        1,
                    )),
                    _ => None,
                };
                if let Some(f) = f {
                    n.failures += f.count;
                    n.add_failure(f);
                }
                // "home" moved from HTTP/2 to HTTP/3 after its first
                // second; "login" kept to HTTP/1.1; the flow counts none.
                match name {
                    HOME if sec == 1 => n.protocols.set(Protocol::Http2, n.requests),
                    HOME => n.protocols.set(Protocol::Http3, n.requests),
                    LOGIN => n.protocols.set(Protocol::Http1, n.requests),
                    _ => {}
                }
                let r = &mut recorded[name];
                r.requests += n.requests;
                r.failures += n.failures;
                r.sent += n.bytes_sent;
                r.received += n.bytes_received;
                snap.names.push(n);
            }
            stats.apply(source, &snap);
        }
    }
    stats.finish();
    let worker = |id: &str, host: &str, state: &'static str, users, rps, cpu| WorkerRow {
        id: id.into(),
        host: host.into(),
        state,
        users,
        rps,
        cpu_percent: cpu,
        last_report: None,
        invalid: Vec::new(),
    };
    let board = Board {
        phase: Phase::Running,
        open: false,
        target: 10.0,
        step: 1.0,
        duration: None,
        workers: vec![
            worker("w1", "gen-a", "running", 4, 520.5, 93.25),
            worker("w2", "gen-b", "running", 5, 480.0, 88.0),
            // A NaN reading must not reach the text.
            worker("w3", "gen-c", "lost", 0, 0.0, f64::NAN),
            // A state this module does not know still counts.
            worker("w4", "gen-d", "joining", 0, 0.0, 0.0),
        ],
        expected_workers: 3,
        notes: Vec::new(),
        search: None,
    };
    Fixture {
        stats,
        board,
        truth,
        recorded,
    }
}

#[derive(Debug, Clone)]
struct Line {
    family: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// One sample line, strictly: `name{label="value",...} value`, label
/// values unescaped, the value finite, no timestamp.
fn parse_sample(line: &str) -> (String, BTreeMap<String, String>, f64) {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    let name = &line[..name_end];
    assert!(
        !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()),
        "bad metric name in {line:?}"
    );
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut it = inner.chars();
        loop {
            let mut label = String::new();
            loop {
                match it.next() {
                    Some('=') => break,
                    Some(c) if c.is_ascii_alphanumeric() || c == '_' => label.push(c),
                    other => panic!("bad label name ({other:?}) in {line:?}"),
                }
            }
            assert_eq!(it.next(), Some('"'), "unquoted label value in {line:?}");
            let mut value = String::new();
            loop {
                match it.next() {
                    Some('\\') => match it.next() {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => panic!("bad escape ({other:?}) in {line:?}"),
                    },
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => panic!("unterminated label value in {line:?}"),
                }
            }
            assert!(
                labels.insert(label.clone(), value).is_none(),
                "label {label} twice in {line:?}"
            );
            match it.next() {
                Some(',') => {}
                Some('}') => break,
                other => panic!("expected , or }} not {other:?} in {line:?}"),
            }
        }
        rest = it.as_str();
    }
    let value = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| panic!("no space before the value in {line:?}"));
    let value: f64 = value
        .parse()
        .unwrap_or_else(|e| panic!("value {value:?} of {line:?}: {e}"));
    assert!(value.is_finite(), "value not finite in {line:?}");
    (name.to_string(), labels, value)
}

/// The whole text, strictly: every family's HELP then TYPE exactly once,
/// before its samples, which follow together; no series twice.
/// Returns the samples and each family's type.
fn parse(text: &str) -> (Vec<Line>, BTreeMap<String, String>) {
    assert!(text.ends_with('\n'), "the text must end with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut help: Option<String> = None;
    let mut lines = Vec::new();
    let mut series = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').expect("HELP name and text");
            assert!(!doc.is_empty());
            assert!(help.is_none(), "HELP {name} after a HELP without TYPE");
            assert!(!types.contains_key(name), "a second HELP for {name}");
            help = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name and kind");
            assert_eq!(
                help.take().as_deref(),
                Some(name),
                "TYPE {name} not after its HELP"
            );
            assert!(matches!(kind, "counter" | "gauge" | "summary"), "{line}");
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "a second TYPE for {name}"
            );
            current = Some((name.to_string(), kind.to_string()));
        } else {
            assert!(!line.starts_with('#'), "stray comment {line:?}");
            assert!(help.is_none(), "sample between HELP and TYPE");
            let (name, labels, value) = parse_sample(line);
            let (family, kind) = current.clone().expect("a sample before any family");
            let in_family = name == family
                || (kind == "summary"
                    && (name == format!("{family}_sum") || name == format!("{family}_count")));
            assert!(in_family, "{name} under family {family}");
            if kind == "counter" {
                assert!(family.ends_with("_total") && value >= 0.0, "{line}");
            }
            assert!(
                series.insert((name.clone(), labels.clone())),
                "series twice: {line}"
            );
            lines.push(Line {
                family,
                name,
                labels,
                value,
            });
        }
    }
    assert!(help.is_none(), "HELP without TYPE at the end");
    (lines, types)
}

/// The value of the series `name` with exactly these labels.
fn value(lines: &[Line], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    lines
        .iter()
        .find(|l| l.name == name && l.labels == want)
        .map(|l| l.value)
}

fn render_fixture() -> (Fixture, String) {
    let f = fixture();
    let text = render(&f.stats, &f.board, "shop \"journey\"\\v2");
    (f, text)
}

#[test]
fn every_family_is_declared_once_with_its_type() {
    let (_, text) = render_fixture();
    let (lines, types) = parse(&text);
    let expected = [
        ("volley_info", "gauge"),
        ("volley_run_phase", "gauge"),
        ("volley_elapsed_seconds", "gauge"),
        ("volley_users", "gauge"),
        ("volley_target", "gauge"),
        ("volley_requests_per_second", "gauge"),
        ("volley_late_starts_total", "counter"),
        ("volley_missed_starts_total", "counter"),
        ("volley_waited_starts_total", "counter"),
        ("volley_abandoned_total", "counter"),
        ("volley_invalid", "gauge"),
        ("volley_retries_total", "counter"),
        ("volley_cookies_dropped_total", "counter"),
        ("volley_workers", "gauge"),
        ("volley_workers_expected", "gauge"),
        ("volley_worker_users", "gauge"),
        ("volley_worker_requests_per_second", "gauge"),
        ("volley_worker_cpu_percent", "gauge"),
        ("volley_requests_total", "counter"),
        ("volley_request_failures_total", "counter"),
        ("volley_failures_total", "counter"),
        ("volley_protocol_requests_total", "counter"),
        ("volley_request_duration_seconds", "summary"),
        ("volley_bytes_sent_total", "counter"),
        ("volley_bytes_received_total", "counter"),
        ("volley_flow_iterations_total", "counter"),
        ("volley_flow_failures_total", "counter"),
        ("volley_flow_duration_seconds", "summary"),
    ];
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    assert_eq!(types, expected);
    // Every family has samples in this fixture.
    for family in expected.keys() {
        assert!(lines.iter().any(|l| &l.family == family), "{family} empty");
    }
}

#[test]
fn counts_equal_what_was_recorded() {
    let (f, text) = render_fixture();
    let (lines, _) = parse(&text);
    for (i, name) in [
        (HOME, "home"),
        (WEIRD_I, WEIRD),
        (IDLE, "idle"),
        (LOGIN, "login"),
    ] {
        let r = &f.recorded[i];
        let l = [("name", name)];
        assert_eq!(
            value(&lines, "volley_requests_total", &l),
            Some(r.requests as f64)
        );
        assert_eq!(
            value(&lines, "volley_request_failures_total", &l),
            Some(r.failures as f64)
        );
        assert_eq!(
            value(&lines, "volley_bytes_sent_total", &l),
            Some(r.sent as f64)
        );
        assert_eq!(
            value(&lines, "volley_bytes_received_total", &l),
            Some(r.received as f64)
        );
    }
    assert_eq!(f.recorded[HOME].requests, 2 * (10 + 1 + 10 + 2 + 10 + 3));
    assert_eq!(
        value(&lines, "volley_requests_total", &[("name", "idle")]),
        Some(0.0)
    );
    // Failures by kind and reason: six seconds' reports of each.
    assert_eq!(
        value(
            &lines,
            "volley_failures_total",
            &[("name", "home"), ("kind", "status"), ("reason", "HTTP 503")]
        ),
        Some(12.0)
    );
    assert_eq!(
        value(
            &lines,
            "volley_failures_total",
            &[
                ("name", WEIRD),
                ("kind", "check"),
                ("reason", "body \"ok\" missing")
            ]
        ),
        Some(6.0)
    );
    let by_reason = lines
        .iter()
        .filter(|l| l.name == "volley_failures_total")
        .count();
    assert_eq!(by_reason, 2);
    // Requests per protocol: home's first second (two engines) over
    // HTTP/2, the rest over HTTP/3; login's over HTTP/1.1; none for the
    // weird name (no connection counted) or the flow.
    let by_protocol = |name, protocol| {
        value(
            &lines,
            "volley_protocol_requests_total",
            &[("name", name), ("protocol", protocol)],
        )
    };
    assert_eq!(by_protocol("home", "HTTP/2"), Some(2.0 * 11.0));
    assert_eq!(
        by_protocol("home", "HTTP/3"),
        Some((f.recorded[HOME].requests - 22) as f64)
    );
    assert_eq!(
        by_protocol("login", "HTTP/1.1"),
        Some(f.recorded[LOGIN].requests as f64)
    );
    let series = lines
        .iter()
        .filter(|l| l.name == "volley_protocol_requests_total")
        .count();
    assert_eq!(series, 3, "only the protocols seen");
    // The flow.
    let r = &f.recorded[FLOW];
    let l = [("flow", "checkout")];
    assert_eq!(
        value(&lines, "volley_flow_iterations_total", &l),
        Some(r.requests as f64)
    );
    assert_eq!(
        value(&lines, "volley_flow_failures_total", &l),
        Some(r.failures as f64)
    );
    // The run.
    assert_eq!(value(&lines, "volley_users", &[]), Some(9.0));
    assert_eq!(value(&lines, "volley_late_starts_total", &[]), Some(6.0));
    assert_eq!(value(&lines, "volley_missed_starts_total", &[]), Some(9.0));
    assert_eq!(value(&lines, "volley_retries_total", &[]), Some(12.0));
    assert_eq!(
        value(&lines, "volley_cookies_dropped_total", &[]),
        Some(30.0)
    );
    assert_eq!(value(&lines, "volley_elapsed_seconds", &[]), Some(3.002));
    assert_eq!(
        value(&lines, "volley_target", &[("kind", "users")]),
        Some(10.0)
    );
    let rps = value(&lines, "volley_requests_per_second", &[]).unwrap();
    assert_eq!(rps, f.stats.current_rps());
    assert!(rps > 0.0);
    // Workers.
    let workers = |state| value(&lines, "volley_workers", &[("state", state)]);
    assert_eq!(workers("running"), Some(2.0));
    assert_eq!(workers("lost"), Some(1.0));
    assert_eq!(workers("joining"), Some(1.0));
    assert_eq!(workers("done"), Some(0.0));
    assert_eq!(workers("rejoined"), Some(0.0));
    assert_eq!(value(&lines, "volley_workers_expected", &[]), Some(3.0));
    let w1 = [("worker", "w1"), ("host", "gen-a")];
    assert_eq!(value(&lines, "volley_worker_users", &w1), Some(4.0));
    assert_eq!(
        value(&lines, "volley_worker_requests_per_second", &w1),
        Some(520.5)
    );
    assert_eq!(value(&lines, "volley_worker_cpu_percent", &w1), Some(93.25));
    let w3 = [("worker", "w3"), ("host", "gen-c")];
    assert_eq!(value(&lines, "volley_worker_cpu_percent", &w3), Some(0.0));
    // Info.
    let info = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("scenario", "shop \"journey\"\\v2"),
    ];
    assert_eq!(value(&lines, "volley_info", &info), Some(1.0));
}

#[test]
fn quantiles_sum_and_count_match_the_histograms() {
    let (f, text) = render_fixture();
    let (lines, _) = parse(&text);
    let cases = [
        ("volley_request_duration_seconds", ("name", "home"), HOME),
        ("volley_request_duration_seconds", ("name", WEIRD), WEIRD_I),
        ("volley_request_duration_seconds", ("name", "login"), LOGIN),
        ("volley_flow_duration_seconds", ("flow", "checkout"), FLOW),
    ];
    for (family, label, i) in cases {
        let h = &f.truth[i];
        assert!(!h.is_empty());
        for (q, q_label) in QUANTILES {
            let got = value(&lines, family, &[label, ("quantile", q_label)]);
            let want = histogram::quantile(h, q) as f64 / 1e6;
            assert_eq!(got, Some(want), "{family} {label:?} q{q_label}");
        }
        // The quantiles climb with q and stay within the samples.
        let qs: Vec<f64> = QUANTILES
            .iter()
            .filter_map(|(_, ql)| value(&lines, family, &[label, ("quantile", ql)]))
            .collect();
        assert!(qs.windows(2).all(|w| w[0] <= w[1]));
        assert!(qs[0] >= h.min() as f64 / 1e6 && qs[4] <= h.max() as f64 / 1e6 * 1.001);
        let count = value(&lines, &format!("{family}_count"), &[label]);
        assert_eq!(count, Some(h.len() as f64));
        assert_eq!(h.len(), f.recorded[i].requests);
        let sum = value(&lines, &format!("{family}_sum"), &[label]).unwrap();
        let want = h.mean() * h.len() as f64 / 1e6;
        assert!((sum - want).abs() <= want * 1e-12, "{sum} vs {want}");
    }
}

#[test]
fn a_name_without_samples_has_no_quantiles_and_zero_sum_and_count() {
    let (_, text) = render_fixture();
    let (lines, _) = parse(&text);
    let idle = |l: &&Line| l.labels.get("name").map(String::as_str) == Some("idle");
    let quantiles = lines
        .iter()
        .filter(idle)
        .filter(|l| l.labels.contains_key("quantile"))
        .count();
    assert_eq!(quantiles, 0);
    let l = [("name", "idle")];
    assert_eq!(
        value(&lines, "volley_request_duration_seconds_sum", &l),
        Some(0.0)
    );
    assert_eq!(
        value(&lines, "volley_request_duration_seconds_count", &l),
        Some(0.0)
    );
}

#[test]
fn label_values_are_escaped() {
    let (_, text) = render_fixture();
    // Backslash, double quote and newline each escaped, nothing else.
    assert!(
        text.contains(r#"volley_requests_total{name="we\"ird\\na\nme"} "#),
        "{text}"
    );
    assert!(text.contains(r#"reason="body \"ok\" missing"}"#));
    assert!(text.contains(r#"scenario="shop \"journey\"\\v2"}"#));
    // No raw newline inside any line: every line parses alone, and the
    // name comes back whole.
    let (lines, _) = parse(&text);
    assert!(
        lines
            .iter()
            .any(|l| l.labels.get("name").map(String::as_str) == Some(WEIRD))
    );
}

#[test]
fn flows_appear_only_in_flow_families() {
    let (_, text) = render_fixture();
    let (lines, _) = parse(&text);
    assert!(!text.contains("flow:"), "the prefix must be stripped");
    for l in &lines {
        let is_flow_family = l.family.starts_with("volley_flow_");
        assert_eq!(l.labels.contains_key("flow"), is_flow_family, "{l:?}");
        if is_flow_family {
            assert_eq!(l.labels["flow"], "checkout");
            assert!(!l.labels.contains_key("name"));
        }
        // The flow's failure reason stays out of the requests' families.
        if let Some(reason) = l.labels.get("reason") {
            assert!(!reason.contains("step"), "{l:?}");
        }
    }
    let requests = lines
        .iter()
        .filter(|l| l.name == "volley_requests_total")
        .count();
    assert_eq!(requests, 4);
}

#[test]
fn the_run_phase_is_a_stateset_and_the_target_kind_follows_the_model() {
    let mut f = fixture();
    f.board.open = true;
    f.board.target = 250.5;
    for phase in PHASES {
        f.board.phase = phase;
        let (lines, _) = parse(&render(&f.stats, &f.board, "s"));
        for other in PHASES {
            let v = value(&lines, "volley_run_phase", &[("phase", phase_label(other))]);
            assert_eq!(v, Some(if other == phase { 1.0 } else { 0.0 }));
        }
        assert_eq!(
            value(&lines, "volley_target", &[("kind", "rate")]),
            Some(250.5)
        );
        assert_eq!(value(&lines, "volley_target", &[("kind", "users")]), None);
    }
}

#[test]
fn an_empty_run_renders_valid_text() {
    let stats = RunStats::new(Vec::new());
    let board = Board {
        phase: Phase::Waiting,
        open: false,
        target: 0.0,
        step: 1.0,
        duration: None,
        workers: Vec::new(),
        expected_workers: 0,
        notes: Vec::new(),
        search: None,
    };
    let text = render(&stats, &board, "");
    let (lines, types) = parse(&text);
    assert_eq!(types.len(), 27);
    // parse() already asserts finite values; the spellings too, plainly.
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| !l.ends_with("NaN") && !l.to_lowercase().ends_with("inf"))
    );
    assert_eq!(value(&lines, "volley_users", &[]), Some(0.0));
    assert_eq!(value(&lines, "volley_requests_per_second", &[]), Some(0.0));
    assert_eq!(
        value(&lines, "volley_run_phase", &[("phase", "waiting")]),
        Some(1.0)
    );
}

#[test]
fn a_real_parser_reads_the_samples() {
    use prometheus_parse::{Scrape, Value};

    let (f, text) = render_fixture();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    for family in [
        "volley_requests_total",
        "volley_request_duration_seconds",
        "volley_users",
    ] {
        assert!(scrape.docs.contains_key(family), "no HELP for {family}");
    }
    let find = |metric: &str, label: &str, value: &str| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && s.labels.get(label) == Some(value))
            .unwrap_or_else(|| panic!("no {metric}{{{label}={value:?}}}"))
            .value
            .clone()
    };
    // This parser does not unescape label values, so the plain names
    // are checked; the escaped one is covered by the strict parser.
    for (i, name) in [(HOME, "home"), (LOGIN, "login")] {
        let r = &f.recorded[i];
        assert_eq!(
            find("volley_requests_total", "name", name),
            Value::Counter(r.requests as f64)
        );
        assert_eq!(
            find("volley_request_failures_total", "name", name),
            Value::Counter(r.failures as f64)
        );
        let Value::Summary(quantiles) = find("volley_request_duration_seconds", "name", name)
        else {
            panic!("not a summary");
        };
        let got: Vec<(f64, f64)> = quantiles.iter().map(|q| (q.quantile, q.count)).collect();
        let want: Vec<(f64, f64)> = QUANTILES
            .iter()
            .map(|(q, _)| (*q, histogram::quantile(&f.truth[i], *q) as f64 / 1e6))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            find("volley_request_duration_seconds_count", "name", name),
            Value::Untyped(f.truth[i].len() as f64)
        );
    }
    let Value::Summary(flow) = find("volley_flow_duration_seconds", "flow", "checkout") else {
        panic!("not a summary");
    };
    assert_eq!(flow.len(), QUANTILES.len());
    assert_eq!(
        find("volley_flow_iterations_total", "flow", "checkout"),
        Value::Counter(f.recorded[FLOW].requests as f64)
    );
    assert_eq!(
        find("volley_workers", "state", "running"),
        Value::Gauge(2.0)
    );
    let users = scrape
        .samples
        .iter()
        .find(|s| s.metric == "volley_users")
        .map(|s| s.value.clone());
    assert_eq!(users, Some(Value::Gauge(9.0)));
}

#[test]
fn streams_appear_only_in_stream_families_labelled_by_their_call() {
    let names: Vec<String> = ["chat", "flow:f", "sent:chat", "first:chat", "msg:chat"]
        .map(String::from)
        .into();
    let mut stats = RunStats::new(Rows::from_parts(
        names,
        Tail {
            flows: 1,
            streams: 3,
            ttfb: 0,
        },
    ));
    let mut snap = Snapshot {
        at_ms: 1000,
        interval_ms: 1000,
        users: 1,
        ..Snapshot::default()
    };
    // Two calls of five messages each.
    for (name, count, micros) in [
        (0u32, 2u64, 50_000),
        (2, 10, 10),
        (3, 2, 2_000),
        (4, 10, 4_000),
    ] {
        let mut n = NameSnapshot::empty(StatId(name));
        for _ in 0..count {
            record(&mut n.hist, micros);
            n.requests += 1;
        }
        snap.names.push(n);
    }
    stats.apply(0, &snap);
    stats.finish();
    let board = fixture().board;
    let text = render(&stats, &board, "s");
    let (lines, types) = parse(&text);
    assert!(!text.contains("msg:") && !text.contains("sent:") && !text.contains("first:"));
    let chat = [("name", "chat")];
    assert_eq!(value(&lines, "volley_requests_total", &chat), Some(2.0));
    assert_eq!(
        value(&lines, "volley_stream_messages_sent_total", &chat),
        Some(10.0)
    );
    assert_eq!(
        value(&lines, "volley_stream_messages_received_total", &chat),
        Some(10.0)
    );
    assert_eq!(types["volley_stream_message_seconds"], "summary");
    assert_eq!(
        value(&lines, "volley_stream_first_message_seconds_count", &chat),
        Some(2.0)
    );
    let p50 = value(
        &lines,
        "volley_stream_message_seconds",
        &[("name", "chat"), ("quantile", "0.5")],
    )
    .unwrap();
    assert!((p50 - 0.004).abs() < 0.0001, "{p50}");
    // Only requests are requests.
    let requests = lines
        .iter()
        .filter(|l| l.name == "volley_requests_total")
        .count();
    assert_eq!(requests, 1);
}
