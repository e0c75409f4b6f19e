"""What both servers share: flags and environment, the log format, loading
the model (servers/src/server.rs does the same for the Rust binaries)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from .model import DEFAULT_MODEL, Model, ModelError

log = logging.getLogger("volley_predict")


def parse_args(name: str, addr_env: str, default_addr: str, argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=name, description=f"{name}: the volley prediction API")
    p.add_argument("--addr", default=os.environ.get(addr_env, default_addr),
                   help=f"HOST:PORT to listen on (env {addr_env}, default {default_addr})")
    p.add_argument("--model", default=os.environ.get("PREDICT_MODEL"), metavar="FILE",
                   help=f"model file (env PREDICT_MODEL, default {DEFAULT_MODEL})")
    p.add_argument("--threads", type=int, default=os.environ.get("PREDICT_THREADS"), metavar="N",
                   help="worker threads (env PREDICT_THREADS; gRPC only, default: all cores)")
    args = p.parse_args(argv)
    args.host, args.port = split_addr(p, args.addr)
    if args.threads is not None and int(args.threads) < 1:
        p.error("--threads must be at least 1")
    return args


def split_addr(p: argparse.ArgumentParser, addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535 or not host:
        p.error(f"--addr {addr!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def init_logging() -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)5s %(message)s")


def load_model(path: str | None) -> tuple[Model, str]:
    """The model and where it came from, or exit 1 with the reason."""
    source = path or str(DEFAULT_MODEL)
    try:
        return Model.load(source), source
    except ModelError as e:
        log.error("loading model %s: %s", source, e)
        sys.exit(1)


def show_addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
