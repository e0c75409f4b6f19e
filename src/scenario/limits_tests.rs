//! Tests of the bounds: where each one is, that a load is checked whole,
//! and every message word for word.

use super::*;

fn closed(users: u64) -> LoadSpec {
    LoadSpec {
        model: LoadModel::Closed {
            users,
            spawn_rate: f64::INFINITY,
            think: Think::None,
            stages: Vec::new(),
        },
        duration: Some(Duration::from_secs(10)),
        requests: None,
        timeout: Duration::from_secs(30),
    }
}

#[test]
fn bounds_are_inclusive_and_named() {
    assert_eq!(users(MAX_USERS), Ok(MAX_USERS));
    let e = users(MAX_USERS + 1).unwrap_err();
    assert!(e.to_string().contains("1000000"), "{e}");
    assert!(rate(0.0).is_ok() && rate(MAX_RATE).is_ok() && rate(MIN_RATE).is_ok());
    for bad in [
        f64::NAN,
        f64::INFINITY,
        -1.0,
        1e-30,
        1e15,
        MAX_RATE * 1.0001,
    ] {
        let e = rate(bad).unwrap_err();
        assert!(e.to_string().contains("10000000"), "{e}");
    }
    for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0, 1e7] {
        assert!(spawn_rate(bad).is_err(), "{bad}");
    }
    assert_eq!(max_in_flight(0), Ok(1));
    assert!(max_in_flight(1_000_000_000).is_err());
    assert!(duration(MAX_DURATION).is_ok());
    let e = duration(MAX_DURATION + Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("365d"), "{e}");
    assert!(timeout(Duration::ZERO).is_err());
    assert!(timeout(Duration::from_micros(500)).is_err());
    assert!(
        timeout(Duration::from_secs(3601))
            .unwrap_err()
            .to_string()
            .contains("1h")
    );
    assert!(think(Duration::from_secs(3601)).is_err());
    assert!(requests(0).is_err() && requests(MAX_REQUESTS + 1).is_err());
}

#[test]
fn stage_totals_do_not_overflow() {
    let huge = Stage {
        duration: Duration::MAX,
        target: 1.0,
    };
    let e = stages_total(&[huge, huge]).unwrap_err();
    assert!(e.to_string().contains("365d"), "{e}");
    let day = Stage {
        duration: Duration::from_secs(86_400),
        target: 1.0,
    };
    assert!(stages_total(&vec![day; 365]).is_ok());
    assert!(stages_total(&vec![day; 366]).is_err());
}

#[test]
fn load_specs_are_checked_whole() {
    assert_eq!(closed(10).check(), Ok(()));
    assert_eq!(closed(i64::MAX as u64).check().unwrap_err().key, "users");
    let mut l = closed(10);
    l.timeout = Duration::from_secs(7200);
    assert_eq!(l.check().unwrap_err().key, "timeout");
    l = closed(10);
    if let LoadModel::Closed { think, .. } = &mut l.model {
        *think = Think::Uniform(Duration::from_secs(1), Duration::from_secs(9000));
    }
    assert_eq!(l.check().unwrap_err().key, "think_time");
    let open = |rate: f64, max_in_flight: u64| LoadSpec {
        model: LoadModel::Open {
            rate,
            max_in_flight,
            connections: DEFAULT_CONNECTIONS,
            stages: vec![],
        },
        ..closed(1)
    };
    assert_eq!(open(100.0, 10).check(), Ok(()));
    let mut no_pool = open(100.0, 10);
    if let LoadModel::Open { connections, .. } = &mut no_pool.model {
        *connections = 0;
    }
    assert_eq!(no_pool.check().unwrap_err().key, "connections");
    assert!(connections(MAX_CONNECTIONS + 1).is_err());
    assert_eq!(open(1e15, 10).check().unwrap_err().key, "rate");
    assert_eq!(open(f64::NAN, 10).check().unwrap_err().key, "rate");
    assert_eq!(open(10.0, 0).check().unwrap_err().key, "max_in_flight");
    assert_eq!(
        open(10.0, i64::MAX as u64).check().unwrap_err().key,
        "max_in_flight"
    );
}

#[test]
fn sizes() {
    assert_eq!(parse_size("4MiB"), Ok(4 << 20));
    assert_eq!(parse_size("512KiB"), Ok(512 << 10));
    assert_eq!(parse_size("1MB"), Ok(1_000_000));
    assert_eq!(parse_size("100B"), Ok(100));
    assert_eq!(parse_size("1.5 KiB"), Ok(1536));
    assert_eq!(parse_size("2048"), Ok(2048));
    assert_eq!(parse_size("4 mb"), Ok(4_000_000));
    for bad in [
        "",
        "MiB",
        "4 Mbit",
        "-1KiB",
        "1e3",
        "4MiBs",
        ".5MiB",
        "99999999999GiB",
    ] {
        assert!(parse_size(bad).is_err(), "{bad}");
    }
    assert!(max_body(1023).is_err() && max_body(1024).is_ok());
    assert!(redirects(-1).is_err() && redirects(0) == Ok(0));
    assert!(redirects(100) == Ok(100) && redirects(101).is_err());
    assert!(max_body(1 << 30).is_ok() && max_body((1 << 30) + 1).is_err());
}

#[test]
fn process_flags() {
    assert_eq!(parse_threads::<u32>("0"), Ok(0));
    assert_eq!(parse_threads::<usize>("1024"), Ok(1024));
    assert!(
        parse_threads::<usize>("100000")
            .unwrap_err()
            .to_string()
            .contains("1024")
    );
    assert!(parse_threads::<u32>("-1").is_err());
    assert!(parse_local_workers("0").is_err());
    assert!(
        parse_local_workers("65")
            .unwrap_err()
            .to_string()
            .contains("64")
    );
    assert!(
        parse_workers("1001")
            .unwrap_err()
            .to_string()
            .contains("1000")
    );
    assert_eq!(parse_workers("3"), Ok(3));
}

/// The messages word for word (scenario errors and flag refusals quote
/// them; tests of the CLI assert on them).
fn say<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => panic!("{v:?} passed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn messages_are_worded_as_users_see_them() {
    assert_eq!(
        say(users(MAX_USERS + 1)),
        "must be at most 1000000 users, not 1000001"
    );
    assert_eq!(
        say(max_in_flight(MAX_IN_FLIGHT + 1)),
        "must be at most 1000000, not 1000001"
    );
    assert_eq!(say(connections(0)), "must be from 1 to 100000, not 0");
    assert_eq!(
        say(requests(0)),
        "must be from 1 to 1000000000000000, not 0"
    );
    assert_eq!(say(stream_messages(0)), "must be from 1 to 10000000, not 0");
    assert_eq!(
        say(grpc_connections(10_001)),
        "must be from 1 to 10000, not 10001"
    );
    assert_eq!(
        say(user_target(-1.0)),
        "must be a number of users from 0 to 1000000, not -1"
    );
    assert_eq!(
        say(user_target(0.5e7)),
        "must be a number of users from 0 to 1000000, not 5000000"
    );
    assert_eq!(
        say(rate(1e-30)),
        "must be 0 or a number of requests per second from 0.001 to 10000000, not 0.000000000000000000000000000001"
    );
    assert_eq!(
        say(rate(f64::NAN)),
        "must be 0 or a number of requests per second from 0.001 to 10000000, not NaN"
    );
    assert_eq!(
        say(rate(1e20)),
        "must be 0 or a number of requests per second from 0.001 to 10000000, not 100000000000000000000"
    );
    assert_eq!(
        say(spawn_rate(0.0)),
        "must be a number of users per second above 0 and at most 1000000 (leave it out to start all users at once), not 0"
    );
    assert_eq!(
        say(duration(Duration::from_secs(366 * 86_400))),
        "must be at most 365d, not 366d"
    );
    assert_eq!(
        say(think(Duration::from_millis(3_600_500))),
        "must be at most 1h, not 3600500ms"
    );
    assert_eq!(
        say(timeout(Duration::ZERO)),
        "must be from 1ms to 1h, not 0ms"
    );
    assert_eq!(
        say(stream_duration(Duration::from_secs(7200))),
        "must be from 1ms to 1h, not 2h"
    );
    let huge = Stage {
        duration: Duration::MAX,
        target: 1.0,
    };
    assert_eq!(
        say(stages_total(&[huge, huge])),
        "must be at most 365d in all, not 3.6893488147419103e19s"
    );
    let day = Stage {
        duration: Duration::from_secs(86_400),
        target: 1.0,
    };
    assert_eq!(
        say(stages_total(&vec![day; 400])),
        "must be at most 365d in all, not 400d"
    );
    assert_eq!(
        redirects(101).unwrap_err().to_string(),
        "follow_redirects must be from 0 to 100 hops (or true or false), not 101"
    );
    assert_eq!(
        max_body(1023).unwrap_err().to_string(),
        "must be from 1KiB to 1GiB (1024 to 1073741824 bytes), not 1023 bytes"
    );
    assert_eq!(
        threads(1025).unwrap_err().to_string(),
        "must be at most 1024 (0: one per core), not 1025"
    );
    assert_eq!(
        parse_threads::<usize>(" x").unwrap_err().to_string(),
        "\" x\" is not a whole number >= 0"
    );
    assert_eq!(
        parse_threads::<u8>("1000").unwrap_err().to_string(),
        "must be at most 1024, not 1000"
    );
    assert_eq!(
        parse_local_workers("0").unwrap_err().to_string(),
        "must be from 1 to 64, not 0"
    );
    assert_eq!(
        parse_workers("-3").unwrap_err().to_string(),
        "\"-3\" is not a whole number >= 0"
    );
}

#[test]
fn load_spec_messages_name_the_key() {
    let mut l = closed(10);
    if let LoadModel::Closed { think, .. } = &mut l.model {
        *think = Think::Uniform(Duration::from_secs(2), Duration::from_secs(1));
    }
    assert_eq!(
        l.check().unwrap_err().to_string(),
        "think_time min 2s is above max 1s"
    );
    let open = LoadSpec {
        model: LoadModel::Open {
            rate: 10.0,
            max_in_flight: 0,
            connections: DEFAULT_CONNECTIONS,
            stages: vec![],
        },
        ..closed(1)
    };
    assert_eq!(
        open.check().unwrap_err().to_string(),
        "max_in_flight must be at least 1"
    );
    assert_eq!(
        closed(MAX_USERS + 1).check().unwrap_err().to_string(),
        "users must be at most 1000000 users, not 1000001"
    );
}
