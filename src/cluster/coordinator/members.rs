//! The workers of one run as the coordinator tracks them: what each sent
//! (reports, Done), whether it left or was lost, its figures for the console
//! and the report, and the shares of the load the active ones hold.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::super::convert;
use super::super::live::WorkerRow;
use super::super::master::{WorkerInfo, WorkerLink};
use super::super::wire::{self, master_message};
use crate::engine::Share;
use crate::stats::{Health, RunStats};

/// How long after a worker's Done its missing reports are waited for.
const REPORT_GRACE: Duration = Duration::from_secs(2);

/// One worker of the run, as the master saw it: what the report (and its
/// JSON, as `report::json::WorkerJson`) says of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    pub id: String,
    pub host: String,
    /// done, or lost (it left before the end).
    pub state: String,
    pub requests: u64,
    pub peak_users: u64,
    pub mean_cpu_percent: f64,
    pub peak_cpu_percent: f64,
    /// Why this worker's generator limited its part (empty: it did not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
}

/// A worker's Done: how many reports it sent, and when it said so.
#[derive(Debug, Clone, Copy)]
pub(super) struct Done {
    pub reports: u64,
    pub at: Instant,
}

pub(super) struct Member {
    pub info: WorkerInfo,
    pub link: WorkerLink,
    /// In the current run: reports received; Done's count once it came.
    pub reports: u64,
    pub done: Option<Done>,
    /// It stopped before the run's end (a signal, or its engine failed).
    pub left: bool,
    pub lost: bool,
    pub busy_warned: bool,
    /// A worker with this id was lost before in this run.
    pub rejoined: bool,
    /// From its latest report, for the console.
    pub users: u64,
    pub rps: f64,
    pub cpu: f64,
    pub last_report: Option<Instant>,
    /// Over the run, for the report.
    pub requests: u64,
    pub peak_users: u64,
    pub cpu_sum: f64,
    pub peak_cpu: f64,
}

impl Member {
    pub fn new(info: WorkerInfo, link: WorkerLink) -> Self {
        Member {
            info,
            link,
            reports: 0,
            done: None,
            left: false,
            lost: false,
            busy_warned: false,
            rejoined: false,
            users: 0,
            rps: 0.0,
            cpu: 0.0,
            last_report: None,
            requests: 0,
            peak_users: 0,
            cpu_sum: 0.0,
            peak_cpu: 0.0,
        }
    }

    /// Its state as the console (`live`, during the run) or the report
    /// (after it: a worker that did not leave or get lost is done) says it.
    fn state(&self, live: bool) -> &'static str {
        if self.lost {
            "lost"
        } else if self.left {
            "left"
        } else if !live || self.done.is_some() {
            "done"
        } else if self.rejoined {
            "rejoined"
        } else {
            "running"
        }
    }

    pub fn row(&self, now: Instant, health: Option<&Health>) -> WorkerRow {
        WorkerRow {
            invalid: health.map(Health::reasons).unwrap_or_default(),
            id: self.info.id.clone(),
            host: self.info.hostname.clone(),
            state: self.state(true),
            users: if self.lost { 0 } else { self.users },
            rps: self.rps,
            cpu_percent: self.cpu,
            last_report: self.last_report.map(|t| now.saturating_duration_since(t)),
        }
    }

    /// What the report says of it.
    pub fn summary(&self, health: Option<&Health>) -> WorkerSummary {
        WorkerSummary {
            invalid: health.map(Health::reasons).unwrap_or_default(),
            id: self.info.id.clone(),
            host: self.info.hostname.clone(),
            state: self.state(false).into(),
            requests: self.requests,
            peak_users: self.peak_users,
            mean_cpu_percent: if self.reports > 0 {
                self.cpu_sum / self.reports as f64
            } else {
                0.0
            },
            peak_cpu_percent: self.peak_cpu,
        }
    }

    pub fn finished(&self, now: Instant) -> bool {
        self.lost
            || self.done.is_some_and(|d| {
                self.reports >= d.reports || now.duration_since(d.at) > REPORT_GRACE
            })
    }
}

/// The workers of a run by serial.
#[derive(Default)]
pub(super) struct Members(pub BTreeMap<u64, Member>);

/// A newcomer's share, held back from the others' updates for its plan.
pub(super) struct NewShare {
    pub serial: u64,
    pub share: Share,
}

impl Members {
    /// Serials of the workers still running, in order.
    pub fn active(&self) -> Vec<u64> {
        self.0
            .iter()
            .filter(|(_, m)| !m.lost && m.done.is_none())
            .map(|(s, _)| *s)
            .collect()
    }

    /// The console's worker rows, each judged on its own reports.
    pub fn rows(&self, stats: &RunStats) -> Vec<WorkerRow> {
        let now = Instant::now();
        self.0
            .iter()
            .map(|(serial, m)| m.row(now, stats.health.get(serial)))
            .collect()
    }

    /// Shares of the active workers, by cores.
    pub fn shares(&self) -> Vec<Share> {
        let cores: Vec<u64> = self
            .active()
            .iter()
            .filter_map(|s| self.0.get(s))
            .map(|m| u64::from(m.info.cores))
            .collect();
        Share::split(&cores)
    }

    /// Sends every active worker its new share, except `newcomer`, whose
    /// share is returned for its plan.
    pub fn reshare(
        &self,
        run_id: u64,
        newcomer: Option<u64>,
        total: Option<f64>,
    ) -> Option<NewShare> {
        let mut out = None;
        for (serial, share) in self.active().into_iter().zip(self.shares()) {
            if Some(serial) == newcomer {
                out = Some(NewShare { serial, share });
            } else if let Some(m) = self.0.get(&serial) {
                m.link.send(master_message::Msg::Update(wire::Update {
                    run_id,
                    share: Some(convert::share_to_wire(share)),
                    total,
                }));
            }
        }
        out
    }

    /// Tells every worker of the run to stop.
    pub fn stop_all(&self, run_id: u64) {
        for m in self.0.values() {
            m.link
                .send(master_message::Msg::Stop(wire::Stop { run_id }));
        }
    }
}
