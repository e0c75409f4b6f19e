"""predict-rest in Python: FastAPI on uvicorn, with the statuses and
`{"error": ...}` bodies of servers/src/rest.rs.

    python -m volley_predict.rest [--addr HOST:PORT] [--model FILE]

FastAPI's own request validation is bypassed: /predict reads the raw body
and parses it itself, because FastAPI would answer 422 with its own body
shape where the API says 400 or 413.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import MAX_TEXT_BYTES
from .common import init_logging, load_model, log, parse_args, show_addr

NAME = "predict-rest (python)"
# How long a client may take to send its body (rust: rest::CLIENT_TIMEOUT),
# and how long requests in flight may take after SIGTERM.
CLIENT_TIMEOUT = 10
DRAIN_SECONDS = 10
JSON_WS = b" \t\n\r\x0c"


def error(status: int, message: str, headers=None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class BadJSON(Exception):
    """Malformed JSON: 400."""


class WrongShape(Exception):
    """Well-formed JSON that is not {"text": string}: 422."""


def _reject_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON (and serde_json) does not.
    raise BadJSON(f"invalid number {name}")


def _object(pairs):
    # serde_json refuses a repeated "text" field (but not other repeats).
    obj = {}
    for k, v in pairs:
        if k == "text" and k in obj:
            obj["\0duplicate text"] = True
        obj[k] = v
    return obj


def _loads(s: str):
    return json.loads(s, parse_constant=_reject_constant, object_pairs_hook=_object)


def _loads_deep(s: str):
    """json.loads for documents nested deeper than Python's recursion limit.
    serde_json skips ignored values without a depth limit, so a 64 KiB body of
    32,768 nested arrays is still valid JSON to the Rust server. Parsed in a
    thread with a large stack; the event loop waits, so nothing else runs
    while the limit is raised."""
    result = {}

    def run():
        try:
            result["doc"] = _loads(s)
        except BaseException as e:  # re-raised in the caller's thread
            result["error"] = e

    old_limit, old_stack = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(MAX_TEXT_BYTES + 1000)
    threading.stack_size(512 * 1024 * 1024)
    try:
        t = threading.Thread(target=run)
        t.start()
        t.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return result["doc"]


def parse_text(body: bytes) -> str:
    """The text of a body {"text": "..."}, with serde_json's verdicts."""
    try:
        s = body.decode("utf-8")
        try:
            doc = _loads(s)
        except RecursionError:
            doc = _loads_deep(s)
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise BadJSON(str(e)) from None
    if not isinstance(doc, dict) or body.lstrip(JSON_WS)[:1] != b"{":
        raise WrongShape('body must be a JSON object with a "text" string')
    if "\0duplicate text" in doc:
        raise WrongShape("duplicate field `text`")
    if "text" not in doc:
        raise WrongShape("missing field `text`")
    text = doc["text"]
    if not isinstance(text, str):
        raise WrongShape(f"invalid type: {type(text).__name__}, expected a string")
    try:
        # A lone surrogate escape (\ud800) is valid to Python, not to serde.
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadJSON("lone surrogate in hex escape") from None
    return text


def is_json(request: Request) -> bool:
    raw = request.headers.get("content-type")
    if raw is None or not all(c == "\t" or " " <= c <= "~" for c in raw):
        return False
    return raw.split(";", 1)[0].strip().lower() == "application/json"


async def read_body(request: Request) -> bytes | None:
    """The body, or None once it grows over MAX_TEXT_BYTES."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_TEXT_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(model) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.state.model = model

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        if exc.status_code == 404:
            return error(404, f"no route for {path}")
        if exc.status_code == 405:
            return error(405, f"method {request.method} is not allowed on {path}", exc.headers)
        return error(exc.status_code, str(exc.detail), exc.headers)

    @app.post("/predict")
    async def predict(request: Request):
        # The checks in the order of rest.rs: readiness, content type, size.
        model = request.app.state.model
        if model is None:
            return error(503, "the model is still loading")
        if not is_json(request):
            return error(400, "content type must be application/json")
        too_large = error(413, f"request body is over {MAX_TEXT_BYTES} bytes")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_TEXT_BYTES:
            return too_large
        try:
            body = await asyncio.wait_for(read_body(request), CLIENT_TIMEOUT)
        except asyncio.TimeoutError:
            return error(408, "request body did not arrive in time")
        if body is None:
            return too_large
        try:
            text = parse_text(body)
        except BadJSON as e:
            return error(400, f"malformed JSON: {e}")
        except WrongShape as e:
            return error(422, str(e))
        if not text:
            return error(422, "text must not be empty")
        p = model.predict(text)
        return JSONResponse({"category": p.category, "label": p.label})

    @app.api_route("/healthz", methods=["GET", "HEAD"])
    async def healthz():
        return JSONResponse({"status": "ok"})

    @app.api_route("/readyz", methods=["GET", "HEAD"])
    async def readyz(request: Request):
        if request.app.state.model is None:
            return error(503, "the model is still loading")
        return JSONResponse({"status": "ready"})

    return raw_path_routing(app)


def raw_path_routing(app):
    """Routes on the path as sent (axum does), not on its percent-decoded
    form (Starlette does): /pre%64ict is not /predict."""

    async def wrapped(scope, receive, send):
        if scope["type"] == "http" and scope.get("raw_path"):
            scope = dict(scope, path=scope["raw_path"].decode("latin-1"))
        await app(scope, receive, send)

    return wrapped


class Server(uvicorn.Server):
    """uvicorn, logging one line once it listens, and one at stop."""

    def __init__(self, config, source, labels, early_stop):
        super().__init__(config)
        self.source, self.labels, self.early_stop = source, labels, early_stop

    async def startup(self, sockets=None):
        await super().startup(sockets)
        if self.early_stop:
            self.should_exit = True
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            log.info("%s listening on %s (cleartext), model %s, classes [%s]",
                     NAME, show_addr(host, port), self.source, ",".join(self.labels))

    async def shutdown(self, sockets=None):
        log.info("%s stopping: no new connections, draining requests in flight", NAME)
        await super().shutdown(sockets)
        log.info("%s stopped", NAME)


def main(argv=None) -> None:
    args = parse_args(NAME, "PREDICT_REST_ADDR", "127.0.0.1:8000", argv)
    init_logging()
    # uvicorn installs its own handlers while it runs and, once it has shut
    # down gracefully, re-raises the signal to the handlers it found: these,
    # so that the process exits 0 rather than dying of SIGTERM. They also
    # keep a signal that arrives while the model loads (see Server.startup).
    early_stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_stop.append(signum))
    model, source = load_model(args.model)
    config = uvicorn.Config(
        create_app(model), host=args.host, port=args.port,
        log_level="warning", access_log=False, server_header=False, date_header=False,
        lifespan="off", timeout_keep_alive=CLIENT_TIMEOUT,
        timeout_graceful_shutdown=DRAIN_SECONDS, http="h11",
    )
    server = Server(config, source, model.labels, early_stop)
    server.run()
    # uvicorn returns (rather than exits) on SIGTERM; a failed bind exits 1 itself.
    if not server.started:
        sys.exit(1)


if __name__ == "__main__":
    main()
