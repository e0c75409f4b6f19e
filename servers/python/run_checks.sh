#!/usr/bin/env bash
# Builds the Python servers' environment, starts both servers on free loopback
# ports, checks that they answer servers/model/vectors.jsonl and the bad inputs
# like the Rust servers (check_agreement.py), stops them with SIGTERM and
# checks that they exit 0. When target/release/predict-rest and predict-grpc
# exist, runs the same checker against them too, which proves the checker.
# Needs python3 with the venv module (Debian: python3-venv). Run from anywhere.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
py="$venv/bin/python"
logs="$(mktemp -d)"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    rm -rf "$logs"
}
trap cleanup EXIT

# (Re)install when the venv is missing or pyproject.toml changed since.
stamp="$venv/.installed-$(sha256sum "$here/pyproject.toml" | cut -c1-16)"
if [[ ! -x "$py" || ! -e "$stamp" ]]; then
    [[ -x "$py" ]] || python3 -m venv "$venv"
    "$py" -m pip install --quiet --disable-pip-version-check -e "$here"
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi
"$py" -m volley_predict.proto >/dev/null   # the gRPC stubs, before two servers race for them

free_port() {
    "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {  # wait_port PORT PID NAME: until PORT accepts, or fail if PID died
    for _ in $(seq 300); do
        if "$py" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || { echo "$3 exited before listening:" >&2; cat "$logs/$3.log" >&2; return 1; }
        sleep 0.1
    done
    echo "$3 did not listen on port $1 within 30 s" >&2
    return 1
}

stop() {  # stop PID NAME: SIGTERM, then the exit status must be 0
    kill -TERM "$1"
    local rc=0
    wait "$1" || rc=$?
    if [[ $rc -ne 0 ]]; then
        echo "FAIL: $2 exited $rc after SIGTERM" >&2
        cat "$logs/$2.log" >&2
        return 1
    fi
    echo "$2 stopped on SIGTERM with exit status 0"
}

# check NAME REST_CMD... -- GRPC_CMD...: start both on free ports, check, stop.
check() {
    local name="$1"; shift
    local rest_cmd=() grpc_cmd=()
    while [[ "$1" != "--" ]]; do rest_cmd+=("$1"); shift; done
    shift
    grpc_cmd=("$@")
    local rest_port grpc_port rest_pid grpc_pid
    rest_port="$(free_port)"
    grpc_port="$(free_port)"
    "${rest_cmd[@]}" --addr "127.0.0.1:$rest_port" 2>"$logs/$name-rest.log" &
    rest_pid=$!; pids+=("$rest_pid")
    "${grpc_cmd[@]}" --addr "127.0.0.1:$grpc_port" 2>"$logs/$name-grpc.log" &
    grpc_pid=$!; pids+=("$grpc_pid")
    wait_port "$rest_port" "$rest_pid" "$name-rest"
    wait_port "$grpc_port" "$grpc_pid" "$name-grpc"
    cat "$logs/$name-rest.log" "$logs/$name-grpc.log"
    echo "== $name servers: check_agreement.py --rest http://127.0.0.1:$rest_port --grpc 127.0.0.1:$grpc_port"
    "$py" "$here/check_agreement.py" --rest "http://127.0.0.1:$rest_port" --grpc "127.0.0.1:$grpc_port"
    stop "$rest_pid" "$name-rest"
    stop "$grpc_pid" "$name-grpc"
}

if [[ -x "$root/target/release/predict-rest" && -x "$root/target/release/predict-grpc" ]]; then
    check rust "$root/target/release/predict-rest" -- "$root/target/release/predict-grpc"
else
    echo "(no target/release/predict-rest and predict-grpc: checking the Python servers only)"
fi
check python "$py" "$here/predict_rest.py" -- "$py" "$here/predict_grpc.py"
echo "run_checks: all good"
