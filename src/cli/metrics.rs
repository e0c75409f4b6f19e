//! `--metrics-addr`: the Prometheus endpoint a run serves while it runs. It
//! is one more watcher of the run, shown the same state as the console on
//! the same tick.

use std::net::SocketAddr;

use super::Exit;
use crate::cluster::live::Watcher;
use crate::report::metrics_endpoint::{self, MetricsEndpoint, MetricsText};
use crate::report::prometheus;

/// The endpoint; it serves until this is dropped.
pub struct Metrics {
    _endpoint: MetricsEndpoint,
    text: MetricsText,
    scenario: String,
}

/// Serves the metrics at `addr`, when given, and says where.
pub async fn start(addr: Option<SocketAddr>, scenario: &str) -> Result<Option<Metrics>, Exit> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let (endpoint, text) = metrics_endpoint::bind(addr)
        .await
        .map_err(Exit::cannot_start)?;
    eprintln!("Prometheus metrics on http://{}/metrics", endpoint.addr);
    Ok(Some(Metrics {
        _endpoint: endpoint,
        text,
        scenario: scenario.to_owned(),
    }))
}

impl Metrics {
    /// `watcher` (the console, if any) and the metrics text, both kept up to
    /// date by the run.
    pub fn watch(&self, watcher: Option<Watcher>) -> Watcher {
        let text = self.text.clone();
        let scenario = self.scenario.clone();
        let publish = Box::new(move |stats: &_, board: &_| {
            text.set(prometheus::render(stats, board, &scenario));
        });
        match watcher {
            Some(w) => w.and(publish),
            None => Watcher::looking(publish),
        }
    }
}

/// The console's watcher, with the metrics' added when they are served.
pub fn watchers(metrics: Option<&Metrics>, console: Option<Watcher>) -> Option<Watcher> {
    match metrics {
        Some(m) => Some(m.watch(console)),
        None => console,
    }
}
