//! A timer on the engine's own runtime with the kernel's resolution: the
//! open model's dispatcher waits on it for each arrival.
//!
//! tokio's timer wheel ticks in milliseconds, too coarse for arrivals
//! microseconds apart. A thread of its own sleeping on the kernel's
//! high-resolution timer was precise, but every arrival then crossed from
//! that thread to the runtime's: a wake-up and, on one core, two context
//! switches per arrival, most of what an arrival cost (docs/results.md,
//! "The open model at the closed loop's cost"). A timerfd is a
//! high-resolution timer the runtime's own reactor waits on, beside the
//! sockets: when it fires, the runtime thread that was waiting wakes and
//! runs the dispatcher itself, and when the runtime is busy the expiry is
//! picked up on its next look at the reactor, with no wake-up at all.

use std::io;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Waits until an instant, to the microsecond where the kernel allows.
pub(super) enum Timer {
    /// A timerfd in the runtime's reactor.
    Fd(AsyncFd<OwnedFd>),
    /// tokio's timer (milliseconds), where no timerfd could be made (a
    /// sandbox that forbids it): arrivals then leave up to a millisecond
    /// late, and the run says so in its log.
    Coarse,
}

impl Timer {
    /// A timer on the current runtime (which must have its I/O driver on).
    pub(super) fn new() -> Self {
        match Self::timerfd() {
            Ok(fd) => Timer::Fd(fd),
            Err(e) => {
                tracing::warn!(
                    "no timerfd ({e}): the open model's arrivals follow tokio's millisecond timer"
                );
                Timer::Coarse
            }
        }
    }

    fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: an OwnedFd is open for as long as it lives and always
        // gives the same descriptor; the AsyncFd owns it, and nothing here
        // swaps it for another (no get_mut).
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// Returns at `at` or soon after; at once when `at` has passed.
    pub(super) async fn sleep_until(&mut self, at: Instant) {
        let Some(wait) = at
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return;
        };
        match self {
            Timer::Fd(fd) => {
                if let Err(e) = wait_fd(fd, wait).await {
                    // The timerfd stopped working mid-run: fall back rather
                    // than spin or stop the schedule.
                    tracing::warn!(
                        "the open model's timerfd failed ({e}): going on with tokio's millisecond timer"
                    );
                    *self = Timer::Coarse;
                    tokio::time::sleep_until(at.into()).await;
                }
            }
            Timer::Coarse => tokio::time::sleep_until(at.into()).await,
        }
    }
}

/// Arms the timerfd `wait` from now and waits for it to fire. Re-arming
/// clears an expiry not yet read (one a cancelled wait left behind), so a
/// stale one cannot end this wait early.
async fn wait_fd(fd: &AsyncFd<OwnedFd>, wait: Duration) -> io::Result<()> {
    let spec = Itimerspec {
        it_interval: Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: Timespec {
            // A wait longer than the type holds is bounded, not wrapped.
            tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(wait.subsec_nanos()),
        },
    };
    timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
    loop {
        let mut ready = fd.readable().await?;
        let mut expirations = [0u8; 8];
        match ready.try_io(|fd| Ok(rustix::io::read(fd.get_ref(), &mut expirations)?)) {
            Ok(Ok(_)) => {
                // The expiry is read and the timer is one-shot, not armed
                // again until the next wait: the readiness left set would
                // only cost that wait a read that finds nothing (one
                // system call per wake-up).
                ready.clear_ready();
                return Ok(());
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Ok(Err(e)) => return Err(e),
            // Readiness was stale (cleared by try_io): wait again.
            Err(_) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_waits_until_the_instant_and_not_before() {
        let mut t = Timer::new();
        assert!(matches!(t, Timer::Fd(_)), "timerfd is available on Linux");
        for micros in [0u64, 50, 300, 2_000] {
            let at = Instant::now() + Duration::from_micros(micros);
            t.sleep_until(at).await;
            assert!(Instant::now() >= at);
        }
        // A past instant returns at once (it does not disarm and hang).
        t.sleep_until(Instant::now() - Duration::from_millis(1))
            .await;
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_no_expiry_that_ends_the_next_one_early() {
        let mut t = Timer::new();
        // Armed for 1 ms, given up after none: its expiry comes later,
        // unread.
        let _ = tokio::time::timeout(
            Duration::ZERO,
            t.sleep_until(Instant::now() + Duration::from_millis(1)),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(3)).await;
        let at = Instant::now() + Duration::from_millis(20);
        t.sleep_until(at).await;
        assert!(Instant::now() >= at);
    }
}
