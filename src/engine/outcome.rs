//! What one exchange carried and how it ended: the outcome every
//! protocol's send gives the executor, which turns it into a sample.

use crate::stats::Failure;

/// The bytes one exchange carried: written, and of the answer arrived
/// (docs/scenario.md "Bytes" says how each protocol counts them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Carried {
    pub sent: u64,
    pub received: u64,
}

impl Carried {
    pub fn new(sent: u64, received: u64) -> Self {
        Carried { sent, received }
    }

    /// Both counts added (a redirect's hop to the chain before it).
    pub fn plus(self, other: Carried) -> Carried {
        Carried {
            sent: self.sent.saturating_add(other.sent),
            received: self.received.saturating_add(other.received),
        }
    }
}

/// A failed exchange: what it had carried when it failed, and why.
#[derive(Debug)]
pub struct Failed {
    pub carried: Carried,
    pub failure: Failure,
}

impl Failed {
    pub fn new(sent: u64, received: u64, failure: Failure) -> Self {
        Failed {
            carried: Carried::new(sent, received),
            failure,
        }
    }

    /// A failure before anything was written (connecting, rendering).
    pub fn bare(failure: Failure) -> Self {
        Failed::new(0, 0, failure)
    }

    /// This failure after `before` had been carried (earlier exchanges of
    /// the same request: a redirect chain, a Digest challenge).
    pub fn after(self, before: Carried) -> Self {
        Failed {
            carried: before.plus(self.carried),
            failure: self.failure,
        }
    }
}

/// What a protocol's send gives: what was carried, or how it failed.
pub type Sent = Result<Carried, Failed>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::FailureKind;

    #[test]
    fn a_failure_after_earlier_exchanges_counts_them_too_and_saturates() {
        let f = Failed::new(10, 20, Failure::new(FailureKind::Timeout, "late"));
        let f = f.after(Carried::new(100, 200));
        assert_eq!(f.carried, Carried::new(110, 220));
        assert_eq!(f.failure.kind, FailureKind::Timeout);
        let huge = Carried::new(u64::MAX, 1).plus(Carried::new(5, u64::MAX));
        assert_eq!(huge, Carried::new(u64::MAX, u64::MAX));
        assert_eq!(
            Failed::bare(Failure::new(FailureKind::Connect, "refused")).carried,
            Carried::default()
        );
    }
}
