//! Protocol clients, one connection per user: HTTP/1.1 on volley's own
//! client ([`h1`]), HTTP/2 on h2 directly ([`http`], with the machinery
//! both HTTP/2 clients share in [`h2conn`]), gRPC unary and streaming on
//! tonic over HTTP/2 connections volley opens itself ([`grpc`],
//! [`grpc_conn`]), messages built at run time by prost-reflect. Also TLS
//! settings ([`tls`]), answer bodies decoded and kept within a bound
//! ([`body`]), content codings ([`decode`]), a user's cookie jar
//! ([`cookies`]), redirects ([`redirect`]), proxies ([`proxy`]), the
//! response checks ([`check`]), and Server-Sent Events streams parsed from
//! body bytes without I/O, every buffer bounded ([`sse`]).
//! What the scenario names and checks when it compiles (code names, coding
//! names, proxy URLs, messages fitted to their type) lives below, in
//! `crate::scenario`; clients import it from there.
//! Clients turn every problem into a [`crate::stats::Failure`]; nothing here
//! panics on what a target sends.

pub mod alt_svc;
pub mod answer;
pub mod body;
pub mod check;
pub mod cookies;
pub mod decode;
pub mod digest;
pub mod grpc;
pub mod grpc_conn;
pub mod h1;
pub mod h2conn;
pub mod h3;
pub mod http;
pub mod proxy;
pub mod redirect;
pub mod sse;
pub mod tls;

/// What volley sends as `User-Agent`, over HTTP and gRPC alike.
pub const USER_AGENT: &str = concat!("volley/", env!("CARGO_PKG_VERSION"));
