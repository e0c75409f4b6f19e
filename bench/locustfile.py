"""Locust side of bench/run-loadgen: one user class, no wait.

BENCH_REQUEST=nginx sends GET /; BENCH_REQUEST=predict (the default) sends
POST /predict with the benchmark text, the same request as
bench/scenarios/http-predict.toml (FastHttpUser); BENCH_REQUEST=grpc calls
predict.v1.Predictor/Predict with the same text over grpcio (a plain User
that reports each call to Locust, as Locust's docs show for gRPC; the stubs
are the Python server's, generated into servers/python/volley_predict/_gen,
and --host is HOST:PORT). Run headless in one process, e.g.

    BENCH_REQUEST=predict bench/.venv/bin/locust -f bench/locustfile.py \
        --headless -u 64 -r 64 --run-time 10s --host http://127.0.0.1:8000 \
        --csv /tmp/locust --only-summary
"""

import os
import sys
import time

from locust import FastHttpUser, User, constant, task

KIND = os.environ.get("BENCH_REQUEST", "predict")
BODY = (
    b'{"text": "The central bank held interest rates steady on Thursday,'
    b' citing cooling inflation."}'
)
HEADERS = {"content-type": "application/json"}

TEXT = "The central bank held interest rates steady on Thursday, citing cooling inflation."

if KIND not in ("nginx", "predict", "grpc"):
    raise SystemExit(f"BENCH_REQUEST={KIND!r}: expected nginx, predict or grpc")


if KIND == "grpc":
    import grpc
    import grpc.experimental.gevent as grpc_gevent

    # grpcio must cooperate with Locust's gevent loop.
    grpc_gevent.init_gevent()
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "servers", "python",
                                    "volley_predict", "_gen"))
    from predict.v1 import predict_pb2, predict_pb2_grpc

    class Bench(User):
        wait_time = constant(0)

        def on_start(self):
            host = self.host.removeprefix("http://")
            self.channel = grpc.insecure_channel(host)
            self.stub = predict_pb2_grpc.PredictorStub(self.channel)
            self.request_msg = predict_pb2.PredictRequest(text=TEXT)

        def on_stop(self):
            self.channel.close()

        @task
        def predict(self):
            start = time.perf_counter()
            exc, size = None, 0
            try:
                size = self.stub.Predict(self.request_msg).ByteSize()
            except grpc.RpcError as e:
                exc = e
            self.environment.events.request.fire(
                request_type="grpc", name="predict",
                response_time=(time.perf_counter() - start) * 1000,
                response_length=size, exception=exc, context={})

elif KIND == "nginx":

    class Bench(FastHttpUser):
        wait_time = constant(0)

        @task
        def nginx(self):
            self.client.get("/", name="nginx")

else:

    class Bench(FastHttpUser):
        wait_time = constant(0)

        @task
        def predict(self):
            self.client.post("/predict", data=BODY, headers=HEADERS, name="predict")
