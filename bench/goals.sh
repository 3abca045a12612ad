#!/usr/bin/env bash
# Issue #10's goals that the side-by-side bench (bench/run.sh) does not measure, each counted by
# the gateway itself or by the kernel, on the bench's pinning: the gateway alone on CPU 1 with one
# event loop, the load tool and an nginx origin on CPU 0, admin on loopback, access log off.
#
#   bench/goals.sh [reuse|refused|soak|all]          (default: all; about 14 minutes)
#   GATEHOUSE_BIN=.build/release/gatehouse SOAK=60 bench/goals.sh all    # a quick look, ~3 min
#
# reuse    "Upstream connection reuse ≥ 99.9 % under steady load": wrk -c CONNS for DURATION s
#          after WARMUP s; reuse = 1 − Δupstream_connections_opened / Δupstream_requests from the
#          admin /stats, next to the connections the origin accepted (nginx stub_status). Twice:
#          with the bench's pool (max_idle_per_server 1024, idle_timeout 300s) and with no `pool:`
#          block (the defaults an operator gets).
# refused  "A burst of 10k refused-connection failures costs no more than 10k successful
#          requests": h2load --h1 -n REQUESTS -c CONNS against a route to the origin and against
#          routes to a loopback port where nothing listens, the gateway's CPU time (utime+stime of
#          /proc/PID/stat) read right before and after each burst; ROUNDS rounds, medians. The
#          refused clusters: `dead` as configured by default (retries on: attempts 2 within the
#          retry budget; no outlier detection, no health check, so every request connects),
#          `dead_noretry` (retries: {attempts: 1}: exactly one connect per request), and
#          `dead_ejecting` (outlier detection that may eject the only server, panic mode off: after
#          5 refusals the gateway answers 503 without connecting — the short cut, shown apart).
# soak     "RSS flat over a 10-minute soak": wrk -c CONNS for SOAK s, VmRSS every SAMPLE s, then
#          3 samples after the load stops; first/min/max/last, growth from the end of the warm-up
#          (60 s, or SOAK/6 for a short soak) to the end, least-squares slope after the warm-up.
#
# Knobs (environment): GATEHOUSE_BIN (release binary; built as bench/run.sh builds it when unset),
# CONNS (64), WARMUP (5), DURATION (30), REQUESTS (10000), ROUNDS (3), SOAK (600), SAMPLE (10),
# ORIGIN_KEEPALIVE_REQUESTS (1000000: nginx's default of 1000 closes every upstream connection after
# 1000 requests, which alone caps reuse at 99.9 %), PORT_BASE (18700: origin +1, gateway +21,
# admin +22), WORKDIR (/tmp/perf/goals), ERROR_LOG (the gateway's stderr, WORKDIR/logs/gateway.err: a
# file on disk as in production; /dev/null to see what writing one line per failure costs).
# Every figure is printed with the CPU the machine spent on other work meanwhile ("foreign": busy
# CPU from /proc/stat minus the gateway, the load tool and the origin; softirq shown apart, since
# loopback TCP is partly charged there rather than to a process) and the load average.
# Installs nginx, wrk and nghttp2-client (h2load) from Debian when missing. Stops everything it
# started on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
what=${1:-all}
case "$what" in reuse|refused|soak|all) ;; *) echo "usage: bench/goals.sh [reuse|refused|soak|all]" >&2; exit 2 ;; esac

conns=${CONNS:-64}; warmup=${WARMUP:-5}; duration=${DURATION:-30}; requests=${REQUESTS:-10000}
rounds=${ROUNDS:-3}; soak=${SOAK:-600}; sample=${SAMPLE:-10}
keepalive_requests=${ORIGIN_KEEPALIVE_REQUESTS:-1000000}
base=${PORT_BASE:-18700}; origin_port=$((base + 1)); gw_port=$((base + 21)); admin_port=$((base + 22))
work=${WORKDIR:-/tmp/perf/goals}
error_log=${ERROR_LOG:-$work/logs/gateway.err}
mkdir -p "$work/logs" "$work/tmp"

need=()
for bin in nginx wrk h2load taskset curl python3 ss; do command -v "$bin" >/dev/null || need+=("$bin"); done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nginx wrk nghttp2-client curl util-linux iproute2 python3 >/dev/null
fi
if [ -n "${GATEHOUSE_BIN:-}" ]; then
    bin=$GATEHOUSE_BIN
else
    (cd "$repo" && swift build -c release -Xswiftc -enforce-exclusivity=unchecked --product gatehouse)
    bin="$repo/.build/release/gatehouse"
fi

for port in "$origin_port" "$gw_port" "$admin_port"; do
    if ss -Hltn "sport = :$port" | grep -q .; then echo "port $port is in use: set PORT_BASE" >&2; exit 1; fi
done

# --- processes: every one started here is stopped on exit ---------------------------------------
origin_pid=""; gw_pid=""; load_pid=""
stop_pid() {  # PID [signal]: stop one process this script started, and reap it
    [ -n "$1" ] || return 0
    kill "-${2:-TERM}" "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop_pid "$load_pid"; stop_pid "$gw_pid"; stop_pid "$origin_pid"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # URL PID: until URL answers (any status) or PID died
    for _ in $(seq 1 200); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -so /dev/null "$1" && return 0
        sleep 0.05
    done
    return 1
}

start_origin() {
    # master_process off: one process (its CPU read from one PID), as the shared harness runs it.
    cat >"$work/origin.conf" <<NGINX
worker_processes 1;
master_process off;
daemon off;
worker_rlimit_nofile 10096;
pid $work/origin.pid;
error_log $work/logs/origin.error.log warn;
events { worker_connections 5048; }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests $keepalive_requests;
    client_body_temp_path $work/tmp/body;
    proxy_temp_path $work/tmp/proxy;
    fastcgi_temp_path $work/tmp/fastcgi;
    uwsgi_temp_path $work/tmp/uwsgi;
    scgi_temp_path $work/tmp/scgi;
    server {
        listen 127.0.0.1:$origin_port backlog=4096;
        default_type text/plain;
        location = /nginx_status { stub_status; }
        location / { return 200 "$(printf 'a%.0s' $(seq 1 99))\n"; }
    }
}
NGINX
    taskset -c 0 nginx -p "$work" -c "$work/origin.conf" -e "$work/logs/origin.error.log" \
        >>"$work/logs/origin.log" 2>&1 &
    origin_pid=$!
    wait_for "http://127.0.0.1:$origin_port/" "$origin_pid" || { echo "origin did not start" >&2; cat "$work/logs/origin"* >&2; exit 1; }
}

origin_accepts() { curl -s "http://127.0.0.1:$origin_port/nginx_status" | awk 'NR == 3 { print $1 }'; }

# A loopback port where nothing listens: bound by the kernel's choice, closed, then checked to refuse.
free_refusing_port() {
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
    local rc=0
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/" || rc=$?
    [ "$rc" = 7 ] || { echo "127.0.0.1:$port: curl exit $rc, not a refused connection (7)" >&2; exit 1; }
    echo "$port"
}

# CONFIG_YAML_FILE: the gateway on CPU 1, one event loop, errors logged (to a file) as in production.
start_gateway() {
    "$bin" check -c "$1" >/dev/null 2>"$work/logs/check.err" || { cat "$work/logs/check.err" >&2; exit 1; }
    taskset -c 1 "$bin" run -c "$1" --threads 1 --log-level error >"$work/logs/gateway.out" 2>"$error_log" &
    gw_pid=$!
    wait_for "http://127.0.0.1:$admin_port/healthz" "$gw_pid" || { echo "gateway did not start (error log: $error_log)" >&2; exit 1; }
    wait_for "http://127.0.0.1:$gw_port/" "$gw_pid" || { echo "gateway does not answer" >&2; exit 1; }
}
stop_gateway() { stop_pid "$gw_pid"; gw_pid=""; }

gateway_config() {  # FILE POOL_YAML (empty: no pool block) EXTRA_CLUSTERS_YAML EXTRA_ROUTES_YAML
    cat >"$1" <<YAML
listeners:
  - name: goals
    address: 127.0.0.1:$gw_port
admin:
  address: 127.0.0.1:$admin_port
access_log:
  path: "off"
clusters:
  origin:
    servers:
      - address: 127.0.0.1:$origin_port
${2:+    $2}
$3
routes:
$4
  - match: { path_prefix: / }
    cluster: origin
YAML
}

stats() { curl -sf "http://127.0.0.1:$admin_port/stats"; }

# CPU time of a process, all threads, in clock ticks (utime + stime; the name field may hold spaces).
ticks() { [ -r "/proc/$1/stat" ] && sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }' || echo 0; }
hz=$(getconf CLK_TCK)
# busy and softirq ticks of the whole machine
machine() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $8 }' /proc/stat; }

# This shell's CPU with that of the children it reaped (wrk, h2load, gateways, once they exited).
own_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $12 + $13 + $14 + $15 }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# For the foreign CPU between two `snap` calls: the machine's ticks, ours (this shell with its reaped
# children, plus PIDS: processes alive at both calls).
snap() {  # PIDS... → "busy softirq ourticks"
    local sum pid; sum=$(own_ticks)
    for pid in "$@"; do sum=$((sum + $(ticks "$pid"))); done
    echo "$(machine) $sum"
}
foreign() {  # SNAP0 SNAP1 SECONDS → "foreign X % of a core (softirq Y %), load L"
    python3 - "$1" "$2" "$3" "$hz" <<'PY'
import sys
b0, s0, o0 = map(int, sys.argv[1].split()); b1, s1, o1 = map(int, sys.argv[2].split())
secs, hz = float(sys.argv[3]), int(sys.argv[4])
pct = lambda t: 100.0 * t / hz / secs
load = open("/proc/loadavg").read().split()[0]
print(f"foreign {pct(max(0, (b1 - b0) - (s1 - s0) - (o1 - o0))):.0f} % of a core, softirq {pct(s1 - s0):.0f} %, load {load}")
PY
}

# Each figure's sentence (printed at once and again at the end) and a row of the closing table.
summary=()
say() { echo "$*"; summary+=("$*"); }
say_lines() { local line; while IFS= read -r line; do say "$line"; done <<<"$1"; }
export TABLE="$work/table.tsv"
: >"$TABLE"

# --- reuse -------------------------------------------------------------------------------------------
reuse_run() {  # NAME POOL_YAML
    local name=$1 config="$work/reuse-$1.yaml"
    gateway_config "$config" "$2" "" ""
    start_gateway "$config"
    # One wrk run, read while it runs: /stats at the end of the warm-up and DURATION s later. Reading
    # after wrk stopped would count the reconnects of the warm-up's end: wrk closes its connections
    # with requests in flight, and the gateway closes their upstream connections (half-read responses).
    taskset -c 0 wrk -t1 -c"$conns" -d"$((warmup + duration + 2))s" "http://127.0.0.1:$gw_port/" >"$work/reuse-$name.wrk" &
    load_pid=$!
    local t0 c0 c1 a0 a1 o0 o1 secs
    sleep "$warmup"
    t0=$(now); c0=$(snap "$gw_pid" "$origin_pid" "$load_pid")
    stats >"$work/reuse-$name.0.json"; a0=$(origin_accepts)
    o0=$(ss -Htn state established "( dport = :$origin_port )" | wc -l)
    sleep "$duration"
    stats >"$work/reuse-$name.1.json"; a1=$(origin_accepts)
    o1=$(ss -Htn state established "( dport = :$origin_port )" | wc -l)
    secs=$(since "$t0"); c1=$(snap "$gw_pid" "$origin_pid" "$load_pid")
    wait "$load_pid"; load_pid=""
    stop_gateway
    local cpu; cpu=$(foreign "$c0" "$c1" "$secs")
    local line
    line=$(python3 - "$work/reuse-$name.0.json" "$work/reuse-$name.1.json" "$a0" "$a1" "$work/reuse-$name.wrk" "$o0" "$o1" "$secs" "$name" <<'PY'
import json, os, re, sys
s0, s1 = (json.load(open(p)) for p in sys.argv[1:3])
accepts = int(sys.argv[4]) - int(sys.argv[3]) - 1   # minus the stub_status request's own connection
wrk = open(sys.argv[5]).read()
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", wrk)
errs = re.search(r"Socket errors: (.*)", wrk)
req = s1["upstream_requests"] - s0["upstream_requests"]
opened = s1["upstream_connections_opened"] - s0["upstream_connections_opened"]
reuse = 100.0 * (1 - opened / req) if req else 0.0
extra = f", wrk non-2xx {bad.group(1)}" if bad else ""
extra += f", wrk socket errors: {errs.group(1)}" if errs else ""
name = sys.argv[9]
with open(os.environ["TABLE"], "a") as table:
    print(f"reuse ≥ 99.9 %, {name}\t{reuse:.4f} %\t{opened} connections opened for {req:,} requests in {float(sys.argv[8]):.0f} s", file=table)
print(f"{req:,} upstream requests, {opened} connections opened (origin accepted {accepts}): reuse {reuse:.4f} %; "
      f"upstream connections open {sys.argv[6]} → {sys.argv[7]}, {s0['upstream_connections_opened']} opened in the warm-up; "
      f"{req / float(sys.argv[8]):,.0f} req/s{extra}")
PY
)
    say "reuse, $name: $line; $cpu"
}

do_reuse() {
    echo "== reuse: wrk -t1 -c$conns, counted over ${duration}s after ${warmup}s of warm-up; origin keepalive_requests $keepalive_requests"
    reuse_run bench-pool "pool: { max_idle_per_server: 1024, idle_timeout: 300s }"
    reuse_run default-pool ""
}

# --- refused -----------------------------------------------------------------------------------------
do_refused() {
    local dead; dead=$(free_refusing_port)
    echo "== refused: h2load --h1 -n $requests -c $conns, $rounds rounds; nothing listens on 127.0.0.1:$dead"
    local config="$work/refused.yaml"
    gateway_config "$config" "pool: { max_idle_per_server: 1024, idle_timeout: 300s }" "
  dead:
    servers: [{ address: 127.0.0.1:$dead }]
  dead_noretry:
    servers: [{ address: 127.0.0.1:$dead }]
    retries: { attempts: 1 }
  dead_ejecting:
    servers: [{ address: 127.0.0.1:$dead }]
    outlier_detection: { consecutive_failures: 5, max_ejection_percent: 100% }
    panic_threshold: 0" "
  - match: { path_prefix: /refused-noretry/ }
    cluster: dead_noretry
  - match: { path_prefix: /refused-ejecting/ }
    cluster: dead_ejecting
  - match: { path_prefix: /refused/ }
    cluster: dead"
    start_gateway "$config"
    # Warm-up: the success path's pool and the first allocations of each path.
    taskset -c 0 h2load --h1 -n "$requests" -c "$conns" "http://127.0.0.1:$gw_port/ok" >/dev/null
    local results="$work/refused.results"; : >"$results"
    local round kind path
    for round in $(seq 1 "$rounds"); do
        for kind in success refused refused-noretry refused-ejecting; do
            case $kind in
                success) path=/ok ;;
                refused) path=/refused/x ;;
                refused-noretry) path=/refused-noretry/x ;;
                refused-ejecting) path=/refused-ejecting/x ;;
            esac
            stats >"$work/refused.0.json"
            local g0 g1 c0 c1 t0; t0=$(now); c0=$(snap "$gw_pid" "$origin_pid"); g0=$(ticks "$gw_pid")
            taskset -c 0 h2load --h1 -n "$requests" -c "$conns" "http://127.0.0.1:$gw_port$path" >"$work/refused.h2load" &
            load_pid=$!
            wait "$load_pid"; load_pid=""
            g1=$(ticks "$gw_pid"); c1=$(snap "$gw_pid" "$origin_pid")
            local secs; secs=$(since "$t0")
            stats >"$work/refused.1.json"
            python3 - "$work/refused.0.json" "$work/refused.1.json" "$work/refused.h2load" "$round" "$kind" \
                "$((g1 - g0))" "$hz" "$(foreign "$c0" "$c1" "$secs")" >>"$results" <<'PY'
import json, re, sys
s0, s1 = (json.load(open(p)) for p in sys.argv[1:3])
out = open(sys.argv[3]).read()
rnd, kind, ticks, hz, foreign = sys.argv[4], sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
def d(key): return s1[key] - s0[key]
errs = {k: v - s0["gateway_errors"].get(k, 0) for k, v in s1["gateway_errors"].items() if v - s0["gateway_errors"].get(k, 0)}
status = {k: v - s0["status"][k] for k, v in s1["status"].items() if v - s0["status"][k]}
codes = re.search(r"status codes: (.*)", out).group(1)
reqs = re.search(r"requests: (.*)", out).group(1)
fin = re.search(r"finished in ([\d.]+)(m?s)", out)
connects = d("upstream_connections_opened") + errs.get("connection_refused", 0) + d("retries")
print(json.dumps({"round": int(rnd), "kind": kind, "cpu_ms": ticks * 1000 / hz, "requests": d("requests"),
    "status": status, "gateway_errors": errs, "retries": d("retries"), "retry_budget_exhausted": d("retry_budget_exhausted"),
    "connections_opened": d("upstream_connections_opened"), "h2load": reqs, "codes": codes,
    "elapsed": fin.group(1) + fin.group(2), "foreign": foreign}))
PY
            tail -1 "$results" | python3 -c 'import json, sys; r = json.load(sys.stdin); print("   round %(round)d %(kind)-17s %(cpu_ms)5.0f ms CPU, %(elapsed)s, status %(status)s, errors %(gateway_errors)s, retries %(retries)d; %(foreign)s" % r)'
        done
    done
    local errlog_lines="$error_log"
    [ -f "$error_log" ] && errlog_lines="$(grep -c " error gatehouse: " "$error_log" || true) lines, $(stat -c %s "$error_log") bytes"
    stop_gateway
    local out; out=$(python3 - "$results" "$errlog_lines" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {k: statistics.median(r["cpu_ms"] for r in rows if r["kind"] == k) for k in dict.fromkeys(r["kind"] for r in rows)}
def spread(k):
    v = sorted(r["cpu_ms"] for r in rows if r["kind"] == k)
    return f"{v[0]:.0f}–{v[-1]:.0f}"
ok = med["success"]
what = {
    "success": "200 from the origin",
    "refused": "default retries (attempts 2, budget), no ejection: every request connects",
    "refused-noretry": "retries: {attempts: 1}: one connect per request",
    "refused-ejecting": "outlier detection ejects the only server, panic off: 503 without connecting",
}
for k, v in med.items():
    last = [r for r in rows if r["kind"] == k]
    total = {}
    for r in last:
        for e, n in r["gateway_errors"].items(): total[e] = total.get(e, 0) + n
    statuses = {}
    for r in last:
        for s, n in r["status"].items(): statuses[s] = statuses.get(s, 0) + n
    retries = sum(r["retries"] for r in last)
    code = {"connection_refused": 502, "destination_unavailable": 503, "connection_limit_reached": 503, "connection_timeout": 504}
    errs = ", ".join(f"{n} × {code.get(e, '?')} {e}" for e, n in total.items()) or "none"
    with open(os.environ["TABLE"], "a") as table:
        goal = "10k requests, 200 (reference)" if k == "success" else f"10k refused ≤ 10k successful, {k.removeprefix('refused').lstrip('-') or 'default'}"
        exhausted = sum(r["retry_budget_exhausted"] for r in last)
        budget = f" ({exhausted} refused by the retry budget)" if exhausted else ""
        print(f"{goal}\t{v:.0f} ms CPU, {v / ok:.2f}×\t" + (f"{errs}; {retries} retries{budget}" if k != "success" else f"median of {len(last)} rounds"), file=table)
    print(f"refused, {k}: {v:.0f} ms CPU per {last[0]['requests']:,} requests (median of {len(last)}, {spread(k)}), "
          f"× success {v / ok:.2f}; over {len(last)} bursts: status {statuses}, errors: {errs}, retries {retries} — {what.get(k, '')}")
print(f"refused: error log {sys.argv[2]} ({sum(r['requests'] for r in rows if r['kind'] != 'success'):,} gateway-made 5xx: one line each)")
PY
)
    say_lines "$out"
}

# --- soak --------------------------------------------------------------------------------------------
do_soak() {
    local warm=60; [ "$soak" -ge 180 ] || warm=$((soak / 6))
    echo "== soak: wrk -t1 -c$conns -d${soak}s, VmRSS every ${sample}s (warm-up ${warm}s)"
    local config="$work/soak.yaml"
    gateway_config "$config" "pool: { max_idle_per_server: 1024, idle_timeout: 300s }" "" ""
    start_gateway "$config"
    local series="$work/soak.rss"; : >"$series"
    # VmRSS, and its anonymous part (heap, stacks: where a leak shows) and file part (the binary's
    # pages, mapped in as code runs for the first time), KiB.
    rss() { awk '/^VmRSS/ { v = $2 } /^RssAnon/ { a = $2 } /^RssFile/ { f = $2 } END { print v, a, f }' "/proc/$gw_pid/status"; }
    stats >"$work/soak.0.json"
    local s0; s0=$(snap "$gw_pid" "$origin_pid")
    local start; start=$(now)
    echo "0 $(rss)" >>"$series"
    taskset -c 0 wrk -t1 -c"$conns" -d"${soak}s" "http://127.0.0.1:$gw_port/" >"$work/soak.wrk" &
    load_pid=$!
    local i=1 pause
    # A sample at each multiple of SAMPLE from the start (no drift) while wrk runs.
    while [ $((i * sample)) -lt "$soak" ]; do
        pause=$(awk -v s="$start" -v i="$i" -v p="$sample" -v n="$(now)" 'BEGIN { d = s + i * p - n; printf "%.3f", (d > 0 ? d : 0) }')
        sleep "$pause"
        echo "$((i * sample)) $(rss)" >>"$series"
        i=$((i + 1))
    done
    wait "$load_pid" || true; load_pid=""
    echo "$(awk -v s="$start" -v n="$(now)" 'BEGIN { printf "%d", n - s }') $(rss)" >>"$series"
    local s1; s1=$(snap "$gw_pid" "$origin_pid")
    local elapsed; elapsed=$(since "$start")
    stats >"$work/soak.1.json"
    local after=""
    for j in 1 2 3; do sleep "$sample"; after+="$(rss | cut -d' ' -f1) "; done
    stop_gateway
    local out; out=$(python3 - "$series" "$warm" "$after" "$work/soak.0.json" "$work/soak.1.json" "$work/soak.wrk" "$(foreign "$s0" "$s1" "$elapsed")" <<'PY'
import json, os, re, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
pts = [(r[0], r[1]) for r in rows]
warm = int(sys.argv[2]); after = [int(x) for x in sys.argv[3].split()]
s0, s1 = (json.load(open(p)) for p in sys.argv[4:6])
wrk = open(sys.argv[6]).read(); foreign = sys.argv[7]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
kib = [r for _, r in pts]
print("soak: VmRSS KiB every %ds: %s" % (pts[1][0] - pts[0][0] if len(pts) > 1 else 0, " ".join(str(r) for r in kib)))
print(f"soak: after the load stopped: {' '.join(map(str, after))}")
late = [(t, r) for t, r in pts if t >= warm]
at_warm = late[0][1] if late else kib[-1]
if len(late) >= 2:
    n = len(late); mt = sum(t for t, _ in late) / n; mr = sum(r for _, r in late) / n
    slope = sum((t - mt) * (r - mr) for t, r in late) / sum((t - mt) ** 2 for t, _ in late) * 60
else:
    slope = float("nan")
req = s1["upstream_requests"] - s0["upstream_requests"]; opened = s1["upstream_connections_opened"] - s0["upstream_connections_opened"]
def slope_of(points):
    if len(points) < 2: return float("nan")
    n = len(points); mt = sum(t for t, _ in points) / n; mr = sum(r for _, r in points) / n
    return sum((t - mt) * (r - mr) for t, r in points) / sum((t - mt) ** 2 for t, _ in points) * 60
anon = [(r[0], r[2]) for r in rows if r[0] >= warm]; file = [(r[0], r[3]) for r in rows if r[0] >= warm]
split = ""
if len(anon) >= 2:
    split = (f"; of it anonymous (heap) {anon[-1][1] - anon[0][1]:+d} KiB ({slope_of(anon):+.1f} KiB/min), "
             f"file-backed (code paged in) {file[-1][1] - file[0][1]:+d} KiB ({slope_of(file):+.1f} KiB/min)")
print(f"soak: RSS first {kib[0]} / min {min(kib)} / max {max(kib)} / last {kib[-1]} KiB; from {warm} s to the end "
      f"{kib[-1] - at_warm:+d} KiB; slope after {warm} s {slope:+.1f} KiB/min; {rps:,.0f} req/s, "
      f"{req:,} upstream requests, {opened} connections opened; {foreign}{split}")
with open(os.environ["TABLE"], "a") as table:
    print(f"RSS flat over a {pts[-1][0]} s soak\t{slope:+.1f} KiB/min after {warm} s\t"
          f"{kib[-1] - at_warm:+d} KiB from {warm} s to the end; {kib[0]} → {max(kib)} max → {kib[-1]} KiB, {after[-1]} KiB after{split}", file=table)
PY
)
    say_lines "$out"
}

case "$what" in
    reuse) start_origin; do_reuse ;;
    refused) start_origin; do_refused ;;
    soak) start_origin; do_soak ;;
    all) start_origin; do_reuse; do_refused; do_soak ;;
esac
echo
echo "== summary ($("$bin" --version 2>/dev/null || echo gatehouse), $(date -u +%FT%TZ))"
printf '%s\n' "${summary[@]}"
echo
python3 - <<'PY'
import os
rows = [l.rstrip("\n").split("\t") for l in open(os.environ["TABLE"]) if l.strip()]
rows.insert(0, ["goal", "figure", "detail"])
w = [max(len(r[i]) for r in rows) for i in range(2)]
for n, r in enumerate(rows):
    print(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]}")
    if n == 0: print(f"{'-' * w[0]}  {'-' * w[1]}  {'-' * 6}")
PY
