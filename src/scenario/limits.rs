//! The bounds of every load setting, in one place. A scenario is checked
//! against them when it compiles (with the key's line and column), flags
//! when they are parsed, and a plan from the network when it is decoded
//! ([`LoadSpec::check`]), so that no value the engine cannot honour (a user
//! count that exhausts memory, an arrival step that rounds to zero, a
//! duration whose sum overflows) ever reaches it. Every message names the
//! bound.

use std::time::Duration;

pub use super::units::{parse_size, show};
use super::{LoadModel, LoadSpec, Stage, Think};

/// The per-request timeout when the file does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The run's length when neither a duration nor a count is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(60);

/// Closed model: virtual users (and the stages' targets). A user costs about
/// 6 KB while idle (10,000 users measured at 59 MiB), more with a
/// connection and buffers: a million is several GiB on one machine and far
/// beyond any cluster volley runs on.
pub const MAX_USERS: u64 = 1_000_000;

/// Open model: requests started per second (and the stages' targets). Far
/// beyond what a cluster sends; keeps the arrival step 1/rate at 100 ns or
/// more, well above the nanosecond rounding of `Duration`.
pub const MAX_RATE: f64 = 10_000_000.0;

/// The lowest rate above zero: one request per 1,000 s. Smaller steps
/// 1/rate overflow `Duration` (below about 5e-20/s); zero stays allowed
/// (it pauses the schedule).
pub const MIN_RATE: f64 = 0.001;

/// Closed model: users started per second. The engine starts users in 50 ms
/// ticks, so any rate that starts [`MAX_USERS`] within a tick is the same
/// as leaving it out (all at once).
pub const MAX_SPAWN_RATE: f64 = 1_000_000.0;

/// Open model: requests in flight at once. Each is an executor with its own
/// connection and a slot of the arrival queue, which is allocated up front.
pub const MAX_IN_FLIGHT: u64 = 1_000_000;

/// Open model: `max_in_flight` when the file does not say.
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 10_000;

/// Open model: the connection pool when the file does not say. As many as
/// wrk2 and oha are usually given: enough for 60,000/s at 1 ms, few enough
/// that a one-thread server's accept queue takes them at once.
pub const DEFAULT_CONNECTIONS: u64 = 64;

/// Open model: the most connections of one run (each an executor task with
/// its own connection and buffers).
pub const MAX_CONNECTIONS: u64 = 100_000;

/// A run, each stage, and the stages together. A year is longer than any
/// load test and keeps deadlines (`Instant + duration`) far from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The per-request timeout, at most: latencies are recorded up to one hour
/// (the histogram's range), so a longer wait could not be measured.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// The per-request timeout, at least: plans travel between master and
/// workers in whole milliseconds.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// A think time (and a flow's think step), at most: a user that pauses
/// longer than the longest request volley can measure is an idle user;
/// fewer users say the same thing.
pub const MAX_THINK: Duration = Duration::from_secs(3600);

/// `requests`, at most: the count is split between workers in floating
/// point, exact below 2^53; this is also above what [`MAX_RATE`] sends in
/// [`MAX_DURATION`] (3.2e14).
pub const MAX_REQUESTS: u64 = 1_000_000_000_000_000;

/// Load threads of one process (`--threads`): tokio starts every thread up
/// front, each with its own stack; no machine volley runs on has more cores,
/// and threads beyond the cores only add switching.
pub const MAX_THREADS: usize = 1024;

/// Workers in one `volley run` (`--local-workers`): each is an engine with
/// its own runtime and a QUIC connection to the master in the same process;
/// beyond 64 they only contend for the same cores (use `volley worker` on
/// other machines).
pub const MAX_LOCAL_WORKERS: usize = 64;

/// Workers a master waits for (`--expect-workers`): the master merges every
/// worker's snapshot each second on one thread and reports a row per
/// worker; a thousand is far beyond the clusters volley is run on.
pub const MAX_WORKERS: usize = 1000;

/// `[grpc] connections`, at most: each is an HTTP/2 connection opened when
/// the run starts, and one serves many concurrent calls.
pub const MAX_GRPC_CONNECTIONS: u64 = 10_000;

/// `[http] max_body` when the file does not say: what volley keeps of an
/// answer's body for checks and captures.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;

/// `[http] max_body`, at least: checks and captures need some body; a
/// smaller cap would make them fail on ordinary answers.
pub const MIN_MAX_BODY: usize = 1 << 10;

/// `[http] max_body`, at most: every user in flight may hold this much.
pub const MAX_MAX_BODY: usize = 1 << 30;

/// A number as it was given (integers without ".0").
fn num(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e16 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// `users`.
pub fn users(n: u64) -> Result<u64, String> {
    if n > MAX_USERS {
        return Err(format!("must be at most {MAX_USERS} users, not {n}"));
    }
    Ok(n)
}

/// A closed-model stage's target (users).
pub fn user_target(x: f64) -> Result<f64, String> {
    if !(x.is_finite() && (0.0..=MAX_USERS as f64).contains(&x)) {
        return Err(format!(
            "must be a number of users from 0 to {MAX_USERS}, not {}",
            num(x)
        ));
    }
    Ok(x)
}

/// `rate`, or an open-model stage's target (requests per second).
pub fn rate(x: f64) -> Result<f64, String> {
    if !(x.is_finite() && (x == 0.0 || (MIN_RATE..=MAX_RATE).contains(&x))) {
        return Err(format!(
            "must be 0 or a number of requests per second from {MIN_RATE} to {}, not {}",
            num(MAX_RATE),
            num(x)
        ));
    }
    Ok(x)
}

/// `spawn_rate` as given (absent, all at once, is not a number to check).
pub fn spawn_rate(x: f64) -> Result<f64, String> {
    if !(x.is_finite() && x > 0.0 && x <= MAX_SPAWN_RATE) {
        return Err(format!(
            "must be a number of users per second above 0 and at most {} (leave it out to start all users at once), not {}",
            num(MAX_SPAWN_RATE),
            num(x)
        ));
    }
    Ok(x)
}

/// `max_in_flight` (0 is taken as 1).
pub fn max_in_flight(n: u64) -> Result<u64, String> {
    if n > MAX_IN_FLIGHT {
        return Err(format!("must be at most {MAX_IN_FLIGHT}, not {n}"));
    }
    Ok(n.max(1))
}

/// The open model's `connections`.
pub fn connections(n: u64) -> Result<u64, String> {
    if n == 0 || n > MAX_CONNECTIONS {
        return Err(format!("must be from 1 to {MAX_CONNECTIONS}, not {n}"));
    }
    Ok(n)
}

/// `duration`, a stage's duration, or the stages' total.
pub fn duration(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "must be at most {}, not {}",
            show(MAX_DURATION),
            show(d)
        ));
    }
    Ok(d)
}

/// The stages' total length, checked without overflowing.
pub fn stages_total(stages: &[Stage]) -> Result<Duration, String> {
    let total = stages
        .iter()
        .try_fold(Duration::ZERO, |a, s| a.checked_add(s.duration));
    match total {
        Some(t) if t <= MAX_DURATION => Ok(t),
        _ => Err(format!(
            "must be at most {} in all, not {}",
            show(MAX_DURATION),
            show_secs(stages.iter().map(|s| s.duration.as_secs_f64()).sum())
        )),
    }
}

/// Seconds that may be beyond `Duration`, shown as [`show`] does.
fn show_secs(secs: f64) -> String {
    match Duration::try_from_secs_f64(secs) {
        Ok(d) => show(d),
        Err(_) => format!("{secs:e}s"),
    }
}

/// `timeout`.
pub fn timeout(d: Duration) -> Result<Duration, String> {
    if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&d) {
        return Err(format!(
            "must be from {} to {}, not {}",
            show(MIN_TIMEOUT),
            show(MAX_TIMEOUT),
            show(d)
        ));
    }
    Ok(d)
}

/// A think time (either end of a range).
pub fn think(d: Duration) -> Result<Duration, String> {
    if d > MAX_THINK {
        return Err(format!(
            "must be at most {}, not {}",
            show(MAX_THINK),
            show(d)
        ));
    }
    Ok(d)
}

/// `requests`.
pub fn requests(n: u64) -> Result<u64, String> {
    if !(1..=MAX_REQUESTS).contains(&n) {
        return Err(format!("must be from 1 to {MAX_REQUESTS}, not {n}"));
    }
    Ok(n)
}

/// Messages a streaming call sends at most (`[request.stream] messages`):
/// each is rendered and sent by its user's task, and a call is bounded by
/// the timeout anyway.
pub const MAX_STREAM_MESSAGES: u64 = 10_000_000;

/// `[request.stream] messages`.
pub fn stream_messages(n: u64) -> Result<u64, String> {
    if !(1..=MAX_STREAM_MESSAGES).contains(&n) {
        return Err(format!("must be from 1 to {MAX_STREAM_MESSAGES}, not {n}"));
    }
    Ok(n)
}

/// `[request.stream] duration`: within a call's timeout's bounds.
pub fn stream_duration(d: Duration) -> Result<Duration, String> {
    timeout(d)
}

/// `[grpc] connections`.
pub fn grpc_connections(n: u64) -> Result<u64, String> {
    if !(1..=MAX_GRPC_CONNECTIONS).contains(&n) {
        return Err(format!("must be from 1 to {MAX_GRPC_CONNECTIONS}, not {n}"));
    }
    Ok(n)
}

/// `[grpc] max_message_size` when the file does not say: larger than
/// grpc-go's and tonic's 4 MiB receive default, which real services
/// outgrow (ghz accepts any size).
pub const DEFAULT_GRPC_MESSAGE: usize = 64 << 20;

/// `follow_redirects` as a number of hops: 0 (none) to this. Browsers stop
/// at 20; a chain longer than that is a loop in all but name.
pub const MAX_REDIRECTS: u32 = 100;

/// `follow_redirects` given as a number of hops.
pub fn redirects(n: i64) -> Result<u32, String> {
    match u32::try_from(n) {
        Ok(n) if n <= MAX_REDIRECTS => Ok(n),
        _ => Err(format!(
            "follow_redirects must be from 0 to {MAX_REDIRECTS} hops (or true or false), not {n}"
        )),
    }
}

/// `[http] max_body`, in bytes.
pub fn max_body(n: u64) -> Result<usize, String> {
    if !(MIN_MAX_BODY as u64..=MAX_MAX_BODY as u64).contains(&n) {
        return Err(format!(
            "must be from 1KiB to 1GiB ({MIN_MAX_BODY} to {MAX_MAX_BODY} bytes), not {n} bytes"
        ));
    }
    Ok(n as usize)
}

/// `--threads` (0: one per core).
pub fn threads(n: usize) -> Result<usize, String> {
    if n > MAX_THREADS {
        return Err(format!(
            "must be at most {MAX_THREADS} (0: one per core), not {n}"
        ));
    }
    Ok(n)
}

fn whole(s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("{s:?} is not a whole number >= 0"))
}

/// Parses `--threads N` (any integer type the flag has).
pub fn parse_threads<T: TryFrom<usize>>(s: &str) -> Result<T, String> {
    let n = whole(s)?;
    let n = threads(usize::try_from(n).unwrap_or(usize::MAX))?;
    T::try_from(n).map_err(|_| format!("must be at most {MAX_THREADS}, not {s}"))
}

/// Parses `--local-workers N`.
pub fn parse_local_workers(s: &str) -> Result<usize, String> {
    let n = whole(s)?;
    if !(1..=MAX_LOCAL_WORKERS as u64).contains(&n) {
        return Err(format!("must be from 1 to {MAX_LOCAL_WORKERS}, not {n}"));
    }
    Ok(n as usize)
}

/// Parses `--expect-workers N`.
pub fn parse_workers(s: &str) -> Result<usize, String> {
    let n = whole(s)?;
    if !(1..=MAX_WORKERS as u64).contains(&n) {
        return Err(format!("must be from 1 to {MAX_WORKERS}, not {n}"));
    }
    Ok(n as usize)
}

/// A setting out of its bounds: the key, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} {why}")]
pub struct LimitError {
    pub key: &'static str,
    pub why: String,
}

fn at<T>(key: &'static str, r: Result<T, String>) -> Result<T, LimitError> {
    r.map_err(|why| LimitError { key, why })
}

fn check_think(key: &'static str, t: &Think) -> Result<(), LimitError> {
    match *t {
        Think::None => {}
        Think::Fixed(d) => {
            at(key, think(d))?;
        }
        Think::Uniform(lo, hi) => {
            at(key, think(lo))?;
            at(key, think(hi))?;
            if lo > hi {
                return Err(LimitError {
                    key,
                    why: format!("min {} is above max {}", show(lo), show(hi)),
                });
            }
        }
    }
    Ok(())
}

fn check_stages(
    stages: &[Stage],
    target: fn(f64) -> Result<f64, String>,
) -> Result<(), LimitError> {
    for s in stages {
        at("stage duration", duration(s.duration))?;
        at("stage target", target(s.target))?;
    }
    at("stages", stages_total(stages))?;
    Ok(())
}

impl LoadSpec {
    /// Whether every setting is within its bounds (the constants of
    /// `scenario::limits`); the first one that is not, and why.
    pub fn check(&self) -> Result<(), LimitError> {
        match &self.model {
            LoadModel::Closed {
                users: u,
                spawn_rate: s,
                think,
                stages,
            } => {
                at("users", users(*u))?;
                // Infinite: all at once (spawn_rate left out).
                if *s != f64::INFINITY {
                    at("spawn_rate", spawn_rate(*s))?;
                }
                check_think("think_time", think)?;
                check_stages(stages, user_target)?;
            }
            LoadModel::Open {
                rate: r,
                max_in_flight: m,
                connections: c,
                stages,
            } => {
                at("rate", rate(*r))?;
                at("connections", connections(*c))?;
                if *m == 0 {
                    return Err(LimitError {
                        key: "max_in_flight",
                        why: "must be at least 1".into(),
                    });
                }
                at("max_in_flight", max_in_flight(*m))?;
                check_stages(stages, rate)?;
            }
        }
        if let Some(d) = self.duration {
            at("duration", duration(d))?;
        }
        if let Some(n) = self.requests {
            at("requests", requests(n))?;
        }
        at("timeout", timeout(self.timeout))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
        assert!(e.contains("1000000"), "{e}");
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
            assert!(e.contains("10000000"), "{e}");
        }
        for bad in [f64::NAN, f64::INFINITY, 0.0, -1.0, 1e7] {
            assert!(spawn_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(max_in_flight(0), Ok(1));
        assert!(max_in_flight(1_000_000_000).is_err());
        assert!(duration(MAX_DURATION).is_ok());
        let e = duration(MAX_DURATION + Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("365d"), "{e}");
        assert!(timeout(Duration::ZERO).is_err());
        assert!(timeout(Duration::from_micros(500)).is_err());
        assert!(
            timeout(Duration::from_secs(3601))
                .unwrap_err()
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
        assert!(e.contains("365d"), "{e}");
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
                .contains("1024")
        );
        assert!(parse_threads::<u32>("-1").is_err());
        assert!(parse_local_workers("0").is_err());
        assert!(parse_local_workers("65").unwrap_err().contains("64"));
        assert!(parse_workers("1001").unwrap_err().contains("1000"));
        assert_eq!(parse_workers("3"), Ok(3));
    }
}
