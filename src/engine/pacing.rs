//! Load over time: the target (users or requests/s) at each moment from the
//! stages, and the arrival schedule of the open model.

use std::time::Duration;

use crate::scenario::Stage;

/// The target at `t` since the start: the base value until the first stage,
/// then linear ramps from each stage's start value to its target; after the
/// last stage, its target.
pub fn target_at(base: f64, stages: &[Stage], t: Duration) -> f64 {
    if stages.is_empty() {
        return base;
    }
    // Stages start from zero, like k6's ramping executors.
    let mut from = 0.0;
    let mut start = Duration::ZERO;
    for s in stages {
        let end = start.saturating_add(s.duration);
        if t < end {
            let f = if s.duration.is_zero() {
                1.0
            } else {
                (t - start).as_secs_f64() / s.duration.as_secs_f64()
            };
            return from + (s.target - from) * f;
        }
        from = s.target;
        start = end;
    }
    from
}

/// The total length of the stages.
pub fn stages_length(stages: &[Stage]) -> Duration {
    stages
        .iter()
        .fold(Duration::ZERO, |sum, s| sum.saturating_add(s.duration))
}

/// The time between two arrivals at `rate` (> 0): at least a nanosecond
/// (so the schedule always moves), at most "never".
fn step(rate: f64) -> Duration {
    Duration::try_from_secs_f64(1.0 / rate)
        .unwrap_or(Duration::MAX)
        .max(Duration::from_nanos(1))
}

/// Open-model arrivals: the intended start of each request, one step of the
/// rate in force (1/rate) after the previous one. The step follows the rate
/// as it changes ([`Arrivals::follow`]): a ramp from zero does not wait out
/// the long step its first, tiny rate gave.
#[derive(Debug, Clone)]
pub struct Arrivals {
    next: Duration,
    /// The last arrival taken, while the schedule runs.
    last: Option<Duration>,
}

impl Default for Arrivals {
    fn default() -> Self {
        Self::new()
    }
}

impl Arrivals {
    pub fn new() -> Self {
        Arrivals {
            next: Duration::ZERO,
            last: None,
        }
    }

    /// Spaces the next arrival by `rate`, the rate in force now, from the
    /// last one taken (no earlier than `now` would make it: the arrivals
    /// already due stay due).
    pub fn follow(&mut self, rate: f64) {
        if let Some(last) = self.last
            && rate > 0.0
            && rate.is_finite()
        {
            self.next = last.saturating_add(step(rate));
        }
    }

    /// The next intended start, not yet taken.
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// Takes the next arrival at `rate` (per second). A rate of zero pauses
    /// the schedule: the next arrival is pushed to `now`.
    pub fn take(&mut self, rate: f64, now: Duration) -> Option<Duration> {
        if rate <= 0.0 || !rate.is_finite() {
            self.next = self.next.max(now);
            self.last = None;
            return None;
        }
        let at = self.next;
        self.last = Some(at);
        self.next = self.next.saturating_add(step(rate));
        Some(at)
    }

    /// Skips every arrival due by `now` (they cannot be started: every slot
    /// is busy); returns how many, computed at once rather than one by one,
    /// so that an overloaded generator stays responsive at any rate.
    pub fn skip_due(&mut self, rate: f64, now: Duration) -> u64 {
        if self.next > now {
            return 0;
        }
        if rate <= 0.0 || !rate.is_finite() {
            self.next = now;
            return 0;
        }
        let behind = (now - self.next).as_secs_f64();
        // A float to integer cast saturates; +1 counts the one due at `next`.
        let n = ((behind * rate).floor() as u64).saturating_add(1);
        let ahead = Duration::try_from_secs_f64(n as f64 / rate).unwrap_or(Duration::MAX);
        // Float rounding must not leave the schedule at or before `now`.
        self.next = self
            .next
            .saturating_add(ahead)
            .max(now.saturating_add(step(rate)));
        self.last = self.next.checked_sub(step(rate));
        n
    }

    /// Restarts the schedule at `now` (after a pause).
    pub fn reset_to(&mut self, now: Duration) {
        self.next = now;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64, target: f64) -> Stage {
        Stage {
            duration: Duration::from_secs(secs),
            target,
        }
    }

    #[test]
    fn stages_ramp_hold_and_ramp_down() {
        let stages = [s(10, 100.0), s(20, 100.0), s(10, 0.0)];
        let at = |t: f64| target_at(5.0, &stages, Duration::from_secs_f64(t));
        assert_eq!(at(0.0), 0.0);
        assert_eq!(at(5.0), 50.0);
        assert_eq!(at(10.0), 100.0);
        assert_eq!(at(29.0), 100.0);
        assert_eq!(at(35.0), 50.0);
        assert_eq!(at(99.0), 0.0);
        assert_eq!(target_at(5.0, &[], Duration::from_secs(3)), 5.0);
        assert_eq!(stages_length(&stages), Duration::from_secs(40));
    }

    #[test]
    fn arrivals_follow_the_rate() {
        let mut a = Arrivals::new();
        let mut times = Vec::new();
        while a.peek() < Duration::from_secs(1) {
            times.push(a.take(1000.0, Duration::ZERO).unwrap());
        }
        assert_eq!(times.len(), 1000);
        assert_eq!(times[1] - times[0], Duration::from_millis(1));
        // A rate change takes effect from the next arrival.
        let t = a.take(10.0, Duration::ZERO).unwrap();
        assert_eq!(a.peek() - t, Duration::from_millis(100));
        // ...and, followed, on the one already scheduled.
        a.follow(1000.0);
        assert_eq!(a.peek() - t, Duration::from_millis(1));
        // Zero pauses and moves the schedule up to now.
        assert_eq!(a.take(0.0, Duration::from_secs(5)), None);
        assert_eq!(a.peek(), Duration::from_secs(5));
    }

    #[test]
    fn a_ramp_from_zero_follows_the_rate() {
        // 0 to 100/s over 5 s: about 250 arrivals, not one and a long wait.
        let stages = [s(5, 100.0)];
        let mut a = Arrivals::new();
        let mut n = 0;
        let mut t = Duration::ZERO;
        while t < Duration::from_secs(5) {
            let r = target_at(0.0, &stages, t);
            a.follow(r);
            while a.peek() <= t {
                if a.take(r, t).is_none() {
                    break;
                }
                n += 1;
            }
            t += Duration::from_millis(10);
        }
        assert!((230..=260).contains(&n), "{n}");
    }

    #[test]
    fn absurd_rates_move_the_schedule_and_overload_is_counted_at_once() {
        let mut a = Arrivals::new();
        // A rate whose step rounds below a nanosecond still moves.
        a.take(1e15, Duration::ZERO).unwrap();
        assert!(a.peek() > Duration::ZERO);
        // A rate so low its step overflows: the next arrival is never.
        let mut b = Arrivals::new();
        b.take(1e-300, Duration::ZERO).unwrap();
        assert_eq!(b.peek(), Duration::MAX);
        assert_eq!(b.take(1e-300, Duration::ZERO), Some(Duration::MAX));
        // One second behind at 1,000/s: about a thousand skipped in one step.
        let mut c = Arrivals::new();
        let n = c.skip_due(1000.0, Duration::from_secs(1));
        assert_eq!(n, 1001);
        assert!(c.peek() > Duration::from_secs(1));
        assert_eq!(c.skip_due(1000.0, Duration::from_secs(1)), 0);
        // Even at an absurd rate and a long lag, it is one step.
        let mut d = Arrivals::new();
        assert!(d.skip_due(1e12, Duration::from_secs(3600)) > 1_000_000_000);
        assert!(d.peek() > Duration::from_secs(3600));
        assert_eq!(
            stages_length(&[s(u64::MAX, 1.0), s(u64::MAX, 1.0)]),
            Duration::MAX
        );
        assert_eq!(
            target_at(0.0, &[s(u64::MAX, 1.0), s(5, 9.0)], Duration::MAX),
            9.0
        );
    }
}
