//! The scenario file as written: TOML, every table closed to unknown keys.
//! Values that are checked after parsing keep their position (`Spanned`), so
//! that any error can name file, line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Pass/fail rules for CI, e.g. "p99<250ms".
    #[serde(default)]
    pub thresholds: Vec<S<String>>,
    #[serde(default)]
    pub scenario: ScenarioMeta,
    #[serde(default)]
    pub load: Load,
    #[serde(default)]
    pub http: Http,
    #[serde(default)]
    pub grpc: Grpc,
    #[serde(default)]
    pub data: BTreeMap<String, S<Data>>,
    #[serde(default, rename = "request")]
    pub requests: Vec<S<Request>>,
    #[serde(default, rename = "flow")]
    pub flows: Vec<S<Flow>>,
}

/// A journey: `[[flow]]` with its `[[flow.step]]`s.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    pub name: S<String>,
    /// Relative frequency among flows and requests (default 1).
    pub weight: Option<S<u32>>,
    /// Run once per user before its iterations (log in).
    pub on_start: Option<S<bool>>,
    /// Go on after a failed step instead of ending the iteration.
    #[serde(default)]
    pub continue_on_failure: bool,
    #[serde(default, rename = "step")]
    pub steps: Vec<S<Request>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioMeta {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A run that completes no requests may pass (by default it fails).
    #[serde(default)]
    pub allow_empty: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Closed model: virtual users (an integer; read as a value so that a
    /// float or a negative number gets a message naming the key).
    pub users: Option<S<toml::Value>>,
    /// Closed model: users started per second.
    pub spawn_rate: Option<S<f64>>,
    /// Closed model: pause between a user's requests.
    /// A duration ("1s") or a table { min = "0.5s", max = "1.5s" }.
    pub think_time: Option<S<toml::Value>>,
    /// Open model: arrivals per second.
    pub rate: Option<S<f64>>,
    /// Open model: most requests in flight at once (an integer).
    pub max_in_flight: Option<S<toml::Value>>,
    /// Open model: the connections opened before the first arrival (an
    /// integer); an arrival that finds them all busy waits for one.
    pub connections: Option<S<toml::Value>>,
    /// Stop after this long.
    pub duration: Option<S<String>>,
    /// Stop after this many requests (an integer).
    pub requests: Option<S<toml::Value>>,
    /// Per-request timeout (default 30s).
    pub timeout: Option<S<String>>,
    /// Targets over time (users, or rate in the open model).
    #[serde(default)]
    pub stages: Vec<S<Stage>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub duration: S<String>,
    pub target: S<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    pub base_url: Option<S<String>>,
    /// http1 (default for http://), h2c, http2, or auto (ALPN, default for https://).
    pub version: Option<S<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    /// PEM file of extra CA certificates to trust.
    pub ca: Option<S<String>>,
    /// Skip certificate verification (loopback targets only).
    pub insecure: Option<S<bool>>,
    /// The most bytes of an answer's body kept for checks and captures: a
    /// size string ("4MiB") or an integer of bytes.
    pub max_body: Option<S<toml::Value>>,
    /// Ask for compressed answers and decode them: true (default: gzip,
    /// deflate, br, zstd), false, or a list of codings.
    pub compression: Option<S<toml::Value>>,
    /// Follow redirects: true (default, at most 10 hops), false, or the
    /// most hops (an integer).
    pub follow_redirects: Option<S<toml::Value>>,
    /// A cookie jar per user (default true).
    pub cookies: Option<S<bool>>,
    /// Keep connections open between requests (default true).
    pub keep_alive: Option<S<bool>>,
    /// Authorization for every request: { basic = { user, password } } or
    /// { bearer = "token" }; templates allowed.
    pub auth: Option<S<Auth>>,
    /// PEM files of a client certificate (chain) and its key (mutual TLS).
    pub cert: Option<S<String>>,
    pub key: Option<S<String>>,
    /// The TLS server name (SNI, and the name the certificate must match)
    /// when it is not the URL's host.
    pub server_name: Option<S<String>>,
    /// "host:port" → "addr:port": connect there instead, keeping the URL's
    /// host in Host, SNI and certificate checks (curl's --connect-to).
    #[serde(default)]
    pub connect_to: BTreeMap<String, S<String>>,
    /// HTTP/2 connections per engine, shared by the users (default: one
    /// per user).
    pub connections: Option<S<u64>>,
    /// Connect to this unix socket instead of the URL's host and port
    /// (which still make the Host header), as curl's and oha's --unix-socket.
    pub unix_socket: Option<S<String>>,
    /// An HTTP proxy URL, or false for none (default: the environment's).
    pub proxy: Option<S<toml::Value>>,
}

/// `auth = { basic = { user = "..", password = ".." } }` or
/// `auth = { bearer = ".." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    pub basic: Option<S<BasicAuth>>,
    pub bearer: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    pub user: S<String>,
    #[serde(default)]
    pub password: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grpc {
    pub endpoint: Option<S<String>>,
    /// A .proto file or a list of them, relative to the scenario file.
    pub proto: Option<S<toml::Value>>,
    #[serde(default)]
    pub import_paths: Vec<S<String>>,
    /// Ask the server for its schema (server reflection) instead of .proto files.
    #[serde(default)]
    pub reflection: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, S<String>>,
    /// HTTP/2 connections per engine, shared by the users (default: one per user).
    pub connections: Option<S<u64>>,
    /// The largest message sent or received: a size ("64MiB") or bytes.
    pub max_message_size: Option<S<toml::Value>>,
    /// Compress requests: "gzip", "deflate" or "zstd" (answers in any of
    /// them are always accepted).
    pub compression: Option<S<String>>,
    /// The TLS server name, when not the endpoint's host.
    pub server_name: Option<S<String>>,
    pub ca: Option<S<String>>,
    /// Skip certificate verification (loopback targets only).
    pub insecure: Option<S<bool>>,
    /// PEM files of a client certificate (chain) and its key (mutual TLS).
    pub cert: Option<S<String>>,
    pub key: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Path relative to the scenario file.
    pub file: S<String>,
    /// lines (default) or csv.
    pub format: Option<S<String>>,
    /// CSV: the column that `{{ name }}` means (default: the first).
    pub column: Option<S<String>>,
    /// random (default) or sequential.
    pub pick: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Required, except on a flow's think step.
    pub name: Option<S<String>>,
    /// Top-level requests only (a step's frequency is its flow's).
    pub weight: Option<S<u32>>,
    /// Flow steps only: a pause instead of a request ("1s", or
    /// { min = "0.5s", max = "2s" }).
    pub think: Option<S<toml::Value>>,
    /// Flow steps only: variable → { json = "/ptr" } | { header = "name" } |
    /// { regex = "..." }.
    #[serde(default)]
    pub capture: BTreeMap<String, S<toml::Value>>,
    // HTTP
    pub method: Option<S<String>>,
    pub path: Option<S<String>>,
    pub url: Option<S<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, S<String>>,
    pub body: Option<S<String>>,
    /// A JSON body written as a TOML table; string values are templates.
    pub json: Option<S<toml::Value>>,
    /// As `[http] follow_redirects`, for this request.
    pub follow_redirects: Option<S<toml::Value>>,
    /// As `[http] auth`, for this request.
    pub auth: Option<S<Auth>>,
    // gRPC
    pub grpc: Option<S<String>>,
    /// The request message: a JSON string or a TOML table; strings are
    /// templates. A list of them: the messages a stream sends in turn.
    pub message: Option<S<toml::Value>>,
    #[serde(default)]
    pub metadata: BTreeMap<String, S<String>>,
    /// How a streaming method streams.
    pub stream: Option<S<Stream>>,
    #[serde(default)]
    pub check: Check,
}

/// `[request.stream]`: how a streaming gRPC call streams.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    /// Messages sent per call (an integer; client and bidirectional
    /// streaming; default: the request's messages once, or as many as
    /// `duration` allows).
    pub messages: Option<S<toml::Value>>,
    /// End the call after this many answers (an integer).
    pub answers: Option<S<toml::Value>>,
    /// Body checks on "each" answer (default) or the "last" one.
    pub check: Option<S<String>>,
    /// Pause between two messages sent ("10ms").
    pub interval: Option<S<String>>,
    /// Send for this long, then close the sending side; a server stream is
    /// ended by volley after it.
    pub duration: Option<S<String>>,
    /// Bidirectional: wait for each message's answer before the next.
    pub ping_pong: Option<S<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// HTTP statuses that pass (default: any below 400).
    pub status: Option<S<Vec<u16>>>,
    /// gRPC code that passes, by name (default OK).
    pub code: Option<S<String>>,
    pub body_contains: Option<S<String>>,
    /// JSON pointer → expected value, e.g. { "/label" = "sports" }.
    #[serde(default)]
    pub json: BTreeMap<String, S<toml::Value>>,
}
