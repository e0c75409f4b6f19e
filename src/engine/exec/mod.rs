//! Executing one request of the scenario: render, send over the user's own
//! connection, check, capture, and turn the outcome into a [`Sample`].
//!
//! One file per job: the scenario made ready to send (`prepare.rs`), the
//! targets and the connections users keep to them (`conns.rs`), an HTTP
//! request with its redirects, cookies and Digest challenge (`http.rs`), a
//! unary gRPC call (`grpc.rs`), a streaming one (`grpc_stream.rs`), an
//! HTTP request read as Server-Sent Events (`sse.rs`) and a WebSocket call
//! (`websocket.rs`).
//! Dispatch is on [`Prepared`], whose variants each own what differs by
//! protocol: how a request is sent, which failures end its connection, and
//! what a request cut by its timeout counts. A new protocol is a variant
//! here and a file beside these.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use rand::Rng;
use rand::rngs::SmallRng;

use super::guard;
use super::http_request::{FixedHttp, Given, Scratch};
use super::outcome::{Carried, Failed, Sent};
use crate::client::digest;
use crate::client::grpc::GrpcCall;
use crate::client::h2conn;
use crate::client::http::{HttpConn, HttpTarget};
use crate::scenario::template::RenderCtx;
use crate::scenario::{DataSource, HttpSpec, Scenario, SseSpec, StreamSpec};
use crate::stats::{Failure, FailureKind, FirstByte, Recorder, Rows, Sample, StatId};

mod conns;
mod grpc;
mod grpc_stream;
mod http;
mod prepare;
mod sse;
mod websocket;

use conns::Conn;
use conns::Target;
pub use prepare::{PrepareError, check_http};

/// One request of the scenario made ready to send; its variant is its
/// protocol, and owns what differs by protocol.
enum Prepared {
    Http {
        /// Index into [`Requests::targets`].
        target: usize,
        spec: Arc<HttpSpec>,
        fixed: Box<FixedHttp>,
        /// Its time-to-first-byte row.
        ttfb: Option<StatId>,
    },
    /// An HTTP request whose answer is read as Server-Sent Events.
    Sse {
        /// Index into [`Requests::targets`].
        target: usize,
        spec: Arc<HttpSpec>,
        fixed: Box<FixedHttp>,
        /// Its time-to-first-byte row.
        ttfb: Option<StatId>,
        sse: Box<SseSpec>,
        /// Its `sent:`, `first:` and `msg:` rows.
        rows: [StatId; 3],
    },
    /// A WebSocket call, on a connection of its own.
    WebSocket {
        target: Box<HttpTarget>,
        /// Its `sent:`, `first:` and `msg:` rows.
        rows: [StatId; 3],
    },
    /// A unary gRPC call.
    Grpc {
        /// Index into [`Requests::targets`].
        target: usize,
        call: GrpcCall,
    },
    /// A client, server or bidirectional streaming gRPC call.
    GrpcStream {
        /// Index into [`Requests::targets`].
        target: usize,
        call: GrpcCall,
        stream: Box<StreamSpec>,
        /// Its `sent:`, `first:` and `msg:` rows.
        rows: [StatId; 3],
    },
}

impl Prepared {
    /// The index of the target whose connection users keep (none for a
    /// WebSocket call, whose connection is its own).
    fn target(&self) -> Option<usize> {
        match self {
            Prepared::Http { target, .. }
            | Prepared::Sse { target, .. }
            | Prepared::Grpc { target, .. }
            | Prepared::GrpcStream { target, .. } => Some(*target),
            Prepared::WebSocket { .. } => None,
        }
    }

    /// Drops the user's connection for this request, if it keeps one.
    fn drop_conn(&self, user: &mut UserState) {
        if let Some(t) = self.target()
            && let Some(c) = user.conns.get_mut(t)
        {
            *c = None;
        }
    }

    /// Whether `f` leaves the request's connection unable to carry the
    /// next one.
    fn poisoned_by(&self, f: &Failure) -> bool {
        match self {
            Prepared::Grpc { .. } | Prepared::GrpcStream { .. } => grpc_poisoned_by(f),
            Prepared::Http { .. } | Prepared::Sse { .. } => http_poisoned_by(f),
            // Its connection ends with the call.
            Prepared::WebSocket { .. } => false,
        }
    }

    /// Whether a stream reset past the timeout counts as the timeout: a
    /// gRPC server may end a call at the deadline it was told.
    fn has_deadline(&self) -> bool {
        !matches!(
            self,
            Prepared::Http { .. } | Prepared::Sse { .. } | Prepared::WebSocket { .. }
        )
    }

    /// What a request cut by its timeout counts, its connection dropped
    /// where it cannot go on. What was written went out, answered or not,
    /// and what had arrived of the answer counts (an HTTP/1.1 head and
    /// part of a body; a gRPC call's head and messages so far). An
    /// HTTP/1.1 connection in the middle of an answer cannot carry another
    /// request; a gRPC call's stream is reset when its future is dropped,
    /// and its connection goes on.
    fn cut(&self, user: &mut UserState) -> Carried {
        match self {
            Prepared::Http { target, .. } | Prepared::Sse { target, .. } => {
                let arrived = user.http_conn(*target).map_or(0, |c| c.arrived());
                user.conns[*target] = None;
                Carried::new(user.sent_now, arrived)
            }
            Prepared::Grpc { .. } | Prepared::GrpcStream { .. } | Prepared::WebSocket { .. } => {
                let (sent, received) = user.wire.get();
                Carried::new(sent, received)
            }
        }
    }
}

/// An HTTP connection is dropped on any transport failure or timeout (an
/// HTTP/1.1 connection in the middle of an answer cannot carry another).
fn http_poisoned_by(f: &Failure) -> bool {
    matches!(
        f.kind,
        FailureKind::Reset
            | FailureKind::Protocol
            | FailureKind::Timeout
            | FailureKind::Connect
            | FailureKind::Tls
    )
}

/// A gRPC connection is dropped only when its transport failed: a status,
/// a timeout, a limit or a stream the server reset (only its stream is
/// reset) leaves the connection as it was, carrying other calls.
fn grpc_poisoned_by(f: &Failure) -> bool {
    matches!(f.kind, FailureKind::Connect | FailureKind::Tls)
        || f.kind == FailureKind::Reset && !h2conn::stream_reset(f)
}

/// The scenario made ready to send: targets resolved, gRPC methods compiled.
pub struct Requests {
    pub scenario: Arc<Scenario>,
    /// Per request of the scenario.
    prepared: Vec<Prepared>,
    /// Every target requests go to: HTTP base URLs and gRPC endpoints.
    targets: Vec<Target>,
    /// The HTTP targets by base URL and version ([`prepare::target_key`]: a
    /// redirect to one of them uses the user's connection to it).
    http_index: std::collections::HashMap<String, usize>,
    /// Origins that redirects led to and no request names, made once each
    /// (their connections are not kept: such hops are rare).
    others:
        parking_lot::Mutex<std::collections::HashMap<String, Arc<crate::client::http::HttpTarget>>>,
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
    /// Where every HTTP request sent is written (`--record`).
    pub record: Option<Arc<super::record::RecordFile>>,
    /// Tells this engine's users from other engines' in the record's
    /// sessions.
    pub record_tag: String,
}

/// What a user does in one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send top-level request `i`.
    Request(usize),
    /// Run one iteration of flow `i`.
    Flow(usize),
}

impl Requests {
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
            conns: self.targets.iter().map(|_| None).collect(),
            scratch: String::new(),
            scratch2: String::new(),
            path: String::new(),
            cookie: String::new(),
            jar: None,
            digest: Vec::new(),
            wire: Arc::default(),
            sent_now: 0,
            first_byte: None,
            protocol: None,
            copy: self.record.is_some().then(Box::default),
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
        self.execute_given(idx, None, user, start, rec).await
    }

    /// Sends a replayed request (`e.request` is the scenario request it
    /// counts under) as [`Requests::execute`] sends one of the scenario's,
    /// with its own path, headers and body; with `compare`, an answer with
    /// another status than the source's fails it.
    pub async fn execute_replayed(
        &self,
        e: &crate::scenario::replay::Entry,
        compare: bool,
        user: &mut UserState,
        start: Instant,
        rec: &Recorder,
    ) -> Sample {
        let given = Given {
            path: &e.path,
            headers: &e.headers,
            body: &e.body,
            expect: if compare { e.status } else { None },
        };
        self.execute_given(e.request, Some(given), user, start, rec)
            .await
    }

    async fn execute_given(
        &self,
        idx: usize,
        given: Option<Given<'_>>,
        user: &mut UserState,
        start: Instant,
        rec: &Recorder,
    ) -> Sample {
        for p in user.picked.iter_mut() {
            *p = None;
        }
        user.sent_now = 0;
        user.first_byte = None;
        user.protocol = None;
        if let Some(c) = user.copy.as_deref_mut() {
            c.filled = false;
        }
        let prepared = &self.prepared[idx];
        // When the call began, for gRPC only (a clock read per HTTP request
        // saved): a stream the server reset after it was past its deadline.
        let began = prepared.has_deadline().then(Instant::now);
        let result = tokio::time::timeout(
            self.timeout,
            guard::catch(self.send(idx, user, start, rec, given)),
        )
        .await;
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let timed_out = || {
            Failure::new(
                FailureKind::Timeout,
                format!("no answer within {:?}", self.timeout),
            )
        };
        let (carried, failure) = match result {
            Ok(Err(panic)) => {
                // Whatever the connection was doing is unknown now.
                prepared.drop_conn(user);
                (Carried::default(), Some(guard::failure(panic)))
            }
            Ok(Ok(Ok(c))) => (c, None),
            Ok(Ok(Err(Failed { carried, failure }))) => {
                if prepared.poisoned_by(&failure) {
                    prepared.drop_conn(user);
                }
                // A server that ends a call at the deadline it was told
                // (grpc-timeout) by resetting its stream raced volley's own
                // timer, which starts first: the call is past its deadline
                // either way, and counted so, whichever came first. A
                // DEADLINE_EXCEEDED status stays the server's word.
                if h2conn::stream_reset(&failure)
                    && began.is_some_and(|b| b.elapsed() >= self.timeout)
                {
                    (carried, Some(timed_out()))
                } else {
                    (carried, Some(failure))
                }
            }
            Err(_) => (prepared.cut(user), Some(timed_out())),
        };
        // The time to first byte of an answer that came (its status or
        // checks may still fail the request), for a row of its own.
        let first_byte = match (prepared, user.first_byte) {
            (
                Prepared::Http {
                    ttfb: Some(row), ..
                }
                | Prepared::Sse {
                    ttfb: Some(row), ..
                },
                Some(at),
            ) => Some(FirstByte {
                row: *row,
                micros: micros_between(start, at),
            }),
            _ => None,
        };
        if let (Some(f), Some(c)) = (&self.record, user.copy.as_deref())
            && c.filled
            && let Some(spec) = self.scenario.requests.get(idx)
        {
            f.write(
                c,
                &spec.name,
                &format!("{}-{}", self.record_tag, user.id),
                start,
            );
        }
        Sample {
            first_byte,
            name: Rows::request(idx),
            micros,
            bytes_sent: carried.sent,
            bytes_received: carried.received,
            failure,
        }
    }

    async fn send(
        &self,
        idx: usize,
        user: &mut UserState,
        start: Instant,
        rec: &Recorder,
        given: Option<Given<'_>>,
    ) -> Sent {
        let spec = &self.scenario.requests[idx];
        match &self.prepared[idx] {
            Prepared::Http {
                target,
                spec: h,
                fixed,
                ..
            } => {
                let result = self
                    .send_http(
                        spec,
                        *target,
                        fixed,
                        h,
                        user,
                        http::With { sink: None, given },
                    )
                    .await;
                if !h.keep_alive {
                    // keep_alive = false: a connection per request, as
                    // `oha --disable-keepalive`.
                    user.conns[*target] = None;
                }
                result
            }
            Prepared::Sse {
                target,
                spec: h,
                fixed,
                sse,
                rows,
                ..
            } => {
                let s = sse::Call {
                    target: *target,
                    h,
                    fixed,
                    sse,
                    rows: *rows,
                    start,
                    rec,
                };
                // Boxed: an event stream's state need not be part of every
                // request's future.
                let result = Box::pin(self.send_sse(spec, s, user)).await;
                if !h.keep_alive {
                    user.conns[*target] = None;
                }
                result
            }
            Prepared::WebSocket { target, rows } => {
                let crate::scenario::RequestKind::WebSocket(ws) = &spec.kind else {
                    let f =
                        Failure::new(FailureKind::Internal, "a WebSocket call without its spec");
                    return Err(Failed::bare(f));
                };
                let call = websocket::Call {
                    target,
                    ws,
                    rows: *rows,
                    start,
                    rec,
                };
                // Boxed: a WebSocket's state need not be part of every
                // request's future.
                Box::pin(self.send_ws(spec, call, user)).await
            }
            // Boxed: tonic's futures are large, and an idle user should not
            // carry one (ten thousand users stay small).
            Prepared::Grpc { target, call } => {
                Box::pin(self.send_grpc(idx, *target, call, user)).await
            }
            Prepared::GrpcStream {
                target,
                call,
                stream,
                rows,
            } => {
                let s = grpc_stream::Stream {
                    idx,
                    target: *target,
                    call,
                    spec: stream,
                    rows: *rows,
                    start,
                    rec,
                };
                Box::pin(self.send_grpc_stream(s, user)).await
            }
        }
    }
}

/// Microseconds from `start` to `at` (0 when `at` is earlier: an open
/// model's intended start is never after its answer, but a clock is not
/// trusted to say so).
fn micros_between(start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_micros()).unwrap_or(u64::MAX)
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
    /// Its connection to each target, if it has one.
    conns: Vec<Option<Conn>>,
    scratch: String,
    scratch2: String,
    /// The current request's rendered path.
    path: String,
    /// The current request's Cookie value.
    cookie: String,
    /// Its cookies, once an answer set one.
    jar: Option<Box<crate::client::cookies::Jar>>,
    /// The Digest challenges it answers, per HTTP target.
    digest: Vec<(usize, digest::DigestState)>,
    /// What its current gRPC call has carried.
    wire: Arc<h2conn::Wire>,
    /// Bytes written for the current HTTP request so far (counted if it
    /// times out).
    sent_now: u64,
    /// When the first byte of the current HTTP request's (final) answer's
    /// body came, once it did.
    first_byte: Option<Instant>,
    /// The protocol the current HTTP request's (final) answer came over,
    /// once it came.
    protocol: Option<::http::Version>,
    /// The current HTTP request as sent, when the run records them.
    copy: Option<Box<super::record::Copied>>,
}

/// A user borrowed apart for one HTTP exchange: its connections (one of
/// which carries the request) beside what rendering and sending change.
struct Parts<'a> {
    conns: &'a mut Vec<Option<Conn>>,
    ctx: RenderCtx<'a>,
    scratch: Scratch<'a>,
    /// The Cookie value the jar wrote for this request.
    cookie: &'a str,
    sent_now: &'a mut u64,
    /// Where the request is copied as it goes, when the run records.
    copy: Option<&'a mut super::record::Copied>,
}

impl UserState {
    /// Its cookie jar, taken out (a replay keeps one per session and lends
    /// it to the executor for that session's requests).
    pub fn take_jar(&mut self) -> Option<Box<crate::client::cookies::Jar>> {
        self.jar.take()
    }

    /// Gives it a jar (None: no cookies yet).
    pub fn put_jar(&mut self, jar: Option<Box<crate::client::cookies::Jar>>) {
        self.jar = jar;
    }

    /// The user split into the borrows one exchange needs at once.
    fn parts<'a>(&'a mut self, data: &'a [DataSource]) -> Parts<'a> {
        Parts {
            conns: &mut self.conns,
            ctx: RenderCtx {
                data,
                rng: &mut self.rng,
                picked: &mut self.picked,
                own: &self.own,
                vars: &self.vars,
            },
            scratch: Scratch {
                a: &mut self.scratch,
                b: &mut self.scratch2,
            },
            cookie: &self.cookie,
            sent_now: &mut self.sent_now,
            copy: self.copy.as_deref_mut(),
        }
    }

    /// A render context and the scratch buffer beside it, borrowed apart
    /// (rendering a template into the user's own buffer).
    fn render_parts<'a>(&'a mut self, data: &'a [DataSource]) -> (RenderCtx<'a>, &'a mut String) {
        let Parts { ctx, scratch, .. } = self.parts(data);
        (ctx, scratch.a)
    }

    fn render_ctx<'a>(&'a mut self, data: &'a [DataSource]) -> RenderCtx<'a> {
        self.parts(data).ctx
    }

    /// Its HTTP connection to `target`, if it has one.
    fn http_conn(&self, target: usize) -> Option<&HttpConn> {
        match self.conns.get(target)? {
            Some(Conn::Http(c)) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: FailureKind) -> Failure {
        Failure::new(kind, "connection reset")
    }

    /// Which failures end a connection: any transport failure or timeout
    /// over HTTP; over gRPC only its transport (a status, a check or a
    /// timeout leaves the connection carrying other calls).
    #[test]
    fn each_protocol_says_which_failures_end_its_connection() {
        use FailureKind::*;
        for kind in [Reset, Protocol, Timeout, Connect, Tls] {
            assert!(http_poisoned_by(&failure(kind)), "http {kind:?}");
        }
        for kind in [Status, Check, Request, Redirect, Capture] {
            assert!(!http_poisoned_by(&failure(kind)), "http {kind:?}");
        }
        for kind in [Reset, Connect, Tls] {
            assert!(grpc_poisoned_by(&failure(kind)), "grpc {kind:?}");
        }
        for kind in [Timeout, Grpc, Protocol, Check, Limit] {
            assert!(!grpc_poisoned_by(&failure(kind)), "grpc {kind:?}");
        }
    }
}
