#!/usr/bin/env python3
"""Checks that running prediction servers answer like the Rust reference.

Starts nothing. Sends every line of servers/model/vectors.jsonl
({"text", "category", "label"}) to the REST server (--rest URL; through
/predict, and through /predict/stream and /predict/ws where the server has
them, whose answers must be /predict's bytes; the Python REST server has
neither, so they are skipped for it) and/or the gRPC server (--grpc
HOST:PORT; through Predict and through PredictStream), then bad inputs whose
statuses the API fixes (docs/predict-api.md). Exits 1 naming every text or
case that differs.

The REST half needs only the standard library; the gRPC half needs grpcio,
grpcio-health-checking and grpcio-reflection (the servers/python project).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import socket
import struct
import sys
import urllib.parse
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "model" / "vectors.jsonl"
LIMIT = 64 * 1024
JSON = {"content-type": "application/json"}

failures: list[str] = []


def fail(msg: str) -> None:
    failures.append(msg)
    print("FAIL", msg, file=sys.stderr)


def load_vectors() -> list[dict]:
    return [json.loads(line) for line in VECTORS.read_text("utf-8").splitlines() if line.strip()]


# ---- REST -----------------------------------------------------------------

class Rest:
    def __init__(self, url: str):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.base = u.path.rstrip("/")
        self.conn = None

    def send(self, method, path, body=None, headers=None, chunked=False):
        """(status, content type, body bytes); reconnects when the server
        closed the connection (after a 413, say)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                if chunked:
                    self.conn.request(method, self.base + path, body=iter(body),
                                      headers=headers or {}, encode_chunked=True)
                else:
                    self.conn.request(method, self.base + path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                if r.will_close:
                    self.conn.close()
                    self.conn = None
                return r.status, r.getheader("content-type", ""), data
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def check_rest(url: str, vectors: list[dict]) -> None:
    rest = Rest(url)
    predicted = []  # /predict's bytes for each vector
    for v in vectors:
        body = json.dumps({"text": v["text"]}).encode()
        status, _, data = rest.send("POST", "/predict", body, JSON)
        predicted.append(data)
        want = {"category": v["category"], "label": v["label"]}
        got = json.loads(data) if status == 200 else None
        if status != 200 or got != want:
            fail(f"REST {v['text']!r}: got {status} {data[:200]!r}, want 200 {want}")
    check_streams(rest, url, vectors, predicted)

    big = b'{"text": "' + b"a" * LIMIT + b'"}'
    exact = b'{"text":"' + b"a" * (LIMIT - 11) + b'"}'
    cases = [
        # (name, method, path, headers, body, status, exact body or None, chunked)
        ("healthz", "GET", "/healthz", {}, None, 200, {"status": "ok"}, False),
        ("readyz", "GET", "/readyz", {}, None, 200, {"status": "ready"}, False),
        ("charset is fine", "POST", "/predict",
         {"content-type": "application/json; charset=utf-8"}, b'{"text":"GOAL"}', 200, None, False),
        ("content type case", "POST", "/predict", {"content-type": "Application/JSON"},
         b'{"text":"GOAL"}', 200, None, False),
        ("extra fields ignored", "POST", "/predict", JSON, b'{"x":[1,{}],"text":"GOAL"}', 200, None, False),
        ("body of exactly 64 KiB", "POST", "/predict", JSON, exact, 200, None, False),
        ("malformed JSON", "POST", "/predict", JSON, b'{"text": ', 400, None, False),
        ("trailing bytes", "POST", "/predict", JSON, b'{"text":"a"} x', 400, None, False),
        ("invalid UTF-8", "POST", "/predict", JSON, b'{"text":"\xff\xfe"}', 400, None, False),
        ("empty body", "POST", "/predict", JSON, b"", 400, None, False),
        ("NaN", "POST", "/predict", JSON, b'{"text":"a","x":NaN}', 400, None, False),
        ("lone surrogate", "POST", "/predict", JSON, b'{"text":"\\ud800"}', 400, None, False),
        ("deeply nested extra field", "POST", "/predict", JSON,
         b'{"text":"a","x":' + b"[" * 30000 + b"]" * 30000 + b"}", 200, None, False),
        ("deeply nested array", "POST", "/predict", JSON, b"[" * 30000 + b"]" * 30000, 422, None, False),
        ("deeply nested, unclosed", "POST", "/predict", JSON, b"[" * 30000, 400, None, False),
        ("lone surrogate elsewhere", "POST", "/predict", JSON, b'{"text":"a","x":"\\ud800"}', 200, None, False),
        ("huge number", "POST", "/predict", JSON, b'{"text":"a","x":1e400}', 200, None, False),
        ("text/plain", "POST", "/predict", {"content-type": "text/plain"}, b'{"text":"a"}', 400, None, False),
        ("no content type", "POST", "/predict", {}, b'{"text":"a"}', 400, None, False),
        ("array", "POST", "/predict", JSON, b'[{"text":"a"}]', 422, None, False),
        ("string", "POST", "/predict", JSON, b'"a"', 422, None, False),
        ("null", "POST", "/predict", JSON, b"null", 422, None, False),
        ("text missing", "POST", "/predict", JSON, b'{"txt":"a"}', 422, None, False),
        ("text null", "POST", "/predict", JSON, b'{"text":null}', 422, None, False),
        ("text number", "POST", "/predict", JSON, b'{"text":1}', 422, None, False),
        ("text repeated", "POST", "/predict", JSON, b'{"text":"a","text":"b"}', 422, None, False),
        ("text empty", "POST", "/predict", JSON, b'{"text":""}', 422, None, False),
        ("over 64 KiB", "POST", "/predict", JSON, big, 413, None, False),
        ("over 64 KiB chunked", "POST", "/predict", JSON,
         [big[i:i + 8192] for i in range(0, len(big), 8192)], 413, None, True),
        ("unknown path", "GET", "/nope", {}, None, 404, {"error": "no route for /nope"}, False),
        ("percent-encoded path", "POST", "/pre%64ict", JSON, b'{"text":"a"}', 404,
         {"error": "no route for /pre%64ict"}, False),
        ("OPTIONS /predict", "OPTIONS", "/predict", {}, None, 405,
         {"error": "method OPTIONS is not allowed on /predict"}, False),
        ("trailing slash", "POST", "/predict/", JSON, b'{"text":"a"}', 404, None, False),
        ("GET /predict", "GET", "/predict", {}, None, 405,
         {"error": "method GET is not allowed on /predict"}, False),
        ("POST /healthz", "POST", "/healthz", JSON, b"{}", 405, None, False),
        ("after errors", "POST", "/predict", JSON, b'{"text":"GOAL"}', 200, None, False),
    ]
    for name, method, path, headers, body, want, want_body, chunked in cases:
        status, ctype, data = rest.send(method, path, body, headers, chunked)
        if status != want:
            fail(f"REST {name}: got {status} {data[:200]!r}, want {want}")
            continue
        try:
            doc = json.loads(data)
        except ValueError:
            fail(f"REST {name}: body is not JSON: {data[:200]!r}")
            continue
        if not ctype.startswith("application/json"):
            fail(f"REST {name}: content type {ctype!r}")
        if want_body is not None and doc != want_body:
            fail(f"REST {name}: body {doc}, want {want_body}")
        elif status >= 400 and not (isinstance(doc, dict) and list(doc) == ["error"]
                                    and isinstance(doc["error"], str)):
            fail(f"REST {name}: error body {doc} is not {{\"error\": \"...\"}}")
        elif status == 200 and path == "/predict" and set(doc) != {"category", "label"}:
            fail(f"REST {name}: answer {doc}")
    print(f"REST {url}: {len(vectors)} vectors, {len(cases)} cases checked")


# ---- REST streaming: /predict/stream (SSE) and /predict/ws (WebSocket) ------

def check_streams(rest: Rest, url: str, vectors: list[dict], predicted: list[bytes]) -> None:
    """Each vector through /predict/stream and /predict/ws must get /predict's
    bytes; skipped (and said) for a server without them, as the Python one."""
    if rest.send("POST", "/predict/stream", b"{}", JSON)[0] == 404:
        print(f"REST {url}: no /predict/stream or /predict/ws (optional): streaming not checked")
        return
    texts = [v["text"] for v in vectors]
    want = b"".join(b"id: %d\ndata: %s\n\n" % (i, p) for i, p in enumerate(predicted))
    want += b"data: [DONE]\n\n"
    for name, body, expected in (("all vectors", {"texts": texts}, want),
                                 ("no texts", {"texts": []}, b"data: [DONE]\n\n")):
        status, ctype, data = rest.send("POST", "/predict/stream", json.dumps(body).encode(), JSON)
        if status != 200 or ctype != "text/event-stream" or data != expected:
            fail(f"SSE {name}: {status} {ctype!r} {data[:300]!r}, want 200 text/event-stream "
                 f"{expected[:300]!r}")
    for name, body, status_want in (
            ("100 000 texts", b'{"texts":[' + b",".join([b'"a"'] * 100000) + b"]}", 422),
            ("not JSON", b"texts=a", 400),
            ("empty text mid-list", b'{"texts":["a","","b"]}', 422),
            ("texts a string", b'{"texts":"a"}', 422)):
        status, _, data = rest.send("POST", "/predict/stream", body, JSON)
        if status != status_want:
            fail(f"SSE {name}: got {status} {data[:200]!r}, want {status_want}")

    u = urllib.parse.urlsplit(url)
    ws = Ws(u.hostname, u.port or 80)
    for v, p in zip(vectors, predicted):
        got = ws.ask(json.dumps({"text": v["text"]}).encode())
        if got != p:
            fail(f"WS {v['text']!r}: {got!r}, /predict says {p!r}")
    for bad in (b"not json", b'{"text":""}', b'{"txt":"a"}'):
        got = ws.ask(bad)
        doc = json.loads(got) if got.startswith(b"{") else None
        if not (isinstance(doc, dict) and list(doc) == ["error"]):
            fail(f"WS {bad!r}: {got!r}, want {{\"error\": \"...\"}}")
    ws.send(9, b"ping")
    if ws.recv() != (10, b"ping"):
        fail("WS ping: no pong")
    ws.send(8, struct.pack("!H", 1000))
    op, payload = ws.recv()
    if op != 8 or payload[:2] != struct.pack("!H", 1000):
        fail(f"WS close: {op} {payload!r}, want a close 1000")
    ws.sock.close()
    ws = Ws(u.hostname, u.port or 80)
    ws.send(2, b'{"text":"GOAL"}')
    op, payload = ws.recv()
    if op != 8 or payload[:2] != struct.pack("!H", 1003):
        fail(f"WS binary: {op} {payload!r}, want a close 1003")
    ws.sock.close()
    print(f"REST {url}: /predict/stream and /predict/ws agree with /predict")


class Ws:
    """A WebSocket client by hand (RFC 6455): masked frames out, close codes
    visible."""

    def __init__(self, host: str, port: int):
        self.sock = socket.create_connection((host, port), timeout=30)
        self.sock.sendall(b"GET /predict/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                          b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        self.buf = b""
        while b"\r\n\r\n" not in self.buf and len(self.buf) < 8192:
            self.buf += self._read()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"WebSocket handshake answered {head[:100]!r}")

    def _read(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self._read()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n <= 125:
            head += bytes([0x80 | n])
        elif n <= 0xFFFF:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self) -> tuple[int, bytes]:
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8))[0]
        if n > 1 << 20:
            raise AssertionError(f"a server frame of {n} bytes")
        return b0 & 0x0F, self._take(n)

    def ask(self, message: bytes) -> bytes:
        self.send(1, message)
        op, payload = self.recv()
        if op != 1:
            fail(f"WS {message[:80]!r}: opcode {op} {payload!r}, want a text")
        return payload


# ---- gRPC -----------------------------------------------------------------

def check_grpc(target: str, vectors: list[dict]) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from volley_predict import proto

    pb2, pb2_grpc = proto.load()
    channel = grpc.insecure_channel(target)
    grpc.channel_ready_future(channel).result(timeout=10)
    stub = pb2_grpc.PredictorStub(channel)

    for v in vectors:
        try:
            r = stub.Predict(pb2.PredictRequest(text=v["text"]), timeout=10)
        except grpc.RpcError as e:
            fail(f"gRPC {v['text']!r}: {e.code()} {e.details()}")
            continue
        if (r.category, r.label) != (v["category"], v["label"]):
            fail(f"gRPC {v['text']!r}: got {r.category} {r.label!r}, want {v['category']} {v['label']!r}")

    cases = [("empty text", "", grpc.StatusCode.INVALID_ARGUMENT),
             ("65,537 bytes", "a" * (LIMIT + 1), grpc.StatusCode.INVALID_ARGUMENT),
             ("65,536 bytes", "a" * LIMIT, grpc.StatusCode.OK),
             ("65,536 bytes of 2-byte letters", "é" * (LIMIT // 2), grpc.StatusCode.OK),
             ("65,538 bytes of 2-byte letters", "é" * (LIMIT // 2 + 1), grpc.StatusCode.INVALID_ARGUMENT)]
    for name, text, want in cases:
        try:
            stub.Predict(pb2.PredictRequest(text=text), timeout=10)
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as e:
            code, details = e.code(), e.details()
        if code != want or (code != grpc.StatusCode.OK and not details):
            fail(f"gRPC {name}: got {code} {details!r}, want {want} with a message")

    streams = check_stream(grpc, pb2, stub, vectors)

    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "predict.v1.Predictor"):
        status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10).status
        if status != health_pb2.HealthCheckResponse.SERVING:
            fail(f"gRPC health {service!r}: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")

    # v1alpha stubs; v1 has the same messages under another service name.
    for service in ("grpc.reflection.v1alpha.ServerReflection", "grpc.reflection.v1.ServerReflection"):
        call = channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        try:
            replies = list(call(iter([
                reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol="predict.v1.Predictor"),
            ]), timeout=10))
        except grpc.RpcError as e:
            fail(f"gRPC reflection {service}: {e.code()} {e.details()}")
            continue
        names = {s.name for s in replies[0].list_services_response.service}
        if not {"predict.v1.Predictor", "grpc.health.v1.Health"} <= names:
            fail(f"gRPC reflection {service}: services {sorted(names)}")
        if not replies[1].HasField("file_descriptor_response"):
            fail(f"gRPC reflection {service}: no descriptor for predict.v1.Predictor")
    _ = reflection_pb2_grpc
    channel.close()
    print(f"gRPC {target}: {len(vectors)} vectors, {len(cases)} cases, {streams} PredictStream calls, "
          "health, reflection checked")


def same_answer(what: str, v: dict, a) -> None:
    if (a.category, a.label) != (v["category"], v["label"]):
        fail(f"gRPC {what} {v['text']!r}: got {a.category} {a.label!r}, "
             f"want {v['category']} {v['label']!r}")


def stream_texts(grpc, pb2, stub, texts: list[str]):
    """Sends texts on one PredictStream call without waiting for answers:
    (every answer, then the call's status code and details)."""
    answers = []
    call = stub.PredictStream(iter([pb2.PredictRequest(text=t) for t in texts]), timeout=20)
    try:
        for a in call:
            answers.append(a)
    except grpc.RpcError as e:
        return answers, e.code(), e.details()
    return answers, grpc.StatusCode.OK, ""


def ping_pong(grpc, pb2, stub, vectors: list[dict]) -> None:
    """Sends each vector on one PredictStream call and waits for its answer
    before sending the next: a server that holds its answers until the client
    half-closes runs into the deadline."""
    texts = queue.Queue()
    done = object()
    call = stub.PredictStream(iter(texts.get, done), timeout=20)
    try:
        for v in vectors:
            texts.put(pb2.PredictRequest(text=v["text"]))
            same_answer("stream, one text at a time,", v, next(call))
        texts.put(done)
        rest = list(call)
        if rest:
            fail(f"gRPC stream, one text at a time: {len(rest)} answers after the last text")
    except StopIteration:
        fail("gRPC stream, one text at a time: the server ended the call early")
    except grpc.RpcError as e:
        fail(f"gRPC stream, one text at a time: {e.code()} {e.details()} "
             "(no answer until the client half-closes?)")
    finally:
        texts.put(done)  # lets the request iterator end whatever happened
        call.cancel()


def check_stream(grpc, pb2, stub, vectors: list[dict]) -> int:
    """PredictStream: the vectors one at a time, the vectors all at once, a
    refused text after a few good ones, and no texts. Returns the calls made."""
    calls = 0
    ping_pong(grpc, pb2, stub, vectors)
    calls += 1

    answers, code, details = stream_texts(grpc, pb2, stub, [v["text"] for v in vectors])
    calls += 1
    if code != grpc.StatusCode.OK or len(answers) != len(vectors):
        fail(f"gRPC stream of {len(vectors)} vectors: {len(answers)} answers, then {code} {details!r}")
    for v, a in zip(vectors, answers):
        same_answer("stream", v, a)

    before = vectors[:3]
    after = vectors[3:5]
    for name, text in (("empty text", ""), ("65,537 bytes", "a" * (LIMIT + 1))):
        texts = [v["text"] for v in before] + [text] + [v["text"] for v in after]
        answers, code, details = stream_texts(grpc, pb2, stub, texts)
        calls += 1
        if code != grpc.StatusCode.INVALID_ARGUMENT or not details:
            fail(f"gRPC stream, {name} after {len(before)} texts: got {code} {details!r}, "
                 "want INVALID_ARGUMENT with a message")
        if len(answers) != len(before):
            fail(f"gRPC stream, {name} after {len(before)} texts: {len(answers)} answers, want {len(before)}")
        for v, a in zip(before, answers):
            same_answer(f"stream, {name} later,", v, a)

    answers, code, details = stream_texts(grpc, pb2, stub, [])
    calls += 1
    if code != grpc.StatusCode.OK or answers:
        fail(f"gRPC stream of no texts: {len(answers)} answers, then {code} {details!r}; want none and OK")
    return calls


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rest", metavar="URL", help="e.g. http://127.0.0.1:8000")
    p.add_argument("--grpc", metavar="HOST:PORT", help="e.g. 127.0.0.1:50051")
    args = p.parse_args()
    if not (args.rest or args.grpc):
        p.error("give --rest URL and/or --grpc HOST:PORT")
    vectors = load_vectors()
    if args.rest:
        check_rest(args.rest, vectors)
    if args.grpc:
        check_grpc(args.grpc, vectors)
    if failures:
        print(f"{len(failures)} disagreement(s)", file=sys.stderr)
        return 1
    print("all answers agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
