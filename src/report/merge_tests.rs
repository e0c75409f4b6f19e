//! Tests of merging saved results: exact histograms, aligned series,
//! names and workers added up, and what refuses to merge.

use super::*;
use crate::report::json;
use crate::stats::Tail;
use crate::stats::{FailureKind, Protocol, Snapshot};

fn report(names: &[&str], flows: usize, started: u64, seed: u64) -> RunReport {
    // Streams' rows, where there are any, are the last names.
    let streams = names
        .iter()
        .filter(|n| {
            crate::scenario::STREAM_PREFIXES
                .iter()
                .any(|p| n.starts_with(p))
        })
        .count();
    let rows = Rows::from_parts(
        names.iter().map(|n| n.to_string()).collect(),
        Tail {
            flows,
            streams,
            ttfb: 0,
        },
    );
    let mut stats = RunStats::new(rows);
    for sec in 1..=3u64 {
        let mut snap = Snapshot {
            at_ms: sec * 1000,
            interval_ms: 1000,
            users: 2,
            ..Snapshot::default()
        };
        for i in 0..names.len() as u32 {
            let mut n = NameTotals::empty(StatId(i));
            for k in 0..(10 + seed) {
                n.hist.record(100 * (i as u64 + 1) + k * seed + sec);
                n.requests += 1;
            }
            n.failures = 1;
            n.add_failure(FailureCount {
                kind: FailureKind::Status,
                reason: "HTTP 503".into(),
                count: 1,
                last_detail: None,
                seen_ms: None,
            });
            snap.names.push(n);
        }
        stats.apply(0, &snap);
    }
    stats.finish();
    let mut r = RunReport {
        config: RunConfig {
            scenario: "s".into(),
            targets: vec!["http://127.0.0.1:1".into()],
            model: "closed".into(),
            users: Some(2),
            spawn_rate: Some(1.0),
            rate: None,
            duration_s: Some(3.0),
            requests: None,
            timeout_s: 5.0,
            workers: 1,
            allow_empty: false,
            allow_all_failed: false,
            connections: None,
        },
        kinds: names
            .iter()
            .map(|n| {
                if n.starts_with("flow:") {
                    "flow"
                } else {
                    "HTTP"
                }
                .into()
            })
            .collect(),
        methods: names.iter().map(|_| "GET".into()).collect(),
        stats,
        started_unix_ms: started,
        thresholds: vec![Threshold::parse("p99<1s").unwrap()],
        verdicts: Vec::new(),
        notes: vec![],
        errors: vec![],
        invalid: vec![],
        generator_cpu_percent: None,
        report_lag_ms: None,
        workers: vec![],
        merged_from: vec![],
        aborted: None,
    };
    r.evaluate();
    r
}

fn round_trip(r: &RunReport) -> RunReport {
    let text = serde_json::to_string(&json::result(r)).unwrap();
    from_json(serde_json::from_str(&text).unwrap(), "r.json").unwrap()
}

#[test]
fn a_result_reads_back_exactly() {
    let r = report(&["a", "b", "flow:f"], 1, 1_000_000, 3);
    let back = round_trip(&r);
    assert_eq!(back.stats.names, r.stats.names);
    assert_eq!(back.stats.tail.flows, 1);
    assert_eq!(back.stats.totals, r.stats.totals);
    assert_eq!(back.stats.elapsed_ms, r.stats.elapsed_ms);
    assert_eq!(back.stats.series.points, r.stats.series.points);
    assert_eq!(back.verdicts, r.verdicts);
    assert_eq!(back.kinds, r.kinds);
    // The document written again is the same document.
    let again = serde_json::to_value(json::result(&back)).unwrap();
    assert_eq!(again, serde_json::to_value(json::result(&r)).unwrap());
}

#[test]
fn streams_read_back_and_merge_after_the_flows() {
    let names = ["chat", "flow:f", "sent:chat", "first:chat", "msg:chat"];
    let a = report(&names, 1, 1_000_000, 2);
    let back = round_trip(&a);
    assert_eq!(back.stats.names, a.stats.names);
    assert_eq!((back.stats.tail.flows, back.stats.tail.streams), (1, 3));
    assert_eq!(back.stats.totals, a.stats.totals);
    let doc = json::result(&back);
    assert_eq!(doc.streams.len(), 3);
    assert_eq!(doc.flows.len(), 1);
    // A run without streams merged with one that has them: each row
    // stays in its group, the totals count calls only.
    let b = report(&["other", "chat"], 0, 1_000_000, 3);
    let m = merge(
        vec![("a.json".into(), back), ("b.json".into(), b)],
        Align::Clock,
    )
    .unwrap();
    assert_eq!(
        m.stats.names,
        [
            "chat",
            "other",
            "flow:f",
            "sent:chat",
            "first:chat",
            "msg:chat"
        ]
    );
    assert_eq!((m.stats.tail.flows, m.stats.tail.streams), (1, 3));
    assert_eq!(m.stats.total().requests, 3 * 12 + 2 * 3 * 13);
    assert_eq!(m.stats.totals[5].requests, 3 * 12);
}

#[test]
fn merging_adds_histograms_and_lines_up_series() {
    let a = report(&["a", "flow:f"], 1, 1_000_000, 2);
    let b = report(&["b", "a", "flow:f"], 1, 1_002_000, 5);
    let mut truth_a = a.stats.totals[0].hist.clone();
    truth_a.add(&b.stats.totals[1].hist);
    let m = merge(
        vec![("a.json".into(), round_trip(&a)), ("b.json".into(), b)],
        Align::Clock,
    )
    .unwrap();
    // Requests first, flows last, each once.
    assert_eq!(m.stats.names, ["a", "b", "flow:f"]);
    assert_eq!(m.stats.tail.flows, 1);
    assert_eq!(m.stats.totals[0].hist, truth_a);
    assert_eq!(m.stats.totals[0].requests, 3 * 12 + 3 * 15);
    assert_eq!(m.stats.totals[0].failure_counts[0].count, 6);
    assert_eq!(m.stats.total().requests, 3 * 12 + 2 * 3 * 15);
    // b started 2 s after a and ran 3 s: 5 s in all, seconds 3 shared.
    assert_eq!(m.stats.elapsed_ms, 5000);
    let ts: Vec<u64> = m.stats.series.points.iter().map(|p| p.t).collect();
    assert_eq!(ts, [1, 2, 3, 4, 5]);
    let third = &m.stats.series.points[2];
    assert_eq!((third.requests, third.users), (12 + 30, 4));
    // b's "a" (index 1 there) is the merged "a" (index 0).
    assert_eq!(
        m.stats.series.points[4]
            .names
            .iter()
            .find(|n| n.name == StatId(0))
            .map(|n| n.requests),
        Some(15)
    );
    assert_eq!(m.config.users, Some(4));
    assert_eq!(m.merged_from, ["a.json", "b.json"]);
    assert_eq!(m.verdicts.len(), 1);
    let aligned = merge(
        vec![
            ("a".into(), report(&["a"], 0, 0, 1)),
            ("b".into(), report(&["a"], 0, 9_000, 1)),
        ],
        Align::Start,
    )
    .unwrap();
    assert_eq!(aligned.stats.elapsed_ms, 3000);
    assert_eq!(aligned.stats.series.points.len(), 3);
}

/// `r`'s name `i` answered `counts` times per protocol.
fn answered(r: &mut RunReport, i: usize, counts: &[(Protocol, u64)]) {
    for &(p, c) in counts {
        r.stats.totals[i].protocols.set(p, c);
    }
}

#[test]
fn protocols_read_back_merge_exactly_and_old_results_have_none() {
    // 36 requests per name: "a" moved from HTTP/2 to HTTP/3; "b" stayed on
    // HTTP/1.1, two of its requests never connected.
    let mut a = report(&["a", "b", "flow:f"], 1, 1_000_000, 2);
    answered(&mut a, 0, &[(Protocol::Http2, 6), (Protocol::Http3, 30)]);
    answered(&mut a, 1, &[(Protocol::Http1, 34)]);
    let doc = serde_json::to_value(json::result(&a)).unwrap();
    assert_eq!(
        doc["names"][0]["protocols"],
        serde_json::json!({"HTTP/2": 6, "HTTP/3": 30})
    );
    assert_eq!(
        doc["names"][1]["protocols"],
        serde_json::json!({"HTTP/1.1": 34})
    );
    assert_eq!(
        doc["totals"]["protocols"],
        serde_json::json!({"HTTP/1.1": 34, "HTTP/2": 6, "HTTP/3": 30})
    );
    assert!(
        doc["flows"][0].get("protocols").is_none(),
        "none counted: absent"
    );
    let back = round_trip(&a);
    assert_eq!(back.stats.totals, a.stats.totals);

    // A result written before volley counted protocols reads, with none.
    let mut old = doc.clone();
    for n in old["names"].as_array_mut().unwrap() {
        n.as_object_mut().unwrap().remove("protocols");
    }
    old["totals"].as_object_mut().unwrap().remove("protocols");
    let old = from_json(serde_json::from_value(old).unwrap(), "old.json").unwrap();
    assert!(old.stats.totals.iter().all(|n| n.protocols.is_empty()));

    // Merged: added per name and protocol; the old file adds none.
    let mut b = report(&["a"], 0, 1_000_000, 2);
    answered(&mut b, 0, &[(Protocol::Http3, 36)]);
    let m = merge(
        vec![
            ("a.json".into(), back),
            ("b.json".into(), b),
            ("old.json".into(), old),
        ],
        Align::Clock,
    )
    .unwrap();
    let p = m.stats.totals[0].protocols;
    assert_eq!(
        (
            p.get(Protocol::Http1),
            p.get(Protocol::Http2),
            p.get(Protocol::Http3)
        ),
        (0, 6, 66)
    );
    assert_eq!(m.stats.totals[0].requests, 3 * 36);
    assert_eq!(m.stats.totals[1].protocols.get(Protocol::Http1), 34);
    assert_eq!(m.stats.total().protocols.checked_total(), Some(6 + 66 + 34));
}

#[test]
fn bad_files_say_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let missing = load(&dir.path().join("none.json"))
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("none.json"), "{missing}");
    let p = dir.path().join("bad.json");
    std::fs::write(&p, "{\n  \"volley\": 3\n}").unwrap();
    let e = load(&p).err().unwrap().to_string();
    assert!(e.contains("bad.json") && e.contains("line 2"), "{e}");
    let r = report(&["a"], 0, 0, 1);
    let mut doc = json::result(&r);
    doc.names[0].histogram = "!!".into();
    let e = from_json(doc, "x.json").err().unwrap().to_string();
    assert!(e.contains("x.json") && e.contains("\"a\""), "{e}");
}

#[test]
fn results_that_contradict_themselves_are_refused_naming_the_field() {
    let r = report(&["a"], 0, 0, 1);
    let refused = |change: &dyn Fn(&mut ResultJson)| {
        let mut doc = json::result(&r);
        change(&mut doc);
        from_json(doc, "f.json").err().map(|e| e.to_string())
    };
    assert!(refused(&|_| {}).is_none(), "the unchanged result reads");
    let e = refused(&|d| d.names[0].failures = d.names[0].requests + 1).unwrap();
    assert!(e.contains("f.json") && e.contains("\"a\" failures"), "{e}");
    let e = refused(&|d| d.names[0].requests += 1).unwrap();
    assert!(e.contains("\"a\" histogram"), "{e}");
    let e = refused(&|d| {
        d.names[0].failures_by_reason.push(json::FailureJson {
            kind: crate::stats::FailureKind::Connect,
            reason: "forged".into(),
            count: u64::MAX,
            last_detail: None,
            first_seen_s: None,
            last_seen_s: None,
        })
    })
    .unwrap();
    assert!(e.contains("failures_by_reason"), "{e}");
    let e = refused(&|d| {
        let n = &mut d.names[0];
        n.protocols.set(Protocol::Http2, n.requests);
        n.protocols.set(Protocol::Http3, 1);
    })
    .unwrap();
    assert!(e.contains("\"a\" protocols"), "{e}");
    let e = refused(&|d| {
        let n = &mut d.names[0];
        n.protocols.set(Protocol::Http1, u64::MAX);
        n.protocols.set(Protocol::Http2, u64::MAX);
    })
    .unwrap();
    assert!(e.contains("\"a\" protocols"), "{e}");
    let e = refused(&|d| d.totals.failures = d.totals.requests + 1).unwrap();
    assert!(e.contains("totals failures"), "{e}");
    let e = refused(&|d| d.duration_s = 0.0).unwrap();
    assert!(e.contains("duration_s"), "{e}");
    let e = refused(&|d| d.duration_s = f64::NAN).unwrap();
    assert!(e.contains("duration_s"), "{e}");
    let e = refused(&|d| d.reset_at_s = d.duration_s + 1.0).unwrap();
    assert!(e.contains("reset_at_s"), "{e}");
}

#[test]
fn sums_that_would_wrap_are_refused_not_wrapped() {
    let mut big = report(&["a"], 0, 0, 1);
    big.stats.totals[0].requests = u64::MAX;
    let e = merge(
        vec![
            ("big.json".into(), big),
            ("b.json".into(), report(&["a"], 0, 0, 1)),
        ],
        Align::Start,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("b.json") && e.contains("64 bits"), "{e}");
    let mut late = report(&["a"], 0, 0, 1);
    late.stats.retries = u64::MAX;
    let mut later = report(&["a"], 0, 0, 1);
    later.stats.retries = 1;
    assert!(merge(vec![("x".into(), late), ("y".into(), later)], Align::Start).is_err());
}
