//! A user's turn: it holds its own records (`per_user` data), has passed its
//! on-start flow, then does one action: a top-level request, or one
//! iteration of a flow (steps in order, captures feeding later steps, each
//! step recorded under its own name and the whole iteration as `flow:NAME`).
//! The closed model's users and the open model's executors both take turns.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Shared;
use super::exec::{Action, UserState};
use crate::scenario::Step;
use crate::stats::{Failure, Sample};

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Turn {
    Done,
    /// Stopped, or the request count is used up.
    Stop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowEnd {
    Passed,
    Failed,
    Stopped,
}

/// The right to send requests under the run's request count. The open model
/// claims one per arrival before the turn (prepaid); every further request
/// of the turn claims its own.
#[derive(Debug, Default)]
pub(super) struct Claims {
    prepaid: bool,
}

impl Claims {
    pub(super) fn prepaid() -> Self {
        Claims { prepaid: true }
    }

    fn claim(&mut self, shared: &Shared) -> bool {
        std::mem::take(&mut self.prepaid) || shared.claim()
    }

    /// Gives back a prepaid claim the turn did not use.
    pub(super) fn refund(self, shared: &Shared) {
        if self.prepaid && shared.limit.is_some() {
            shared.issued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Takes a free row of every per-user source, waiting while there is none.
/// False when stopped first.
pub(super) async fn acquire(
    shared: &Shared,
    user: &mut UserState,
    stop: &CancellationToken,
) -> bool {
    loop {
        match shared.records.take(&mut user.own) {
            Ok(()) => return true,
            Err(source) => {
                if !shared.starved.swap(true, Ordering::Relaxed) {
                    let name = &shared.requests.scenario.data[source].name;
                    tracing::warn!(
                        "data {name:?} (pick = \"per_user\"): every record of this engine is held by a user; users wait for one to come free"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    () = stop.cancelled() => return false,
                }
            }
        }
    }
}

/// Makes the user ready for an action: its records still this engine's
/// (a new share can move them to another engine: then it takes new ones
/// and logs in again) and its on-start flow passed. `Some` ends the turn.
pub(super) async fn ready(
    shared: &Shared,
    user: &mut UserState,
    started: &mut bool,
    start: Instant,
    stop: &CancellationToken,
    claims: &mut Claims,
) -> Option<Turn> {
    let records = &shared.records;
    let epoch = records.epoch();
    if user.records_epoch != epoch {
        user.records_epoch = epoch;
        if records.any() && !records.still_own(&user.own) {
            records.release(&mut user.own);
            *started = false;
            if !acquire(shared, user, stop).await {
                return Some(Turn::Stop);
            }
        }
    }
    if !*started {
        if let Some(f) = shared.requests.scenario.on_start() {
            match run_flow(shared, f, user, start, stop, claims).await {
                FlowEnd::Passed => {}
                // Not logged in: the next turn tries again.
                FlowEnd::Failed => return Some(Turn::Done),
                FlowEnd::Stopped => return Some(Turn::Stop),
            }
        }
        *started = true;
    }
    None
}

/// One turn. Latencies count from `due` (the open model's intended start,
/// which an on-start flow run first does not move), or from each request's
/// actual start (the closed model: None).
pub(super) async fn turn(
    shared: &Shared,
    user: &mut UserState,
    started: &mut bool,
    due: Option<Instant>,
    stop: &CancellationToken,
    claims: &mut Claims,
) -> Turn {
    let now = || due.unwrap_or_else(Instant::now);
    if let Some(t) = ready(shared, user, started, now(), stop, claims).await {
        return t;
    }
    let start = now();
    match shared.requests.pick(&mut user.rng) {
        Action::Request(i) => {
            if !claims.claim(shared) {
                return Turn::Stop;
            }
            let sample = tokio::select! {
                s = shared.requests.execute(i, user, start, &shared.recorder) => s,
                () = stop.cancelled() => {
                    shared.abandoned.fetch_add(1, Ordering::Relaxed);
                    return Turn::Stop;
                }
            };
            shared.recorder.record(sample);
            Turn::Done
        }
        Action::Flow(f) => match run_flow(shared, f, user, start, stop, claims).await {
            FlowEnd::Stopped => Turn::Stop,
            FlowEnd::Passed | FlowEnd::Failed => Turn::Done,
        },
    }
}

/// One iteration of flow `f`. An iteration cut short by the stop or the
/// request count is not recorded as a flow (its finished steps are).
async fn run_flow(
    shared: &Shared,
    f: usize,
    user: &mut UserState,
    start: Instant,
    stop: &CancellationToken,
    claims: &mut Claims,
) -> FlowEnd {
    let scenario = &shared.requests.scenario;
    let flow = &scenario.flows[f];
    let mut failure: Option<Failure> = None;
    let (mut sent, mut received) = (0u64, 0u64);
    let mut step_start = start;
    for step in &flow.steps {
        match *step {
            Step::Think(think) => {
                if let Some(pause) = think.draw(&mut user.rng) {
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = stop.cancelled() => return FlowEnd::Stopped,
                    }
                }
                step_start = Instant::now();
            }
            Step::Request(i) => {
                if !claims.claim(shared) {
                    return FlowEnd::Stopped;
                }
                let sample = tokio::select! {
                    s = shared.requests.execute(i, user, step_start, &shared.recorder) => s,
                    () = stop.cancelled() => {
                        shared.abandoned.fetch_add(1, Ordering::Relaxed);
                        return FlowEnd::Stopped;
                    }
                };
                step_start = Instant::now();
                sent += sample.bytes_sent;
                received += sample.bytes_received;
                let kind = sample.failure.as_ref().map(|f| f.kind);
                shared.recorder.record(sample);
                if let Some(kind) = kind {
                    if failure.is_none() {
                        let step = &scenario.requests[i].name;
                        failure = Some(Failure::new(
                            kind,
                            format!("step {step:?} failed ({})", kind.as_str()),
                        ));
                    }
                    if !flow.continue_on_failure {
                        break;
                    }
                }
            }
        }
    }
    let end = if failure.is_some() {
        FlowEnd::Failed
    } else {
        FlowEnd::Passed
    };
    shared.recorder.record(Sample {
        first_byte: None,
        protocol: None,
        name: scenario.flow_stat(f),
        micros: start.elapsed().as_micros() as u64,
        bytes_sent: sent,
        bytes_received: received,
        failure,
    });
    end
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
