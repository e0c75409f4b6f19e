//! The statistics rows of a run and the index that names one. Rows are laid
//! out here only, the same way for the engine that records into them, the
//! run that adds them up, the reports, the thresholds and the console:
//! every request first (flows' steps are requests), then every flow as
//! `flow:NAME`, then each streaming call's own rows (`sent:`, `first:`,
//! `msg:NAME`), calls in their requests' order, then each HTTP request's
//! time to first byte (`ttfb:NAME`). A new kind of row (a WebSocket's
//! messages) is a change here, not in every reader.

use std::ops::Range;

/// Flows' statistics are named `flow:NAME`, so that reports and thresholds
/// tell them from requests.
pub const FLOW_PREFIX: &str = "flow:";

/// A streaming call's own statistics, after its call's: the messages it
/// sent (`sent:NAME`), its first answer message (`first:NAME`) and every
/// answer message (`msg:NAME`). Names with these prefixes are theirs.
pub const STREAM_PREFIXES: [&str; 3] = ["sent:", "first:", "msg:"];

/// An HTTP request's time to first byte (from its start to the first byte
/// of its answer's body) is a row of its own, `ttfb:NAME`: exact, merged
/// and judged as any other, and kept out of the totals.
pub const TTFB_PREFIX: &str = "ttfb:";

/// A statistics row: the index of a name in the run's list of names, what a
/// sample says it measured. Four bytes, as it goes in every sample and on
/// the wire.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct StatId(pub u32);

impl StatId {
    /// The run's total, which is no row of its own.
    pub const TOTAL: StatId = StatId(u32::MAX);

    /// The row's position in the list of names.
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The row at position `i`, if four bytes hold it.
    pub fn at(i: usize) -> Option<StatId> {
        u32::try_from(i).ok().map(StatId)
    }
}

/// More rows than a [`StatId`] can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many request names")]
pub struct TooManyRows;

/// How many rows of each kind follow the requests', in this order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tail {
    pub flows: usize,
    /// Streaming calls' rows, three per call.
    pub streams: usize,
    /// Time-to-first-byte rows, one per HTTP request.
    pub ttfb: usize,
}

/// The rows of a run: their names in index order, and how many of the last
/// are flows', streaming calls' and time-to-first-byte rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    names: Vec<String>,
    tail: Tail,
    /// Per request of the scenario, its time-to-first-byte row (HTTP
    /// requests; empty for rows read back from a file).
    ttfb_of: Vec<Option<StatId>>,
    /// Per request of the scenario, its `sent:`, `first:` and `msg:` rows
    /// (streaming calls; empty for rows read back from a file).
    stream_of: Vec<Option<[StatId; 3]>>,
}

/// A scenario's requests as [`Rows::lay_out`] reads them.
pub struct RequestRows<'a> {
    pub name: &'a str,
    /// A streaming call: three rows of its own.
    pub streaming: bool,
    /// An HTTP request: a time-to-first-byte row.
    pub http: bool,
}

impl Rows {
    /// Lays out a scenario's rows: its `requests` (steps included) and its
    /// `flows`, in order.
    pub fn lay_out<'a>(
        requests: &[RequestRows<'a>],
        flows: impl IntoIterator<Item = &'a str>,
    ) -> Result<Rows, TooManyRows> {
        let mut names: Vec<String> = requests.iter().map(|r| r.name.to_owned()).collect();
        let before = names.len();
        names.extend(flows.into_iter().map(|f| format!("{FLOW_PREFIX}{f}")));
        let flows = names.len() - before;
        let before = names.len();
        for r in requests.iter().filter(|r| r.streaming) {
            names.extend(STREAM_PREFIXES.iter().map(|p| format!("{p}{}", r.name)));
        }
        let streams = names.len() - before;
        let mut ttfb_of = Vec::with_capacity(requests.len());
        let before = names.len();
        for r in requests {
            ttfb_of.push(if r.http {
                names.push(format!("{TTFB_PREFIX}{}", r.name));
                Some(StatId::at(names.len() - 1).ok_or(TooManyRows)?)
            } else {
                None
            });
        }
        let ttfb = names.len() - before;
        StatId::at(names.len()).ok_or(TooManyRows)?;
        let mut rows = Rows {
            names,
            tail: Tail {
                flows,
                streams,
                ttfb,
            },
            ttfb_of,
            stream_of: Vec::new(),
        };
        let mut k = 0;
        let stream_of = requests
            .iter()
            .map(|r| {
                r.streaming.then(|| {
                    k += 1;
                    rows.stream(k - 1)
                })
            })
            .collect();
        rows.stream_of = stream_of;
        Ok(rows)
    }

    /// Rows already laid out (a saved result, a plan from the network):
    /// `tail` says how many of the last names are of each kind. Counts
    /// larger than the names are cut to fit.
    pub fn from_parts(names: Vec<String>, tail: Tail) -> Rows {
        let ttfb = tail.ttfb.min(names.len());
        let streams = tail.streams.min(names.len() - ttfb);
        let flows = tail.flows.min(names.len() - ttfb - streams);
        Rows {
            names,
            tail: Tail {
                flows,
                streams,
                ttfb,
            },
            ttfb_of: Vec::new(),
            stream_of: Vec::new(),
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The names, and how many of the last are of each kind.
    pub fn into_parts(self) -> (Vec<String>, Tail) {
        (self.names, self.tail)
    }

    /// The requests' rows (they come first).
    pub fn requests(&self) -> Range<usize> {
        let t = self.tail;
        0..self.names.len() - t.flows - t.streams - t.ttfb
    }

    /// The flows' rows.
    pub fn flows(&self) -> Range<usize> {
        let r = self.requests().end;
        r..r + self.tail.flows
    }

    /// The streaming calls' rows.
    pub fn streams(&self) -> Range<usize> {
        let f = self.flows().end;
        f..f + self.tail.streams
    }

    /// The time-to-first-byte rows (they come last).
    pub fn ttfb_rows(&self) -> Range<usize> {
        self.names.len() - self.tail.ttfb..self.names.len()
    }

    /// Request `i`'s row (a request's row is its index).
    pub fn request(i: usize) -> StatId {
        StatId::at(i).unwrap_or(StatId(u32::MAX))
    }

    /// Flow `f`'s row.
    pub fn flow(&self, f: usize) -> StatId {
        self.at(self.requests().end.saturating_add(f))
    }

    /// Request `i`'s `sent:`, `first:` and `msg:` rows, if it is a
    /// streaming call.
    pub fn stream_of(&self, i: usize) -> Option<[StatId; 3]> {
        self.stream_of.get(i).copied().flatten()
    }

    /// The rows of the `k`-th streaming call (in its requests' order).
    fn stream(&self, k: usize) -> [StatId; 3] {
        let first = self
            .streams()
            .start
            .saturating_add(k.saturating_mul(STREAM_PREFIXES.len()));
        [0, 1, 2].map(|j| self.at(first.saturating_add(j)))
    }

    /// Request `i`'s time-to-first-byte row, if it is an HTTP request.
    pub fn ttfb(&self, i: usize) -> Option<StatId> {
        self.ttfb_of.get(i).copied().flatten()
    }

    /// Row `i`, bounded when laid out so that it fits.
    fn at(&self, i: usize) -> StatId {
        StatId::at(i).unwrap_or(StatId(u32::MAX))
    }
}

/// Rows that are all requests (tests, and files that say nothing else).
impl From<Vec<String>> for Rows {
    fn from(names: Vec<String>) -> Rows {
        Rows::from_parts(names, Tail::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, streaming: bool, http: bool) -> RequestRows<'_> {
        RequestRows {
            name,
            streaming,
            http,
        }
    }

    #[test]
    fn requests_then_flows_then_each_calls_three_rows_then_ttfb() {
        let requests = [
            req("a", false, true),
            req("b", true, false),
            req("s", true, false),
        ];
        let rows = Rows::lay_out(&requests, ["f"]).unwrap();
        assert_eq!(
            rows.names(),
            [
                "a", "b", "s", "flow:f", "sent:b", "first:b", "msg:b", "sent:s", "first:s",
                "msg:s", "ttfb:a"
            ]
        );
        assert_eq!(rows.requests(), 0..3);
        assert_eq!(rows.flows(), 3..4);
        assert_eq!(rows.streams(), 4..10);
        assert_eq!(rows.ttfb_rows(), 10..11);
        assert_eq!(rows.flow(0), StatId(3));
        assert_eq!(rows.stream_of(2), Some([StatId(7), StatId(8), StatId(9)]));
        assert_eq!(rows.stream_of(1), Some([StatId(4), StatId(5), StatId(6)]));
        assert_eq!(rows.stream_of(0), None);
        assert_eq!(Rows::request(2), StatId(2));
        assert_eq!(rows.ttfb(0), Some(StatId(10)));
        assert_eq!(rows.ttfb(1), None);
        assert_eq!(rows.ttfb(9), None);
    }

    #[test]
    fn counts_from_a_file_are_cut_to_the_names() {
        let tail = |flows, streams, ttfb| Tail {
            flows,
            streams,
            ttfb,
        };
        let rows = Rows::from_parts(vec!["a".into(), "b".into()], tail(5, 1, 0));
        assert_eq!(
            (rows.requests(), rows.flows(), rows.streams()),
            (0..0, 0..1, 1..2)
        );
        let rows = Rows::from_parts(vec!["a".into()], tail(0, 9, 0));
        assert_eq!(
            (rows.requests(), rows.flows(), rows.streams()),
            (0..0, 0..0, 0..1)
        );
        let rows = Rows::from_parts(vec!["a".into(), "b".into(), "c".into()], tail(1, 1, 1));
        assert_eq!(
            (
                rows.requests(),
                rows.flows(),
                rows.streams(),
                rows.ttfb_rows()
            ),
            (0..0, 0..1, 1..2, 2..3)
        );
    }
}
