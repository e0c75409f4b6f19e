//! What kept a run from running as planned, kept as data until it is said:
//! engines that could not start or failed (from their workers' Done), and
//! load left with no worker to take it.

use std::fmt;

/// A worker's engine could not start or failed; its Done said why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineFailure {
    /// The worker's id.
    pub worker: String,
    pub why: String,
}

impl fmt::Display for EngineFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {}: {}", self.worker, self.why)
    }
}

/// How a worker stopped before the run's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Its Done said it left (a signal stopped it).
    Left,
    /// Its Done carried an error.
    Failed,
}

impl Gone {
    pub fn as_str(self) -> &'static str {
        match self {
            Gone::Left => "left (stopped by a signal)",
            Gone::Failed => "failed",
        }
    }
}

/// What broke a run (see `Outcome::errors`), in the order it happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// A worker stopped and no other was left to take its share.
    Stranded {
        id: String,
        host: String,
        gone: Gone,
        /// Seconds into the run.
        at: f64,
    },
    /// A worker's connection was lost and no other was left to take its
    /// share.
    Lost {
        id: String,
        host: String,
        at: f64,
        reason: String,
    },
    /// An engine failed, even if others took its share: its numbers stop
    /// short, and the failure is a fault to look into.
    Engine(EngineFailure),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Stranded { id, host, gone, at } => write!(
                f,
                "worker {id} ({host}) {} at {at:.1} s and no other worker was left to take its share of the load",
                gone.as_str()
            ),
            Fault::Lost {
                id,
                host,
                at,
                reason,
            } => write!(
                f,
                "worker {id} ({host}) was lost at {at:.1} s ({reason}) and no other worker was left to take its share of the load; its statistics until then are kept"
            ),
            Fault::Engine(e) => e.fmt(f),
        }
    }
}

/// Each reason once, naming the workers that gave it: workers in one
/// process fail alike, and "worker local-1: request \"a\": ..." from each
/// says the same thing.
pub fn said_once(failures: &[EngineFailure]) -> String {
    struct Reason<'a> {
        why: &'a str,
        workers: Vec<&'a str>,
    }
    let mut by_reason: Vec<Reason<'_>> = Vec::new();
    for e in failures {
        match by_reason.iter_mut().find(|r| r.why == e.why) {
            Some(r) => r.workers.push(&e.worker),
            None => by_reason.push(Reason {
                why: &e.why,
                workers: vec![&e.worker],
            }),
        }
    }
    by_reason
        .into_iter()
        .map(|r| match r.workers.as_slice() {
            [""] => r.why.to_owned(),
            _ => format!("{} (worker {})", r.why, r.workers.join(", ")),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(worker: &str, why: &str) -> EngineFailure {
        EngineFailure {
            worker: worker.into(),
            why: why.into(),
        }
    }

    #[test]
    fn a_reason_is_said_once_naming_its_workers() {
        let all = [
            failure("local-1", "request \"a\": no such host"),
            failure("local-2", "request \"a\": no such host"),
            failure("w3", "other"),
        ];
        assert_eq!(
            said_once(&all),
            "request \"a\": no such host (worker local-1, local-2); other (worker w3)"
        );
        assert_eq!(said_once(&[failure("", "why")]), "why");
    }

    #[test]
    fn faults_read_as_before() {
        assert_eq!(failure("w1", "boom").to_string(), "worker w1: boom");
        let f = Fault::Stranded {
            id: "w1".into(),
            host: "h".into(),
            gone: Gone::Failed,
            at: 1.5,
        };
        assert_eq!(
            f.to_string(),
            "worker w1 (h) failed at 1.5 s and no other worker was left to take its share of the load"
        );
    }
}
