//! How the generator itself fares: the CPU its threads use per interval, the
//! reading that tells a generator-limited run from a target-limited one
//! (`stats::health` judges it).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One engine's threads (its runtime's), by kernel
/// thread id: what its CPU reading adds up, so that a target in the same
/// process (the demo's servers) or another engine is not counted as its own.
#[derive(Debug, Clone, Default)]
pub struct Threads(Arc<parking_lot::Mutex<Vec<libc::pid_t>>>);

impl Threads {
    /// Adds the calling thread.
    pub fn register_current(&self) {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        self.0.lock().push(tid);
    }

    fn ids(&self) -> Vec<libc::pid_t> {
        self.0.lock().clone()
    }
}

/// CPU time a thread of this process has used, from /proc (None once it
/// has ended, or where /proc is not there).
fn thread_cpu(tid: libc::pid_t) -> Option<Duration> {
    // schedstat's first field: nanoseconds on a CPU.
    if let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        && let Some(ns) = text.split_whitespace().next().and_then(|v| v.parse().ok())
    {
        return Some(Duration::from_nanos(ns));
    }
    // Without schedstats: utime and stime, in clock ticks (fields 14 and
    // 15, counted after the command name, which may hold spaces).
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let rest = text.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let ticks: u64 = fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&h| h > 0)?;
    Some(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000 / hz.min(1_000_000_000)),
    ))
}

/// The cores this process may use (its affinity mask and cgroup quota).
pub fn cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

/// CPU use between two readings, in percent of the cores it may use for
/// load: of the whole process, or of an engine's [`Threads`].
#[derive(Debug)]
pub struct CpuClock {
    wall: Instant,
    cpu: Duration,
    cores: f64,
    /// Per thread, its CPU time at the last reading.
    threads: Option<(Threads, HashMap<libc::pid_t, Duration>)>,
}

impl CpuClock {
    /// A clock of the whole process over `cores` cores (at least one).
    pub fn new(cores: u32) -> Self {
        CpuClock {
            wall: Instant::now(),
            cpu: process_cpu(),
            cores: f64::from(cores.max(1)),
            threads: None,
        }
    }

    /// A clock of `threads` only (threads added later count from their
    /// start), over `cores` cores.
    pub fn of_threads(threads: Threads, cores: u32) -> Self {
        let mut c = CpuClock {
            wall: Instant::now(),
            cpu: Duration::ZERO,
            cores: f64::from(cores.max(1)),
            threads: Some((threads, HashMap::new())),
        };
        c.used();
        c
    }

    /// CPU time used since the last call (threads: the sum of each one's
    /// growth, so that a thread that ends takes nothing back).
    fn used(&mut self) -> Duration {
        match &mut self.threads {
            None => {
                let now = process_cpu();
                let d = now.saturating_sub(self.cpu);
                self.cpu = now;
                d
            }
            Some((threads, last)) => {
                let mut d = Duration::ZERO;
                for tid in threads.ids() {
                    if let Some(now) = thread_cpu(tid) {
                        let before = last.insert(tid, now).unwrap_or(Duration::ZERO);
                        d = d.saturating_add(now.saturating_sub(before));
                    }
                }
                d
            }
        }
    }

    /// The percentage since the last reading (or the start), 0 to 100.
    pub fn percent(&mut self) -> f64 {
        let wall = Instant::now();
        let dw = wall.duration_since(self.wall).as_secs_f64();
        let dc = self.used().as_secs_f64();
        self.wall = wall;
        if dw <= 0.0 {
            0.0
        } else {
            (100.0 * dc / (dw * self.cores)).clamp(0.0, 100.0)
        }
    }
}

/// User and system CPU time of this process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid start.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::new(
            u64::try_from(t.tv_sec).unwrap_or(0),
            u32::try_from(t.tv_usec).unwrap_or(0).saturating_mul(1000),
        )
    };
    tv(u.ru_utime) + tv(u.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> libc::pid_t {
        // SAFETY: gettid has no arguments and cannot fail.
        unsafe { libc::gettid() }
    }

    /// Spins until this thread has used `cpu` more CPU time (CPU time, not
    /// wall time: a busy machine only makes it take longer, up to a bound).
    fn spin(cpu: Duration) {
        let start = thread_cpu(me()).expect("this thread's CPU time");
        let give_up = Instant::now() + Duration::from_secs(60);
        let mut x = 0u64;
        while thread_cpu(me()).is_some_and(|now| now.saturating_sub(start) < cpu) {
            assert!(Instant::now() < give_up, "no CPU time in 60 s");
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }

    #[test]
    fn the_process_clock_counts_this_thread() {
        let mut clock = CpuClock::new(1);
        spin(Duration::from_millis(100));
        assert!(clock.used() >= Duration::from_millis(100));
        assert!((0.0..=100.0).contains(&clock.percent()));
    }

    #[test]
    fn a_clock_of_threads_counts_those_threads_only() {
        let threads = Threads::default();
        let t = threads.clone();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        // A registered thread that sleeps, while this one spins.
        let sleeper = std::thread::spawn(move || {
            t.register_current();
            let _ = wait.recv();
        });
        while threads.ids().is_empty() {
            std::thread::yield_now();
        }
        let mut clock = CpuClock::of_threads(threads.clone(), 1);
        spin(Duration::from_millis(100));
        assert!(clock.used() < Duration::from_millis(50));
        // Registered, the spinning thread counts.
        threads.register_current();
        let _ = clock.used();
        spin(Duration::from_millis(100));
        assert!(clock.used() >= Duration::from_millis(100));
        let _ = go.send(());
        let _ = sleeper.join();
        // An ended thread takes nothing back.
        assert!((0.0..=100.0).contains(&clock.percent()));
    }
}
