"""predict-grpc in Python: predict.v1.Predictor (Predict and PredictStream) on
grpcio, with the standard health service and server reflection, like
servers/src/grpc.rs.

    python -m volley_predict.grpc_server [--addr HOST:PORT] [--model FILE] [--threads N]
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2

from . import MAX_TEXT_BYTES, proto
from .common import init_logging, load_model, log, parse_args, show_addr

NAME = "predict-grpc (python)"
DRAIN_SECONDS = 10
PREDICTOR = "predict.v1.Predictor"
# grpcio-reflection only ships v1alpha; v1 has the same messages field for
# field under another package name, so the same servicer answers both.
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"

pb2, pb2_grpc = proto.load()


class Predictor(pb2_grpc.PredictorServicer):
    def __init__(self, model):
        self.model = model

    def Predict(self, request, context):
        return self._answer(request.text, context)

    def PredictStream(self, request_iterator, context):
        # A generator: grpcio sends each answer as it is yielded, before the
        # next text is read, so a client may wait for one answer before it
        # sends the next text. abort() raises, which ends the call with
        # Predict's status after the answers already sent.
        for request in request_iterator:
            yield self._answer(request.text, context)

    def _answer(self, text, context):
        """Predict for one text; PredictStream answers each text the same way."""
        if self.model is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the model is still loading")
        size = len(text.encode("utf-8"))
        if size == 0:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "text must not be empty")
        if size > MAX_TEXT_BYTES:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                          f"text is {size} bytes; the limit is {MAX_TEXT_BYTES}")
        p = self.model.predict(text)
        return pb2.PredictResponse(category=p.category, label=p.label)


def build_server(model, threads: int | None):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1))
    pb2_grpc.add_PredictorServicer_to_server(Predictor(model), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (PREDICTOR, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
             reflection.SERVICE_NAME, REFLECTION_V1)
    servicer = reflection.ReflectionServicer(names)
    server.add_generic_rpc_handlers([
        grpc.method_handlers_generic_handler(REFLECTION_V1, {
            "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                servicer.ServerReflectionInfo,
                request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
                response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
            )
        })
    ])
    reflection.enable_server_reflection(names, server)
    return server, health_servicer


def main(argv=None) -> None:
    args = parse_args(NAME, "PREDICT_GRPC_ADDR", "127.0.0.1:50051", argv)
    init_logging()
    stop = threading.Event()
    # Installed before anything slow, so that an early SIGTERM is not lost.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    model, source = load_model(args.model)
    server, health_servicer = build_server(model, args.threads and int(args.threads))
    addr = show_addr(args.host, args.port)
    try:
        port = server.add_insecure_port(addr)
    except RuntimeError as e:
        port = 0
        log.error("binding %s: %s", addr, e)
    if port == 0:
        log.error("binding %s failed", addr)
        sys.exit(1)
    # NOT_SERVING until the model is in; it already is, so this is immediate.
    for service in ("", PREDICTOR):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    server.start()
    log.info("%s listening on %s (cleartext), model %s, classes [%s]",
             NAME, show_addr(args.host, port), source, ",".join(model.labels))

    stop.wait()
    log.info("%s stopping: no new connections, draining requests in flight", NAME)
    health_servicer.enter_graceful_shutdown()
    if not server.stop(DRAIN_SECONDS).wait(DRAIN_SECONDS + 1):
        log.warning("requests still in flight after %ss; exiting anyway", DRAIN_SECONDS)
    log.info("%s stopped", NAME)


if __name__ == "__main__":
    main()
