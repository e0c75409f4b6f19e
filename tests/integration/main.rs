//! volley's integration tests: the real binary against real servers on
//! loopback ports, one module per topic.

mod cluster;
mod common;
mod console;
mod demo;
mod faults;
mod flows;
mod grpc;
mod http;
mod outputs;
mod partition;
mod peers;
mod procs;
mod scenario_errors;
mod shop;
