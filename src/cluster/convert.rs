//! Conversions between the engine's types and the wire's: plans (scenario
//! source, load, share) one way, snapshots the other. Decoding checks what
//! a peer could get wrong and says what.

use std::time::Duration;

use super::wire;
use crate::engine::Share;
use crate::scenario::{LoadModel, LoadSpec, Source, Stage, Think};
use crate::stats::snapshot::Sparse;
use crate::stats::{
    FailureCount, FailureKind, NameSnapshot, Protocol, ProtocolCounts, Snapshot, StatId,
};

/// A message that does not hold what it must.
#[derive(Debug, thiserror::Error)]
#[error("bad {what}: {why}")]
pub struct ConvertError {
    pub what: &'static str,
    pub why: String,
}

fn bad(what: &'static str, why: impl Into<String>) -> ConvertError {
    ConvertError {
        what,
        why: why.into(),
    }
}

/// The scenario as a plan carries it: its files' bytes, or, for a worker in
/// this process, the keys they are lent under (`lent`).
pub fn source_to_wire(s: &Source, lent: Option<&super::shared::Lease>) -> wire::ScenarioSource {
    wire::ScenarioSource {
        path: s.path.display().to_string(),
        text: s.text.clone(),
        files: match lent {
            Some(_) => Default::default(),
            None => s
                .files
                .iter()
                .map(|(k, v)| (k.clone(), v.to_vec()))
                .collect(),
        },
        shared: lent.map(|l| l.keys().clone()).unwrap_or_default(),
        vars: s
            .vars
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect(),
        unset: s
            .vars
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.clone())
            .collect(),
        host: s.host.clone(),
        headers: s.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect(),
    }
}

/// The scenario a plan carries; a file lent by this process is taken from
/// its store (shared, not copied).
pub fn source_from_wire(s: wire::ScenarioSource) -> Result<Source, ConvertError> {
    let mut files: std::collections::BTreeMap<String, bytes::Bytes> = s
        .files
        .into_iter()
        .map(|(k, v)| (k, bytes::Bytes::from(v)))
        .collect();
    for (path, key) in s.shared {
        let bytes = super::shared::borrow(key).ok_or_else(|| {
            bad(
                "scenario file",
                format!("{path} was lent by a master in this process that no longer holds it"),
            )
        })?;
        files.insert(path, bytes);
    }
    let mut vars: std::collections::BTreeMap<String, Option<String>> =
        s.vars.into_iter().map(|(k, v)| (k, Some(v))).collect();
    for k in s.unset {
        vars.insert(k, None);
    }
    Ok(Source {
        path: s.path.into(),
        text: s.text,
        files,
        vars,
        host: s.host,
        headers: s
            .headers
            .iter()
            .filter_map(|h| {
                let (k, v) = h.split_once(':')?;
                Some((k.trim().to_owned(), v.trim().to_owned()))
            })
            .collect(),
    })
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

fn stages_to_wire(stages: &[Stage]) -> Vec<wire::Stage> {
    stages
        .iter()
        .map(|s| wire::Stage {
            duration_ms: ms(s.duration),
            target: s.target,
        })
        .collect()
}

fn stages_from_wire(stages: &[wire::Stage]) -> Result<Vec<Stage>, ConvertError> {
    stages
        .iter()
        .map(|s| {
            if !s.target.is_finite() || s.target < 0.0 {
                return Err(bad("stage", format!("target {}", s.target)));
            }
            Ok(Stage {
                duration: Duration::from_millis(s.duration_ms),
                target: s.target,
            })
        })
        .collect()
}

pub fn load_to_wire(l: &LoadSpec) -> wire::Load {
    let model = match &l.model {
        LoadModel::Closed {
            users,
            spawn_rate,
            think,
            stages,
        } => {
            let (lo, hi) = match think {
                Think::None => (0, 0),
                Think::Fixed(d) => (d.as_micros() as u64, d.as_micros() as u64),
                Think::Uniform(a, b) => (a.as_micros() as u64, b.as_micros() as u64),
            };
            wire::load::Model::Closed(wire::Closed {
                users: *users,
                spawn_rate: *spawn_rate,
                think_min_us: lo,
                think_max_us: hi,
                stages: stages_to_wire(stages),
            })
        }
        LoadModel::Open {
            rate,
            max_in_flight,
            connections,
            stages,
        } => wire::load::Model::Open(wire::Open {
            rate: *rate,
            max_in_flight: *max_in_flight,
            connections: *connections,
            stages: stages_to_wire(stages),
        }),
    };
    wire::Load {
        model: Some(model),
        duration_ms: l.duration.map(ms),
        requests: l.requests,
        timeout_ms: ms(l.timeout),
    }
}

/// Decodes a plan's load, checked against the same bounds as a scenario
/// file's (`scenario::limits`): a peer cannot ask for what the file could not.
pub fn load_from_wire(l: &wire::Load) -> Result<LoadSpec, ConvertError> {
    let model = match &l.model {
        Some(wire::load::Model::Closed(c)) => {
            // Infinite means "all at once".
            if c.spawn_rate.is_nan() || c.spawn_rate <= 0.0 {
                return Err(bad("load", format!("spawn rate {}", c.spawn_rate)));
            }
            let think = match (c.think_min_us, c.think_max_us) {
                (0, 0) => Think::None,
                (a, b) if a == b => Think::Fixed(Duration::from_micros(a)),
                (a, b) if a < b => {
                    Think::Uniform(Duration::from_micros(a), Duration::from_micros(b))
                }
                (a, b) => return Err(bad("load", format!("think time {a}..{b} µs"))),
            };
            LoadModel::Closed {
                users: c.users,
                spawn_rate: c.spawn_rate,
                think,
                stages: stages_from_wire(&c.stages)?,
            }
        }
        Some(wire::load::Model::Open(o)) => {
            if !o.rate.is_finite() || o.rate < 0.0 || o.max_in_flight == 0 {
                return Err(bad(
                    "load",
                    format!("rate {} with {} in flight", o.rate, o.max_in_flight),
                ));
            }
            LoadModel::Open {
                rate: o.rate,
                max_in_flight: o.max_in_flight,
                connections: match o.connections {
                    0 => crate::scenario::limits::DEFAULT_CONNECTIONS,
                    n => n,
                },
                stages: stages_from_wire(&o.stages)?,
            }
        }
        None => return Err(bad("load", "no model")),
    };
    let load = LoadSpec {
        model,
        duration: l.duration_ms.map(Duration::from_millis),
        requests: l.requests,
        timeout: Duration::from_millis(l.timeout_ms.max(1)),
    };
    load.check().map_err(|e| bad("load", e.to_string()))?;
    Ok(load)
}

pub fn share_to_wire(s: Share) -> wire::Share {
    wire::Share { lo: s.lo, hi: s.hi }
}

pub fn share_from_wire(s: Option<&wire::Share>) -> Result<Share, ConvertError> {
    let s = s.ok_or_else(|| bad("share", "missing"))?;
    if !(0.0..=1.0).contains(&s.lo) || !(0.0..=1.0).contains(&s.hi) || s.lo > s.hi {
        return Err(bad("share", format!("[{}, {})", s.lo, s.hi)));
    }
    Ok(Share { lo: s.lo, hi: s.hi })
}

pub fn snapshot_to_wire(s: &Snapshot<Sparse>) -> wire::Snapshot {
    wire::Snapshot {
        at_ms: s.at_ms,
        interval_ms: s.interval_ms,
        users: s.users,
        late_starts: s.late_starts,
        missed_starts: s.missed_starts,
        retries: s.retries,
        waited_starts: s.waited_starts,
        abandoned: s.abandoned,
        cookies_dropped: s.cookies_dropped,
        cpu_percent: s.cpu_percent,
        late_reports: s.late_reports,
        start_lag: s
            .start_lag
            .as_ref()
            .map(|h| h.0.clone())
            .unwrap_or_default(),
        names: s
            .names
            .iter()
            .map(|n| wire::NameStats {
                name: n.name.0,
                buckets: n.hist.0.clone(),
                requests: n.requests,
                failures: n.failures,
                bytes_sent: n.bytes_sent,
                bytes_received: n.bytes_received,
                failure_counts: n
                    .failure_counts
                    .iter()
                    .map(|f| wire::FailureCount {
                        kind: f.kind.as_str().to_owned(),
                        reason: f.reason.clone(),
                        count: f.count,
                        last_detail: f.last_detail.clone(),
                    })
                    .collect(),
                protocols: protocols_to_wire(&n.protocols),
            })
            .collect(),
    }
}

/// None when none was counted: nothing on the wire for rows that are not
/// requests.
fn protocols_to_wire(c: &ProtocolCounts) -> Option<wire::ProtocolCounts> {
    (!c.is_empty()).then(|| wire::ProtocolCounts {
        http1: c.get(Protocol::Http1),
        http2: c.get(Protocol::Http2),
        http3: c.get(Protocol::Http3),
    })
}

/// A row's protocols from a peer; absent (an older worker) is none. More
/// than the row's requests is refused: each request has one connection at
/// most, so a peer that says otherwise is wrong, and the result it would
/// leave could not be read back.
fn protocols_from_wire(
    w: Option<wire::ProtocolCounts>,
    name: u32,
    requests: u64,
) -> Result<ProtocolCounts, ConvertError> {
    let mut c = ProtocolCounts::default();
    let Some(w) = w else { return Ok(c) };
    c.set(Protocol::Http1, w.http1);
    c.set(Protocol::Http2, w.http2);
    c.set(Protocol::Http3, w.http3);
    if c.checked_total().is_none_or(|t| t > requests) {
        return Err(bad(
            "snapshot",
            format!("protocols of request {name}: more than its {requests} requests"),
        ));
    }
    Ok(c)
}

/// Decodes a snapshot of a scenario with `names` request names.
pub fn snapshot_from_wire(
    s: wire::Snapshot,
    names: usize,
) -> Result<Snapshot<Sparse>, ConvertError> {
    let mut out = Snapshot {
        at_ms: s.at_ms,
        interval_ms: s.interval_ms,
        users: s.users,
        late_starts: s.late_starts,
        missed_starts: s.missed_starts,
        retries: s.retries,
        waited_starts: s.waited_starts,
        abandoned: s.abandoned,
        cookies_dropped: s.cookies_dropped,
        // A peer's figure is a percentage or nothing.
        cpu_percent: if s.cpu_percent.is_finite() {
            s.cpu_percent.clamp(0.0, 100.0)
        } else {
            0.0
        },
        late_reports: s.late_reports.min(1),
        names: Vec::with_capacity(s.names.len()),
        start_lag: if s.start_lag.is_empty() {
            None
        } else {
            Some(
                Sparse::checked(s.start_lag)
                    .map_err(|e| bad("snapshot", format!("start lag histogram: {e}")))?,
            )
        },
    };
    for n in s.names {
        if n.name as usize >= names {
            return Err(bad("snapshot", format!("request index {}", n.name)));
        }
        let hist = Sparse::checked(n.buckets)
            .map_err(|e| bad("snapshot", format!("histogram of request {}: {e}", n.name)))?;
        let protocols = protocols_from_wire(n.protocols, n.name, n.requests)?;
        let mut ns = NameSnapshot {
            name: StatId(n.name),
            hist,
            requests: n.requests,
            failures: n.failures,
            bytes_sent: n.bytes_sent,
            bytes_received: n.bytes_received,
            failure_counts: Vec::new(),
            protocols,
        };
        for f in n.failure_counts {
            let kind = FailureKind::ALL
                .into_iter()
                .find(|k| k.as_str() == f.kind)
                .ok_or_else(|| bad("snapshot", format!("failure kind {:?}", f.kind)))?;
            ns.add_failure(FailureCount {
                kind,
                reason: f.reason,
                count: f.count,
                last_detail: f.last_detail,
                seen_ms: None,
            });
        }
        out.names.push(ns);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Stage;

    #[test]
    fn lent_files_are_borrowed_and_unknown_keys_name_the_file() {
        let source = Source {
            path: "s.toml".into(),
            text: String::new(),
            files: [("users.txt".to_owned(), bytes::Bytes::from(vec![b'a'; 64]))].into(),
            vars: Default::default(),
            host: None,
            headers: Vec::new(),
        };
        let lease = crate::cluster::shared::Lease::lend(&source.files);
        let lent = source_to_wire(&source, Some(&lease));
        assert!(lent.files.is_empty(), "keys, not bytes");
        let back = source_from_wire(lent.clone()).unwrap();
        assert_eq!(
            back.files["users.txt"].as_ptr(),
            source.files["users.txt"].as_ptr(),
            "the master's buffer itself"
        );
        let sent = source_from_wire(source_to_wire(&source, None)).unwrap();
        assert_eq!(sent.files, source.files);
        drop(lease);
        let e = source_from_wire(lent).unwrap_err().to_string();
        assert!(e.contains("users.txt"), "{e}");
    }

    #[test]
    fn loads_survive_the_wire() {
        let loads = [
            LoadSpec {
                model: LoadModel::Closed {
                    users: 40,
                    spawn_rate: 7.5,
                    think: Think::Uniform(Duration::from_millis(10), Duration::from_millis(30)),
                    stages: vec![Stage {
                        duration: Duration::from_secs(3),
                        target: 80.0,
                    }],
                },
                duration: Some(Duration::from_secs(9)),
                requests: None,
                timeout: Duration::from_secs(30),
            },
            LoadSpec {
                model: LoadModel::Open {
                    rate: 250.0,
                    max_in_flight: 64,
                    connections: 16,
                    stages: vec![],
                },
                duration: None,
                requests: Some(1000),
                timeout: Duration::from_millis(500),
            },
        ];
        for l in loads {
            assert_eq!(load_from_wire(&load_to_wire(&l)).unwrap(), l);
        }
        assert!(load_from_wire(&wire::Load::default()).is_err());
    }

    #[test]
    fn plans_beyond_the_limits_are_refused() {
        let closed = |users: u64, stages: Vec<wire::Stage>| wire::Load {
            model: Some(wire::load::Model::Closed(wire::Closed {
                users,
                spawn_rate: f64::INFINITY,
                think_min_us: 0,
                think_max_us: 0,
                stages,
            })),
            duration_ms: Some(10_000),
            requests: None,
            timeout_ms: 30_000,
        };
        let open = |rate: f64, max_in_flight: u64| wire::Load {
            model: Some(wire::load::Model::Open(wire::Open {
                rate,
                max_in_flight,
                connections: 0,
                stages: vec![],
            })),
            ..closed(1, vec![])
        };
        let stage = |duration_ms: u64, target: f64| wire::Stage {
            duration_ms,
            target,
        };
        assert!(load_from_wire(&closed(1_000_000, vec![])).is_ok());
        assert!(load_from_wire(&open(10_000_000.0, 1_000_000)).is_ok());
        let refused = |l: wire::Load, want: &str| {
            let e = load_from_wire(&l).unwrap_err().to_string();
            assert!(e.contains(want), "want {want:?} in {e:?}");
        };
        refused(
            closed(i64::MAX as u64, vec![]),
            "users must be at most 1000000",
        );
        refused(closed(9, vec![stage(1000, 2e6)]), "stage target");
        refused(closed(9, vec![stage(u64::MAX, 1.0)]), "stage duration");
        // Each stage within bounds, their sum not (and not overflowing).
        let year = 365 * 24 * 3600 * 1000;
        refused(
            closed(9, vec![stage(year, 1.0), stage(year, 1.0)]),
            "stages must be at most 365d in all",
        );
        refused(open(1e15, 10), "10000000");
        refused(open(1e-30, 10), "rate");
        refused(
            open(10.0, 1_000_000_000),
            "max_in_flight must be at most 1000000",
        );
        let mut l = closed(1, vec![]);
        l.duration_ms = Some(u64::MAX);
        refused(l, "duration must be at most 365d");
        let mut l = closed(1, vec![]);
        l.timeout_ms = 7_200_000;
        refused(l, "timeout must be from 1ms to 1h");
        let mut l = closed(1, vec![]);
        l.requests = Some(u64::MAX);
        refused(l, "requests must be from 1 to");
        let mut l = closed(1, vec![]);
        if let Some(wire::load::Model::Closed(c)) = &mut l.model {
            c.think_max_us = u64::MAX;
            c.spawn_rate = 1e12;
        }
        refused(l.clone(), "spawn_rate");
        if let Some(wire::load::Model::Closed(c)) = &mut l.model {
            c.spawn_rate = 5.0;
        }
        refused(l, "think_time must be at most 1h");
    }

    #[test]
    fn snapshots_survive_the_wire_and_bad_ones_are_refused() {
        let mut n = NameSnapshot::<crate::stats::Latency>::empty(StatId(1));
        for v in [120, 250, 99_000] {
            n.hist.record(v).unwrap();
        }
        n.requests = 3;
        n.failures = 1;
        n.protocols.set(Protocol::Http2, 1);
        n.protocols.set(Protocol::Http3, 2);
        n.add_failure(FailureCount {
            kind: FailureKind::Status,
            reason: "HTTP 503".into(),
            count: 1,
            last_detail: Some("busy".into()),
            seen_ms: None,
        });
        let s = Snapshot {
            at_ms: 2000,
            interval_ms: 1000,
            users: 5,
            late_starts: 0,
            missed_starts: 0,
            retries: 3,
            waited_starts: 7,
            abandoned: 2,
            cookies_dropped: 11,
            cpu_percent: 42.5,
            late_reports: 1,
            names: vec![n],
            start_lag: Some({
                let mut h = crate::stats::histogram::new();
                crate::stats::histogram::record(&mut h, 180);
                crate::stats::histogram::record(&mut h, 2_500);
                h
            }),
        };
        let w = snapshot_to_wire(&s.to_sparse());
        let back = snapshot_from_wire(w.clone(), 2).unwrap();
        assert_eq!(back, s.to_sparse());
        // No start measured (the closed model): none on the wire, none back.
        let closed = Snapshot {
            start_lag: None,
            ..s.clone()
        };
        let w0 = snapshot_to_wire(&closed.to_sparse());
        assert!(w0.start_lag.is_empty());
        assert_eq!(snapshot_from_wire(w0, 2).unwrap().start_lag, None);
        assert_eq!(back.names[0].protocols, s.names[0].protocols);
        let mut bad_lag = w.clone();
        bad_lag.start_lag.push(0x80);
        assert!(snapshot_from_wire(bad_lag, 2).is_err());
        // Added into a histogram, the sparse form is the original, exactly.
        let mut h = crate::stats::histogram::new();
        crate::stats::snapshot::Hist::add_into(&back.names[0].hist, &mut h);
        assert_eq!(h, s.names[0].hist);
        assert!(
            snapshot_from_wire(w.clone(), 1).is_err(),
            "index out of range"
        );
        let mut broken = w.clone();
        broken.names[0].buckets.push(0x80); // a varint cut short
        assert!(snapshot_from_wire(broken.clone(), 2).is_err());
        // Out of range: accepted, and adding it records nothing.
        broken.names[0].buckets = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        let odd = snapshot_from_wire(broken.clone(), 2).unwrap();
        let mut h = crate::stats::histogram::new();
        crate::stats::snapshot::Hist::add_into(&odd.names[0].hist, &mut h);
        assert!(h.is_empty());
    }

    #[test]
    fn protocols_cross_the_wire_and_old_peers_send_none() {
        use prost::Message as _;
        let mut n = NameSnapshot::<crate::stats::Latency>::empty(StatId(0));
        n.hist.record(100).unwrap();
        n.hist.record(200).unwrap();
        n.requests = 2;
        n.protocols.set(Protocol::Http1, 1);
        n.protocols.set(Protocol::Http3, 1);
        let s = Snapshot {
            names: vec![n],
            ..Snapshot::default()
        };
        let w = snapshot_to_wire(&s.to_sparse());
        let back = snapshot_from_wire(w.clone(), 1).unwrap();
        assert_eq!(back.names[0].protocols, s.names[0].protocols);

        // An older worker's bytes: NameStats without field 8.
        let mut old = w.clone();
        old.names[0].protocols = None;
        let bytes = old.encode_to_vec();
        let decoded = wire::Snapshot::decode(bytes.as_slice()).unwrap();
        let back = snapshot_from_wire(decoded, 1).unwrap();
        assert!(back.names[0].protocols.is_empty());
        assert_eq!(back.names[0].requests, 2);

        // A row that counted none sends none.
        let mut none = s.clone();
        none.names[0].protocols = ProtocolCounts::default();
        assert!(
            snapshot_to_wire(&none.to_sparse()).names[0]
                .protocols
                .is_none()
        );

        // More protocols than requests, or a sum past 2^64: refused.
        for (a, b) in [(2, 1), (u64::MAX, 1)] {
            let mut forged = w.clone();
            forged.names[0].protocols = Some(wire::ProtocolCounts {
                http1: a,
                http2: b,
                http3: 0,
            });
            let e = snapshot_from_wire(forged, 1).unwrap_err().to_string();
            assert!(e.contains("protocols of request 0"), "{e}");
        }
    }
}
