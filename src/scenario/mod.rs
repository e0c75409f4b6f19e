//! Scenarios: the TOML file users write ([`file`]), compiled once into what
//! the engine runs ([`Scenario`]): requests with their templates ([`template`])
//! and checks, data files ([`data`]), the load model within its bounds
//! ([`limits`]) and thresholds. Every error names file, line and column
//! ([`error`]). See docs/scenario.md.
//!
//! The vocabulary a scenario is checked against lives here too, so that
//! the clients above import it rather than the scenario importing them:
//! gRPC code names ([`grpc_codes`]), messages fitted to their protobuf type
//! ([`grpc_message`]), content codings ([`coding`]), proxy URLs
//! ([`proxy_url`]).

pub mod coding;
pub mod compile;
mod compile_data;
mod compile_flow;
mod compile_grpc;
mod compile_http;
mod compile_load;
mod compile_replay;
mod compile_request;
mod compile_target;
mod compile_thresholds;
mod compile_ws;
mod context;
pub mod data;
pub mod env;
pub mod error;
pub mod file;
pub mod grpc_codes;
pub mod grpc_message;
pub mod limits;
pub mod options;
#[cfg(test)]
mod proptests;
pub mod proxy_url;
pub mod replay;
pub mod template;
pub mod units;
pub mod uri;
mod variables;

use std::time::Duration;

pub use crate::stats::rows::{FLOW_PREFIX, STREAM_PREFIXES, TTFB_PREFIX};
use crate::stats::{Rows, StatId};

pub use compile::{Sources, compile, load};
pub use data::DataSource;
pub use error::ScenarioError;
pub use limits::DEFAULT_MAX_BODY;
pub use template::{Scope, Template};

/// A compiled scenario.
#[derive(Debug)]
pub struct Scenario {
    pub name: String,
    pub load: LoadSpec,
    /// Top-level requests first, then every flow's steps.
    pub requests: Vec<RequestSpec>,
    /// Journeys: ordered steps, with captures between them.
    pub flows: Vec<FlowSpec>,
    /// The users' variables (every capture's name), by index.
    pub vars: Vec<String>,
    pub data: Vec<DataSource>,
    /// Thresholds from the file, each parsed and its name checked.
    pub thresholds: Vec<ThresholdSpec>,
    /// A run that completes no requests may pass ([scenario] allow_empty).
    pub allow_empty: bool,
    /// A run in which every request failed may pass ([scenario]
    /// allow_all_failed).
    pub allow_all_failed: bool,
    /// What it was compiled from, for shipping to workers.
    pub source: Source,
    /// Its statistics rows: requests, flows, streaming calls' rows, times
    /// to first byte.
    pub rows: Rows,
    /// `[replay]`: the requests are the sources', sent at their times (its
    /// requests are one per name, which the engine sends as the sources say).
    pub replay: Option<std::sync::Arc<replay::Replay>>,
}

/// A threshold as the file gives it: the rule, and whether breaking it
/// stops the run (`{ rule = "p99<250ms", abort = true, delay = "10s" }`).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSpec {
    pub rule: String,
    /// Some(delay): judged live from `delay` after the start, and the run
    /// stopped when it breaks.
    pub abort: Option<std::time::Duration>,
}

impl std::fmt::Display for ThresholdSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rule)?;
        match self.abort {
            Some(d) if d.is_zero() => f.write_str(" (stops the run when broken)"),
            Some(d) => write!(
                f,
                " (stops the run when broken, judged from {} on)",
                limits::show(d)
            ),
            None => Ok(()),
        }
    }
}

/// What a scenario was compiled from: enough to compile it again on another
/// machine with the same result.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// The scenario file, for messages.
    pub path: std::path::PathBuf,
    pub text: String,
    /// The files it read besides itself (data, .proto), by path relative to
    /// its folder.
    pub files: std::collections::BTreeMap<String, bytes::Bytes>,
    /// Every ${NAME} it looked up, with its value (None: unset).
    pub vars: std::collections::BTreeMap<String, Option<String>>,
    /// --host, if given.
    pub host: Option<String>,
    /// -H/--header values, in order.
    pub headers: Vec<(String, String)>,
}

/// The scenario format's JSON Schema (draft 2020-12), generated from the
/// types the file is read into, so it cannot drift from the parser; docs/
/// scenario.schema.json is this text (a test keeps them equal).
pub fn schema() -> String {
    let mut schema = schemars::schema_for!(file::File);
    schema.insert("title".into(), "volley scenario".into());
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

impl Scenario {
    /// Statistics names in index order (the index is what samples carry),
    /// as [`Rows`] lays them out.
    pub fn names(&self) -> Vec<String> {
        self.rows.names().to_vec()
    }

    /// The first gRPC request whose schema comes from server reflection (a
    /// scenario has one gRPC endpoint).
    pub fn reflection_request(&self) -> Option<&GrpcSpec> {
        self.requests.iter().find_map(|r| match &r.kind {
            RequestKind::Grpc(g) if matches!(g.schema, Schema::Reflection) => Some(&**g),
            _ => None,
        })
    }

    /// The requests that are streaming calls, in order.
    pub fn streaming(&self) -> impl Iterator<Item = &RequestSpec> {
        self.requests.iter().filter(|r| r.is_streaming())
    }

    /// Whether a threshold may name `name`: one of its rows (a request, a
    /// step, `flow:NAME`, a streaming call's `sent:`, `first:` or
    /// `msg:NAME`, an HTTP request's `ttfb:NAME`).
    pub fn has_stat(&self, name: &str) -> bool {
        self.rows.names().iter().any(|n| n == name)
    }

    /// The statistics row of flow `f`.
    pub fn flow_stat(&self, f: usize) -> StatId {
        self.rows.flow(f)
    }

    /// The flow run once by each user before its iterations, if any.
    pub fn on_start(&self) -> Option<usize> {
        self.flows.iter().position(|f| f.on_start)
    }

    /// The base URLs and endpoints the scenario targets, for display.
    pub fn targets(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<String> = Vec::new();
        for r in &self.requests {
            let t = match &r.kind {
                RequestKind::Http(h) => h.base.clone(),
                RequestKind::Grpc(g) => g.endpoint.clone(),
                RequestKind::WebSocket(w) => w.http.base.replacen("http", "ws", 1),
            };
            if seen.insert(t.clone()) {
                out.push(t);
            }
        }
        out
    }
}

/// How load is generated and when it stops.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    pub model: LoadModel,
    /// Stop after this long (default: 60 s unless a request count is given).
    pub duration: Option<Duration>,
    /// Stop after this many requests in all.
    pub requests: Option<u64>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Closed (users) or open (arrival rate).
#[derive(Debug, Clone, PartialEq)]
pub enum LoadModel {
    Closed {
        users: u64,
        spawn_rate: f64,
        think: Think,
        stages: Vec<Stage>,
    },
    Open {
        rate: f64,
        /// The most arrivals waiting or in flight at once; one more is a
        /// missed start.
        max_in_flight: u64,
        /// The connections (executors) opened before the first arrival: a
        /// fixed pool that does not grow when the generator lags.
        connections: u64,
        stages: Vec<Stage>,
    },
}

/// Pause between a virtual user's requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Think {
    None,
    Fixed(Duration),
    Uniform(Duration, Duration),
}

/// Move to `target` (users or requests/s) linearly over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: f64,
}

/// One named request: a top-level one (picked by weight) or a flow's step
/// (weight 0: sent only by its flow).
#[derive(Debug)]
pub struct RequestSpec {
    pub name: String,
    pub weight: u32,
    pub kind: RequestKind,
    pub check: Check,
    /// Values taken from a passing answer into the user's variables.
    pub captures: Vec<Capture>,
}

impl RequestSpec {
    /// How a streaming gRPC call streams, if this is one.
    pub fn stream(&self) -> Option<&StreamSpec> {
        match &self.kind {
            RequestKind::Grpc(g) => g.stream.as_ref(),
            RequestKind::WebSocket(w) => Some(&w.stream),
            RequestKind::Http(_) => None,
        }
    }

    /// Whether it is a streaming call, with the rows of one (`sent:`,
    /// `first:`, `msg:NAME`): a streaming gRPC method, or an HTTP request
    /// read as Server-Sent Events.
    pub fn is_streaming(&self) -> bool {
        match &self.kind {
            RequestKind::Grpc(g) => g.stream.is_some(),
            RequestKind::Http(h) => h.sse.is_some(),
            RequestKind::WebSocket(_) => true,
        }
    }
}

/// How an HTTP answer is read as Server-Sent Events: `[request.sse]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SseSpec {
    /// End the call after this many events (it passes); a stream the
    /// server ends with fewer fails.
    pub events: Option<u64>,
    /// End the call after this long (it passes).
    pub duration: Option<Duration>,
    /// End the call at the event whose data is exactly this (it passes,
    /// and that event is not one of the call's messages); a stream that
    /// ends without it fails.
    pub until: Option<String>,
    /// Body checks on every event's data (true) or on the last one only.
    pub check_each: bool,
}

/// How a streaming gRPC call (client, server or bidirectional) streams:
/// `[request.stream]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Messages sent per call (client and bidirectional streaming), the
    /// request's messages in turn; None: as many as `duration` allows.
    pub messages: Option<u64>,
    /// End the call after this many answers (it passes); a call the server
    /// ends with fewer fails as `check`.
    pub answers: Option<u64>,
    /// Body checks on every answer (true) or on the last one only.
    pub check_each: bool,
    /// Pause between two messages sent (ghz's `--stream-interval`).
    pub interval: Duration,
    /// Stop sending after this long and close the sending side (client and
    /// bidirectional streaming); a server stream is ended by volley then,
    /// and the call passes (ghz's `--stream-call-duration`).
    pub duration: Option<Duration>,
    /// Bidirectional: send a message only once the previous one's answer
    /// came (a ping-pong), so that each message's latency is its own.
    pub ping_pong: bool,
}

/// A journey: steps in order, each request measured on its own and the
/// whole iteration as the flow.
#[derive(Debug)]
pub struct FlowSpec {
    pub name: String,
    /// Relative frequency among flows and top-level requests (0: on-start).
    pub weight: u32,
    /// Run once per user, before its first iteration (log in).
    pub on_start: bool,
    /// Go on to the next step after a failed one (default: end the iteration).
    pub continue_on_failure: bool,
    pub steps: Vec<Step>,
}

/// One step of a flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Send request `requests[i]`.
    Request(usize),
    /// Pause.
    Think(Think),
}

/// A value a step takes from its answer into user variable `var`.
#[derive(Debug, Clone)]
pub struct Capture {
    pub var: usize,
    pub from: CaptureFrom,
}

/// Where a capture looks.
#[derive(Debug, Clone)]
pub enum CaptureFrom {
    /// A JSON pointer into the body (gRPC: the response in protobuf's JSON
    /// mapping). Strings are taken as they are; other values as JSON text.
    Json(String),
    /// A response header (gRPC: response metadata), by lowercase name.
    Header(String),
    /// The first group of a regex over the body (the whole match if it has
    /// no group).
    Regex(regex::Regex),
    /// The value of a cookie in the user's jar that a request to the
    /// answer's URL would send (HTTP only).
    Cookie(String),
}

#[derive(Debug)]
pub enum RequestKind {
    /// Shared (`Arc`) with the engine's prepared request, which sends it
    /// without looking its kind up again.
    Http(std::sync::Arc<HttpSpec>),
    Grpc(Box<GrpcSpec>),
    /// A `ws://` or `wss://` URL: a WebSocket call.
    WebSocket(Box<WsSpec>),
}

/// A WebSocket call: its handshake is an HTTP/1.1 request (`http`: its URL
/// as `http://` or `https://`, headers, TLS, proxy), then messages go as
/// `stream` says, each answer read as it comes.
#[derive(Debug)]
pub struct WsSpec {
    pub http: std::sync::Arc<HttpSpec>,
    /// The messages sent in turn (a text each; JSON for a table).
    pub messages: Vec<Template>,
    /// Send them as binary messages (their text's bytes) rather than text.
    pub binary: bool,
    pub stream: StreamSpec,
}

/// Which HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpVersion {
    Http1,
    /// HTTP/2 over cleartext, by prior knowledge.
    H2c,
    /// HTTP/2 over TLS.
    Http2,
    /// HTTP/3 over QUIC (TLS only).
    Http3,
    /// Whatever ALPN negotiates (TLS), HTTP/1.1 on cleartext: the default.
    Alpn,
    /// `version = "auto"`: as [`HttpVersion::Alpn`], then HTTP/3 from the
    /// server's `Alt-Svc` on (TLS), as browsers do.
    Auto,
}

/// TLS settings for a target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsSpec {
    /// PEM bytes of extra CA certificates.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure: bool,
    /// PEM bytes of a client certificate chain and its private key.
    pub client_pem: Option<(Vec<u8>, Vec<u8>)>,
    /// The server name TLS asks for and checks, when not the URL's host.
    pub server_name: Option<String>,
}

#[derive(Debug)]
pub struct HttpSpec {
    pub method: http::Method,
    /// scheme://authority, without a trailing slash.
    pub base: String,
    pub path: Template,
    pub headers: Vec<(http::HeaderName, Template)>,
    pub body: Option<Template>,
    pub version: HttpVersion,
    pub tls: TlsSpec,
    /// The most bytes of an answer's body kept for checks and captures
    /// (`[http] max_body`, default [`DEFAULT_MAX_BODY`]); the body is still
    /// read to its end and counted.
    pub max_body: usize,
    /// The `Accept-Encoding` sent (`[http] compression`); None: none is
    /// sent (an answer encoded anyway is still decoded for checks).
    pub accept_encoding: Option<String>,
    /// Redirects followed at most (`follow_redirects`); 0: none.
    pub follow_redirects: u32,
    /// A cookie jar per user (`[http] cookies`).
    pub cookies: bool,
    /// Connections kept open between requests (`[http] keep_alive`).
    pub keep_alive: bool,
    /// `Authorization` from `auth` or from the URL's user:password.
    pub auth: Option<Auth>,
    /// `[http] connect_to`: "host:port" of a URL → the address to connect to.
    pub connect_to: Vec<(String, String)>,
    /// `[http] connections`: HTTP/2 connections per engine that all users
    /// share (None: each user its own).
    pub connections: Option<u64>,
    /// `[http] unix_socket`: the socket connected to instead of the URL's
    /// host and port.
    pub unix_socket: Option<std::path::PathBuf>,
    /// `[http] proxy`.
    pub proxy: ProxySetting,
    /// `[request.sse]`: the answer is read as Server-Sent Events.
    pub sse: Option<SseSpec>,
}

/// Where a proxy comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ProxySetting {
    /// `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` of the machine that sends
    /// (never for a loopback target).
    #[default]
    Env,
    /// `proxy = false`: none.
    Off,
    /// `proxy = "http://host:port"`.
    Url(String),
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    /// `Authorization: Basic base64(user:password)`.
    Basic { user: Template, password: Template },
    /// `Authorization: Bearer TOKEN`.
    Bearer(Template),
    /// RFC 7616 Digest: nothing sent until the server's `401` challenges,
    /// then `Authorization: Digest …` (client/digest.rs).
    Digest { user: Template, password: Template },
}

/// Redirects followed when the scenario does not say (as Locust and k6).
pub const DEFAULT_REDIRECTS: u32 = 10;

/// A JSON position: object keys and array indexes from the root.
#[derive(Debug, Clone, PartialEq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
pub struct GrpcSpec {
    pub endpoint: String,
    /// "package.Service/Method".
    pub method: String,
    /// The request message, or (a client or bidirectional stream) the
    /// messages sent in turn.
    pub messages: Vec<MessageSpec>,
    pub metadata: Vec<(String, Template)>,
    pub schema: Schema,
    pub connections: Option<u64>,
    pub tls: TlsSpec,
    /// The largest message sent or received (`[grpc] max_message_size`).
    pub max_message_size: usize,
    /// The encoding requests are compressed with, if any.
    pub compression: Option<GrpcCompression>,
    /// `[request.stream]`: set for a streaming method (needed to call one
    /// whose schema comes from reflection, whose kind is known only then).
    pub stream: Option<StreamSpec>,
}

/// One gRPC request message.
#[derive(Debug, Clone)]
pub struct MessageSpec {
    /// As JSON, templated strings left as written.
    pub json: serde_json::Value,
    /// Its templated string values, by position.
    pub templates: Vec<(Vec<PathSeg>, Template)>,
}

/// `[grpc] compression`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrpcCompression {
    Gzip,
    Deflate,
    Zstd,
}

/// Where a gRPC method's message types come from.
#[derive(Debug, Clone)]
pub enum Schema {
    Protos(prost_reflect::DescriptorPool),
    Reflection,
}

/// What a response must satisfy.
#[derive(Debug, Default)]
pub struct Check {
    /// HTTP statuses that pass; empty means any status below 400.
    pub status: Vec<u16>,
    /// gRPC code that passes (default OK).
    pub code: i32,
    pub body_contains: Option<String>,
    /// JSON pointer and the value it must hold.
    pub json: Vec<(String, serde_json::Value)>,
}

impl Think {
    /// Draws one pause (None: no pause).
    pub fn draw(&self, rng: &mut impl rand::Rng) -> Option<Duration> {
        match *self {
            Think::None => None,
            Think::Fixed(d) => Some(d),
            Think::Uniform(lo, hi) => Some(lo + (hi - lo).mul_f64(rng.random::<f64>())),
        }
    }
}

impl Check {
    /// Whether the response body must be inspected at all.
    pub fn needs_body(&self) -> bool {
        self.body_contains.is_some() || !self.json.is_empty()
    }
}
