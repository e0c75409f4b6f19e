//! Which HTTP version answered: the protocol of one request's connection,
//! and a row's requests counted per protocol. A small fixed array, so that
//! counting costs an increment per sample and adds up exactly wherever
//! rows are added (shards, snapshots, workers, saved results).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The protocol of the connection a request's (final) answer came on. gRPC
/// counts as HTTP/2 and a WebSocket as HTTP/1.1: what carried them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Protocol {
    #[serde(rename = "HTTP/1.1")]
    Http1,
    #[serde(rename = "HTTP/2")]
    Http2,
    #[serde(rename = "HTTP/3")]
    Http3,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::Http2, Protocol::Http3];

    /// As reports and the JSON result name it: "HTTP/1.1", "HTTP/2", "HTTP/3".
    /// The protocol an `http::Version` names (HTTP/1.0 counts as HTTP/1.1,
    /// the one volley speaks); None for a version volley does not speak.
    pub fn of(v: http::Version) -> Option<Protocol> {
        match v {
            http::Version::HTTP_10 | http::Version::HTTP_11 => Some(Protocol::Http1),
            http::Version::HTTP_2 => Some(Protocol::Http2),
            http::Version::HTTP_3 => Some(Protocol::Http3),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Http1 => "HTTP/1.1",
            Protocol::Http2 => "HTTP/2",
            Protocol::Http3 => "HTTP/3",
        }
    }

    /// For narrow columns (the summary's and the console's): "h1", "h2", "h3".
    pub fn short(self) -> &'static str {
        match self {
            Protocol::Http1 => "h1",
            Protocol::Http2 => "h2",
            Protocol::Http3 => "h3",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A row's requests per protocol. Requests that made no connection (refused,
/// timed out connecting) count under none, so the sum may be less than the
/// row's requests, never more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProtocolCounts([u64; 3]);

impl ProtocolCounts {
    /// Counts one request answered over `p` (none: no connection was made).
    #[inline]
    pub fn record(&mut self, p: Option<Protocol>) {
        if let Some(p) = p {
            let c = &mut self.0[p.index()];
            *c = c.saturating_add(1);
        }
    }

    pub fn get(&self, p: Protocol) -> u64 {
        self.0[p.index()]
    }

    pub fn set(&mut self, p: Protocol, count: u64) {
        self.0[p.index()] = count;
    }

    /// Adds another row's counts. Saturating: a peer's numbers never wrap
    /// ours.
    pub fn add(&mut self, other: &ProtocolCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a = a.saturating_add(b);
        }
    }

    /// The protocol whose count would pass `u64::MAX` if `other` were added,
    /// with both counts (numbers from files or peers that cannot be right).
    pub fn overflow_with(&self, other: &ProtocolCounts) -> Option<(Protocol, u64, u64)> {
        Protocol::ALL
            .into_iter()
            .map(|p| (p, self.get(p), other.get(p)))
            .find(|(_, a, b)| a.checked_add(*b).is_none())
    }

    /// Requests counted under some protocol; None past `u64::MAX` (a file's
    /// or a peer's numbers, which may say anything).
    pub fn checked_total(&self) -> Option<u64> {
        self.0.iter().try_fold(0u64, |a, b| a.checked_add(*b))
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|c| *c == 0)
    }

    /// The protocols seen, with their counts, in the order HTTP/1.1,
    /// HTTP/2, HTTP/3.
    pub fn seen(&self) -> impl Iterator<Item = (Protocol, u64)> + '_ {
        Protocol::ALL
            .into_iter()
            .map(|p| (p, self.get(p)))
            .filter(|(_, c)| *c > 0)
    }

    /// Whether more than one protocol answered (the row moved, or its
    /// users' connections differ).
    pub fn mixed(&self) -> bool {
        self.seen().nth(1).is_some()
    }

    /// The short form for a column: "h3", "h2+h3"; "-" when none was seen.
    pub fn short(&self) -> String {
        let s: Vec<&str> = self.seen().map(|(p, _)| p.short()).collect();
        if s.is_empty() {
            "-".into()
        } else {
            s.join("+")
        }
    }

    /// Each protocol with its count: "HTTP/2 12, HTTP/3 988".
    pub fn breakdown(&self) -> String {
        self.seen()
            .map(|(p, c)| format!("{} {c}", p.label()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// In the JSON result: `{"HTTP/2": 12, "HTTP/3": 988}`, the protocols seen
/// only.
impl Serialize for ProtocolCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.seen())
    }
}

/// A protocol volley does not know is refused (its requests would be lost
/// from a merge without a word).
impl<'de> Deserialize<'de> for ProtocolCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<Protocol, u64>::deserialize(d)?;
        let mut out = ProtocolCounts::default();
        for (p, c) in map {
            out.set(p, c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_saturate_and_say_what_they_hold() {
        let mut a = ProtocolCounts::default();
        assert!(a.is_empty());
        assert_eq!(a.short(), "-");
        assert!(!a.mixed());
        a.record(Some(Protocol::Http3));
        a.record(None);
        assert_eq!(a.short(), "h3");
        assert!(!a.mixed());
        let mut b = ProtocolCounts::default();
        b.set(Protocol::Http2, 12);
        b.set(Protocol::Http3, 987);
        a.add(&b);
        assert_eq!((a.get(Protocol::Http2), a.get(Protocol::Http3)), (12, 988));
        assert_eq!(a.short(), "h2+h3");
        assert!(a.mixed());
        assert_eq!(a.breakdown(), "HTTP/2 12, HTTP/3 988");
        assert_eq!(a.checked_total(), Some(1000));
        let mut huge = ProtocolCounts::default();
        huge.set(Protocol::Http3, u64::MAX);
        assert_eq!(
            a.overflow_with(&huge),
            Some((Protocol::Http3, 988, u64::MAX))
        );
        assert_eq!(a.overflow_with(&b), None);
        a.add(&huge);
        assert_eq!(a.get(Protocol::Http3), u64::MAX);
        assert_eq!(a.checked_total(), None);
    }

    #[test]
    fn json_holds_the_protocols_seen_by_their_labels() {
        let mut c = ProtocolCounts::default();
        c.set(Protocol::Http2, 12);
        c.set(Protocol::Http3, 988);
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(text, r#"{"HTTP/2":12,"HTTP/3":988}"#);
        assert_eq!(serde_json::from_str::<ProtocolCounts>(&text).unwrap(), c);
        let one: ProtocolCounts = serde_json::from_str(r#"{"HTTP/1.1":3}"#).unwrap();
        assert_eq!(one.short(), "h1");
        assert!(serde_json::from_str::<ProtocolCounts>(r#"{"HTTP/4":1}"#).is_err());
        assert!(serde_json::from_str::<ProtocolCounts>(r#"{"HTTP/2":-1}"#).is_err());
    }
}
