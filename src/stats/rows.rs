//! The statistics rows of a run and the index that names one. Rows are laid
//! out here only, the same way for the engine that records into them, the
//! run that adds them up, the reports, the thresholds and the console:
//! every request first (flows' steps are requests), then every flow as
//! `flow:NAME`, then each streaming call's own rows (`sent:`, `first:`,
//! `msg:NAME`), calls in their requests' order. A new kind of row (a
//! WebSocket's messages) is a change here, not in every reader.

use std::ops::Range;

/// Flows' statistics are named `flow:NAME`, so that reports and thresholds
/// tell them from requests.
pub const FLOW_PREFIX: &str = "flow:";

/// A streaming call's own statistics, after its call's: the messages it
/// sent (`sent:NAME`), its first answer message (`first:NAME`) and every
/// answer message (`msg:NAME`). Names with these prefixes are theirs.
pub const STREAM_PREFIXES: [&str; 3] = ["sent:", "first:", "msg:"];

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

/// The rows of a run: their names in index order, and how many of the last
/// are flows' and streaming calls' rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    names: Vec<String>,
    flows: usize,
    streams: usize,
}

impl Rows {
    /// Lays out a scenario's rows: `requests` (steps included), `flows`
    /// and the names of the requests that are streaming calls, in order.
    pub fn lay_out<'a>(
        requests: impl IntoIterator<Item = &'a str>,
        flows: impl IntoIterator<Item = &'a str>,
        streaming: impl IntoIterator<Item = &'a str>,
    ) -> Result<Rows, TooManyRows> {
        let mut names: Vec<String> = requests.into_iter().map(str::to_owned).collect();
        let before = names.len();
        names.extend(flows.into_iter().map(|f| format!("{FLOW_PREFIX}{f}")));
        let flows = names.len() - before;
        let before = names.len();
        for call in streaming {
            names.extend(STREAM_PREFIXES.iter().map(|p| format!("{p}{call}")));
        }
        let streams = names.len() - before;
        StatId::at(names.len()).ok_or(TooManyRows)?;
        Ok(Rows {
            names,
            flows,
            streams,
        })
    }

    /// Rows already laid out (a saved result, a plan from the network): the
    /// last `streams` names are streaming calls' rows, the `flows` before
    /// them flows'. Counts larger than the names are cut to fit.
    pub fn from_parts(names: Vec<String>, flows: usize, streams: usize) -> Rows {
        let streams = streams.min(names.len());
        let flows = flows.min(names.len() - streams);
        Rows {
            names,
            flows,
            streams,
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The names, and how many are flows' and streaming calls' rows.
    pub fn into_parts(self) -> (Vec<String>, usize, usize) {
        (self.names, self.flows, self.streams)
    }

    /// The requests' rows (they come first).
    pub fn requests(&self) -> Range<usize> {
        0..self.names.len() - self.flows - self.streams
    }

    /// The flows' rows.
    pub fn flows(&self) -> Range<usize> {
        let r = self.requests().end;
        r..r + self.flows
    }

    /// The streaming calls' rows (they come last).
    pub fn streams(&self) -> Range<usize> {
        self.names.len() - self.streams..self.names.len()
    }

    /// Request `i`'s row (a request's row is its index).
    pub fn request(i: usize) -> StatId {
        StatId::at(i).unwrap_or(StatId(u32::MAX))
    }

    /// Flow `f`'s row.
    pub fn flow(&self, f: usize) -> StatId {
        self.at(self.requests().end.saturating_add(f))
    }

    /// The rows of the `k`-th streaming call (in its requests' order).
    pub fn stream(&self, k: usize) -> [StatId; 3] {
        let first = self
            .streams()
            .start
            .saturating_add(k.saturating_mul(STREAM_PREFIXES.len()));
        [0, 1, 2].map(|j| self.at(first.saturating_add(j)))
    }

    /// Row `i`, bounded when laid out so that it fits.
    fn at(&self, i: usize) -> StatId {
        StatId::at(i).unwrap_or(StatId(u32::MAX))
    }
}

/// Rows that are all requests (tests, and files that say nothing else).
impl From<Vec<String>> for Rows {
    fn from(names: Vec<String>) -> Rows {
        Rows::from_parts(names, 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_then_flows_then_each_calls_three_rows() {
        let rows = Rows::lay_out(["a", "b", "s"], ["f"], ["b", "s"]).unwrap();
        assert_eq!(
            rows.names(),
            [
                "a", "b", "s", "flow:f", "sent:b", "first:b", "msg:b", "sent:s", "first:s", "msg:s"
            ]
        );
        assert_eq!(rows.requests(), 0..3);
        assert_eq!(rows.flows(), 3..4);
        assert_eq!(rows.streams(), 4..10);
        assert_eq!(rows.flow(0), StatId(3));
        assert_eq!(rows.stream(1), [StatId(7), StatId(8), StatId(9)]);
        assert_eq!(Rows::request(2), StatId(2));
    }

    #[test]
    fn counts_from_a_file_are_cut_to_the_names() {
        let rows = Rows::from_parts(vec!["a".into(), "b".into()], 5, 1);
        assert_eq!(
            (rows.requests(), rows.flows(), rows.streams()),
            (0..0, 0..1, 1..2)
        );
        let rows = Rows::from_parts(vec!["a".into()], 0, 9);
        assert_eq!(
            (rows.requests(), rows.flows(), rows.streams()),
            (0..0, 0..0, 0..1)
        );
    }
}
