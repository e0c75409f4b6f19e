//! Executing one request of the scenario: render, send over the user's own
//! connection, check, capture, and turn the outcome into a [`Sample`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rand::Rng;
use rand::rngs::SmallRng;

use super::capture;
use super::guard;
use super::http_request::{self, FixedHttp, Keep, Route, Scratch};
use crate::client::body::EXCERPT;
use crate::client::check;
use crate::client::cookies::Jar;
use crate::client::decode::{self, Encoding};
use crate::client::digest;
use crate::client::grpc::{self, GrpcCall, GrpcConn, GrpcEndpoint, RawCodec};
use crate::client::h2conn;
use crate::client::http::{H2Conn, HttpConn, HttpTarget};
use crate::client::http::{Headers, HttpAnswer};
use crate::client::redirect;
use crate::scenario::template::RenderCtx;
use crate::scenario::{Auth, HttpSpec, RequestKind, RequestSpec, Scenario, Schema};
use crate::stats::{Failure, FailureKind, Recorder, Sample};

mod grpc_stream;

/// A failed exchange: bytes sent, bytes received, and why.
type Failed = (u64, u64, Failure);

enum Prepared {
    Http {
        target: usize,
        fixed: Box<FixedHttp>,
    },
    Grpc {
        endpoint: usize,
        call: GrpcCall,
    },
}

/// The scenario made ready to send: targets resolved, gRPC methods compiled.
pub struct Requests {
    pub scenario: Arc<Scenario>,
    prepared: Vec<Prepared>,
    http: Vec<HttpTarget>,
    /// The targets by base URL (a redirect to one of them uses the user's
    /// connection to it).
    http_index: HashMap<String, usize>,
    /// Origins that redirects led to and no request names, made once each
    /// (their connections are not kept: such hops are rare).
    others: parking_lot::Mutex<HashMap<String, Arc<HttpTarget>>>,
    /// Per target, the HTTP/2 connections all users share (`[http]
    /// connections`); empty: each user has its own.
    shared_h2: Vec<Vec<tokio::sync::Mutex<Option<H2Conn>>>>,
    /// Per gRPC endpoint, the connections all users share (`[grpc]
    /// connections`, or the open model's default); empty: each user has its
    /// own.
    grpc: Vec<(GrpcEndpoint, Vec<tokio::sync::Mutex<Option<GrpcConn>>>)>,
    /// What a user picks from (top-level requests and flows), with
    /// cumulative weights for the weighted pick.
    actions: Vec<Action>,
    cumulative: Vec<u64>,
    timeout: std::time::Duration,
    /// Requests sent again on a new connection after the kept-alive one
    /// was found closed (drained into each snapshot).
    pub retries: AtomicU64,
    /// Cookies the users' jars dropped (drained into each snapshot).
    pub cookies_dropped: AtomicU64,
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

/// What [`Requests::prepare`] would refuse in the scenario's HTTP requests
/// (a target, a header, a path), found without connecting: `volley check`
/// runs it, so that it never passes a request that `volley run` refuses.
pub fn check_http(scenario: &Scenario) -> Result<(), PrepareError> {
    let mut targets: HashMap<&str, HttpTarget> = HashMap::new();
    for r in &scenario.requests {
        let RequestKind::Http(h) = &r.kind else {
            continue;
        };
        let err = |message: String| PrepareError {
            name: r.name.clone(),
            message,
        };
        let target = match targets.entry(h.base.as_str()) {
            std::collections::hash_map::Entry::Occupied(t) => t.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(HttpTarget::new(h).map_err(|e| err(e.to_string()))?)
            }
        };
        FixedHttp::new(h, target).map_err(err)?;
    }
    Ok(())
}

impl Requests {
    /// Resolves targets and compiles gRPC calls (asking servers for their
    /// schema where the scenario says reflection). `grpc_shared`: how many
    /// connections users share per gRPC endpoint where `[grpc] connections`
    /// is not set (None: a connection per user).
    pub async fn prepare(
        scenario: Arc<Scenario>,
        timeout: std::time::Duration,
        grpc_shared: Option<u64>,
    ) -> Result<Self, PrepareError> {
        let mut http: Vec<HttpTarget> = Vec::new();
        let mut shared_h2: Vec<Vec<tokio::sync::Mutex<Option<H2Conn>>>> = Vec::new();
        // Targets by base URL: a scenario of many requests to few targets
        // prepares in linear time.
        let mut http_index: HashMap<String, usize> = HashMap::new();
        let mut grpc_index: HashMap<String, usize> = HashMap::new();
        let mut grpc_eps: Vec<(String, GrpcEndpoint, usize)> = Vec::new();
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
                            shared_h2.push(
                                (0..h.connections.unwrap_or(0))
                                    .map(|_| tokio::sync::Mutex::new(None))
                                    .collect(),
                            );
                            http_index.insert(h.base.clone(), http.len() - 1);
                            http.len() - 1
                        }
                    };
                    let fixed = FixedHttp::new(h, &http[idx]).map_err(err)?;
                    Prepared::Http {
                        target: idx,
                        fixed: Box::new(fixed),
                    }
                }
                RequestKind::Grpc(g) => {
                    let idx = match grpc_index.get(&g.endpoint) {
                        Some(&i) => i,
                        None => {
                            let ep = grpc::endpoint(g, timeout).map_err(err)?;
                            let shared = g.connections.or(grpc_shared).unwrap_or(0);
                            let shared = usize::try_from(shared).unwrap_or(usize::MAX);
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
            http_index,
            others: parking_lot::Mutex::new(HashMap::new()),
            shared_h2,
            grpc: grpc_eps
                .into_iter()
                .map(|(_, e, n)| (e, (0..n).map(|_| tokio::sync::Mutex::new(None)).collect()))
                .collect(),
            actions,
            cumulative,
            timeout,
            retries: AtomicU64::new(0),
            cookies_dropped: AtomicU64::new(0),
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
            path: String::new(),
            cookie: String::new(),
            jar: None,
            digest: Vec::new(),
            wire: Arc::default(),
            sent_now: 0,
        }
    }

    /// Opens `user`'s connections to every target before its first request
    /// (the open model's pool). A target that cannot be reached is left: the
    /// first request to it fails with the reason, as it would have anyway.
    pub async fn connect(&self, user: &mut UserState) {
        for (i, slot) in user.http.iter_mut().enumerate() {
            if slot.is_none()
                && let Ok(Ok(c)) =
                    tokio::time::timeout(self.timeout, Box::pin(self.http_connect(i, user.id)))
                        .await
            {
                *slot = Some(c);
            }
        }
        for endpoint in 0..self.grpc.len() {
            let _ = tokio::time::timeout(self.timeout, self.grpc_conn(endpoint, user)).await;
        }
    }

    /// Sends request `idx` for `user`; latency counts from `start`. A panic
    /// while sending (a bug) is caught and becomes the request's failure.
    /// A streaming call records its messages' rows into `rec` as they go.
    pub async fn execute(
        &self,
        idx: usize,
        user: &mut UserState,
        start: Instant,
        rec: &Recorder,
    ) -> Sample {
        for p in user.picked.iter_mut() {
            *p = None;
        }
        user.sent_now = 0;
        // When the call began, for gRPC only (a clock read per HTTP request
        // saved): a stream the server reset after it was past its deadline.
        let began = matches!(self.prepared[idx], Prepared::Grpc { .. }).then(Instant::now);
        let result =
            tokio::time::timeout(self.timeout, guard::catch(self.send(idx, user, start, rec)))
                .await;
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let timed_out = || {
            Failure::new(
                FailureKind::Timeout,
                format!("no answer within {:?}", self.timeout),
            )
        };
        let (sent, received, failure) = match result {
            Ok(Err(panic)) => {
                // Whatever the connection was doing is unknown now.
                user.drop_connections(&self.prepared[idx]);
                (0, 0, Some(guard::failure(panic)))
            }
            Ok(Ok(Ok((s, r)))) => (s, r, None),
            Ok(Ok(Err((s, r, f)))) => {
                // A gRPC connection is dropped only when its transport
                // failed: a status, a timeout, a limit or a stream the
                // server reset (only its stream is reset) leaves the
                // connection as it was, carrying other calls.
                let grpc = matches!(self.prepared[idx], Prepared::Grpc { .. });
                let transport = if grpc {
                    matches!(f.kind, FailureKind::Connect | FailureKind::Tls)
                        || f.kind == FailureKind::Reset && !h2conn::stream_reset(&f)
                } else {
                    matches!(
                        f.kind,
                        FailureKind::Reset
                            | FailureKind::Protocol
                            | FailureKind::Timeout
                            | FailureKind::Connect
                            | FailureKind::Tls
                    )
                };
                if transport {
                    user.drop_connections(&self.prepared[idx]);
                }
                // A server that ends a call at the deadline it was told
                // (grpc-timeout) by resetting its stream raced volley's own
                // timer, which starts first: the call is past its deadline
                // either way, and counted so, whichever came first. A
                // DEADLINE_EXCEEDED status stays the server's word.
                if h2conn::stream_reset(&f) && began.is_some_and(|b| b.elapsed() >= self.timeout) {
                    (s, r, Some(timed_out()))
                } else {
                    (s, r, Some(f))
                }
            }
            Err(_) => {
                // An HTTP/1.1 connection in the middle of an answer cannot
                // carry another request; a gRPC call's stream is reset when
                // its future is dropped, and its connection goes on.
                // What was written went out, answered or not, and what had
                // arrived of the answer counts (an HTTP/1.1 head and part of
                // a body; a gRPC call's head and messages so far).
                let (s, r) = match &self.prepared[idx] {
                    Prepared::Http { target, .. } => {
                        let arrived = user.http[*target].as_ref().map_or(0, HttpConn::arrived);
                        user.drop_connections(&self.prepared[idx]);
                        (user.sent_now, arrived)
                    }
                    Prepared::Grpc { .. } => user.wire.get(),
                };
                (s, r, Some(timed_out()))
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
        start: Instant,
        rec: &Recorder,
    ) -> Result<(u64, u64), (u64, u64, Failure)> {
        let spec = &self.scenario.requests[idx];
        match (&self.prepared[idx], &spec.kind) {
            (Prepared::Http { target, fixed }, RequestKind::Http(h)) => {
                let result = self.send_http(spec, *target, fixed, h, user).await;
                if !h.keep_alive {
                    // keep_alive = false: a connection per request, as
                    // `oha --disable-keepalive`.
                    user.http[*target] = None;
                }
                result
            }
            // Boxed: tonic's futures are large, and an idle user should not
            // carry one (ten thousand users stay small).
            (Prepared::Grpc { endpoint, call }, RequestKind::Grpc(g)) => match &g.stream {
                None => Box::pin(self.send_grpc(idx, *endpoint, call, user)).await,
                Some(st) => {
                    let s = grpc_stream::Stream {
                        idx,
                        endpoint: *endpoint,
                        call,
                        spec: st,
                        start,
                        rec,
                    };
                    Box::pin(self.send_grpc_stream(s, user)).await
                }
            },
            _ => Err((
                0,
                0,
                Failure::new(FailureKind::Request, "request kind mismatch"),
            )),
        }
    }

    /// One HTTP request of the scenario: the first exchange (sent again once
    /// on a new connection if the kept-alive one was found closed), the
    /// cookies it sets, the redirects it leads to, then the checks and
    /// captures on the final answer, decoded if it came compressed.
    async fn send_http(
        &self,
        spec: &RequestSpec,
        target: usize,
        fixed: &FixedHttp,
        h: &HttpSpec,
        user: &mut UserState,
    ) -> Result<(u64, u64), Failed> {
        let needs_body = spec.check.needs_body() || capture::needs_body(&spec.captures);
        let keep = Keep {
            headers: capture::needs_headers(&spec.captures),
            // Only what checks and captures read is kept whole; otherwise
            // enough for a failure's detail.
            body: if needs_body {
                h.max_body
            } else {
                EXCERPT.min(h.max_body)
            },
        };
        // The path is rendered once, for the request and for the URL that
        // cookies and redirects are resolved against; its buffer is the
        // user's, lent for the request.
        let mut path = std::mem::take(&mut user.path);
        let result = self
            .send_http_on(spec, target, fixed, h, user, keep, &mut path)
            .await;
        user.path = path;
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_http_on(
        &self,
        spec: &RequestSpec,
        target: usize,
        fixed: &FixedHttp,
        h: &HttpSpec,
        user: &mut UserState,
        keep: Keep,
        path: &mut String,
    ) -> Result<(u64, u64), Failed> {
        if fixed.static_path().is_none() {
            let mut ctx = user.render_ctx(&self.scenario.data);
            http_request::render_path(h, &mut ctx, path)?;
        }
        let path = fixed.static_path().unwrap_or(path);
        let (sent, answer, final_url) = self
            .exchange_chain(target, fixed, h, user, keep, path)
            .await?;
        let r = answer.received;
        let failed = |f| (sent, r, f);
        // The body as checks read it: decoded when it came encoded.
        let coded = match answer.encoding {
            Encoding::Coded(c) => Some(c),
            _ => None,
        };
        if let Err(f) = check::http_status(&spec.check, answer.status, &answer.body.kept) {
            // The failure's detail is the start of the body as text.
            let f = match coded {
                Some(c) => match decode::decode(c, &answer.body.kept, true, EXCERPT) {
                    Ok(d) => f.with_detail(check::excerpt(&d.bytes)),
                    Err(_) => f.with_detail(format!("({} body)", c.token())),
                },
                None => f,
            };
            return Err(failed(f));
        }
        let needs_body = spec.check.needs_body() || capture::needs_body(&spec.captures);
        if !needs_body && spec.captures.is_empty() {
            return Ok((sent, r));
        }
        let (body, truncated) = match coded {
            Some(c) if needs_body => {
                let d = decode::decode(c, &answer.body.kept, answer.body.truncated(), h.max_body)
                    .map_err(failed)?;
                (d.bytes, d.truncated)
            }
            _ => (answer.body.kept.clone(), answer.body.truncated()),
        };
        check::body(&spec.check, &body, truncated, None).map_err(failed)?;
        if !spec.captures.is_empty() {
            // The URL cookies are matched against: the last hop's.
            let url = match final_url {
                Some(u) => Some(u),
                None if capture::needs_cookies(&spec.captures) => {
                    let t = &self.http[target];
                    let authority = fixed.host().unwrap_or(t.authority.as_str());
                    url::Url::parse(&format!("{}://{authority}{path}", t.scheme)).ok()
                }
                None => None,
            };
            let seen = capture::Answer {
                body: &body,
                json: None,
                truncated,
                headers: &answer.headers,
                cookies: user.jar.as_deref().zip(url.as_ref()),
            };
            capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                .map_err(failed)?;
        }
        Ok((sent, r))
    }

    /// Sends the request and follows its redirects; returns the bytes sent
    /// by the whole chain, the final answer (its `received` the whole
    /// chain's), and the URL of that answer's request when it was worked
    /// out (cookies or redirects needed it).
    #[allow(clippy::too_many_arguments)]
    async fn exchange_chain(
        &self,
        target: usize,
        fixed: &FixedHttp,
        h: &HttpSpec,
        user: &mut UserState,
        keep: Keep,
        path: &str,
    ) -> Result<(u64, HttpAnswer, Option<url::Url>), Failed> {
        let t = &self.http[target];
        let jar_on = h.cookies && !fixed.own_cookie();
        // The URL the jar and redirects see: the scenario's Host is the
        // origin it names.
        let home_url = || {
            let authority = fixed.host().unwrap_or(t.authority.as_str());
            url::Url::parse(&format!("{}://{authority}{path}", t.scheme)).ok()
        };
        let mut url: Option<url::Url> = None;
        let with_cookie = jar_on && user.jar.as_ref().is_some_and(|j| !j.is_empty());
        if with_cookie {
            url = home_url();
            if let (Some(u), Some(jar)) = (&url, &user.jar)
                && !jar.header_into(u, &mut user.cookie)
            {
                user.cookie.clear();
            }
        }
        let templated = fixed.static_path().is_none();
        let home = HomeRoute {
            target,
            templated,
            with_cookie,
        };
        // A Digest challenge this user met on this target is answered at
        // once, as requests' HTTPDigestAuth answers it: only the first
        // request pays the challenge's round trip. Credentials from the URL
        // (Basic) answer a challenge only when one comes, as curl's
        // --anyauth does: the target's other paths may want Basic.
        let mut authorization = match h.auth {
            Some(Auth::Digest { .. }) => digest_answer(&self.scenario, h, user, target, path),
            _ => None,
        };
        let (mut sent, mut answer) = self
            .send_home(fixed, h, user, keep, path, &home, authorization.as_deref())
            .await?;
        if answer.status == 401 && matches!(h.auth, Some(Auth::Basic { .. } | Auth::Digest { .. }))
        {
            let mut offered = Vec::new();
            answer.headers.for_each("www-authenticate", |v| {
                offered.push(String::from_utf8_lossy(v).into_owned());
            });
            match digest::find(&offered) {
                None => {}
                Some(Err(why)) => {
                    let f = Failure::new(
                        FailureKind::Status,
                        "HTTP 401 with a Digest challenge volley cannot answer",
                    )
                    .with_detail(why);
                    return Err((sent, answer.received, f));
                }
                Some(Ok(challenge)) => {
                    // Answered once: a second 401 is the answer.
                    let state = digest::DigestState::new(challenge);
                    match user.digest.iter_mut().find(|(t, _)| *t == target) {
                        Some(slot) => slot.1 = state,
                        None => user.digest.push((target, state)),
                    }
                    authorization = digest_answer(&self.scenario, h, user, target, path);
                    let first = answer.received;
                    // Boxed: a challenge is the exception.
                    let (s, a) = Box::pin(self.send_home(
                        fixed,
                        h,
                        user,
                        keep,
                        path,
                        &home,
                        authorization.as_deref(),
                    ))
                    .await
                    .map_err(|(s, r, f)| (sent.saturating_add(s), first.saturating_add(r), f))?;
                    sent = sent.saturating_add(s);
                    answer = a;
                    answer.received = first.saturating_add(answer.received);
                }
            }
        }
        let mut received = answer.received;
        let mut method = h.method.clone();
        let mut hops = 0u32;
        let mut home = true;
        loop {
            let sets_cookie = jar_on && has(&answer.headers, "set-cookie");
            let redirects = h.follow_redirects > 0 && redirect::is_redirect(answer.status);
            if !sets_cookie && !redirects {
                break;
            }
            if url.is_none() {
                url = home_url();
            }
            let Some(from) = url.take() else {
                break;
            };
            if sets_cookie {
                let dropped = user
                    .jar
                    .get_or_insert_with(Box::default)
                    .store(&from, &answer.headers);
                if dropped > 0 {
                    self.cookies_dropped.fetch_add(dropped, Ordering::Relaxed);
                }
            }
            if !redirects {
                url = Some(from);
                break;
            }
            let location = answer.headers.get("location");
            let next = redirect::next(answer.status, &method, location.as_deref(), &from)
                .map_err(|f| (sent, received, f))?;
            let Some(next) = next else {
                url = Some(from);
                break;
            };
            hops += 1;
            if hops > h.follow_redirects {
                let f = redirect::too_many(h.follow_redirects, &next.url);
                return Err((sent, received, f));
            }
            let base = origin(&next.url);
            home = home && base == t.base;
            // Boxed: a chain is the exception; its state need not be part
            // of every request's future.
            let a = Box::pin(self.hop(fixed, h, user, &next, &base, home, jar_on, keep))
                .await
                .map_err(|(s, r, f)| (sent.saturating_add(s), received.saturating_add(r), f))?;
            sent = sent.saturating_add(a.0);
            received = received.saturating_add(a.1.received);
            answer = a.1;
            method = next.method;
            url = Some(next.url);
        }
        answer.received = received;
        Ok((sent, answer, url))
    }

    /// Sends the request over the user's own connection to `home.target`
    /// (opened when it has none), once more on a new connection if the
    /// kept-alive one was found closed as it went out.
    #[allow(clippy::too_many_arguments)]
    async fn send_home(
        &self,
        fixed: &FixedHttp,
        h: &HttpSpec,
        user: &mut UserState,
        keep: Keep,
        path: &str,
        home: &HomeRoute,
        authorization: Option<&str>,
    ) -> Result<(u64, HttpAnswer), Failed> {
        let HomeRoute {
            target,
            templated,
            with_cookie,
        } = *home;
        let t = &self.http[target];
        let mut retried = false;
        loop {
            let slot = &mut user.http[target];
            if !slot.as_mut().is_some_and(HttpConn::is_usable) {
                *slot = None;
            }
            let conn = match slot {
                Some(c) => c,
                None => {
                    // Boxed: a connect is rare, and its state need not
                    // live in every idle user.
                    let c = Box::pin(self.http_connect(target, user.id))
                        .await
                        .map_err(|f| (0, 0, f))?;
                    slot.insert(c)
                }
            };
            let route = Route {
                method: &h.method,
                target: t,
                path: templated.then_some(path),
                body: true,
                home: true,
                cookie: (with_cookie && !user.cookie.is_empty()).then_some(user.cookie.as_str()),
                authorization,
            };
            let mut ctx = RenderCtx {
                data: &self.scenario.data,
                rng: &mut user.rng,
                picked: &mut user.picked,
                own: &user.own,
                vars: &user.vars,
            };
            let scratch = Scratch {
                a: &mut user.scratch,
                b: &mut user.scratch2,
            };
            let sent_now = &mut user.sent_now;
            *sent_now = 0;
            match http_request::send(h, fixed, &route, conn, &mut ctx, scratch, keep, sent_now)
                .await
            {
                // The server closed this kept-alive connection as the
                // request went out (no byte of an answer): it goes again,
                // once, on a new connection, as browsers and Go's client
                // do; counted as a retry, not a failure.
                Err(_) if !retried && conn.failed_stale(h.method.is_idempotent()) => {
                    retried = true;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    user.http[target] = None;
                }
                other => return other,
            }
        }
    }

    /// One redirect hop: to a target of the scenario over the user's own
    /// connection to it, elsewhere over a connection made for it.
    #[allow(clippy::too_many_arguments)]
    async fn hop(
        &self,
        fixed: &FixedHttp,
        h: &HttpSpec,
        user: &mut UserState,
        next: &redirect::Hop,
        base: &str,
        home: bool,
        jar_on: bool,
        keep: Keep,
    ) -> Result<(u64, HttpAnswer), Failed> {
        let path = &next.url[url::Position::BeforePath..url::Position::AfterQuery];
        let path = if path.is_empty() { "/" } else { path };
        let with_cookie = jar_on
            && user
                .jar
                .as_ref()
                .is_some_and(|j| j.header_into(&next.url, &mut user.cookie));
        let mut transient = None;
        let slot = self.http_index.get(base).copied();
        let other = match slot {
            Some(_) => None,
            None => Some(self.other_target(h, base)?),
        };
        let t: &HttpTarget = match (slot, &other) {
            (Some(i), _) => &self.http[i],
            (None, Some(o)) => o,
            // other_target made one or returned the error.
            (None, None) => {
                let f = Failure::new(FailureKind::Internal, "no target for the redirect");
                return Err((0, 0, f));
            }
        };
        let conn = match slot {
            Some(i) => {
                let s = &mut user.http[i];
                if !s.as_mut().is_some_and(HttpConn::is_usable) {
                    *s = None;
                }
                match s {
                    Some(c) => c,
                    None => s.insert(
                        Box::pin(self.http_connect(i, user.id))
                            .await
                            .map_err(|f| (0, 0, f))?,
                    ),
                }
            }
            None => transient.insert(Box::pin(t.connect()).await.map_err(|f| (0, 0, f))?),
        };
        let route = Route {
            method: &next.method,
            target: t,
            path: Some(path),
            body: next.body,
            home,
            cookie: with_cookie.then_some(user.cookie.as_str()),
            // A hop is not answered with Digest: its challenge would be
            // another origin's or another path's.
            authorization: None,
        };
        let mut ctx = RenderCtx {
            data: &self.scenario.data,
            rng: &mut user.rng,
            picked: &mut user.picked,
            own: &user.own,
            vars: &user.vars,
        };
        let scratch = Scratch {
            a: &mut user.scratch,
            b: &mut user.scratch2,
        };
        let mut hop_sent = 0;
        let result = http_request::send(
            h,
            fixed,
            &route,
            conn,
            &mut ctx,
            scratch,
            keep,
            &mut hop_sent,
        )
        .await;
        user.sent_now = user.sent_now.saturating_add(hop_sent);
        result
    }

    /// A connection to target `i` for user `id`: its own, or a handle on
    /// one of the shared HTTP/2 connections (made by the first user that
    /// needs it, again by the first after it closed). A server that
    /// answers HTTP/1.1 (ALPN) gets a connection per user after all.
    async fn http_connect(&self, i: usize, id: u64) -> Result<HttpConn, Failure> {
        let t = &self.http[i];
        let pool = &self.shared_h2[i];
        if pool.is_empty() {
            return t.connect().await;
        }
        let slot = &pool[(id as usize) % pool.len()];
        let mut shared = slot.lock().await;
        if let Some(c) = shared.as_ref()
            && !c.is_closed()
        {
            return Ok(HttpConn::H2(c.share()));
        }
        match t.connect().await? {
            HttpConn::H2(c) => {
                let mine = c.share();
                *shared = Some(c);
                Ok(HttpConn::H2(mine))
            }
            h1 => Ok(h1),
        }
    }

    fn target_for(&self, h: &HttpSpec, base: &str) -> Result<HttpTarget, Failed> {
        HttpTarget::with_base(h, base).map_err(|e| {
            (
                0,
                0,
                Failure::new(FailureKind::Redirect, "cannot follow the redirect")
                    .with_detail(e.to_string()),
            )
        })
    }

    /// The target for an origin no request names, made once.
    fn other_target(&self, h: &HttpSpec, base: &str) -> Result<Arc<HttpTarget>, Failed> {
        if let Some(t) = self.others.lock().get(base) {
            return Ok(t.clone());
        }
        let t = Arc::new(self.target_for(h, base)?);
        self.others.lock().insert(base.to_owned(), t.clone());
        Ok(t)
    }

    /// The connection `user` calls `endpoint` on: its handle on a shared
    /// one, or its own; opened (again) when it has none or it closed. A
    /// shared connection is opened by the first user that needs it, and
    /// again by the first after it closed.
    async fn grpc_conn(&self, endpoint: usize, user: &mut UserState) -> Result<GrpcConn, Failure> {
        let slot = &mut user.grpc[endpoint];
        if let Some(c) = slot.as_ref()
            && !c.is_closed()
        {
            return Ok(c.clone());
        }
        *slot = None;
        let (ep, shared) = &self.grpc[endpoint];
        let conn = if shared.is_empty() {
            // Boxed: a connect is rare, and its state need not live in
            // every idle user's call.
            Box::pin(ep.open()).await?
        } else {
            let mut pooled = shared[(user.id as usize) % shared.len()].lock().await;
            match pooled.as_ref() {
                Some(c) if !c.is_closed() => c.clone(),
                _ => {
                    let c = Box::pin(ep.open()).await?;
                    *pooled = Some(c.clone());
                    c
                }
            }
        };
        Ok(user.grpc[endpoint].insert(conn).clone())
    }

    async fn send_grpc(
        &self,
        idx: usize,
        endpoint: usize,
        call: &GrpcCall,
        user: &mut UserState,
    ) -> Result<(u64, u64), (u64, u64, Failure)> {
        let spec = &self.scenario.requests[idx];
        let conn = self
            .grpc_conn(endpoint, user)
            .await
            .map_err(|f| (0, 0, f))?;
        let (mut ctx, scratch) = user.render_parts(&self.scenario.data);
        let body = call.encode(&mut ctx, scratch).map_err(|f| (0, 0, f))?;
        let req = call
            .request(body, self.timeout, &mut ctx, scratch)
            .map_err(|f| (0, 0, f))?;
        // The call counts what crosses the wire as it goes (its messages
        // as sent, compressed or not; headers and trailers as HTTP/1.1
        // text), so that a call cut by its timeout counts what it had.
        user.wire.reset();
        let counted = || user.wire.get();
        let conn = conn.counting(user.wire.clone());
        let mut client = call.client(conn, self.grpc[endpoint].0.origin());
        // A connection that cannot take the call: its failure as h2 saw it.
        client.ready().await.map_err(|grpc::CallError(f)| {
            let (s, r) = counted();
            (s, r, f)
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
                let (sent, r) = counted();
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
                        cookies: None,
                    };
                    capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                        .map_err(failed)?;
                }
                Ok((sent, r))
            }
            Err(status) => match grpc::status_failure(&status, spec.check.code) {
                None => {
                    let (sent, r) = counted();
                    if !spec.captures.is_empty() {
                        // An expected non-OK status: its message and metadata.
                        let seen = capture::Answer {
                            body: status.message().as_bytes(),
                            json: None,
                            truncated: false,
                            headers: &headers(status.metadata().clone()),
                            cookies: None,
                        };
                        capture::apply(&spec.captures, &self.scenario.vars, &seen, &mut user.vars)
                            .map_err(|f| (sent, r, f))?;
                    }
                    Ok((sent, r))
                }
                Some(f) => {
                    let (sent, r) = counted();
                    Err((sent, r, f))
                }
            },
        }
    }
}

/// What the request to the home target needs beyond the scenario's.
#[derive(Clone, Copy)]
struct HomeRoute {
    target: usize,
    /// Whether the path was rendered (else the static one is sent).
    templated: bool,
    /// Whether the jar's `Cookie` goes.
    with_cookie: bool,
}

/// The `Authorization` answering the Digest challenge `user` keeps for
/// `target`, for this request (its method and `path`); None without one
/// or without credentials.
fn digest_answer(
    scenario: &Scenario,
    h: &HttpSpec,
    user: &mut UserState,
    target: usize,
    path: &str,
) -> Option<String> {
    let at = user.digest.iter().position(|(t, _)| *t == target)?;
    let (name, password) = http_request::credentials(h, &mut user.render_ctx(&scenario.data))?;
    let cnonce = format!("{:016x}", rand::Rng::random::<u64>(&mut user.rng));
    let (_, state) = user.digest.get_mut(at)?;
    Some(state.authorization(h.method.as_str(), path, &name, &password, &cnonce))
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
    grpc: Vec<Option<GrpcConn>>,
    scratch: String,
    scratch2: String,
    /// The current request's rendered path.
    path: String,
    /// The current request's Cookie value.
    cookie: String,
    /// Its cookies, once an answer set one.
    jar: Option<Box<Jar>>,
    /// The Digest challenges it answers, per HTTP target.
    digest: Vec<(usize, digest::DigestState)>,
    /// What its current gRPC call has carried.
    wire: Arc<h2conn::Wire>,
    /// Bytes written for the current HTTP request so far (counted if it
    /// times out).
    sent_now: u64,
}

/// Whether an answer has header `name`.
fn has(headers: &Headers, name: &str) -> bool {
    let mut found = false;
    headers.for_each(name, |_| found = true);
    found
}

/// `scheme://host[:port]` of a URL, as the scenario's base URLs are written
/// (the port left out when it is the scheme's default).
fn origin(u: &url::Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    }
}

impl UserState {
    /// A render context and the scratch buffer beside it, borrowed apart
    /// (rendering a template into the user's own buffer).
    fn render_parts<'a>(
        &'a mut self,
        data: &'a [crate::scenario::DataSource],
    ) -> (RenderCtx<'a>, &'a mut String) {
        let ctx = RenderCtx {
            data,
            rng: &mut self.rng,
            picked: &mut self.picked,
            own: &self.own,
            vars: &self.vars,
        };
        (ctx, &mut self.scratch)
    }

    fn render_ctx<'a>(&'a mut self, data: &'a [crate::scenario::DataSource]) -> RenderCtx<'a> {
        RenderCtx {
            data,
            rng: &mut self.rng,
            picked: &mut self.picked,
            own: &self.own,
            vars: &self.vars,
        }
    }

    fn drop_connections(&mut self, p: &Prepared) {
        match p {
            Prepared::Http { target, .. } => self.http[*target] = None,
            Prepared::Grpc { endpoint, .. } => self.grpc[*endpoint] = None,
        }
    }
}
