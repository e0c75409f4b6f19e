//! volley: a distributed load tester for REST and gRPC APIs.
//!
//! Dependencies point one way: [`scenario`] is what users write; [`client`]
//! speaks the protocols; [`engine`] generates load and publishes [`stats`]
//! snapshots; [`cluster`] carries plans to engines on workers and their
//! snapshots back to the master over QUIC; [`report`] reads statistics, and
//! [`console`] shows them live; [`cli`] wires them together.

pub mod cli;
pub mod client;
pub mod cluster;
pub mod console;
pub mod engine;
pub mod report;
pub mod scenario;
pub mod stats;
