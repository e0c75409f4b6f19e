# shellcheck shell=bash
# bench/lib.sh: helpers shared by the bench/ scripts; source it, don't run it.
#
#   . "$(dirname "$0")/lib.sh"
#
# Installers (each does nothing when the tool is already there):
#   ensure_wrk ensure_nginx ensure_time   Debian packages (apt-get update once)
#   ensure_oha                            cargo install --locked into bench/.tools
#   ensure_locust                         a venv at bench/.venv with locust pinned
#   ensure_ghz                            go install into bench/.tools/bin; may fail
#   ensure_caddy                          go install, pinned, into bench/.tools/bin
#   ensure_oha_h3                         oha with its http3 feature, cargo install
#                                         --locked into bench/.tools/oha-h3; may fail
# Processes (everything started here is remembered and killed by bench_cleanup,
# which bench_init installs as the EXIT trap):
#   start_nginx PORT / stop_nginx         Debian nginx with bench/nginx.conf
#   start_caddy PORT [CPU] / stop_caddy   Caddy, h1 h2 h3 on one port, tls internal
#   start_bg NAME CMD... / stop_bg NAME   any background process
#   wait_port PORT [SECONDS]              until 127.0.0.1:PORT accepts
#   free_port                             an unused TCP port on 127.0.0.1
# Numbers:
#   median                                of the numbers on stdin, one a line
#   peak_rss FILE CMD...                  runs CMD, writes its peak RSS (KiB) to FILE
# Noise (the machine has 2 cores, one for the target, one for the generator):
#   cpu_ticks, all_ticks, tree_ticks PID  CPU time from /proc, in USER_HZ ticks
#   wait_idle SECONDS                     until the CPUs are idle, at most SECONDS
#
# Quiet by default: progress goes to stderr only with VERBOSE=1; warnings and
# errors always go to stderr.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # for the scripts that source this file
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TOOLS_DIR=$BENCH_DIR/.tools
VENV_DIR=$BENCH_DIR/.venv
# The newest Locust that `pip index versions locust` listed and that installs
# on this machine's Python 3.11.
LOCUST_VERSION=${LOCUST_VERSION:-2.47.0}
# Caddy for the HTTP/3 benchmark (bench/run-h3); it brings quic-go v0.63.0.
CADDY_VERSION=${CADDY_VERSION:-v2.11.9}
# oha with HTTP/3 (its http3 feature, off by default), in a root of its own so
# that it never stands in for ensure_oha's build.
OHA_H3_VERSION=${OHA_H3_VERSION:-1.16.0}
OHA_H3=$TOOLS_DIR/oha-h3/bin/oha
export PATH="$TOOLS_DIR/bin:$PATH"

log() { if [[ ${VERBOSE:-0} == 1 ]]; then echo "$*" >&2; fi; }
warn() { echo "$*" >&2; }
die() {
  echo "error: $*" >&2
  exit 1
}

# --- installers -------------------------------------------------------------

_APT_UPDATED=0
apt_install() {
  if [[ $_APT_UPDATED == 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    _APT_UPDATED=1
  fi
  log "apt-get install $*"
  # RUNLEVEL=1 keeps invoke-rc.d from starting packaged daemons (nginx on :80).
  DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq "$@" >/dev/null
}

ensure_wrk() { command -v wrk >/dev/null 2>&1 || apt_install wrk; }

NGINX_BIN=
ensure_nginx() {
  NGINX_BIN=$(command -v nginx 2>/dev/null || true)
  [[ -z $NGINX_BIN && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
  if [[ -z $NGINX_BIN ]]; then
    apt_install nginx
    NGINX_BIN=/usr/sbin/nginx
  fi
}

ensure_time() { [[ -x /usr/bin/time ]] || apt_install time; }

ensure_oha() {
  [[ -x $TOOLS_DIR/bin/oha ]] && return 0
  log "cargo install oha (a few minutes)"
  cargo install --quiet --locked --root "$TOOLS_DIR" oha
}

ensure_locust() {
  if [[ ! -x $VENV_DIR/bin/locust ]]; then
    log "python3 -m venv $VENV_DIR; pip install locust==$LOCUST_VERSION"
    python3 -m venv "$VENV_DIR"
    "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check "locust==$LOCUST_VERSION"
  fi
  # Locust's gRPC user: grpcio and protobuf as the Python server pins them.
  if ! "$VENV_DIR/bin/python" -c 'import grpc, google.protobuf' 2>/dev/null; then
    "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check grpcio==1.71.0 protobuf==5.29.4
  fi
}

# Returns 1 (after printing why) when ghz could not be installed; callers go on
# without it.
ensure_ghz() {
  [[ -x $TOOLS_DIR/bin/ghz ]] && return 0
  log "go install ghz"
  local out
  if ! out=$(GOBIN="$TOOLS_DIR/bin" go install github.com/bojand/ghz/cmd/ghz@latest 2>&1); then
    warn "ghz: go install failed, going on without it:"
    warn "$out"
    return 1
  fi
}

# The go.mod line of the binary names the version it was built from (`caddy
# version` says "unknown" when built by go install).
ensure_caddy() {
  if go version -m "$TOOLS_DIR/bin/caddy" 2>/dev/null |
    grep -q "^[[:space:]]*mod[[:space:]]*github.com/caddyserver/caddy/v2[[:space:]]*$CADDY_VERSION[[:space:]]"; then
    return 0
  fi
  log "go install caddy $CADDY_VERSION (about 2 minutes)"
  GOBIN="$TOOLS_DIR/bin" go install "github.com/caddyserver/caddy/v2/cmd/caddy@$CADDY_VERSION"
}

# Returns 1 (after printing why) when oha could not be built with http3;
# callers go on without it.
ensure_oha_h3() {
  [[ -x $OHA_H3 ]] && return 0
  log "cargo install oha $OHA_H3_VERSION --features http3 (several minutes)"
  local out
  if ! out=$(cargo install --quiet --locked --root "$TOOLS_DIR/oha-h3" oha \
    --version "$OHA_H3_VERSION" --features http3 2>&1); then
    warn "oha (http3): cargo install failed, going on without it:"
    warn "$out"
    return 1
  fi
}

# --- processes --------------------------------------------------------------

declare -A BENCH_PIDS=()
BENCH_TMP=

# Makes BENCH_TMP and installs bench_cleanup as the EXIT trap.
bench_init() {
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/volley-bench.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_cleanup() {
  local name
  for name in "${!BENCH_PIDS[@]}"; do
    stop_bg "$name"
  done
  if [[ -n $BENCH_TMP && -d $BENCH_TMP && ${KEEP_TMP:-0} != 1 ]]; then
    rm -rf "$BENCH_TMP"
  fi
}

# start_bg NAME CMD...: runs CMD in the background, its output in
# $BENCH_TMP/NAME.log.
start_bg() {
  local name=$1
  shift
  "$@" >"$BENCH_TMP/$name.log" 2>&1 &
  BENCH_PIDS[$name]=$!
  log "started $name (pid $!): $*"
}

# stop_bg NAME: SIGTERM, then SIGKILL after 5 s.
stop_bg() {
  local name=$1 pid=${BENCH_PIDS[$1]:-} i
  [[ -z $pid ]] && return 0
  unset "BENCH_PIDS[$name]"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
  log "stopped $name"
}

# is_running NAME: true while the process started as NAME is alive.
is_running() {
  local pid=${BENCH_PIDS[$1]:-}
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  return 1
}

# start_nginx PORT [CPU]: Debian nginx, one worker, pinned to CPU (default 0),
# serving bench/nginx.conf with @PORT@ and @PREFIX@ filled in; pid file, logs
# and temp files under $BENCH_TMP/nginx, nothing under /etc.
start_nginx() {
  local port=$1 cpu=${2:-0} prefix=$BENCH_TMP/nginx
  ensure_nginx
  mkdir -p "$prefix/logs" "$prefix/tmp"
  sed -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$prefix|g" "$BENCH_DIR/nginx.conf" >"$prefix/nginx.conf"
  start_bg nginx taskset -c "$cpu" "$NGINX_BIN" -p "$prefix" -e "$prefix/logs/error.log" \
    -c "$prefix/nginx.conf" -g 'daemon off;'
  wait_port "$port" 10 || {
    cat "$BENCH_TMP/nginx.log" "$prefix/logs/error.log" >&2 2>/dev/null || true
    die "nginx did not start on port $port"
  }
}

stop_nginx() { stop_bg nginx; }

# start_caddy PORT [CPU]: Caddy pinned to CPU (default 0), serving `ok` (200)
# on https://127.0.0.1:PORT over HTTP/1.1, HTTP/2 (TCP) and HTTP/3 (UDP), with
# a certificate of its own local CA (`tls internal`); its HOME, data and
# config under $BENCH_TMP/caddy, nothing installed in any trust store. Sets
# CADDY_ROOT, the CA's certificate (PEM) for the clients. Waits until it
# answers over HTTP/2 with that CA.
CADDY_ROOT=
start_caddy() {
  local port=$1 cpu=${2:-0} dir=$BENCH_TMP/caddy i
  ensure_caddy
  mkdir -p "$dir/home" "$dir/data" "$dir/config"
  cat >"$dir/Caddyfile" <<CADDY
{
	admin off
	persist_config off
	auto_https disable_redirects
	skip_install_trust
	local_certs
	http_port $(free_port)
	https_port $port
	servers {
		protocols h1 h2 h3
	}
}

https://127.0.0.1:$port {
	bind 127.0.0.1
	tls internal
	respond "ok" 200
}
CADDY
  CADDY_ROOT=$dir/data/caddy/pki/authorities/local/root.crt
  start_bg caddy env HOME="$dir/home" XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
    taskset -c "$cpu" "$TOOLS_DIR/bin/caddy" run --config "$dir/Caddyfile" --adapter caddyfile
  for ((i = 0; i < 300; i++)); do
    if [[ -s $CADDY_ROOT ]] && [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --http2 \
      --cacert "$CADDY_ROOT" "https://127.0.0.1:$port/" 2>/dev/null || true) == 200 ]]; then
      return 0
    fi
    is_running caddy || break
    sleep 0.1
  done
  tail -n 20 "$BENCH_TMP/caddy.log" >&2 || true
  die "Caddy did not answer on https://127.0.0.1:$port/"
}

stop_caddy() { stop_bg caddy; }

# --- numbers ----------------------------------------------------------------

# median: the median of the numbers on stdin (the mean of the middle two for an
# even count); prints nothing for no numbers.
median() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit
    if (NR % 2) printf "%s\n", v[(NR + 1) / 2]
    else printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
  }'
}

# peak_rss FILE CMD...: runs CMD (its stdout and stderr pass through) and
# writes its peak resident set size in KiB (GNU time's %M) to FILE, and the
# CPU seconds it used (user + system) to FILE.cpu. Returns CMD's exit status.
peak_rss() {
  local file=$1
  shift
  local rc=0
  ensure_time
  /usr/bin/time -f '%M %U %S' -o "$file.time" "$@" || rc=$?
  # GNU time puts "Command exited with non-zero status N" first on failure.
  tail -n 1 "$file.time" | awk '{ print $1 }' >"$file"
  tail -n 1 "$file.time" | awk '{ print $2 + $3 }' >"$file.cpu"
  rm -f "$file.time"
  return "$rc"
}

# --- noise --------------------------------------------------------------------
# Two cores, one for the target and one for the load generator: anything else
# that runs meanwhile takes CPU from one of them. These tell how much.

# cpu_ticks: busy ticks (USER_HZ) of all CPUs since boot, from /proc/stat.
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# all_ticks: busy and idle ticks of all CPUs since boot.
all_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit }' /proc/stat; }

# tree_ticks PID: CPU ticks used so far by PID (all its threads) and by its
# children (nginx's worker), from /proc/PID/stat.
tree_ticks() {
  local pid t=0 n
  for pid in "$1" $(pgrep -P "$1" || true); do
    n=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null || echo 0)
    t=$((t + n))
  done
  echo "$t"
}

# wait_idle SECONDS: waits until the CPUs are at most 10% busy over half a
# second, for at most SECONDS; returns 1 if they never were.
wait_idle() {
  local limit=$1 start=$SECONDS b0 a0 b1 a1
  while :; do
    b0=$(cpu_ticks)
    a0=$(all_ticks)
    sleep 0.5
    b1=$(cpu_ticks)
    a1=$(all_ticks)
    if ((a1 > a0 && (b1 - b0) * 10 <= a1 - a0)); then
      return 0
    fi
    ((SECONDS - start < limit)) || return 1
    sleep 1
  done
}
