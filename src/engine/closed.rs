//! The closed model: users that each send, wait for the answer, think and
//! send again, started at the spawn rate (the first at once) and stopped
//! newest first, toward the users the stages (or the console) want now.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::flow::{self, Claims, Turn};
use super::{Active, Control, Shared, total_now};
use crate::scenario::{LoadModel, LoadSpec, Think};

/// The closed model's controller, one tick at a time: how many users to
/// start (at the spawn rate, the first at once) or stop (the newest, at
/// once) to reach the users wanted.
struct Ramp {
    spawn_rate: f64,
    /// Users this engine may start now: its share of the spawn rate, over
    /// the time since the last tick.
    credit: f64,
    started_any: bool,
}

impl Ramp {
    fn new(spawn_rate: f64) -> Self {
        Ramp {
            spawn_rate,
            credit: 0.0,
            started_any: false,
        }
    }

    /// Users to start and to stop, `dt` seconds after the last tick, with
    /// `running` users and `desired` wanted, this engine having `fraction`
    /// of the run's load.
    fn step(&mut self, running: usize, desired: usize, fraction: f64, dt: f64) -> (usize, usize) {
        // The spawn rate is the run's; this engine spawns its share of it.
        self.credit += self.spawn_rate * fraction.max(1e-9) * dt;
        let (start, stop) = if running < desired {
            let can = (self.credit.floor() as usize).min(desired - running);
            // The first user starts at once.
            let can = if running == 0 && !self.started_any {
                can.max(1)
            } else {
                can
            };
            self.credit -= can as f64;
            (can, 0)
        } else {
            self.credit = self.credit.min(1.0);
            (0, running - desired)
        };
        self.started_any |= start > 0;
        // Credit saved while nothing waits to start would start a burst
        // later: at most a second's worth is kept.
        if running + start - stop >= desired {
            self.credit = self.credit.min(self.spawn_rate.max(1.0));
        }
        (start, stop)
    }
}

/// Closed model: users that each send, wait for the answer, think, repeat.
pub(super) async fn run(shared: Arc<Shared>, load: LoadSpec, control: watch::Receiver<Control>) {
    let LoadModel::Closed {
        users,
        spawn_rate,
        think,
        stages,
    } = load.model
    else {
        return;
    };
    let mut running: Vec<(CancellationToken, tokio::task::JoinHandle<()>)> = Vec::new();
    let mut next_id = 0u64;
    let mut ramp = Ramp::new(spawn_rate);
    let tick = Duration::from_millis(50);
    let mut last = Instant::now();
    let mut share = control.borrow().share;
    loop {
        let c = *control.borrow();
        if c.share != share {
            share = c.share;
            shared.records.set_share(share);
        }
        let t = shared.t0.elapsed();
        let desired = c.share.users(total_now(users as f64, &stages, &c, t)) as usize;
        let now = Instant::now();
        let dt = (now - last).as_secs_f64();
        last = now;
        running.retain(|(_, h)| !h.is_finished());
        if shared.exhausted() {
            // Every request is claimed: let those in flight finish, then end.
            for (_, handle) in running.drain(..) {
                let _ = handle.await;
            }
            shared.stop.cancel();
            break;
        }
        let (start, stop) = ramp.step(running.len(), desired, c.share.fraction(), dt);
        for _ in 0..start {
            let token = shared.stop.child_token();
            let handle = shared.spawn(
                "a virtual user",
                user_loop(shared.clone(), next_id, think, token.clone()),
            );
            running.push((token, handle));
            next_id += 1;
        }
        for _ in 0..stop {
            if let Some((token, _)) = running.pop() {
                token.cancel();
            }
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = shared.stop.cancelled() => break,
        }
    }
    for (token, handle) in running {
        token.cancel();
        let _ = handle.await;
    }
}

async fn user_loop(shared: Arc<Shared>, id: u64, think: Think, stop: CancellationToken) {
    let mut user = shared.requests.new_user(id);
    // A user holds its own records before it counts as running.
    if !flow::acquire(&shared, &mut user, &stop).await {
        return;
    }
    let active = Active::new(&shared.active);
    let mut started = false;
    while !stop.is_cancelled() {
        let mut claims = Claims::default();
        let t = flow::turn(&shared, &mut user, &mut started, None, &stop, &mut claims).await;
        if t == Turn::Stop {
            break;
        }
        if let Some(pause) = think.draw(&mut user.rng) {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => break,
            }
        }
    }
    drop(active);
    shared.records.release(&mut user.own);
}

#[cfg(test)]
mod tests {
    use super::Ramp;

    /// Ticks of 50 ms at `rate` users/s toward `desired`; the users
    /// running after each tick.
    fn ramp(rate: f64, fraction: f64, desired: usize, ticks: usize) -> Vec<usize> {
        let mut r = Ramp::new(rate);
        let mut running = 0;
        (0..ticks)
            .map(|_| {
                let (start, stop) = r.step(running, desired, fraction, 0.05);
                running = running + start - stop;
                running
            })
            .collect()
    }

    #[test]
    fn the_first_user_starts_at_once_then_the_spawn_rate_holds() {
        // 10 users/s: one every other tick, the first at once.
        let got = ramp(10.0, 1.0, 5, 12);
        assert_eq!(got, [1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5]);
        // Half the run's load: half the spawn rate.
        let half = ramp(10.0, 0.5, 5, 12);
        assert_eq!(half[11], 3, "{half:?}");
        // A fast rate starts many on one tick, never more than wanted.
        assert_eq!(ramp(1000.0, 1.0, 30, 3), [30, 30, 30]);
    }

    #[test]
    fn fewer_users_wanted_stop_at_once_and_no_burst_is_saved_up() {
        let mut r = Ramp::new(100.0);
        assert_eq!(r.step(0, 10, 1.0, 0.1), (10, 0));
        assert_eq!(r.step(10, 4, 1.0, 0.05), (0, 6));
        // A long wait at the target saves at most a second's worth.
        assert_eq!(r.step(4, 4, 1.0, 60.0), (0, 0));
        assert_eq!(r.step(4, 1000, 1.0, 0.0), (1, 0));
    }
}
