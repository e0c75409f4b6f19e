//! Tests of the run's statistics: engines merged exactly, each name's history,
//! flows and stream messages kept out of the totals, rates after a reset.

use super::*;
use crate::stats::Tail;
use crate::stats::histogram::record;
use crate::stats::{Latency, Rows, StatId};

fn snap(at_ms: u64, name: u32, values: &[u64], users: u64) -> Snapshot {
    let mut n = NameSnapshot::empty(StatId(name));
    for v in values {
        record(&mut n.hist, *v);
        n.requests += 1;
    }
    Snapshot {
        at_ms,
        interval_ms: 1000,
        users,
        names: vec![n],
        ..Snapshot::default()
    }
}

#[test]
fn two_engines_merge_exactly_and_series_sums_users() {
    let mut run = RunStats::new(vec!["a".into(), "b".into()]);
    run.expect_sources(2);
    let mut truth = histogram::new();
    for sec in 1..=5u64 {
        let va: Vec<u64> = (0..100).map(|i| i * sec + 1).collect();
        let vb: Vec<u64> = (0..50).map(|i| 1000 + i * sec).collect();
        for v in va.iter().chain(&vb) {
            record(&mut truth, *v);
        }
        run.apply(1, &snap(sec * 1000, 0, &va, 3));
        run.apply(2, &snap(sec * 1000 + 5, 1, &vb, 4));
    }
    run.finish();
    let total = run.total();
    assert_eq!(total.requests, 750);
    assert!(histogram::equal(&total.hist.dense(), &truth));
    assert_eq!(run.series.points.len(), 5);
    assert!(
        run.series
            .points
            .iter()
            .all(|p| p.users == 7 && p.requests == 150)
    );
    assert_eq!(run.users(), 7);
    assert_eq!(run.totals[1].requests, 250);
}

#[test]
fn name_history_keeps_each_names_run_so_far_only_when_asked() {
    let mut kept = RunStats::new(vec!["a".into(), "b".into()]).with_name_history(true);
    let mut plain = RunStats::new(vec!["a".into(), "b".into()]);
    for run in [&mut kept, &mut plain] {
        run.apply(0, &snap(1000, 0, &[10, 20, 30], 1));
        run.apply(0, &snap(2000, 0, &[40], 1));
        run.apply(0, &snap(2001, 1, &[1000], 1));
        run.finish();
    }
    assert!(
        plain
            .series
            .points
            .iter()
            .all(|p| p.names.iter().all(|n| n.cumulative.is_none()))
    );
    let a: Vec<&Cumulative> = kept
        .series
        .points
        .iter()
        .filter_map(|p| p.names.iter().find(|n| n.name == StatId(0)))
        .map(|n| n.cumulative.as_deref().unwrap())
        .collect();
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].min, a[0].max), (10, 30));
    assert_eq!((a[1].min, a[1].max), (10, 40));
    assert!((a[1].mean_us - 25.0).abs() < 0.5, "{}", a[1].mean_us);
    // b's own, not the run's.
    let b = kept.series.points[1]
        .names
        .iter()
        .find(|n| n.name == StatId(1))
        .unwrap();
    assert_eq!(b.cumulative.as_deref().map(|c| c.min), Some(1000));
    // A report that comes after its second was sealed keeps each
    // name's run so far (the CSV's `Total …` columns), the later one.
    kept.apply(0, &snap(2002, 0, &[50], 1));
    kept.apply(0, &snap(2003, 1, &[2000], 1));
    kept.finish();
    let last = &kept.series.points[1];
    for (name, max) in [(0, 50), (1, 2000)] {
        let n = last.names.iter().find(|n| n.name == StatId(name)).unwrap();
        assert_eq!(n.cumulative.as_deref().map(|c| c.max), Some(max));
    }
    assert_eq!(last.cumulative.as_ref().map(|c| c.max), Some(2000));
    // A reset keeps the setting.
    kept.reset();
    assert!(kept.name_history);
}

#[test]
fn flows_stay_out_of_the_totals() {
    let mut run = RunStats::new(Rows::from_parts(
        vec!["step".into(), "flow:f".into()],
        Tail {
            flows: 1,
            streams: 0,
            ttfb: 0,
        },
    ));
    run.apply(0, &snap(1000, 0, &[10, 20, 30], 1));
    run.apply(0, &snap(1001, 1, &[100], 1));
    run.finish();
    // A late report of a sealed second joins its point.
    run.apply(0, &snap(1002, 0, &[40], 1));
    run.finish();
    assert_eq!(run.series.points.len(), 1);
    assert_eq!(run.series.points[0].requests, 4);
    assert!(run.is_flow(1) && !run.is_flow(0));
    let total = run.total();
    assert_eq!((total.requests, total.hist.max()), (4, 40));
    assert_eq!(run.totals[1].requests, 1);
    assert_eq!(run.series.points.iter().map(|p| p.requests).sum::<u64>(), 4);
    // The series still carries the flow, for the console and the history.
    assert!(
        run.series
            .points
            .iter()
            .any(|p| p.names.iter().any(|n| n.name == StatId(1)))
    );
    run.reset();
    assert_eq!(run.tail.flows, 1);
}

#[test]
fn rates_after_a_reset_count_from_the_reset() {
    let mut run = RunStats::new(vec!["a".into()]);
    for sec in 1..=10u64 {
        run.apply(0, &snap(sec * 1000, 0, &vec![100; 1000], 1));
    }
    assert_eq!(run.rps(&run.totals[0]), 1000.0);
    run.reset();
    assert_eq!((run.elapsed_ms, run.measured_secs()), (10_000, 0.0));
    for sec in 11..=12u64 {
        run.apply(0, &snap(sec * 1000, 0, &vec![100; 500], 1));
    }
    run.finish();
    // 1,000 requests in the 2 s since the reset, not in the 12 s run.
    assert_eq!(run.totals[0].requests, 1000);
    assert_eq!(run.rps(&run.totals[0]), 500.0);
    assert_eq!(run.rps(&run.total()), 500.0);
}

#[test]
fn streams_messages_stay_out_of_the_totals_and_after_the_flows() {
    let names = ["call", "flow:f", "sent:call", "first:call", "msg:call"];
    let mut run = RunStats::new(Rows::from_parts(
        names.iter().map(|n| n.to_string()).collect(),
        Tail {
            flows: 1,
            streams: 3,
            ttfb: 0,
        },
    ));
    assert_eq!(run.request_names(), 1);
    assert_eq!(run.flow_names(), 1..2);
    assert_eq!(run.stream_names(), 2..5);
    let classes: Vec<NameClass> = (0..5).map(|i| run.class(i)).collect();
    assert_eq!(
        classes,
        [
            NameClass::Request,
            NameClass::Flow,
            NameClass::Stream,
            NameClass::Stream,
            NameClass::Stream
        ]
    );
    run.apply(0, &snap(1000, 0, &[500], 1));
    run.apply(0, &snap(1001, 2, &[1, 1, 1], 1));
    run.apply(0, &snap(1002, 4, &[100, 200, 300], 1));
    run.finish();
    let total = run.total();
    assert_eq!((total.requests, total.hist.max()), (1, 500));
    assert_eq!(run.series.points[0].requests, 1);
    assert_eq!(run.totals[4].requests, 3);
    run.reset();
    assert_eq!((run.tail.flows, run.tail.streams), (1, 3));
}

#[test]
fn many_names_cost_what_they_recorded_and_merge_exactly() {
    const NAMES: u32 = 10_000;
    let mut run = RunStats::new((0..NAMES).map(|i| format!("n{i}")).collect::<Vec<_>>());
    run.expect_sources(2);
    // Nothing recorded yet: small histograms.
    assert!(run.totals.iter().all(|t| t.hist.heap_bytes() == 0));
    let value =
        |name: u32, sec: u64, i: u64| 50 + (u64::from(name) * 17 + sec * 101 + i * 7) % 1_900;
    let mut truth: Vec<Latency> = (0..NAMES).map(|_| histogram::new()).collect();
    for sec in 1..=3u64 {
        let mut per_second: Vec<Latency> = (0..NAMES).map(|_| histogram::new()).collect();
        for source in 1..=2u64 {
            let names = (0..NAMES)
                .filter(|n| u64::from(n % 3) != source)
                .map(|name| {
                    let values: Vec<u64> = (0..1 + u64::from(name % 4))
                        .map(|i| value(name, sec, i * source))
                        .collect();
                    for v in &values {
                        record(&mut truth[name as usize], *v);
                        record(&mut per_second[name as usize], *v);
                    }
                    snap(0, name, &values, 0).names.remove(0)
                })
                .collect();
            let s = Snapshot {
                at_ms: sec * 1000,
                interval_ms: 1000,
                users: 2,
                names,
                ..Snapshot::default()
            };
            // One engine's reports travel sparse, the other's dense.
            if source == 1 {
                run.apply(source, &s.to_sparse());
            } else {
                run.apply(source, &s);
            }
        }
        // Sealed as soon as both reported: the second's percentiles per name.
        let point = run.series.points.last().unwrap();
        assert_eq!(point.t, sec);
        assert_eq!(point.names.len(), NAMES as usize);
        for np in &point.names {
            assert_eq!(np.latency, Percentiles::of(&per_second[np.name.index()]));
            assert_eq!(np.requests, per_second[np.name.index()].len());
        }
    }
    run.finish();
    for (t, h) in run.totals.iter().zip(&truth) {
        assert!(histogram::equal(&t.hist.dense(), h));
        assert_eq!(t.requests, h.len());
        // Latencies under 2 ms: no bigger than the smallest histogram.
        assert!(t.hist.heap_bytes() <= 2048 * 8);
    }
}
