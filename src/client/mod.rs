//! Protocol clients: HTTP/1.1 and HTTP/2 over hyper ([`http`]), unary gRPC
//! over tonic with messages built at run time by prost-reflect ([`grpc`]),
//! TLS settings shared by both ([`tls`]), answer bodies decoded and kept
//! within a bound ([`body`]), content codings ([`decode`]), a user's cookie
//! jar ([`cookies`]), redirects ([`redirect`]), and the response checks
//! ([`check`]).
//! Clients turn every problem into a [`crate::stats::Failure`]; nothing here
//! panics on what a target sends.

pub mod body;
pub mod check;
pub mod cookies;
pub mod decode;
pub mod grpc;
pub mod h1;
pub mod http;
pub mod proxy;
pub mod redirect;
pub mod tls;
