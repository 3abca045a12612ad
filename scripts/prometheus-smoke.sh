#!/usr/bin/env bash
# A real Prometheus (Debian's) scrapes a running `gatehouse demo` on loopback with the shipped rules
# loaded: the target must be up, the gateway's series queryable, and the recording rule for the
# 502/503/504 ratio must produce a value for the demo's cluster. Waits on conditions, not sleeps
# of fixed length; stops both processes. Usage: prometheus-smoke.sh PATH_TO_GATEHOUSE
set -euo pipefail
bin=${1:-.build/debug/gatehouse}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v prometheus >/dev/null 2>&1 || { echo "prometheus is not installed (Debian package prometheus)"; exit 1; }
source "$root/scripts/demo-lib.sh"
prom=$(free_port)
work=$(mktemp -d)
demo_pid=""; prom_pid=""
cleanup() {
    [ -n "$prom_pid" ] && { kill "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true; }
    [ -n "$demo_pid" ] && { kill "$demo_pid" 2>/dev/null || true; wait "$demo_pid" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

start_demo "$bin" "$work/demo.log"

cp "$root/deploy/prometheus/gatehouse-rules.yml" "$work/"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [gatehouse-rules.yml]
scrape_configs:
  - job_name: gatehouse
    static_configs:
      - targets: ["127.0.0.1:$admin"]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$prom" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

# Traffic through the gateway while Prometheus scrapes: round robin reaches the flaky server too.
traffic() { for _ in $(seq 1 6); do curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$listen/" || true; done; }

query() { curl -s --max-time 3 "http://127.0.0.1:$prom/api/v1/query" --data-urlencode "query=$1"; }
# First value of an instant query's result, or nothing.
value() { query "$1" | python3 -c 'import json,sys
d=json.load(sys.stdin)
r=d.get("data",{}).get("result",[])
print(r[0]["value"][1] if r else "")' 2>/dev/null || true; }

wait_for() {
    local what=$1 expr=$2
    for _ in $(seq 1 100); do
        traffic
        v=$(value "$expr")
        if [ -n "$v" ]; then echo "prometheus: $what = $v"; return 0; fi
        kill -0 "$prom_pid" 2>/dev/null || { cat "$work/prometheus.log"; echo "prometheus exited"; exit 1; }
        sleep 0.2
    done
    echo "prometheus never saw: $what ($expr)"; tail -20 "$work/prometheus.log"; exit 1
}

wait_for "target up" 'up{job="gatehouse"} == 1'
wait_for "requests of the demo's mixed cluster" 'sum(gatehouse_requests_total{cluster="mixed"})'
wait_for "gateway errors by Proxy-Status type" 'sum by (error) (gatehouse_gateway_errors_total{cluster="mixed"})'
wait_for "recorded 502/503/504 ratio (rule)" 'cluster:gatehouse_bad_gateway_ratio:rate5m{cluster="mixed"} > 0'
echo "prometheus ok: scraped /metrics of the demo and evaluated the shipped rules"
