#!/usr/bin/env bash
# Checks the Go prediction servers: vet, gofmt, unit tests, then both servers
# built and started on free loopback ports, check-agreement against them, and
# a clean exit (0) on SIGTERM. Run from anywhere; needs Go, not protoc.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted="$(gofmt -l .)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
echo "== go test"
go test ./...

bin="$here/.tools/bin"
mkdir -p "$bin"
echo "== build into $bin"
go build -o "$bin/" ./cmd/...

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}
rest_port="$(free_port)"
grpc_port="$(free_port)"
logs="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$bin/predict-rest" -addr "127.0.0.1:$rest_port" >"$logs/rest.log" 2>&1 &
rest_pid=$!
pids+=("$rest_pid")
"$bin/predict-grpc" --addr "127.0.0.1:$grpc_port" >"$logs/grpc.log" 2>&1 &
grpc_pid=$!
pids+=("$grpc_pid")

# Ready once each has logged its start line (printed after the model loads).
for _ in $(seq 100); do
  if grep -q listening "$logs/rest.log" && grep -q listening "$logs/grpc.log"; then break; fi
  sleep 0.1
done
cat "$logs/rest.log" "$logs/grpc.log"

echo "== check-agreement"
(cd "$here/../.." && "$bin/check-agreement" -rest "http://127.0.0.1:$rest_port" -grpc "127.0.0.1:$grpc_port")

echo "== SIGTERM"
status=0
for pid in "$rest_pid" "$grpc_pid"; do
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "server $pid exited $rc after SIGTERM" >&2
    status=1
  fi
done
pids=()
cat "$logs/rest.log" "$logs/grpc.log"
rm -rf "$logs"
[[ $status -eq 0 ]] && echo "all checks passed"
exit "$status"
