"""Locust side of bench/run-loadgen: one FastHttpUser class, no wait.

BENCH_REQUEST=nginx sends GET /; BENCH_REQUEST=predict (the default) sends
POST /predict with the benchmark text, the same request as
bench/scenarios/http-predict.toml. Run headless in one process, e.g.

    BENCH_REQUEST=predict bench/.venv/bin/locust -f bench/locustfile.py \
        --headless -u 64 -r 64 --run-time 10s --host http://127.0.0.1:8000 \
        --csv /tmp/locust --only-summary
"""

import os

from locust import FastHttpUser, constant, task

KIND = os.environ.get("BENCH_REQUEST", "predict")
BODY = (
    b'{"text": "The central bank held interest rates steady on Thursday,'
    b' citing cooling inflation."}'
)
HEADERS = {"content-type": "application/json"}

if KIND not in ("nginx", "predict"):
    raise SystemExit(f"BENCH_REQUEST={KIND!r}: expected nginx or predict")


class Bench(FastHttpUser):
    wait_time = constant(0)

    if KIND == "nginx":

        @task
        def nginx(self):
            self.client.get("/", name="nginx")

    else:

        @task
        def predict(self):
            self.client.post("/predict", data=BODY, headers=HEADERS, name="predict")
