#!/usr/bin/env python3
"""Starts the Python REST server: see volley_predict/rest.py and README.md."""
from volley_predict.rest import main

main()
