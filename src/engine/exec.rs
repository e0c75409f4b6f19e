//! Executing one request of the scenario: render, send over the user's own
//! connection, check, capture, and turn the outcome into a [`Sample`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand::Rng;
use rand::rngs::SmallRng;
use tonic::client::Grpc;
use tonic::transport::{Channel, Endpoint};

use super::capture;
use super::guard;
use super::http_request::{self, FixedHttp, Keep, Scratch};
use crate::client::body::EXCERPT;
use crate::client::check;
use crate::client::grpc::{self, GrpcCall, RawCodec};
use crate::client::http::Headers;
use crate::client::http::{HttpConn, HttpTarget};
use crate::scenario::template::RenderCtx;
use crate::scenario::{RequestKind, Scenario, Schema};
use crate::stats::{Failure, FailureKind, Sample};

enum Prepared {
    Http { target: usize, fixed: FixedHttp },
    Grpc { endpoint: usize, call: GrpcCall },
}

/// The scenario made ready to send: targets resolved, gRPC methods compiled.
pub struct Requests {
    pub scenario: Arc<Scenario>,
    prepared: Vec<Prepared>,
    http: Vec<HttpTarget>,
    grpc: Vec<(Endpoint, Option<Vec<Channel>>)>,
    /// What a user picks from (top-level requests and flows), with
    /// cumulative weights for the weighted pick.
    actions: Vec<Action>,
    cumulative: Vec<u64>,
    timeout: std::time::Duration,
    /// Requests sent again on a new connection after the kept-alive one
    /// was found closed (drained into each snapshot).
    pub retries: AtomicU64,
}

/// What a user does in one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send top-level request `i`.
    Request(usize),
    /// Run one iteration of flow `i`.
    Flow(usize),
}

/// Why the engine cannot start.
#[derive(Debug, thiserror::Error)]
#[error("request {name:?}: {message}")]
pub struct PrepareError {
    pub name: String,
    pub message: String,
}

impl Requests {
    /// Resolves targets and compiles gRPC calls (asking servers for their
    /// schema where the scenario says reflection).
    pub async fn prepare(
        scenario: Arc<Scenario>,
        timeout: std::time::Duration,
    ) -> Result<Self, PrepareError> {
        let mut http: Vec<HttpTarget> = Vec::new();
        // Targets by base URL: a scenario of many requests to few targets
        // prepares in linear time.
        let mut http_index: HashMap<String, usize> = HashMap::new();
        let mut grpc_index: HashMap<String, usize> = HashMap::new();
        let mut grpc_eps: Vec<(String, Endpoint, Option<Vec<Channel>>)> = Vec::new();
        let mut reflected: Vec<(String, prost_reflect::DescriptorPool)> = Vec::new();
        let mut prepared = Vec::new();
        for r in &scenario.requests {
            let err = |message: String| PrepareError {
                name: r.name.clone(),
                message,
            };
            let p = match &r.kind {
                RequestKind::Http(h) => {
                    let idx = match http_index.get(&h.base) {
                        Some(&i) => i,
                        None => {
                            http.push(HttpTarget::new(h).map_err(|e| err(e.to_string()))?);
                            http_index.insert(h.base.clone(), http.len() - 1);
                            http.len() - 1
                        }
                    };
                    let fixed = FixedHttp::new(h, &http[idx]).map_err(err)?;
                    Prepared::Http { target: idx, fixed }
                }
                RequestKind::Grpc(g) => {
                    let idx = match grpc_index.get(&g.endpoint) {
                        Some(&i) => i,
                        None => {
                            let ep = grpc::endpoint(g, timeout).map_err(err)?;
                            let shared = g
                                .connections
                                .map(|n| (0..n).map(|_| grpc::channel(&ep)).collect());
                            grpc_eps.push((g.endpoint.clone(), ep, shared));
                            grpc_index.insert(g.endpoint.clone(), grpc_eps.len() - 1);
                            grpc_eps.len() - 1
                        }
                    };
                    let method = match &g.schema {
                        Schema::Protos(pool) => grpc::find_method(pool, &g.method).map_err(err)?,
                        Schema::Reflection => {
                            let pool = match reflected.iter().find(|(e, _)| *e == g.endpoint) {
                                Some((_, p)) => p.clone(),
                                None => {
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
                                    let ch = grpc_eps[idx].1.connect().await.map_err(|e| {
                                        err(format!(
                                            "connecting to {} for reflection: {e}",
                                            g.endpoint
                                        ))
                                    })?;
                                    let pool =
                                        tokio::time::timeout(timeout, grpc::reflect(ch, &services))
                                            .await
                                            .map_err(|_| err("server reflection timed out".into()))?
                                            .map_err(err)?;
                                    reflected.push((g.endpoint.clone(), pool.clone()));
                                    pool
                                }
                            };
                            grpc::find_method(&pool, &g.method).map_err(err)?
                        }
                    };
                    let call = GrpcCall::new(g, &method).map_err(err)?;
                    Prepared::Grpc {
                        endpoint: idx,
                        call,
                    }
                }
            };
            prepared.push(p);
        }
        // Steps have weight 0 and the on-start flow too: neither is picked.
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
        let (actions, cumulative) = weighted
            .map(|(a, w)| {
                acc += u64::from(w);
                (a, acc)
            })
            .unzip();
        Ok(Requests {
            scenario,
            prepared,
            http,
            grpc: grpc_eps.into_iter().map(|(_, e, s)| (e, s)).collect(),
            actions,
            cumulative,
            timeout,
            retries: AtomicU64::new(0),
        })
    }

    /// Picks what a user does next, by weight.
    pub fn pick(&self, rng: &mut SmallRng) -> Action {
        let total = self.cumulative.last().copied().unwrap_or(1);
        let x = rng.random_range(0..total);
        let i = self.cumulative.partition_point(|&c| c <= x);
        self.actions.get(i).copied().unwrap_or(Action::Request(0))
    }

    /// The per-user state: its own connections, random generator and buffers.
    pub fn new_user(&self, id: u64) -> UserState {
        UserState {
            id,
            rng: rand::SeedableRng::from_rng(&mut rand::rng()),
            picked: vec![None; self.scenario.data.len()],
            own: vec![None; self.scenario.data.len()],
            records_epoch: 0,
            vars: vec![String::new(); self.scenario.vars.len()],
            http: self.http.iter().map(|_| None).collect(),
            grpc: self.grpc.iter().map(|_| None).collect(),
            scratch: String::new(),
            scratch2: String::new(),
        }
    }

    /// Opens `user`'s connections to every target before its first request
    /// (the open model's pool). A target that cannot be reached is left: the
    /// first request to it fails with the reason, as it would have anyway.
    pub async fn connect(&self, user: &mut UserState) {
        for (t, slot) in self.http.iter().zip(user.http.iter_mut()) {
            if slot.is_none()
                && let Ok(Ok(c)) = tokio::time::timeout(self.timeout, Box::pin(t.connect())).await
            {
                *slot = Some(c);
            }
        }
        for ((ep, shared), slot) in self.grpc.iter().zip(user.grpc.iter_mut()) {
            let channel = match shared {
                Some(chs) => match chs.get((user.id as usize) % chs.len().max(1)) {
                    Some(c) => c.clone(),
                    None => continue,
                },
                None => slot.get_or_insert_with(|| grpc::channel(ep)).clone(),
            };
            let mut client = Grpc::new(channel);
            let _ = tokio::time::timeout(self.timeout, client.ready()).await;
        }
    }

    /// Sends request `idx` for `user`; latency counts from `start`. A panic
    /// while sending (a bug) is caught and becomes the request's failure.
    pub async fn execute(&self, idx: usize, user: &mut UserState, start: Instant) -> Sample {
        for p in user.picked.iter_mut() {
            *p = None;
        }
        let result = tokio::time::timeout(self.timeout, guard::catch(self.send(idx, user))).await;
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let (sent, received, failure) = match result {
            Ok(Err(panic)) => {
                // Whatever the connection was doing is unknown now.
                user.drop_connections(&self.prepared[idx]);
                (0, 0, Some(guard::failure(panic)))
            }
            Ok(Ok(Ok((s, r)))) => (s, r, None),
            Ok(Ok(Err((s, r, f)))) => {
                if matches!(
                    f.kind,
                    FailureKind::Reset
                        | FailureKind::Protocol
                        | FailureKind::Timeout
                        | FailureKind::Connect
                        | FailureKind::Tls
                ) {
                    user.drop_connections(&self.prepared[idx]);
                }
                (s, r, Some(f))
            }
            Err(_) => {
                user.drop_connections(&self.prepared[idx]);
                let f = Failure::new(
                    FailureKind::Timeout,
                    format!("no answer within {:?}", self.timeout),
                );
                (0, 0, Some(f))
            }
        };
        Sample {
            name: idx as u32,
            micros,
            bytes_sent: sent,
            bytes_received: received,
            failure,
        }
    }

    async fn send(
        &self,
        idx: usize,
        user: &mut UserState,
    ) -> Result<(u64, u64), (u64, u64, Failure)> {
        let spec = &self.scenario.requests[idx];
        let data = &self.scenario.data;
        match (&self.prepared[idx], &spec.kind) {
            (Prepared::Http { target, fixed }, RequestKind::Http(h)) => {
                let t = &self.http[*target];
                let keep = Keep {
                    headers: capture::needs_headers(&spec.captures),
                    // Only what checks and captures read is kept whole;
                    // otherwise enough for a failure's detail.
                    body: if spec.check.needs_body() || capture::needs_body(&spec.captures) {
                        h.max_body
                    } else {
                        EXCERPT.min(h.max_body)
                    },
                };
                let mut retried = false;
                let (sent, answer) = loop {
                    let slot = &mut user.http[*target];
                    if !slot.as_mut().is_some_and(HttpConn::is_usable) {
                        *slot = None;
                    }
                    let conn = match slot {
                        Some(c) => c,
                        None => {
                            // Boxed: a connect is rare, and its state need
                            // not live in every idle user.
                            let c = Box::pin(t.connect()).await.map_err(|f| (0, 0, f))?;
                            slot.insert(c)
                        }
                    };
                    let mut ctx = RenderCtx {
                        data,
                        rng: &mut user.rng,
                        picked: &mut user.picked,
                        own: &user.own,
                        vars: &user.vars,
                    };
                    let scratch = Scratch {
                        a: &mut user.scratch,
                        b: &mut user.scratch2,
                    };
                    match http_request::send(h, fixed, t, conn, &mut ctx, scratch, keep).await {
                        // The server closed this kept-alive connection as the
                        // request went out (no byte of an answer): it goes
                        // again, once, on a new connection, as browsers and
                        // Go's client do; counted as a retry, not a failure.
                        Err(_) if !retried && conn.failed_stale(h.method.is_idempotent()) => {
                            retried = true;
                            self.retries.fetch_add(1, Ordering::Relaxed);
                            user.http[*target] = None;
                        }
                        other => break other?,
                    }
                };
                let r = answer.received;
                let failed = |f| (sent, r, f);
                let body = &answer.body.kept;
                let truncated = answer.body.truncated();
                check::http_status(&spec.check, answer.status, body).map_err(failed)?;
                check::body(&spec.check, body, truncated, None).map_err(failed)?;
                if !spec.captures.is_empty() {
                    let seen = capture::Answer {
                        body,
                        json: None,
                        truncated,
                        headers: &answer.headers,
                    };
                    capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                        .map_err(failed)?;
                }
                Ok((sent, r))
            }
            // Boxed: tonic's futures are large, and an idle user should not
            // carry one (ten thousand users stay small).
            (Prepared::Grpc { endpoint, call }, RequestKind::Grpc(_)) => {
                Box::pin(self.send_grpc(idx, *endpoint, call, user)).await
            }
            _ => Err((
                0,
                0,
                Failure::new(FailureKind::Request, "request kind mismatch"),
            )),
        }
    }

    async fn send_grpc(
        &self,
        idx: usize,
        endpoint: usize,
        call: &GrpcCall,
        user: &mut UserState,
    ) -> Result<(u64, u64), (u64, u64, Failure)> {
        let spec = &self.scenario.requests[idx];
        let data = &self.scenario.data;
        let (ep, shared) = &self.grpc[endpoint];
        let channel = match shared {
            Some(chs) => chs[(user.id as usize) % chs.len()].clone(),
            None => user.grpc[endpoint]
                .get_or_insert_with(|| grpc::channel(ep))
                .clone(),
        };
        let mut ctx = RenderCtx {
            data,
            rng: &mut user.rng,
            picked: &mut user.picked,
            own: &user.own,
            vars: &user.vars,
        };
        let body = call
            .encode(&mut ctx, &mut user.scratch)
            .map_err(|f| (0, 0, f))?;
        let sent = body.len() as u64 + 5;
        let req = call
            .request(body, &mut ctx, &mut user.scratch)
            .map_err(|f| (0, 0, f))?;
        let mut client = Grpc::new(channel);
        client.ready().await.map_err(|e| {
            (
                sent,
                0,
                Failure::new(FailureKind::Connect, "cannot connect").with_detail(e.to_string()),
            )
        })?;
        let keep_headers = capture::needs_headers(&spec.captures);
        let headers = |m: tonic::metadata::MetadataMap| {
            if keep_headers {
                Headers::Map(m.into_headers())
            } else {
                Headers::None
            }
        };
        match client.unary(req, call.path.clone(), RawCodec).await {
            Ok(resp) => {
                let (meta, bytes, _) = resp.into_parts();
                let r = bytes.len() as u64 + 5;
                let failed = |f| (sent, r, f);
                if spec.check.code != 0 {
                    let f = Failure::new(
                        FailureKind::Grpc,
                        format!("gRPC OK, expected {}", grpc::code_name(spec.check.code)),
                    );
                    return Err(failed(f));
                }
                let wants_json = spec.check.needs_body() || capture::needs_body(&spec.captures);
                let json = if wants_json {
                    Some(call.decode_json(&bytes).map_err(failed)?)
                } else {
                    None
                };
                if spec.check.needs_body() {
                    check::body(&spec.check, &bytes, false, json.as_ref()).map_err(failed)?;
                }
                if !spec.captures.is_empty() {
                    // Regexes read the response as its JSON text.
                    let text = json.as_ref().map(|j| j.to_string()).unwrap_or_default();
                    let seen = capture::Answer {
                        body: text.as_bytes(),
                        json: json.as_ref(),
                        truncated: false,
                        headers: &headers(meta),
                    };
                    capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                        .map_err(failed)?;
                }
                Ok((sent, r))
            }
            Err(status) => match grpc::status_failure(&status, spec.check.code) {
                None => {
                    let r = status.message().len() as u64;
                    if !spec.captures.is_empty() {
                        // An expected non-OK status: its message and metadata.
                        let seen = capture::Answer {
                            body: status.message().as_bytes(),
                            json: None,
                            truncated: false,
                            headers: &headers(status.metadata().clone()),
                        };
                        capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                            .map_err(|f| (sent, r, f))?;
                    }
                    Ok((sent, r))
                }
                Some(f) => Err((sent, 0, f)),
            },
        }
    }
}

/// One virtual user's (or open-model executor's) own state.
pub struct UserState {
    pub id: u64,
    pub rng: SmallRng,
    picked: Vec<Option<usize>>,
    /// The rows this user holds of `per_user` sources.
    pub own: Vec<Option<usize>>,
    /// The records' epoch when this user last checked its rows.
    pub records_epoch: u64,
    /// Its variables, set by captures.
    pub vars: Vec<String>,
    http: Vec<Option<HttpConn>>,
    grpc: Vec<Option<Channel>>,
    scratch: String,
    scratch2: String,
}

impl UserState {
    fn drop_connections(&mut self, p: &Prepared) {
        match p {
            Prepared::Http { target, .. } => self.http[*target] = None,
            Prepared::Grpc { endpoint, .. } => self.grpc[*endpoint] = None,
        }
    }
}
