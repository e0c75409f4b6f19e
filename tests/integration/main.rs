//! volley's integration tests: the real binary against real servers on
//! loopback ports, one module per topic.

mod common;
mod demo;
mod faults;
mod grpc;
mod http;
mod outputs;
mod scenario_errors;
