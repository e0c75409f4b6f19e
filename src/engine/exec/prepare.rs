//! The scenario made ready to send, before the first request: each HTTP
//! request's target resolved and its static parts built, each gRPC
//! method compiled (asking servers for their schema where the scenario
//! says reflection), and the weighted pick laid out.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::conns::{Target, shared};
use super::{Action, Prepared, Requests};
use crate::client::grpc::{
    self, CallSetupError, EndpointError, GrpcCall, GrpcEndpoint, GrpcSetupError, MethodError,
    ReflectError,
};
use crate::client::http::{HttpTarget, TargetError};
use crate::engine::http_request::{FixedHttp, FixedHttpError};
use crate::scenario::{GrpcSpec, HttpVersion, RequestKind, RequestSpec, Scenario, Schema};

/// Why the engine cannot start: the request, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("request {name:?}: {cause}")]
pub struct PrepareError {
    pub name: String,
    /// Not a `#[source]`: its text is this message's, and the CLI prints an
    /// error's chain whole (`{:#}`), which would say it twice.
    pub cause: PrepareCause,
}

/// What is wrong with a request that the engine cannot prepare.
#[derive(Debug, thiserror::Error)]
pub enum PrepareCause {
    /// Its HTTP target (a URL, its TLS settings).
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Its fixed parts (a header, the path, the credentials).
    #[error(transparent)]
    Request(#[from] FixedHttpError),
    /// Its gRPC endpoint, method or schema.
    #[error(transparent)]
    Grpc(#[from] GrpcSetupError),
    /// A target found for the request is not where it was put (a bug).
    #[error("no target for the request")]
    NoTarget,
}

impl PrepareError {
    fn of(r: &RequestSpec, cause: impl Into<PrepareCause>) -> Self {
        PrepareError {
            name: r.name.clone(),
            cause: cause.into(),
        }
    }
}

/// Each gRPC error is a cause as it is (through [`GrpcSetupError`]), so that
/// every step of preparing a request hands its own error to
/// [`PrepareError::of`] or `?`.
macro_rules! grpc_causes {
    ($($error:ty),*) => {$(
        impl From<$error> for PrepareCause {
            fn from(e: $error) -> Self {
                PrepareCause::Grpc(e.into())
            }
        }
    )*};
}

grpc_causes!(EndpointError, MethodError, ReflectError, CallSetupError);

/// What [`Requests::prepare`] would refuse in the scenario's HTTP requests
/// (a target, a header, a path), found without connecting: `volley check`
/// runs it, so that it never passes a request that `volley run` refuses.
pub fn check_http(scenario: &Scenario) -> Result<(), PrepareError> {
    let mut targets: HashMap<&str, HttpTarget> = HashMap::new();
    for r in &scenario.requests {
        let h = match &r.kind {
            RequestKind::Http(h) => h,
            RequestKind::WebSocket(w) => &w.http,
            RequestKind::Grpc(_) => continue,
        };
        let target = match targets.entry(h.base.as_str()) {
            Entry::Occupied(t) => t.into_mut(),
            Entry::Vacant(v) => v.insert(HttpTarget::new(h).map_err(|e| PrepareError::of(r, e))?),
        };
        FixedHttp::new(h, target).map_err(|e| PrepareError::of(r, e))?;
    }
    Ok(())
}

/// What names an HTTP target among a scenario's: its origin and the
/// version its requests speak (two requests to one origin may speak two).
pub(super) fn target_key(base: &str, version: HttpVersion) -> String {
    format!("{base} {version:?}")
}

/// The targets as they are found, each once: a scenario of many requests
/// to few targets prepares in linear time.
#[derive(Default)]
struct Found {
    targets: Vec<Target>,
    http_index: HashMap<String, usize>,
    grpc_index: HashMap<String, usize>,
    /// Schemas servers gave by reflection, per endpoint.
    reflected: HashMap<String, prost_reflect::DescriptorPool>,
}

impl Requests {
    /// Resolves targets and compiles gRPC calls (asking servers for their
    /// schema where the scenario says reflection). `grpc_shared`: how many
    /// connections users share per gRPC endpoint where `[grpc] connections`
    /// is not set (None: a connection per user).
    pub async fn prepare(
        scenario: Arc<Scenario>,
        timeout: Duration,
        grpc_shared: Option<u64>,
    ) -> Result<Self, PrepareError> {
        let mut found = Found::default();
        let mut prepared = Vec::with_capacity(scenario.requests.len());
        for (i, r) in scenario.requests.iter().enumerate() {
            let p = match &r.kind {
                RequestKind::WebSocket(w) => {
                    // A call's own connection, made for it and closed with
                    // it: no user keeps one.
                    let target = HttpTarget::new(&w.http).map_err(|e| PrepareError::of(r, e))?;
                    match scenario.rows.stream_of(i) {
                        Some(rows) => Prepared::WebSocket {
                            target: Box::new(target),
                            rows,
                        },
                        // Rows laid out from the same requests: a
                        // WebSocket call always has its rows.
                        None => return Err(PrepareError::of(r, PrepareCause::NoTarget)),
                    }
                }
                RequestKind::Http(h) => {
                    let key = target_key(&h.base, h.version);
                    let target = match found.http_index.get(&key) {
                        Some(&i) => i,
                        None => {
                            let t = HttpTarget::new(h)
                                .map_err(|e| PrepareError::of(r, e))?
                                .timed(timeout);
                            let n = h.connections.unwrap_or(0);
                            found.targets.push(Target::Http {
                                target: Box::new(t),
                                shared: shared(usize::try_from(n).unwrap_or(usize::MAX)),
                            });
                            let i = found.targets.len() - 1;
                            found.http_index.insert(key, i);
                            i
                        }
                    };
                    let Some(Target::Http { target: t, .. }) = found.targets.get(target) else {
                        return Err(PrepareError::of(r, PrepareCause::NoTarget));
                    };
                    let fixed = FixedHttp::new(h, t).map_err(|e| PrepareError::of(r, e))?;
                    match (&h.sse, scenario.rows.stream_of(i)) {
                        (Some(sse), Some(rows)) => Prepared::Sse {
                            target,
                            spec: Arc::clone(h),
                            fixed: Box::new(fixed),
                            ttfb: scenario.rows.ttfb(i),
                            sse: Box::new(sse.clone()),
                            rows,
                        },
                        // Rows laid out from the same requests: an event
                        // stream always has its rows.
                        _ => Prepared::Http {
                            target,
                            spec: Arc::clone(h),
                            fixed: Box::new(fixed),
                            ttfb: scenario.rows.ttfb(i),
                        },
                    }
                }
                RequestKind::Grpc(g) => {
                    let target = match found.grpc_index.get(&g.endpoint) {
                        Some(&i) => i,
                        None => {
                            let endpoint =
                                grpc::endpoint(g, timeout).map_err(|e| PrepareError::of(r, e))?;
                            let n = g.connections.or(grpc_shared).unwrap_or(0);
                            found.targets.push(Target::Grpc {
                                endpoint: Box::new(endpoint),
                                shared: shared(usize::try_from(n).unwrap_or(usize::MAX)),
                            });
                            let i = found.targets.len() - 1;
                            found.grpc_index.insert(g.endpoint.clone(), i);
                            i
                        }
                    };
                    let method = match &g.schema {
                        Schema::Protos(pool) => grpc::find_method(pool, &g.method),
                        Schema::Reflection => {
                            let pool = found.reflect(&scenario, g, target, timeout).await;
                            let pool = pool.map_err(|e| PrepareError::of(r, e))?;
                            grpc::find_method(&pool, &g.method)
                        }
                    }
                    .map_err(|e| PrepareError::of(r, e))?;
                    let call = GrpcCall::new(g, &method).map_err(|e| PrepareError::of(r, e))?;
                    match (&g.stream, scenario.rows.stream_of(i)) {
                        (Some(st), Some(rows)) => Prepared::GrpcStream {
                            target,
                            call,
                            stream: Box::new(st.clone()),
                            rows,
                        },
                        // Rows laid out from the same requests: a stream
                        // always has its rows.
                        _ => Prepared::Grpc { target, call },
                    }
                }
            };
            prepared.push(p);
        }
        let (actions, cumulative) = weighted_pick(&scenario);
        Ok(Requests {
            scenario,
            prepared,
            targets: found.targets,
            http_index: found.http_index,
            others: parking_lot::Mutex::new(HashMap::new()),
            actions,
            cumulative,
            timeout,
            retries: AtomicU64::new(0),
            cookies_dropped: AtomicU64::new(0),
            record: None,
            record_tag: String::new(),
        })
    }
}

impl Found {
    /// The schema the server of `g` gives by reflection for every service
    /// the scenario calls on it, asked once per endpoint.
    async fn reflect(
        &mut self,
        scenario: &Scenario,
        g: &GrpcSpec,
        target: usize,
        timeout: Duration,
    ) -> Result<prost_reflect::DescriptorPool, PrepareCause> {
        if let Some(p) = self.reflected.get(&g.endpoint) {
            return Ok(p.clone());
        }
        let services: Vec<String> = scenario
            .requests
            .iter()
            .filter_map(|o| match &o.kind {
                RequestKind::Grpc(og) if og.endpoint == g.endpoint => {
                    og.method.split_once('/').map(|(s, _)| s.to_owned())
                }
                _ => None,
            })
            .collect();
        let endpoint: &GrpcEndpoint = match self.targets.get(target) {
            Some(Target::Grpc { endpoint, .. }) => endpoint,
            _ => return Err(PrepareCause::NoTarget),
        };
        let ch = endpoint
            .connect()
            .await
            .map_err(|error| ReflectError::ConnectForRun {
                endpoint: g.endpoint.clone(),
                error,
            })?;
        let pool = tokio::time::timeout(timeout, grpc::reflect(ch, &services))
            .await
            .map_err(|_| ReflectError::TimedOutForRun)??;
        self.reflected.insert(g.endpoint.clone(), pool.clone());
        Ok(pool)
    }
}

/// What a user picks from, with cumulative weights: top-level requests and
/// flows. Steps have weight 0 and the on-start flow too: neither is picked.
fn weighted_pick(scenario: &Scenario) -> (Vec<Action>, Vec<u64>) {
    let weighted = scenario
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| (Action::Request(i), r.weight))
        .chain(
            scenario
                .flows
                .iter()
                .enumerate()
                .map(|(i, f)| (Action::Flow(i), f.weight)),
        )
        .filter(|(_, w)| *w > 0);
    let mut acc = 0u64;
    weighted
        .map(|(a, w)| {
            acc = acc.saturating_add(u64::from(w));
            (a, acc)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pick_lays_out_weighted_requests_and_flows_and_leaves_steps_out() {
        let text = r#"
[load]
users = 1
requests = 1
[http]
base_url = "http://127.0.0.1:9"
[[request]]
name = "a"
path = "/a"
weight = 3
[[request]]
name = "b"
path = "/b"
[[flow]]
name = "f"
weight = 2
[[flow.step]]
name = "s"
path = "/s"
"#;
        let scenario = crate::scenario::compile::compile_source(&crate::scenario::Source {
            path: "s.toml".into(),
            text: text.into(),
            files: Default::default(),
            vars: Default::default(),
            host: None,
            headers: Vec::new(),
        })
        .unwrap();
        let at = |name: &str| {
            let i = scenario.requests.iter().position(|r| r.name == name);
            Action::Request(i.unwrap())
        };
        // The flow's step is a request of weight 0: never picked alone.
        assert_eq!(scenario.requests.len(), 3);
        let (actions, cumulative) = weighted_pick(&scenario);
        assert_eq!(actions, [at("a"), at("b"), Action::Flow(0)]);
        assert_eq!(cumulative, [3, 4, 6]);
    }

    /// The request's name, then its cause's own message, as before the
    /// cause had a type.
    #[test]
    fn a_refusal_names_the_request_then_says_why() {
        let e = PrepareError {
            name: "a".into(),
            cause: PrepareCause::NoTarget,
        };
        assert_eq!(e.to_string(), "request \"a\": no target for the request");
        let e = PrepareError {
            name: "g".into(),
            cause: PrepareCause::Grpc(ReflectError::TimedOutForRun.into()),
        };
        assert_eq!(e.to_string(), "request \"g\": server reflection timed out");
        // The cause's text is in the message: a chain printed whole says it
        // once.
        assert!(std::error::Error::source(&e).is_none());
    }
}
