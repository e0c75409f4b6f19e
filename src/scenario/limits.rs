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

/// A byte count in the largest binary unit that divides it ("1KiB",
/// "1GiB"), as the `max_body` bounds are written.
fn size(n: usize) -> String {
    for (unit, name) in [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n > 0 && n.is_multiple_of(unit) {
            return format!("{}{name}", n / unit);
        }
    }
    format!("{n}B")
}

/// A value outside its setting's bound: which bound, its ends and the value
/// given. The message is what follows the setting's name ("must be at most
/// 1000000 users, not 2000000"): the file's key, the flag or
/// [`LimitError`] puts the name before it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BoundError {
    #[error("must be at most {max} users, not {value}")]
    Users { max: u64, value: u64 },
    #[error("must be a number of users from 0 to {max}, not {}", num(*.value))]
    UserTarget { max: u64, value: f64 },
    #[error(
        "must be 0 or a number of requests per second from {min} to {}, not {}",
        num(*.max),
        num(*.value)
    )]
    Rate { min: f64, max: f64, value: f64 },
    #[error(
        "must be a number of users per second above 0 and at most {} (leave it out to start all users at once), not {}",
        num(*.max),
        num(*.value)
    )]
    SpawnRate { max: f64, value: f64 },
    /// A count with only an upper end (`max_in_flight`).
    #[error("must be at most {max}, not {value}")]
    AtMost { max: u64, value: u64 },
    /// A count that must be at least this (`max_in_flight` in a plan).
    #[error("must be at least {min}")]
    AtLeast { min: u64 },
    /// A count with both ends (connections, requests, stream messages,
    /// workers).
    #[error("must be from {min} to {max}, not {value}")]
    Count { min: u64, max: u64, value: u64 },
    /// A duration with only an upper end (a run, a stage, a think time).
    #[error("must be at most {}, not {}", show(*.max), show(*.value))]
    Duration { max: Duration, value: Duration },
    /// The stages' total, in seconds since it may be beyond `Duration`.
    #[error("must be at most {} in all, not {}", show(*.max), show_secs(*.secs))]
    StagesTotal { max: Duration, secs: f64 },
    /// A duration with both ends (the timeout).
    #[error("must be from {} to {}, not {}", show(*.min), show(*.max), show(*.value))]
    DurationRange {
        min: Duration,
        max: Duration,
        value: Duration,
    },
    /// A uniform think time whose ends are the wrong way round.
    #[error("min {} is above max {}", show(*.min), show(*.max))]
    MinAboveMax { min: Duration, max: Duration },
    /// `follow_redirects` as hops: the key is in the message, as the file's
    /// compiler shows it alone.
    #[error("follow_redirects must be from 0 to {max} hops (or true or false), not {value}")]
    Redirects { max: u32, value: i64 },
    #[error(
        "must be from {} to {} ({min} to {max} bytes), not {value} bytes",
        size(*.min),
        size(*.max)
    )]
    Bytes { min: usize, max: usize, value: u64 },
    #[error("must be at most {max} (0: one per core), not {value}")]
    Threads { max: usize, value: usize },
}

/// `users`.
pub fn users(n: u64) -> Result<u64, BoundError> {
    if n > MAX_USERS {
        return Err(BoundError::Users {
            max: MAX_USERS,
            value: n,
        });
    }
    Ok(n)
}

/// A closed-model stage's target (users).
pub fn user_target(x: f64) -> Result<f64, BoundError> {
    if !(x.is_finite() && (0.0..=MAX_USERS as f64).contains(&x)) {
        return Err(BoundError::UserTarget {
            max: MAX_USERS,
            value: x,
        });
    }
    Ok(x)
}

/// `rate`, or an open-model stage's target (requests per second).
pub fn rate(x: f64) -> Result<f64, BoundError> {
    if !(x.is_finite() && (x == 0.0 || (MIN_RATE..=MAX_RATE).contains(&x))) {
        return Err(BoundError::Rate {
            min: MIN_RATE,
            max: MAX_RATE,
            value: x,
        });
    }
    Ok(x)
}

/// `spawn_rate` as given (absent, all at once, is not a number to check).
pub fn spawn_rate(x: f64) -> Result<f64, BoundError> {
    if !(x.is_finite() && x > 0.0 && x <= MAX_SPAWN_RATE) {
        return Err(BoundError::SpawnRate {
            max: MAX_SPAWN_RATE,
            value: x,
        });
    }
    Ok(x)
}

/// `max_in_flight` (0 is taken as 1).
pub fn max_in_flight(n: u64) -> Result<u64, BoundError> {
    if n > MAX_IN_FLIGHT {
        return Err(BoundError::AtMost {
            max: MAX_IN_FLIGHT,
            value: n,
        });
    }
    Ok(n.max(1))
}

/// A count from `min` to `max`.
fn count(n: u64, min: u64, max: u64) -> Result<u64, BoundError> {
    if !(min..=max).contains(&n) {
        return Err(BoundError::Count { min, max, value: n });
    }
    Ok(n)
}

/// The open model's `connections`.
pub fn connections(n: u64) -> Result<u64, BoundError> {
    count(n, 1, MAX_CONNECTIONS)
}

/// `duration`, a stage's duration, or the stages' total.
pub fn duration(d: Duration) -> Result<Duration, BoundError> {
    if d > MAX_DURATION {
        return Err(BoundError::Duration {
            max: MAX_DURATION,
            value: d,
        });
    }
    Ok(d)
}

/// The stages' total length, checked without overflowing.
pub fn stages_total(stages: &[Stage]) -> Result<Duration, BoundError> {
    let total = stages
        .iter()
        .try_fold(Duration::ZERO, |a, s| a.checked_add(s.duration));
    match total {
        Some(t) if t <= MAX_DURATION => Ok(t),
        _ => Err(BoundError::StagesTotal {
            max: MAX_DURATION,
            secs: stages.iter().map(|s| s.duration.as_secs_f64()).sum(),
        }),
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
pub fn timeout(d: Duration) -> Result<Duration, BoundError> {
    if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&d) {
        return Err(BoundError::DurationRange {
            min: MIN_TIMEOUT,
            max: MAX_TIMEOUT,
            value: d,
        });
    }
    Ok(d)
}

/// A think time (either end of a range).
pub fn think(d: Duration) -> Result<Duration, BoundError> {
    if d > MAX_THINK {
        return Err(BoundError::Duration {
            max: MAX_THINK,
            value: d,
        });
    }
    Ok(d)
}

/// `requests`.
pub fn requests(n: u64) -> Result<u64, BoundError> {
    count(n, 1, MAX_REQUESTS)
}

/// Messages a streaming call sends at most (`[request.stream] messages`):
/// each is rendered and sent by its user's task, and a call is bounded by
/// the timeout anyway.
pub const MAX_STREAM_MESSAGES: u64 = 10_000_000;

/// `[request.stream] messages`.
pub fn stream_messages(n: u64) -> Result<u64, BoundError> {
    count(n, 1, MAX_STREAM_MESSAGES)
}

/// `[request.stream] duration`: within a call's timeout's bounds.
pub fn stream_duration(d: Duration) -> Result<Duration, BoundError> {
    timeout(d)
}

/// `[grpc] connections`.
pub fn grpc_connections(n: u64) -> Result<u64, BoundError> {
    count(n, 1, MAX_GRPC_CONNECTIONS)
}

/// `[grpc] max_message_size` when the file does not say: larger than
/// grpc-go's and tonic's 4 MiB receive default, which real services
/// outgrow (ghz accepts any size).
pub const DEFAULT_GRPC_MESSAGE: usize = 64 << 20;

/// `follow_redirects` as a number of hops: 0 (none) to this. Browsers stop
/// at 20; a chain longer than that is a loop in all but name.
pub const MAX_REDIRECTS: u32 = 100;

/// `follow_redirects` given as a number of hops.
pub fn redirects(n: i64) -> Result<u32, BoundError> {
    match u32::try_from(n) {
        Ok(n) if n <= MAX_REDIRECTS => Ok(n),
        _ => Err(BoundError::Redirects {
            max: MAX_REDIRECTS,
            value: n,
        }),
    }
}

/// `[http] max_body`, in bytes.
pub fn max_body(n: u64) -> Result<usize, BoundError> {
    if !(MIN_MAX_BODY as u64..=MAX_MAX_BODY as u64).contains(&n) {
        return Err(BoundError::Bytes {
            min: MIN_MAX_BODY,
            max: MAX_MAX_BODY,
            value: n,
        });
    }
    Ok(n as usize)
}

/// `--threads` (0: one per core).
pub fn threads(n: usize) -> Result<usize, BoundError> {
    if n > MAX_THREADS {
        return Err(BoundError::Threads {
            max: MAX_THREADS,
            value: n,
        });
    }
    Ok(n)
}

/// A count flag's text that is not a whole number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a whole number >= 0")]
pub struct NotWhole(pub String);

/// A count flag's text as a whole number (surrounding blanks allowed).
pub fn parse_whole(s: &str) -> Result<u64, NotWhole> {
    s.trim().parse::<u64>().map_err(|_| NotWhole(s.to_owned()))
}

/// Why a count flag (`--threads`, `--local-workers`, `--expect-workers`)
/// was refused. clap takes it as it is and prints its message after its
/// own "invalid value" line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CountError {
    #[error(transparent)]
    NotWhole(#[from] NotWhole),
    #[error(transparent)]
    Bound(#[from] BoundError),
    /// Within the bound, but not in the flag's integer type.
    #[error("must be at most {max}, not {text}")]
    TooLarge { max: usize, text: String },
}

/// Parses `--threads N` (any integer type the flag has).
pub fn parse_threads<T: TryFrom<usize>>(s: &str) -> Result<T, CountError> {
    let n = parse_whole(s)?;
    let n = threads(usize::try_from(n).unwrap_or(usize::MAX))?;
    T::try_from(n).map_err(|_| CountError::TooLarge {
        max: MAX_THREADS,
        text: s.to_owned(),
    })
}

/// Parses `--local-workers N`.
pub fn parse_local_workers(s: &str) -> Result<usize, CountError> {
    let n = count(parse_whole(s)?, 1, MAX_LOCAL_WORKERS as u64)?;
    Ok(n as usize)
}

/// Parses `--expect-workers N`.
pub fn parse_workers(s: &str) -> Result<usize, CountError> {
    let n = count(parse_whole(s)?, 1, MAX_WORKERS as u64)?;
    Ok(n as usize)
}

/// A setting out of its bounds: the key, and why ("users must be at most
/// 1000000 users, not 2000000").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} {why}")]
pub struct LimitError {
    pub key: &'static str,
    /// Not a `#[source]`: its text is this message's, and a chain printed
    /// whole (`{:#}`) would say it twice.
    pub why: BoundError,
}

fn at<T>(key: &'static str, r: Result<T, BoundError>) -> Result<T, LimitError> {
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
                    why: BoundError::MinAboveMax { min: lo, max: hi },
                });
            }
        }
    }
    Ok(())
}

fn check_stages(
    stages: &[Stage],
    target: fn(f64) -> Result<f64, BoundError>,
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
                        why: BoundError::AtLeast { min: 1 },
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
#[path = "limits_tests.rs"]
mod tests;
