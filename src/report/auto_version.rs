//! What `version = "auto"` adds to a run's report: a note for each request
//! that asked for HTTP/3 by Alt-Svc and never got it. The summary's
//! protocol column already shows `h2`; the note says why a reader who
//! asked for `auto` may be looking at a TCP-only run (the server offered
//! no HTTP/3 on its own host, or the offer could not be reached), so the
//! run is not mistaken for an HTTP/3 one.

use crate::scenario::{HttpVersion, RequestKind, RequestSpec};
use crate::stats::{Protocol, RunStats};

/// One note per `auto` request answered only over TCP.
pub fn notes(requests: &[RequestSpec], stats: &RunStats) -> Vec<String> {
    requests
        .iter()
        .zip(&stats.totals)
        .filter_map(|(r, t)| {
            let RequestKind::Http(h) = &r.kind else {
                return None;
            };
            if h.version != HttpVersion::Auto || !h.base.starts_with("https://") {
                return None;
            }
            // Answered (over some protocol), never over HTTP/3.
            if t.protocols.get(Protocol::Http3) > 0 || t.protocols.is_empty() {
                return None;
            }
            Some(format!(
                "{}: version = \"auto\", but no answer came over HTTP/3 ({}): the server's Alt-Svc offered no HTTP/3 on its own host, or the offer could not be reached (a warning said which)",
                r.name,
                t.protocols.breakdown()
            ))
        })
        .collect()
}
