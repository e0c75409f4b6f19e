//! Comparisons of synthetic runs, built as a run builds its statistics
//! (snapshots applied second by second), so that totals and series agree.

use super::*;
use crate::report::json;
use crate::report::merge;
use crate::report::run_report::RunReport;
use crate::stats::histogram::record;
use crate::stats::{NameSnapshot, Rows, RunStats, Snapshot};

/// One name of a synthetic run: its latency centre (µs) per second, and
/// its failures per second.
struct Spec<'a> {
    name: &'a str,
    levels: Vec<f64>,
    per_second: u64,
    failures: u64,
}

fn spec(name: &str, centre: f64, seconds: usize, per_second: u64) -> Spec<'_> {
    Spec {
        name,
        levels: vec![centre; seconds],
        per_second,
        failures: 0,
    }
}

/// Latencies spread ±10% around a centre, deterministically.
fn spread_around(centre: f64, n: u64, seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        (centre * (0.9 + 0.2 * u)) as u64
    })
}

fn run(specs: &[Spec], seed: u64) -> RunReport {
    let names: Vec<String> = specs.iter().map(|s| s.name.to_owned()).collect();
    let mut stats = RunStats::new(names.clone());
    let seconds = specs.iter().map(|s| s.levels.len()).max().unwrap_or(0);
    for t in 0..seconds {
        let mut snap = Snapshot {
            at_ms: (t as u64 + 1) * 1000,
            interval_ms: 1000,
            users: 1,
            ..Snapshot::default()
        };
        for (i, s) in specs.iter().enumerate() {
            let Some(&level) = s.levels.get(t) else {
                continue;
            };
            let mut n = NameSnapshot::empty(Rows::request(i));
            for v in spread_around(level, s.per_second, seed * 1000 + t as u64 * 10 + i as u64) {
                record(&mut n.hist, v);
                n.requests += 1;
            }
            n.failures = s.failures.min(s.per_second);
            snap.names.push(n);
        }
        stats.apply(0, &snap);
    }
    stats.finish();
    // Through the result file's format, as `volley compare` reads runs.
    let named = |i: usize| {
        let mut s = json::stats_json(&names[i], &stats.totals[i], &stats);
        s.kind = "HTTP".into();
        s.method = "GET".into();
        s
    };
    let doc = serde_json::json!({
        "volley": "test",
        "config": {
            "scenario": "synthetic", "targets": [], "model": "closed", "users": 1,
            "spawn_rate": null, "rate": null, "duration_s": seconds, "requests": null,
            "timeout_s": 10.0, "workers": 1
        },
        "started_unix_ms": 0,
        "duration_s": seconds,
        "totals": json::stats_json("total", &stats.total(), &stats),
        "names": (0..names.len()).map(named).collect::<Vec<_>>(),
        "flows": [],
        "late_starts": 0,
        "missed_starts": 0,
        "series": stats.series.points,
        "thresholds": [],
        "passed": true,
        "notes": [],
        "report_lag_ms": null,
    });
    merge::from_json(serde_json::from_value(doc).unwrap(), "synthetic").unwrap()
}

fn side(reports: Vec<RunReport>) -> Side {
    let loaded = reports
        .into_iter()
        .enumerate()
        .map(|(i, r)| (format!("run{i}.json"), r))
        .collect();
    Side::new(loaded).unwrap()
}

fn verdict_of(c: &Comparison, name: &str) -> Verdict {
    c.names.iter().find(|n| n.name == name).unwrap().verdict
}

#[test]
fn identical_runs_are_unchanged() {
    let a = side(vec![run(&[spec("get", 5_000.0, 10, 1_000)], 1)]);
    let b = side(vec![run(&[spec("get", 5_000.0, 10, 1_000)], 1)]);
    let c = compare(&a, &b, &Settings::default()).unwrap();
    let n = &c.names[0];
    assert_eq!(n.verdict, Verdict::Unchanged, "{:?}", n.reasons);
    assert_eq!(n.p_slower, Some(0.5));
    assert!(n.latency.iter().all(|r| r.change == 0.0));
    assert!(!c.regressed());
    assert_eq!(c.verdict, "no_regression");
    assert_eq!(c.counts.get("unchanged"), Some(&1));
}

#[test]
fn twenty_percent_slower_is_a_regression_and_faster_an_improvement() {
    let fast = || side(vec![run(&[spec("get", 5_000.0, 5, 500)], 1)]);
    let slow = || side(vec![run(&[spec("get", 6_000.0, 5, 500)], 2)]);
    let c = compare(&fast(), &slow(), &Settings::default()).unwrap();
    let n = &c.names[0];
    assert_eq!(n.verdict, Verdict::Regression);
    assert!(c.regressed() && c.verdict == "regression");
    assert!(
        n.reasons.iter().any(|r| r.starts_with("p50 +")),
        "{:?}",
        n.reasons
    );
    let p50 = &n.latency[0];
    // The interval holds the true change, 20%, and lies beyond 5%.
    assert!(p50.low.unwrap() > 0.05 && p50.low.unwrap() < 0.2 && p50.high.unwrap() > 0.2);
    assert!(n.p_slower.unwrap() > 0.9);
    let c = compare(&slow(), &fast(), &Settings::default()).unwrap();
    assert_eq!(c.names[0].verdict, Verdict::Improved);
    assert!(!c.regressed());
}

#[test]
fn a_small_change_is_not_a_regression_however_many_requests() {
    // 2% slower over 200,000 requests: significant, but under the bound.
    let a = side(vec![run(&[spec("get", 5_000.0, 20, 10_000)], 1)]);
    let b = side(vec![run(&[spec("get", 5_100.0, 20, 10_000)], 2)]);
    let c = compare(&a, &b, &Settings::default()).unwrap();
    let p50 = &c.names[0].latency[0];
    assert!(p50.independent_low > 0.0, "significant: {p50:?}");
    assert_eq!(c.names[0].verdict, Verdict::Unchanged);
    // With no practical bound, the same change counts.
    let strict = Settings {
        min_change: 0.0,
        ..Settings::default()
    };
    assert_eq!(
        verdict_of(&compare(&a, &b, &strict).unwrap(), "get"),
        Verdict::Regression
    );
}

#[test]
fn noisy_seconds_keep_a_run_level_wobble_from_being_flagged() {
    // Each second's latency wanders by up to ±12% (the machine's noise);
    // the candidate's seconds happen to sit 7% higher on average. Counted
    // as independent requests that is a sure regression; counted by
    // seconds it is not sure at all.
    let wobble = [1.0, 1.12, 0.9, 1.05, 0.92, 1.1, 0.95, 1.08];
    let base: Vec<f64> = wobble.iter().map(|w| 5_000.0 * w).collect();
    let cand: Vec<f64> = wobble.iter().rev().map(|w| 5_350.0 * w).collect();
    let mk = |levels: Vec<f64>, seed| {
        side(vec![run(
            &[Spec {
                name: "get",
                levels,
                per_second: 2_000,
                failures: 0,
            }],
            seed,
        )])
    };
    let c = compare(&mk(base, 1), &mk(cand, 2), &Settings::default()).unwrap();
    let n = &c.names[0];
    let p50 = &n.latency[0];
    assert!(
        p50.independent_low > 0.05,
        "the naive test flags it: {p50:?}"
    );
    assert_eq!(p50.noise, Some(stats::Noise::Seconds));
    assert!(p50.low.unwrap() < 0.05, "{p50:?}");
    assert_ne!(n.verdict, Verdict::Regression, "{:?}", n.reasons);
}

#[test]
fn names_on_one_side_are_added_or_removed_and_none_in_common_is_an_error() {
    let a = side(vec![run(
        &[spec("get", 5_000.0, 5, 500), spec("old", 5_000.0, 5, 500)],
        1,
    )]);
    let b = side(vec![run(
        &[spec("get", 5_000.0, 5, 500), spec("new", 5_000.0, 5, 500)],
        1,
    )]);
    let c = compare(&a, &b, &Settings::default()).unwrap();
    let names: Vec<&str> = c.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["get", "old", "new"]);
    assert_eq!(verdict_of(&c, "old"), Verdict::Removed);
    assert_eq!(verdict_of(&c, "new"), Verdict::Added);
    assert!(!c.regressed());
    let other = side(vec![run(&[spec("else", 5_000.0, 5, 500)], 1)]);
    let e = compare(&a, &other, &Settings::default()).unwrap_err();
    assert!(
        e.to_string().contains("nothing") || e.to_string().contains("in common"),
        "{e}"
    );
}

#[test]
fn too_few_requests_or_seconds_are_not_enough_data() {
    let a = side(vec![run(&[spec("get", 5_000.0, 5, 10)], 1)]);
    let b = side(vec![run(&[spec("get", 9_000.0, 5, 10)], 2)]);
    let c = compare(&a, &b, &Settings::default()).unwrap();
    let n = &c.names[0];
    assert_eq!(n.verdict, Verdict::NotEnoughData);
    assert!(n.reasons[0].contains("50 latencies"), "{:?}", n.reasons);
    assert!(n.latency.iter().all(|r| r.mark.is_none()));
    let one_second = side(vec![run(&[spec("get", 5_000.0, 1, 5_000)], 1)]);
    let c = compare(&one_second, &one_second, &Settings::default()).unwrap();
    assert_eq!(c.names[0].verdict, Verdict::NotEnoughData);
}

#[test]
fn more_errors_are_a_regression() {
    let ok = side(vec![run(&[spec("get", 5_000.0, 10, 1_000)], 1)]);
    let failing = side(vec![run(
        &[Spec {
            failures: 50,
            ..spec("get", 5_000.0, 10, 1_000)
        }],
        1,
    )]);
    let c = compare(&ok, &failing, &Settings::default()).unwrap();
    let n = &c.names[0];
    assert_eq!(n.verdict, Verdict::Regression);
    assert!(
        n.reasons[0].starts_with("error rate +5.00pp"),
        "{:?}",
        n.reasons
    );
    let e = n.errors.as_ref().unwrap();
    assert!(e.p_value < 1e-6 && e.mark == Some(Mark::Worse));
}

#[test]
fn several_runs_per_side_merge_and_keep_their_seconds() {
    let runs = |centre: f64, seed: u64| {
        (0..3)
            .map(|k| run(&[spec("get", centre, 4, 500)], seed + k))
            .collect::<Vec<_>>()
    };
    let a = side(runs(5_000.0, 1));
    assert_eq!(a.files.len(), 3);
    assert_eq!(a.report.stats.totals[0].requests, 6_000);
    assert!((a.secs - 12.0).abs() < 1e-9);
    let b = side(runs(6_000.0, 10));
    let c = compare(&a, &b, &Settings::default()).unwrap();
    let n = &c.names[0];
    assert_eq!(n.verdict, Verdict::Regression);
    assert_eq!(n.baseline.as_ref().unwrap().seconds, 12);
    assert!((n.baseline.as_ref().unwrap().rps - 500.0).abs() < 1e-9);
}

#[test]
fn every_writer_says_the_verdict() {
    let a = side(vec![run(
        &[
            spec("get <a>", 5_000.0, 5, 500),
            spec("gone", 1_000.0, 5, 500),
        ],
        1,
    )]);
    let b = side(vec![run(&[spec("get <a>", 6_000.0, 5, 500)], 2)]);
    let c = compare(&a, &b, &Settings::default()).unwrap();
    let mut table = Vec::new();
    text::write_table(&mut table, &c).unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(
        table.contains("get <a> (request, HTTP): REGRESSION"),
        "{table}"
    );
    assert!(table.contains("gone (request, HTTP): removed"), "{table}");
    assert!(
        table.contains("WORSE") && table.contains("95% interval"),
        "{table}"
    );
    assert!(table.contains("1 REGRESSION, 1 removed"), "{table}");
    let mut md = Vec::new();
    text::write_markdown(&mut md, &c).unwrap();
    let md = String::from_utf8(md).unwrap();
    assert!(md.starts_with("### volley compare: regression"), "{md}");
    assert!(md.contains("| get &lt;a&gt; | **REGRESSION** |"), "{md}");
    let mut json = Vec::new();
    files::write_json(&mut json, &c).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["verdict"], "regression");
    assert_eq!(doc["names"][0]["verdict"], "regression");
    assert_eq!(doc["names"][0]["latency"][0]["percentile"], "p50");
    assert_eq!(doc["names"][1]["verdict"], "removed");
    assert_eq!(doc["settings"]["judged"][0], "p50");
    let mut xml = Vec::new();
    files::write_junit(&mut xml, &c).unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert!(xml.contains(r#"tests="2" failures="1""#), "{xml}");
    assert!(xml.contains(r#"name="get &lt;a&gt;""#), "{xml}");
    assert!(
        xml.contains(r#"<failure type="regression" message="p50 +"#),
        "{xml}"
    );
    let page = html::render(&c, &a, &b);
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("id=\"verdict\">REGRESSION<"));
    assert!(page.contains("id=\"chart-0\"><svg") && page.contains("candidate"));
    assert!(!page.contains("<script"));
}

#[test]
fn tails_are_judged_only_with_several_runs_a_side_unless_asked() {
    let one = || side(vec![run(&[spec("get", 5_000.0, 4, 500)], 1)]);
    let three = |seed: u64| {
        side(
            (0..3)
                .map(|k| run(&[spec("get", 5_000.0, 4, 500)], seed + k))
                .collect(),
        )
    };
    let judged = |c: &Comparison| -> Vec<&'static str> {
        c.names[0]
            .latency
            .iter()
            .filter(|r| r.judged)
            .map(|r| r.percentile)
            .collect()
    };
    let c = compare(&one(), &one(), &Settings::default()).unwrap();
    assert_eq!(judged(&c), ["p50", "p90"]);
    assert!(c.notes.iter().any(|n| n.contains("only p50 and p90")));
    let c = compare(&three(1), &three(10), &Settings::default()).unwrap();
    assert_eq!(judged(&c), ["p50", "p90", "p95", "p99"]);
    assert!(c.notes.is_empty());
    let asked = Settings {
        judged: Some(vec![Judged::P99]),
        ..Settings::default()
    };
    let c = compare(&one(), &one(), &asked).unwrap();
    assert_eq!(judged(&c), ["p99"]);
    assert!(!c.notes.iter().any(|n| n.contains("only p50")));
}

#[test]
fn changes_print_with_their_sign_and_never_minus_zero() {
    assert_eq!(signed(0.1984), "+19.8%");
    assert_eq!(signed(-0.0004), "+0.0%");
    assert_eq!(signed(-0.2), "-20.0%");
    assert_eq!(signed(f64::NAN), "n/a");
    assert_eq!(signed_points(-0.00001), "+0.00pp");
    assert_eq!(signed_points(0.0123), "+1.23pp");
    assert_eq!(interval(-0.01, 0.02), "[-1.0%, +2.0%]");
    assert_eq!(
        (percent(0.05), points(0.001), confidence(0.05)),
        ("5%".into(), "0.1pp".into(), "95%".into())
    );
}
