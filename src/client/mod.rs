//! Protocol clients: HTTP/1.1 and HTTP/2 over hyper ([`http`]), unary gRPC
//! over tonic with messages built at run time by prost-reflect ([`grpc`]),
//! TLS settings shared by both ([`tls`]), answer bodies decoded and kept
//! within a bound ([`body`]), content codings ([`decode`]), a user's cookie
//! jar ([`cookies`]), redirects ([`redirect`]), and the response checks
//! ([`check`]).
//! gRPC calls go over HTTP/2 connections volley opens itself
//! ([`grpc_conn`]).
//! Clients turn every problem into a [`crate::stats::Failure`]; nothing here
//! panics on what a target sends.

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
pub mod http;
pub mod proxy;
pub mod redirect;
pub mod tls;
pub mod uri;

/// What volley sends as `User-Agent`, over HTTP and gRPC alike.
pub const USER_AGENT: &str = concat!("volley/", env!("CARGO_PKG_VERSION"));
