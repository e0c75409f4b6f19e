//! volley's integration tests: the real binary against real servers on
//! loopback ports (127.0.0.0/8 or ::1 only), one module per topic. Every
//! run is bounded in time and count.
//!
//! Helpers:
//! - `common`: scenario folders, the `Volley` command builder (bounded
//!   runs, `expect_exit` printing stdout and stderr), JSON results, and
//!   `VERSIONS`/`per_version`: a test body run once per HTTP version.
//! - `servers`: the reusable loopback targets (predict REST and gRPC,
//!   request and connection counters, slowing and delayed targets).
//! - `procs`: masters and workers as child processes, for cluster tests.
//! - `shop`: the in-test shop API that journeys log in to.
//! - `h3_server`: HTTP/3 servers on quinn and h3 (answering, and hostile).
//!
//! Tests (a third-party server named where one is used; those are
//! `#[ignore]`d and run where the server is installed):
//! - `abort`: thresholds that stop a run live, alone and over a cluster.
//! - `browser`: the HTML report in headless Chromium (chromedriver; skips without).
//! - `capacity`: `volley capacity` finds a target's known capacity.
//! - `cluster`: master and workers over real QUIC, killed with real signals.
//! - `command_line`: one-line URL runs, flag aliases, completions, man, version.
//! - `compare`: `volley compare` flags regressions between real runs.
//! - `console`: the terminal console driven in tmux (skips without tmux).
//! - `demo`: `volley demo` headless, against its embedded servers.
//! - `faults`: resets, garbage, silence and refused ports counted with reasons.
//! - `flows`: journeys against `shop`: logins, captures, per-flow thresholds;
//!   the journeys once per HTTP version (`common::VERSIONS`).
//! - `grpc`: runs against predict-grpc, schema from .proto or reflection.
//! - `grpc_deadline`: gRPC answers racing their deadline.
//! - `grpc_interop`: the grpc-go interop server (third-party, ignored).
//! - `grpc_like_clients`: gRPC statuses, timeouts, compression, TLS, streams.
//! - `grpc_streams`: streaming calls against predict-grpc's `PredictStream`.
//! - `h3`: HTTP/3 targets (`version = "http3"`) against `h3_server`'s QUIC
//!   servers: features, shared connections, resets, closes, UDP blocked, a
//!   2^62-byte frame in flat memory.
//! - `h3_peers`: HTTP/3 against Caddy and h3-httpbin, go-httpbin over
//!   quic-go (third-party, ignored): every request HTTP/3 in the servers'
//!   logs, `auto` moving to HTTP/3 on `Alt-Svc`, resets and closes.
//! - `hostile`: a hostile HTTP/1.1 server: endless bodies, bad chunks, floods.
//! - `hostile_grpc`: a hostile gRPC server whose windows never open.
//! - `hostile_h2`: a hostile HTTP/2 server whose windows never open.
//! - `http`: predict-rest over HTTP/1.1, h2c and TLS; `--host` and env vars.
//! - `httpbin`: go-httpbin (third-party, ignored): compression, redirects, auth.
//! - `import`: `volley import openapi`: the Petstore document checked, the
//!   prediction API's own description run against predict-rest.
//! - `like_clients`: headers, bodies, compression, redirects, cookies, auth,
//!   proxies, client certificates, unix sockets; the protocol-independent
//!   ones once per HTTP version (`common::VERSIONS`).
//! - `locust_csv`: CSV files compared with real Locust 2.47.0's (files checked in).
//! - `metrics`: Prometheus scrapes of a master (`--metrics-addr`).
//! - `nginx`: nginx over TLS and h2 (third-party, ignored): gzip, vhosts, counts.
//! - `open_model`: the open model's pool, waits and INVALID verdict.
//! - `outputs`: summary, JSON, CSV, thresholds as exit codes, Ctrl-C.
//! - `partition`: a real network partition in a namespace (root only; skips).
//! - `peers`: unsound QUIC peers refused one by one.
//! - `reports`: `volley report` redraws and merges saved results; HTML.
//! - `scenario_errors`: bad scenarios and flags: file:line:column, exit 2.
//! - `schema`: the JSON Schema matches the parser; shipped scenarios validate.
//! - `sse`: Server-Sent Events calls: events counted as they arrive, how
//!   calls end, broken and hostile streams.
//! - `ttfb`: time to first byte against a target whose body pauses, once
//!   per HTTP version; in every output, judged by thresholds.
//! - `websocket`: WebSocket calls: echoes in ping-pong and pipelined, and
//!   servers that refuse, close badly, never close, send huge frames or
//!   floods of pings.

mod abort;
mod browser;
mod capacity;
mod cluster;
mod command_line;
mod common;
mod compare;
mod console;
mod demo;
mod faults;
mod flows;
mod grpc;
mod grpc_deadline;
mod grpc_interop;
mod grpc_like_clients;
mod grpc_streams;
mod h3;
mod h3_peers;
mod h3_server;
mod hostile;
mod hostile_grpc;
mod hostile_h2;
mod http;
mod httpbin;
mod import;
mod like_clients;
mod locust_csv;
mod metrics;
mod nginx;
mod open_model;
mod outputs;
mod partition;
mod peers;
mod procs;
mod replay;
mod reports;
mod scenario_errors;
mod schema;
mod servers;
mod shop;
mod sse;
mod ttfb;
mod websocket;
