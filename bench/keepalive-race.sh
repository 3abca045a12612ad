#!/usr/bin/env bash
# The keep-alive race, nginx and Gatehouse side by side (for the issue note).
#
#   bench/keepalive-race.sh
#   CLIENTS=4 REQUESTS=60 DELAY_MS=5 JITTER=0.01 bench/keepalive-race.sh   # the defaults
#
# Each proxy gets its own origin (bench/keepalive-race.py origin): HTTP/1.1 keep-alive that closes
# a connection after exactly IDLE s idle WITHOUT announcing it (no Keep-Alive header), as Node's
# keepAliveTimeout or Go's IdleTimeout do. Both proxies keep idle upstream connections longer than
# that: nginx `keepalive 32` (its upstream keepalive_timeout defaults to 60 s), Gatehouse
# `pool.idle_timeout: 30s`, retries left at their defaults. Between each proxy and its origin sits
# a relay adding DELAY_MS of one-way latency (FIN and RST included): on bare loopback a FIN is
# seen within microseconds, so the race needs a request sent within that instant; over a network
# the window is about a round trip. DELAY_MS=0 runs without the relay.
#
# The same client load drives both, one proxy after the other (PARALLEL=1: both at once):
# CLIENTS keep-alive connections, each sending REQUESTS requests alternately GET and POST (small
# body), each IDLE ± JITTER s after the previous response (uniform, same seed for both proxies).
# Printed: the statuses each proxy returned, side by side, the origin's idle closes, nginx's
# error-log lines about the race, and Gatehouse's /stats counters.
#
# Measured on the 2-core dev machine (nginx 1.22.1, debug gatehouse, 4 x 60 requests each):
#   DELAY_MS=5 JITTER=0.01: nginx 13 POST 502s (20 races in its error log, the GETs among them
#     retried), gatehouse 0 (1 race met and retried; the learned limit kept the pool closing first)
#   DELAY_MS=5 JITTER=0.02: nginx 3 POST 502s, gatehouse 0
#   DELAY_MS=2 JITTER=0.03: nginx 1 and 0 (two seeds), gatehouse 0
#   DELAY_MS=0 JITTER=0.03: nginx 1, gatehouse 0 (1 race met and retried)
# The price of the learned limit: gatehouse opened 146 upstream connections for 240 requests
# spaced just past the origin's limit (nginx 49), since each request found its connection closed.
#
# Needs: nginx (/usr/sbin/nginx), python3, and a built gatehouse (GATEHOUSE=path, else
# .build/release/gatehouse, else .build/debug/gatehouse). Only 127.0.0.1 is used, on free ports;
# every process started here is stopped by its PID on exit.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
py="$here/keepalive-race.py"
CLIENTS=${CLIENTS:-4}
REQUESTS=${REQUESTS:-60}
IDLE=${IDLE:-1.0}
JITTER=${JITTER:-0.01}
DELAY_MS=${DELAY_MS:-5}
SEED=${SEED:-1}
PARALLEL=${PARALLEL:-0}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
if [[ -z "${GATEHOUSE:-}" ]]; then
    for candidate in "$repo/.build/release/gatehouse" "$repo/.build/debug/gatehouse"; do
        [[ -x "$candidate" ]] && { GATEHOUSE=$candidate; break; }
    done
fi
[[ -x "${GATEHOUSE:-}" ]] || { echo "no gatehouse binary: swift build --product gatehouse (or set GATEHOUSE)" >&2; exit 1; }
[[ -x "$NGINX" ]] || { echo "no nginx at $NGINX (apt-get install nginx, or set NGINX)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }

work=$(mktemp -d /tmp/keepalive-race.XXXXXX)
mkdir -p "$work/tmp" "$work/logs"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ "${KEEP:-0}" == 1 ]] && echo "logs kept in $work" || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

freeport() { python3 "$py" freeport; }
wait_port() {  # PORT PID
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || { echo "process $2 exited (port $1); see $work/logs" >&2; return 1; }
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2; return 1
}
start() {  # NAME PORT CMD...; appends the PID to pids
    local name=$1 port=$2; shift 2
    "$@" >"$work/logs/$name.log" 2>&1 &
    pids+=($!)
    wait_port "$port" "$!"
}

# One origin (and relay) per proxy.
upstream_for() {  # NAME → sets UPSTREAM, the port the proxy should use (no subshell: pids must stay)
    local name=$1 origin relay
    origin=$(freeport)
    start "origin-$name" "$origin" python3 "$py" origin "$origin" "$IDLE"
    UPSTREAM=$origin
    if [[ "$DELAY_MS" != 0 ]]; then
        relay=$(freeport)
        start "relay-$name" "$relay" python3 "$py" relay "$relay" "$origin" "$DELAY_MS"
        UPSTREAM=$relay
    fi
}
upstream_for nginx
nginx_upstream=$UPSTREAM
upstream_for gatehouse
gatehouse_upstream=$UPSTREAM

nginx_port=$(freeport)
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/nginx.error.log info;
events { worker_connections 1024; }
http {
    access_log $work/logs/nginx.access.log;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    upstream origin {
        server 127.0.0.1:$nginx_upstream;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
start nginx "$nginx_port" "$NGINX" -p "$work" -e "$work/logs/nginx.error.log" -c "$work/nginx.conf"

gatehouse_port=$(freeport)
admin_port=$(freeport)
cat >"$work/gatehouse.yaml" <<EOF
listeners:
  - name: bench
    address: 127.0.0.1:$gatehouse_port
admin:
  address: 127.0.0.1:$admin_port
access_log:
  path: $work/logs/gatehouse.access.log
clusters:
  origin:
    servers:
      - address: 127.0.0.1:$gatehouse_upstream
    pool:
      max_idle_per_server: 32
      idle_timeout: 30s
routes:
  - match: { path_prefix: / }
    cluster: origin
EOF
"$GATEHOUSE" check -c "$work/gatehouse.yaml" >/dev/null
start gatehouse "$gatehouse_port" "$GATEHOUSE" run -c "$work/gatehouse.yaml" --threads 1 --log-level warning

echo "keep-alive race: origin closes idle connections after ${IDLE} s unannounced; relay ${DELAY_MS} ms each way;"
echo "  $CLIENTS clients x $REQUESTS requests (GET/POST alternately), ${IDLE} s ± ${JITTER} s apart; $(basename "$GATEHOUSE") $(dirname "$GATEHOUSE" | xargs basename), $("$NGINX" -v 2>&1 | sed 's/.*: //')"
load() { python3 "$py" client "$1" "$CLIENTS" "$REQUESTS" "$IDLE" "$JITTER" "$SEED"; }
if [[ "$PARALLEL" == 1 ]]; then
    load "$nginx_port" >"$work/nginx.result" &
    loader=$!
    load "$gatehouse_port" >"$work/gatehouse.result"
    wait "$loader"
else
    load "$nginx_port" >"$work/nginx.result"
    load "$gatehouse_port" >"$work/gatehouse.result"
fi
stats=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$admin_port/stats', timeout=5).read().decode())")

# Stop the origins (they print their counters) before reading them.
for index in "${!pids[@]}"; do
    case "$(ps -o args= -p "${pids[$index]}" 2>/dev/null)" in
        *keepalive-race.py\ origin*) kill -TERM "${pids[$index]}"; wait "${pids[$index]}" 2>/dev/null || true ;;
    esac
done

python3 - "$work" "$stats" <<'PY'
import json, re, sys
work, stats = sys.argv[1], json.loads(sys.argv[2])
def result(name):
    return json.loads(open(f"{work}/{name}.result").read())
def origin(name):
    for line in open(f"{work}/logs/origin-{name}.log"):
        if line.startswith("{"):
            return json.loads(line)["origin"]
    return {}
rows = {name: result(name) for name in ("nginx", "gatehouse")}
keys = sorted({k for r in rows.values() for k in r}, key=lambda k: (k.split()[0], k.split()[1]))
print(f"\n{'':22}{'nginx':>10}{'gatehouse':>12}")
for key in keys:
    print(f"{key:22}{rows['nginx'].get(key, 0):>10}{rows['gatehouse'].get(key, 0):>12}")
def total(r, status):
    return sum(v for k, v in r.items() if k.split()[1] == status)
print(f"{'502s':22}{total(rows['nginx'], '502'):>10}{total(rows['gatehouse'], '502'):>12}")
for name in ("nginx", "gatehouse"):
    o = origin(name)
    print(f"origin behind {name}: {o.get('requests', '?')} requests, {o.get('accepted', '?')} connections, "
          f"{o.get('idle_closes', '?')} closed idle by the origin")
log = open(f"{work}/logs/nginx.error.log").read()
premature = len(re.findall(r"upstream prematurely closed connection", log))
reset = len(re.findall(r"reset by peer", log))
print(f"nginx error log: {premature} 'upstream prematurely closed connection', {reset} 'reset by peer'")
print(f"gatehouse /stats: retries {stats.get('retries')}, reused_connection_failures "
      f"{stats.get('reused_connection_failures')}, retry_budget_exhausted {stats.get('retry_budget_exhausted')}, "
      f"5xx {stats.get('status', {}).get('5xx')}")
PY
