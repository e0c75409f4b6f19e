//! volley's integration tests: the real binary against real servers on
//! loopback ports, one module per topic.

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
mod hostile;
mod hostile_grpc;
mod hostile_h2;
mod http;
mod httpbin;
mod like_clients;
mod locust_csv;
mod metrics;
mod nginx;
mod open_model;
mod outputs;
mod partition;
mod peers;
mod procs;
mod reports;
mod scenario_errors;
mod schema;
mod shop;
