//! How the generator itself fares: this process's CPU use per interval, the
//! reading that tells a generator-limited run from a target-limited one
//! (stats::validity judges it).

use std::time::{Duration, Instant};

/// The cores this process may use (its affinity mask and cgroup quota).
pub fn cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

/// This process's CPU use between two readings, in percent of the cores it
/// may use for load.
#[derive(Debug)]
pub struct CpuClock {
    wall: Instant,
    cpu: Duration,
    cores: f64,
}

impl CpuClock {
    /// A clock over `cores` cores (at least one).
    pub fn new(cores: u32) -> Self {
        CpuClock {
            wall: Instant::now(),
            cpu: process_cpu(),
            cores: f64::from(cores.max(1)),
        }
    }

    /// The percentage since the last reading (or the start), 0 to 100.
    pub fn percent(&mut self) -> f64 {
        let (wall, cpu) = (Instant::now(), process_cpu());
        let dw = wall.duration_since(self.wall).as_secs_f64();
        let dc = cpu.saturating_sub(self.cpu).as_secs_f64();
        self.wall = wall;
        self.cpu = cpu;
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

/// Asks the kernel to wake this thread within a microsecond of the time it
/// asked for (the default slack is 50 µs): the open model's dispatcher
/// sleeps until each arrival, and its wake-up error is the schedule's.
pub fn tight_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a value and touches no memory; it only
    // affects the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_thread_reads_as_busy_and_an_idle_one_as_idle() {
        let mut clock = CpuClock::new(1);
        let until = Instant::now() + Duration::from_millis(200);
        let mut x = 0u64;
        while Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        // The other test threads may add to it; the spin alone is ~100%.
        assert!(clock.percent() > 50.0);
        std::thread::sleep(Duration::from_millis(200));
        let idle = CpuClock::new(cores()).percent();
        assert!((0.0..=100.0).contains(&idle));
    }
}
