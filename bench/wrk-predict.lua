-- wrk script for bench/run-loadgen: POST /predict with the benchmark text,
-- the same request as bench/scenarios/http-predict.toml.
--   wrk -t1 -c64 -d10s -s bench/wrk-predict.lua http://127.0.0.1:PORT/predict
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "The central bank held interest rates steady on Thursday, citing cooling inflation."}'
