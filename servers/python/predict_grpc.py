#!/usr/bin/env python3
"""Starts the Python gRPC server: see volley_predict/grpc_server.py and README.md."""
from volley_predict.grpc_server import main

main()
