//! Tests of the capacity search: the steps it takes, where it stops and what
//! it reports.

use super::*;

fn settings() -> Settings {
    Settings {
        start: 50.0,
        factor: 2.0,
        max_rate: 10_000.0,
        min_rate: 5.0,
        precision: 0.05,
        max_probes: 30,
        probe: Duration::from_secs(10),
        warmup: Duration::from_secs(1),
        drain: Duration::from_secs(2),
    }
}

fn probe(rate: f64, kind: Kind) -> Probe {
    Probe {
        rate,
        kind,
        why: Vec::new(),
        achieved_rps: rate,
        seconds: 10.0,
        requests: 0,
        failures: 0,
        error_rate: 0.0,
        p50_us: 0,
        p90_us: 0,
        p99_us: 0,
        max_us: 0,
        slos: Vec::new(),
        stopped_at_s: None,
        missed: 0,
        waited: 0,
        generator_cpu_percent: None,
    }
}

/// Runs a search against a target that keeps every rate up to `cap`
/// and whose generator gives out above `invalid_above`.
fn search(cap: f64, invalid_above: f64, s: Settings) -> Search {
    let mut search = Search::new(s);
    while let Some(r) = search.next_rate() {
        let kind = if r > invalid_above {
            Kind::Invalid
        } else if r <= cap {
            Kind::Kept
        } else {
            Kind::Broken
        };
        search.probes.push(probe(r, kind));
    }
    search
}

#[test]
fn climbs_then_bisects_to_the_precision() {
    let s = search(437.0, f64::INFINITY, settings());
    let rates: Vec<f64> = s.probes.iter().map(|p| p.rate).collect();
    // 50, 100, 200, 400 kept; 800 broken; then halves of the bracket.
    assert_eq!(&rates[..5], &[50.0, 100.0, 200.0, 400.0, 800.0]);
    let f = s.found();
    let rate = f.rate.unwrap_or(0.0);
    assert!((437.0 / 1.05..=437.0).contains(&rate), "{rate}");
    let below = f.below.unwrap_or(0.0);
    assert!(below > 437.0 && below <= rate * 1.05, "{below}");
    assert_eq!(f.limit, Limit::Broken { rate: below });
    assert!(s.probes.len() <= 12, "{rates:?}");
}

#[test]
fn goes_down_when_the_first_probe_breaks() {
    let s = search(12.0, f64::INFINITY, settings());
    assert_eq!(s.probes[1].rate, 25.0);
    let rate = s.found().rate.unwrap_or(0.0);
    assert!((12.0 / 1.05..=12.0).contains(&rate), "{rate}");
    let none = search(1.0, f64::INFINITY, settings());
    assert_eq!(none.found().rate, None);
    assert_eq!(none.found().limit, Limit::NoneKept);
    assert_eq!(none.probes.last().map(|p| p.rate), Some(5.0));
}

#[test]
fn an_invalid_probe_bounds_the_answer_from_below() {
    // The target takes 1,000/s; the generator gives out above 300.
    let s = search(1000.0, 300.0, settings());
    let f = s.found();
    let rate = f.rate.unwrap_or(0.0);
    assert!((300.0 / 1.05..=300.0).contains(&rate), "{rate}");
    assert!(matches!(f.limit, Limit::Invalid { .. }), "{f:?}");
    assert!(s.generator_bound());
    assert!(f.line().starts_with("capacity at least"), "{}", f.line());
}

#[test]
fn stops_at_the_max_rate_and_the_probe_budget() {
    let s = search(
        f64::INFINITY,
        f64::INFINITY,
        Settings {
            max_rate: 300.0,
            ..settings()
        },
    );
    let rates: Vec<f64> = s.probes.iter().map(|p| p.rate).collect();
    assert_eq!(rates, [50.0, 100.0, 200.0, 300.0]);
    assert_eq!(s.found().limit, Limit::MaxRate { rate: 300.0 });
    let few = search(
        437.0,
        f64::INFINITY,
        Settings {
            max_probes: 3,
            ..settings()
        },
    );
    assert_eq!(few.probes.len(), 3);
}

#[test]
fn a_kept_probe_above_a_broken_one_does_not_count() {
    let mut s = Search::new(settings());
    for (r, k) in [
        (50.0, Kind::Kept),
        (100.0, Kind::Broken),
        (75.0, Kind::Kept),
    ] {
        s.probes.push(probe(r, k));
    }
    s.probes.push(probe(120.0, Kind::Kept));
    let f = s.found();
    assert_eq!(f.rate, Some(75.0));
    assert_eq!(f.below, Some(100.0));
}

#[test]
fn stopped_from_outside_says_so() {
    let mut s = Search::new(settings());
    s.probes.push(probe(50.0, Kind::Kept));
    s.stopped = true;
    assert_eq!(s.next_rate(), None);
    assert_eq!(s.found().limit, Limit::Stopped);
}

#[test]
fn early_stops_are_looser_and_delayed() {
    let slos: Vec<Threshold> = ["p99<20ms", "rps>100", "error_rate<1%"]
        .iter()
        .filter_map(|t| Threshold::parse(t).ok())
        .collect();
    let e = early_stops(&slos, Duration::from_secs(3));
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].value, 30_000.0);
    assert_eq!(e[0].abort, Some(Duration::from_secs(3)));
    assert!((e[1].value - 0.015).abs() < 1e-12);
    // An error-rate SLO is added only when none is given.
    assert_eq!(slos_with_default(slos.clone()).len(), 3);
    let lat: Vec<Threshold> = Threshold::parse("p99<20ms").into_iter().collect();
    let with = slos_with_default(lat);
    assert_eq!(with.len(), 2);
    assert_eq!(with[1].text, DEFAULT_ERROR_SLO);
}

#[test]
fn settings_are_checked() {
    assert!(settings().check().is_ok());
    for bad in [
        Settings {
            start: 0.0,
            ..settings()
        },
        Settings {
            factor: 1.0,
            ..settings()
        },
        Settings {
            max_rate: 10.0,
            ..settings()
        },
        Settings {
            precision: 0.0,
            ..settings()
        },
        Settings {
            probe: Duration::from_millis(500),
            ..settings()
        },
        Settings {
            drain: Duration::from_secs(7200),
            ..settings()
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
    assert_eq!(round_rate(206.25), 206.0);
    assert_eq!(round_rate(1234.5), 1230.0);
    assert_eq!(format_rate(12.5), "12.5");
}

/// The messages word for word (`volley capacity` prints them as they are).
#[test]
fn settings_refusals_name_the_flag() {
    let refusal = |s: Settings| s.check().unwrap_err().to_string();
    let cases = [
        (
            Settings {
                start: -1.0,
                ..settings()
            },
            "--start-rate must be above 0 (got -1)",
        ),
        (
            Settings {
                factor: 1.0,
                ..settings()
            },
            "--factor must be above 1 and at most 100 (got 1)",
        ),
        (
            Settings {
                max_rate: 10.5,
                ..settings()
            },
            "--max-rate (10.5) must be at least --start-rate (50)",
        ),
        (
            Settings {
                min_rate: 60.0,
                ..settings()
            },
            "--min-rate (60) must be above 0 and at most --start-rate (50)",
        ),
        (
            Settings {
                precision: 0.0005,
                ..settings()
            },
            "--precision must be between 0.1% and 100% (got 0.050%)",
        ),
        (
            Settings {
                max_probes: 0,
                ..settings()
            },
            "--max-probes must be at least 1",
        ),
        (
            Settings {
                probe: Duration::from_millis(500),
                ..settings()
            },
            "--probe must be at least 1s (got 500ms): a probe shorter than a statistics interval measures nothing",
        ),
        (
            Settings {
                warmup: Duration::from_secs(7200),
                ..settings()
            },
            "--probe is at most 24h, --drain and --warmup at most 1h (got 10s, 2s and 7200s)",
        ),
    ];
    for (s, want) in cases {
        assert_eq!(refusal(s), want);
    }
}
