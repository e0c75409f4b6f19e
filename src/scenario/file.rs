//! The scenario file as written: TOML, every table closed to unknown keys.
//! Values that are checked after parsing keep their position (`Spanned`), so
//! that any error can name file, line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Pass/fail rules for CI, e.g. "p99<250ms", or tables that also stop
    /// the run when broken: { rule = "p99<250ms", abort = true, delay = "10s" }.
    #[serde(default)]
    #[schemars(with = "Vec<shapes::Threshold>")]
    pub thresholds: Vec<S<toml::Value>>,
    #[serde(default)]
    pub scenario: ScenarioMeta,
    #[serde(default)]
    pub load: Load,
    #[serde(default)]
    pub http: Http,
    #[serde(default)]
    pub grpc: Grpc,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, Data>")]
    pub data: BTreeMap<String, S<Data>>,
    #[serde(default, rename = "request")]
    #[schemars(with = "Vec<Request>")]
    pub requests: Vec<S<Request>>,
    #[serde(default, rename = "flow")]
    #[schemars(with = "Vec<Flow>")]
    pub flows: Vec<S<Flow>>,
    /// Send recorded traffic at its own times instead of requests
    /// (docs/replay.md); `[http]` settings apply to it.
    #[schemars(with = "Option<Replay>")]
    pub replay: Option<S<Replay>>,
}

/// `[replay]`: the sources, how they are read, and how they are sent.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    /// Files read in turn (relative to the scenario's folder; `.gz` read
    /// as it is decompressed).
    #[schemars(with = "Vec<String>")]
    pub sources: S<Vec<String>>,
    /// "combined" (nginx's and Apache's combined and common logs), "json"
    /// (volley's JSON lines), "har", or an nginx log_format string
    /// ("$msec \"$request\" $status ..."). Default: by the first file's
    /// extension (.har, .jsonl/.json), else combined.
    #[schemars(with = "Option<String>")]
    pub format: Option<S<String>>,
    /// The timeline divided by this (2: twice as fast; default 1).
    #[schemars(with = "Option<f64>")]
    pub speed: Option<S<f64>>,
    /// Instead of the timeline, this many requests per second, in order.
    #[schemars(with = "Option<f64>")]
    pub rate: Option<S<f64>>,
    /// Passes over the sources (default 1).
    #[schemars(with = "Option<u32>")]
    pub loops: Option<S<u32>>,
    /// What makes a session: "client" (the log's client address),
    /// "cookie:NAME", "header:NAME", "session" (JSON lines' field), or
    /// "none". Default: "session" for JSON lines, else "none".
    #[schemars(with = "Option<String>")]
    pub session: Option<S<String>>,
    /// Only requests these match: "METHOD", "/path-regex" or "METHOD /regex".
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub include: Vec<S<String>>,
    /// Requests these match are not sent (same forms as include).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub exclude: Vec<S<String>>,
    /// Headers sent as recorded although dropped by default: cookie,
    /// authorization, proxy-authorization.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub keep_headers: Vec<S<String>>,
    /// Naming rules, first match wins: "REGEX=NAME" ($1 for groups).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub names: Vec<S<String>>,
    /// The body of a log's POST, PUT and PATCH (logs hold no bodies):
    /// without it (or body_file), they are skipped and counted.
    #[schemars(with = "Option<String>")]
    pub body: Option<S<String>>,
    /// The same, from a file (relative to the scenario's folder).
    #[schemars(with = "Option<String>")]
    pub body_file: Option<S<String>>,
    /// A folder of bodies by path (relative to the scenario's folder): a
    /// log's POST /api/orders is sent with the file FOLDER/api/orders if
    /// there is one, else with body or body_file.
    #[schemars(with = "Option<String>")]
    pub bodies: Option<S<String>>,
    /// "log" (default): a status other than the source's fails the
    /// request; "any": any answer passes.
    #[schemars(with = "Option<String>")]
    pub statuses: Option<S<String>>,
}

/// A journey: `[[flow]]` with its `[[flow.step]]`s.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    #[schemars(with = "String")]
    pub name: S<String>,
    /// Relative frequency among flows and requests (default 1).
    #[schemars(with = "Option<u32>")]
    pub weight: Option<S<u32>>,
    /// Run once per user before its iterations (log in).
    #[schemars(with = "Option<bool>")]
    pub on_start: Option<S<bool>>,
    /// Go on after a failed step instead of ending the iteration.
    #[serde(default)]
    pub continue_on_failure: bool,
    #[serde(default, rename = "step")]
    #[schemars(with = "Vec<Request>")]
    pub steps: Vec<S<Request>>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioMeta {
    pub name: Option<String>,
    pub description: Option<String>,
    /// A run that completes no requests may pass (by default it fails).
    #[serde(default)]
    pub allow_empty: bool,
    /// A run in which every request failed may pass, as its thresholds
    /// say (by default it fails whatever they say).
    #[serde(default)]
    pub allow_all_failed: bool,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Closed model: virtual users (an integer; read as a value so that a
    /// float or a negative number gets a message naming the key).
    #[schemars(with = "Option<u64>")]
    pub users: Option<S<toml::Value>>,
    /// Closed model: users started per second.
    #[schemars(with = "Option<f64>")]
    pub spawn_rate: Option<S<f64>>,
    /// Closed model: pause between a user's requests.
    /// A duration ("1s") or a table { min = "0.5s", max = "1.5s" }.
    #[schemars(with = "Option<shapes::Think>")]
    pub think_time: Option<S<toml::Value>>,
    /// Open model: arrivals per second.
    #[schemars(with = "Option<f64>")]
    pub rate: Option<S<f64>>,
    /// Open model: most requests in flight at once (an integer).
    #[schemars(with = "Option<u64>")]
    pub max_in_flight: Option<S<toml::Value>>,
    /// Open model: the connections opened before the first arrival (an
    /// integer); an arrival that finds them all busy waits for one.
    #[schemars(with = "Option<u64>")]
    pub connections: Option<S<toml::Value>>,
    /// Stop after this long.
    #[schemars(with = "Option<String>")]
    pub duration: Option<S<String>>,
    /// Stop after this many requests (an integer).
    #[schemars(with = "Option<u64>")]
    pub requests: Option<S<toml::Value>>,
    /// Per-request timeout (default 30s).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<S<String>>,
    /// Targets over time (users, or rate in the open model).
    #[serde(default)]
    #[schemars(with = "Vec<Stage>")]
    pub stages: Vec<S<Stage>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[schemars(with = "String")]
    pub duration: S<String>,
    #[schemars(with = "f64")]
    pub target: S<f64>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Http {
    #[schemars(with = "Option<String>")]
    pub base_url: Option<S<String>>,
    /// http1 (default for http://), h2c, http2, http3 (QUIC), or auto (ALPN,
    /// then HTTP/3 when the server's Alt-Svc offers it). Default for
    /// https://: HTTP/2 or HTTP/1.1 by ALPN.
    #[schemars(with = "Option<String>")]
    pub version: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, S<String>>,
    /// PEM file of extra CA certificates to trust.
    #[schemars(with = "Option<String>")]
    pub ca: Option<S<String>>,
    /// Skip certificate verification (loopback targets only).
    #[schemars(with = "Option<bool>")]
    pub insecure: Option<S<bool>>,
    /// The most bytes of an answer's body kept for checks and captures: a
    /// size string ("4MiB") or an integer of bytes.
    #[schemars(with = "Option<shapes::Size>")]
    pub max_body: Option<S<toml::Value>>,
    /// Ask for compressed answers and decode them: true (default: gzip,
    /// deflate, br, zstd), false, or a list of codings.
    #[schemars(with = "Option<shapes::Compression>")]
    pub compression: Option<S<toml::Value>>,
    /// Follow redirects: true (default, at most 10 hops), false, or the
    /// most hops (an integer).
    #[schemars(with = "Option<shapes::Redirects>")]
    pub follow_redirects: Option<S<toml::Value>>,
    /// A cookie jar per user (default true).
    #[schemars(with = "Option<bool>")]
    pub cookies: Option<S<bool>>,
    /// Keep connections open between requests (default true).
    #[schemars(with = "Option<bool>")]
    pub keep_alive: Option<S<bool>>,
    /// Authorization for every request: { basic = { user, password } } or
    /// { bearer = "token" }; templates allowed.
    #[schemars(with = "Option<Auth>")]
    pub auth: Option<S<Auth>>,
    /// PEM files of a client certificate (chain) and its key (mutual TLS).
    #[schemars(with = "Option<String>")]
    pub cert: Option<S<String>>,
    #[schemars(with = "Option<String>")]
    pub key: Option<S<String>>,
    /// The TLS server name (SNI, and the name the certificate must match)
    /// when it is not the URL's host.
    #[schemars(with = "Option<String>")]
    pub server_name: Option<S<String>>,
    /// "host:port" → "addr:port": connect there instead, keeping the URL's
    /// host in Host, SNI and certificate checks (curl's --connect-to).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub connect_to: BTreeMap<String, S<String>>,
    /// HTTP/2 connections per engine, shared by the users (default: one
    /// per user).
    #[schemars(with = "Option<u64>")]
    pub connections: Option<S<u64>>,
    /// Connect to this unix socket instead of the URL's host and port
    /// (which still make the Host header), as curl's and oha's --unix-socket.
    #[schemars(with = "Option<String>")]
    pub unix_socket: Option<S<String>>,
    /// An HTTP proxy URL, or false for none (default: the environment's).
    #[serde(default)]
    #[schemars(schema_with = "shapes::proxy")]
    pub proxy: Option<S<toml::Value>>,
}

/// `auth = { basic = { user = "..", password = ".." } }`,
/// `auth = { digest = { user = "..", password = ".." } }` or
/// `auth = { bearer = ".." }`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[schemars(with = "Option<BasicAuth>")]
    pub basic: Option<S<BasicAuth>>,
    #[schemars(with = "Option<BasicAuth>")]
    pub digest: Option<S<BasicAuth>>,
    #[schemars(with = "Option<String>")]
    pub bearer: Option<S<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[schemars(with = "String")]
    pub user: S<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub password: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Grpc {
    #[schemars(with = "Option<String>")]
    pub endpoint: Option<S<String>>,
    /// A .proto file or a list of them, relative to the scenario file.
    #[schemars(with = "Option<shapes::Protos>")]
    pub proto: Option<S<toml::Value>>,
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub import_paths: Vec<S<String>>,
    /// Ask the server for its schema (server reflection) instead of .proto files.
    #[serde(default)]
    pub reflection: bool,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub metadata: BTreeMap<String, S<String>>,
    /// HTTP/2 connections per engine, shared by the users (default: one per user).
    #[schemars(with = "Option<u64>")]
    pub connections: Option<S<u64>>,
    /// The largest message sent or received: a size ("64MiB") or bytes.
    #[schemars(with = "Option<shapes::Size>")]
    pub max_message_size: Option<S<toml::Value>>,
    /// Compress requests: "gzip", "deflate" or "zstd" (answers in any of
    /// them are always accepted).
    #[schemars(with = "Option<String>")]
    pub compression: Option<S<String>>,
    /// The TLS server name, when not the endpoint's host.
    #[schemars(with = "Option<String>")]
    pub server_name: Option<S<String>>,
    #[schemars(with = "Option<String>")]
    pub ca: Option<S<String>>,
    /// Skip certificate verification (loopback targets only).
    #[schemars(with = "Option<bool>")]
    pub insecure: Option<S<bool>>,
    /// PEM files of a client certificate (chain) and its key (mutual TLS).
    #[schemars(with = "Option<String>")]
    pub cert: Option<S<String>>,
    #[schemars(with = "Option<String>")]
    pub key: Option<S<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Path relative to the scenario file.
    #[schemars(with = "String")]
    pub file: S<String>,
    /// lines (default) or csv.
    #[schemars(with = "Option<String>")]
    pub format: Option<S<String>>,
    /// CSV: the column that `{{ name }}` means (default: the first).
    #[schemars(with = "Option<String>")]
    pub column: Option<S<String>>,
    /// random (default) or sequential.
    #[schemars(with = "Option<String>")]
    pub pick: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Required, except on a flow's think step.
    #[schemars(with = "Option<String>")]
    pub name: Option<S<String>>,
    /// Top-level requests only (a step's frequency is its flow's).
    #[schemars(with = "Option<u32>")]
    pub weight: Option<S<u32>>,
    /// Flow steps only: a pause instead of a request ("1s", or
    /// { min = "0.5s", max = "2s" }).
    #[schemars(with = "Option<shapes::Think>")]
    pub think: Option<S<toml::Value>>,
    /// Flow steps only: variable → { json = "/ptr" } | { header = "name" } |
    /// { regex = "..." }.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, shapes::Capture>")]
    pub capture: BTreeMap<String, S<toml::Value>>,
    // HTTP
    #[schemars(with = "Option<String>")]
    pub method: Option<S<String>>,
    #[schemars(with = "Option<String>")]
    pub path: Option<S<String>>,
    #[schemars(with = "Option<String>")]
    pub url: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub headers: BTreeMap<String, S<String>>,
    #[schemars(with = "Option<String>")]
    pub body: Option<S<String>>,
    /// A JSON body written as a TOML table; string values are templates.
    #[schemars(with = "Option<serde_json::Value>")]
    pub json: Option<S<toml::Value>>,
    /// As `[http] follow_redirects`, for this request.
    #[schemars(with = "Option<shapes::Redirects>")]
    pub follow_redirects: Option<S<toml::Value>>,
    /// As `[http] auth`, for this request.
    #[schemars(with = "Option<Auth>")]
    pub auth: Option<S<Auth>>,
    /// As `[http] version`, for this request (http1, h2c, http2, http3 or
    /// auto).
    #[schemars(with = "Option<String>")]
    pub version: Option<S<String>>,
    // gRPC
    #[schemars(with = "Option<String>")]
    pub grpc: Option<S<String>>,
    /// The request message: a JSON string or a TOML table; strings are
    /// templates. A list of them: the messages a stream sends in turn.
    #[schemars(with = "Option<shapes::Message>")]
    pub message: Option<S<toml::Value>>,
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub metadata: BTreeMap<String, S<String>>,
    /// How a streaming method streams.
    #[schemars(with = "Option<Stream>")]
    pub stream: Option<S<Stream>>,
    /// HTTP: read the answer as Server-Sent Events.
    #[schemars(with = "Option<Sse>")]
    pub sse: Option<S<Sse>>,
    #[serde(default)]
    pub check: Check,
}

/// `[request.stream]`: how a streaming gRPC call or a WebSocket call
/// streams.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    /// Messages sent per call (an integer; client and bidirectional
    /// streaming; default: the request's messages once, or as many as
    /// `duration` allows).
    #[schemars(with = "Option<u64>")]
    pub messages: Option<S<toml::Value>>,
    /// End the call after this many answers (an integer).
    #[schemars(with = "Option<u64>")]
    pub answers: Option<S<toml::Value>>,
    /// Body checks on "each" answer (default) or the "last" one.
    #[schemars(with = "Option<String>")]
    pub check: Option<S<String>>,
    /// Pause between two messages sent ("10ms").
    #[schemars(with = "Option<String>")]
    pub interval: Option<S<String>>,
    /// Send for this long, then close the sending side; a server stream is
    /// ended by volley after it.
    #[schemars(with = "Option<String>")]
    pub duration: Option<S<String>>,
    /// Bidirectional: wait for each message's answer before the next.
    #[schemars(with = "Option<bool>")]
    pub ping_pong: Option<S<bool>>,
    /// WebSocket: send the messages as binary messages, not text.
    #[schemars(with = "Option<bool>")]
    pub binary: Option<S<bool>>,
}

/// `[request.sse]`: an HTTP request whose answer is read as Server-Sent
/// Events, each event measured as it arrives.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sse {
    /// End the call after this many events (an integer); it passes. A
    /// stream the server ends with fewer fails.
    #[schemars(with = "Option<u64>")]
    pub events: Option<S<toml::Value>>,
    /// End the call after this long ("30s"); it passes.
    #[schemars(with = "Option<String>")]
    pub duration: Option<S<String>>,
    /// End the call at the event whose data is exactly this ("[DONE]");
    /// it passes. A stream that ends without it fails.
    #[schemars(with = "Option<String>")]
    pub until: Option<S<String>>,
    /// Body checks on "each" event's data (default) or the "last" one.
    #[schemars(with = "Option<String>")]
    pub check: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// HTTP statuses that pass (default: any below 400).
    #[schemars(with = "Option<Vec<u16>>")]
    pub status: Option<S<Vec<u16>>>,
    /// gRPC code that passes, by name (default OK).
    #[schemars(with = "Option<String>")]
    pub code: Option<S<String>>,
    #[schemars(with = "Option<String>")]
    pub body_contains: Option<S<String>>,
    /// JSON pointer → expected value, e.g. { "/label" = "sports" }.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>")]
    pub json: BTreeMap<String, S<toml::Value>>,
}

/// The shapes of keys that take more than one form, for the JSON Schema only
/// (`volley schema`): parsing keeps them as spanned TOML values and the
/// compiler checks them with errors at their place.
#[allow(dead_code)]
pub mod shapes {
    use schemars::JsonSchema;

    /// A duration such as "500ms", "2s" or "1m30s".
    #[derive(JsonSchema)]
    #[schemars(transparent)]
    pub struct Duration(String);

    /// A fixed think time ("1s"), or one drawn uniformly between two.
    #[derive(JsonSchema)]
    #[serde(untagged)]
    pub enum Think {
        Fixed(Duration),
        Uniform { min: Duration, max: Duration },
    }

    /// A size such as "4MiB", or a whole number of bytes.
    #[derive(JsonSchema)]
    #[serde(untagged)]
    pub enum Size {
        Bytes(u64),
        Text(String),
    }

    /// true (gzip, deflate, br, zstd), false (none), or the codings to ask for.
    #[derive(JsonSchema)]
    #[serde(untagged)]
    pub enum Compression {
        All(bool),
        These(Vec<Coding>),
    }

    #[derive(JsonSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Coding {
        Gzip,
        Deflate,
        Br,
        Zstd,
    }

    /// true (at most 10 hops), false, or the most hops to follow.
    #[derive(JsonSchema)]
    #[serde(untagged)]
    pub enum Redirects {
        Follow(bool),
        Hops(u32),
    }

    /// An http:// proxy URL, or false for none (default: the environment's).
    pub fn proxy(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An http:// proxy URL, or false for none (default: the environment's).",
            "oneOf": [{ "const": false }, { "type": "string" }]
        })
    }

    /// A pass/fail rule, or one that also stops the run when broken.
    #[derive(JsonSchema)]
    #[serde(untagged)]
    pub enum Threshold {
        Rule(String),
        Table(ThresholdTable),
    }

    #[derive(JsonSchema)]
    #[serde(deny_unknown_fields)]
    pub struct ThresholdTable {
        /// The rule, e.g. "p99<250ms" or "checkout:error_rate<1%".
        rule: String,
        /// Judge it live on the merged statistics and stop every worker
        /// when it breaks (the run then fails, its reports written).
        abort: Option<bool>,
        /// With abort: judge it only from this long after the start.
        delay: Option<Duration>,
    }

    /// One .proto file or several.
    #[derive(JsonSchema)]
    #[serde(untagged)]
    pub enum Protos {
        One(String),
        Many(Vec<String>),
    }

    /// Where a flow step's variable comes from: exactly one of these.
    #[derive(JsonSchema)]
    #[serde(rename_all = "lowercase", deny_unknown_fields)]
    pub enum Capture {
        /// A JSON pointer into the answer's body, e.g. "/id".
        Json(String),
        /// An answer header's name.
        Header(String),
        /// A regular expression over the body; its first group (or the
        /// match) is the value.
        Regex(String),
    }

    /// A gRPC message as a table, a list of them (a stream's messages, sent
    /// in turn), or the same as a JSON string.
    #[derive(JsonSchema)]
    #[serde(untagged)]
    pub enum Message {
        One(serde_json::Map<String, serde_json::Value>),
        Many(Vec<serde_json::Map<String, serde_json::Value>>),
        Json(String),
    }
}

/// TOML values map onto JSON one to one (datetimes become strings).
pub fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}
