"""The Locust side of tests/integration/locust_csv.rs: what produced the
locust_*.csv files here (Locust 2.47.0, `locust -f locustfile.py --headless
-u 2 -r 2 --run-time 4s --host http://127.0.0.1:PORT --csv locust
--csv-full-history`, against target.py)."""
from locust import HttpUser, task, constant
class U(HttpUser):
    wait_time = constant(0.01)
    @task(3)
    def ok(self):
        self.client.get("/ok")
    @task(1)
    def fail(self):
        self.client.get("/fail")
