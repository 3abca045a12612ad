#!/usr/bin/env bash
# Profiles the release gateway under wrk load, pinned as the shared harness pins (proxy on CPU 1;
# wrk and an nginx origin on CPU 0), and prints the hottest symbols, then the CPU split by who
# spends it (bench/profile-split.py: kernel, NIO, HTTP/1 codec, Gatehouse). Needs a prior run of
# ../shared/bench/peers.sh (for its origin config) and Debian's linux-perf.
#   bench/profile.sh [seconds] [path]        e.g. bench/profile.sh 5 /small (CONNS=1000: wrk connections, 64)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
secs=${1:-5}; path=${2:-/small}
work=/tmp/perf/prof; mkdir -p "$work/logs" "$work/tmp"
sed "s#/tmp/perf/peers/run#$work#g" /tmp/perf/peers/run/origin.conf > "$work/origin.conf"
taskset -c 0 nginx -p "$work" -c "$work/origin.conf" -e "$work/logs/error.log" &
cat > "$work/gh.yaml" <<YAML
listeners: [{name: bench, address: 127.0.0.1:18021}]
access_log: {path: "off"}
clusters:
  origin:
    servers: [{address: 127.0.0.1:18001}]
    pool: {max_idle_per_server: 1024, idle_timeout: 300s}
    timeouts: {idle: 300s}
routes: [{match: {path_prefix: /}, cluster: origin}]
YAML
taskset -c 1 "${GATEHOUSE_BIN:-$repo/.build/release/gatehouse}" run -c "$work/gh.yaml" --threads 1 --log-level error >/dev/null &
gh=$!
trap 'kill $gh 2>/dev/null; nginx -p "$work" -c "$work/origin.conf" -s stop 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:18021$path" && break; sleep 0.1; done
taskset -c 0 wrk -t1 -c${CONNS:-64} -d$((secs + 3))s "http://127.0.0.1:18021$path" > "$work/wrk.txt" &
sleep 1
perf record -e cpu-clock -F 1999 --call-graph ${CALLGRAPH:-fp} -p "$gh" -o "$work/perf.data" -- sleep "$secs" 2>/dev/null
wait %3 2>/dev/null || true
grep -E "Requests/sec" "$work/wrk.txt"
# `|| true`: head exits after its lines and, under pipefail, perf's SIGPIPE would end the script
# before the split below.
perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -E "^ +[0-9]" | head -${TOP:-45} || true
echo
perf script -i "$work/perf.data" -F ip,sym,dso --no-demangle 2>/dev/null | python3 "$repo/bench/profile-split.py"
