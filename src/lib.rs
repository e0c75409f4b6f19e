//! volley: a distributed load tester for REST and gRPC APIs.
