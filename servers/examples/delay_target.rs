//! delay_target: an HTTP/1.1 server whose latencies are known in advance, for
//! testing how exactly a load generator measures them.
//!
//! Every request, whatever its method and path, is answered `200` with a small
//! JSON body after a delay taken from a schedule:
//!
//! - `--delay fixed:10ms`: every request waits 10 ms.
//! - `--delay mix:50%=5ms,40%=20ms,10%=100ms`: a schedule of 1000 slots,
//!   500 of 5 ms, 400 of 20 ms and 100 of 100 ms, shuffled once with
//!   ChaCha8 seeded by `--seed` (default 42). The n-th request to arrive
//!   (counting from 0, over all connections) waits slot n mod 1000. So every
//!   1000 consecutive requests carry exactly the mix, and its percentiles are
//!   known exactly: here p25 = 5 ms, p75 = 20 ms, p95 = p99 = 100 ms. (Avoid
//!   checking a percentile that sits on a step, like p50 or p90 here: by
//!   nearest rank p50 is 5 ms, but one request more or an interpolating
//!   histogram makes it 20 ms.) Shares are given in steps of 0.1% and must add
//!   up to 100%.
//!
//! A delay is measured from the moment the service got the request head, to
//! the moment the answer is handed to hyper to write. The waits run on one
//! timer thread (a heap of deadlines and a channel with a timeout), not on
//! tokio's timer, whose 1 ms ticks would add up to 1 ms: each answer is
//! released within about 0.1 ms of its deadline while the server's core is
//! not saturated.
//!
//! `--stall-at 5s --stall-for 1s`: a stall window, from 5 s to 6 s after the
//! first request arrived (or after start, with `--clock start`). Every request
//! that arrives inside the window is held until the window ends, then answered
//! at once; such requests take no slot of the schedule, so the requests
//! outside the window still follow it exactly.
//!
//! The body is `{"delay_us":N}` (the scheduled delay) or `{"stalled_us":N}`
//! (how long a stalled request was held).
//!
//! `--rest-after 5ms`: the answer's head and the body's first bytes go at
//! the delay, the rest of the body (`"rest_us":N}`) that much later, timed
//! by the same timer thread: a known time to first byte (the delay) and a
//! known whole answer (the delay plus this). The server prints
//! `listening on ADDR` to stderr once it accepts, and nothing per request.
//!
//! ```sh
//! cargo build --release -p volley-predict --example delay_target
//! taskset -c 0 target/release/examples/delay_target --addr 127.0.0.1:0 \
//!     --delay mix:50%=5ms,40%=20ms,10%=100ms --stall-at 5s --stall-for 1s
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;

/// Slots in a `mix:` schedule.
const SLOTS: usize = 1000;

/// An HTTP/1.1 server that answers after known delays.
#[derive(Parser)]
struct Cli {
    /// Address to listen on (port 0: any free port; see the printed address).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// The delay of each answer: `fixed:DURATION` or
    /// `mix:P%=DURATION,P%=DURATION,...` (shares in steps of 0.1%, adding up
    /// to 100%). Durations take a unit: us, ms, s or m.
    #[arg(long, default_value = "fixed:0ms", value_parser = parse_schedule)]
    delay: Schedule,
    /// Seed of the shuffle of a `mix:` schedule.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Start of the stall window, counted on the clock chosen by --clock.
    #[arg(long, value_parser = parse_duration, requires = "stall_for")]
    stall_at: Option<Duration>,
    /// Length of the stall window.
    #[arg(long, value_parser = parse_duration, requires = "stall_at")]
    stall_for: Option<Duration>,
    /// Where the stall window's clock starts.
    #[arg(long, value_enum, default_value_t = Clock::FirstRequest)]
    clock: Clock,
    /// Tokio worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    threads: Option<usize>,
    /// Send the body's first bytes at the delay and the rest this much
    /// later (a chunked body), so that the time to first byte is known.
    #[arg(long, value_parser = parse_duration)]
    rest_after: Option<Duration>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Clock {
    /// The first request's arrival.
    FirstRequest,
    /// The moment the server starts listening.
    Start,
}

/// The delays, one per slot, used in turn.
#[derive(Clone, Debug)]
struct Schedule(Vec<Duration>);

fn parse_schedule(s: &str) -> Result<Schedule, String> {
    if let Some(d) = s.strip_prefix("fixed:") {
        return Ok(Schedule(vec![parse_duration(d)?]));
    }
    let Some(parts) = s.strip_prefix("mix:") else {
        return Err(format!(
            "{s:?}: expected fixed:DURATION or mix:P%=DURATION,..."
        ));
    };
    let mut slots = Vec::with_capacity(SLOTS);
    for part in parts.split(',') {
        let (share, delay) = part
            .split_once("%=")
            .ok_or_else(|| format!("{part:?}: expected P%=DURATION"))?;
        let share: f64 = share
            .parse()
            .map_err(|_| format!("{part:?}: {share:?} is not a percentage"))?;
        let count = share * (SLOTS as f64) / 100.0;
        if !(count >= 1.0 - 1e-9 && (count - count.round()).abs() < 1e-6) {
            return Err(format!(
                "{part:?}: shares are whole numbers of 0.1%, at least 0.1%"
            ));
        }
        let delay = parse_duration(delay)?;
        slots.extend(std::iter::repeat_n(delay, count.round() as usize));
    }
    if slots.len() != SLOTS {
        return Err(format!(
            "{s:?}: shares add up to {:.1}%, not 100%",
            slots.len() as f64 * 100.0 / SLOTS as f64
        ));
    }
    Ok(Schedule(slots))
}

/// One wait: wake `wake` at `at`. Ordered by deadline, then by arrival.
struct Wait {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Wait {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Wait {}
impl PartialOrd for Wait {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Wait {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The timer thread: wakes each wait at its deadline, to within the kernel's
/// timer slack (50 us by default), where tokio's timer would round up to the
/// next millisecond.
fn timer_thread(waits: mpsc::Receiver<Wait>) {
    let mut heap: BinaryHeap<Reverse<Wait>> = BinaryHeap::new();
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|Reverse(w)| w.at <= now) {
            let Reverse(w) = heap.pop().expect("peeked");
            let _ = w.wake.send(());
        }
        let next = match heap.peek() {
            Some(Reverse(w)) => waits.recv_timeout(w.at - now),
            None => waits
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(w) => heap.push(Reverse(w)),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

struct State {
    timer: mpsc::Sender<Wait>,
    schedule: Vec<Duration>,
    next: AtomicU64,
    waits: AtomicU64,
    started: Instant,
    first: OnceLock<Instant>,
    clock: Clock,
    stall: Option<(Duration, Duration)>,
    rest_after: Option<Duration>,
}

impl State {
    /// How long to hold a request that arrived at `arrival`: the rest of the
    /// stall window, or the next slot's delay.
    fn hold(&self, arrival: Instant) -> (Instant, Bytes) {
        let origin = match self.clock {
            Clock::Start => self.started,
            Clock::FirstRequest => *self.first.get_or_init(|| arrival),
        };
        if let Some((at, length)) = self.stall {
            let (from, until) = (origin + at, origin + at + length);
            if arrival >= from && arrival < until {
                let held = until - arrival;
                let body = format!("{{\"stalled_us\":{}}}", held.as_micros());
                return (until, Bytes::from(body));
            }
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let delay = self.schedule[(n % self.schedule.len() as u64) as usize];
        let body = format!("{{\"delay_us\":{}}}", delay.as_micros());
        (arrival + delay, Bytes::from(body))
    }
}

/// Waits until `until` on the timer thread.
async fn wait_until(state: &State, until: Instant) {
    if until > Instant::now() {
        let (wake, woken) = oneshot::channel();
        let seq = state.waits.fetch_add(1, Ordering::Relaxed);
        if state
            .timer
            .send(Wait {
                at: until,
                seq,
                wake,
            })
            .is_ok()
        {
            let _ = woken.await;
        }
    }
}

type Body = BoxBody<Bytes, Infallible>;

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let arrival = Instant::now();
    let (until, body) = state.hold(arrival);
    // Read the whole body so that the connection stays reusable.
    let _ = request.into_body().collect().await;
    wait_until(&state, until).await;
    let body = match state.rest_after {
        None => Full::new(body).boxed(),
        Some(rest) => {
            // The JSON object opened now (the first byte at the delay),
            // closed `rest` later.
            let mut first = body.to_vec();
            first.pop();
            first.push(b',');
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(2);
            let _ = tx.try_send(Ok(Frame::data(Bytes::from(first))));
            let state = state.clone();
            tokio::spawn(async move {
                wait_until(&state, until + rest).await;
                let end = format!("\"rest_us\":{}}}", rest.as_micros());
                let _ = tx.send(Ok(Frame::data(Bytes::from(end)))).await;
            });
            StreamBody::new(ReceiverStream::new(rx)).boxed()
        }
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[path = "shared/args.rs"]
mod args;
use args::parse_duration;

fn main() -> Result<()> {
    let cli = Cli::parse();
    let mut schedule = cli.delay.0.clone();
    if schedule.is_empty() {
        bail!("empty schedule");
    }
    schedule.shuffle(&mut ChaCha8Rng::seed_from_u64(cli.seed));
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    runtime.enable_all().build()?.block_on(async move {
        let listener = TcpListener::bind(cli.addr).await?;
        let (timer, waits) = mpsc::channel();
        std::thread::Builder::new()
            .name("timer".into())
            .spawn(move || timer_thread(waits))?;
        let state = Arc::new(State {
            timer,
            waits: AtomicU64::new(0),
            schedule,
            next: AtomicU64::new(0),
            started: Instant::now(),
            first: OnceLock::new(),
            clock: cli.clock,
            stall: cli.stall_at.zip(cli.stall_for),
            rest_after: cli.rest_after,
        });
        eprintln!("listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait, don't spin.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(state.clone(), request));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_has_the_shares() {
        let s = parse_schedule("mix:50%=5ms,40%=20ms,10%=100ms").unwrap().0;
        assert_eq!(s.len(), SLOTS);
        let count = |d: u64| s.iter().filter(|x| **x == Duration::from_millis(d)).count();
        assert_eq!((count(5), count(20), count(100)), (500, 400, 100));
        assert!(parse_schedule("mix:50%=5ms,40%=20ms").is_err());
        assert!(parse_schedule("mix:50.05%=5ms,49.95%=1ms").is_err());
        assert_eq!(
            parse_schedule("mix:99.9%=1ms,0.1%=1s").unwrap().0.len(),
            SLOTS
        );
        assert_eq!(
            parse_schedule("fixed:10ms").unwrap().0,
            vec![Duration::from_millis(10)]
        );
    }
}
