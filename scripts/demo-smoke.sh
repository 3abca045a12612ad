#!/usr/bin/env bash
# Starts `gatehouse demo` on free loopback ports, waits for it to be ready (its own output, no
# sleeps), checks the stable route answers 200 and the flaky server's errors carry Proxy-Status,
# then stops it. Usage: demo-smoke.sh PATH_TO_GATEHOUSE
set -euo pipefail
bin=${1:-.build/debug/gatehouse}
source "$(dirname "$0")/demo-lib.sh"
out=$(mktemp)
demo_pid=""
trap '[ -n "$demo_pid" ] && { kill $demo_pid 2>/dev/null || true; wait $demo_pid 2>/dev/null || true; }; rm -f "$out"' EXIT
start_demo "$bin" "$out"
# `|| true`: a reset or empty reply (curl's exit 52, 56) must print what was seen, not end the script mutely.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$listen/stable/" || true)
[ "$code" = 200 ] || { echo "stable route answered ${code:-nothing} (000: no HTTP response)"; exit 1; }
# Round robin over three servers: within a few requests the flaky one answers with a gateway error.
seen=""
for _ in $(seq 1 12); do
    status=$(curl -s -o /dev/null -D - --max-time 6 "http://127.0.0.1:$listen/" | tr -d '\r' | awk 'tolower($1)=="proxy-status:"{print $3}' || true)
    if [ -n "$status" ]; then seen=$status; break; fi
done
[ -n "$seen" ] || { echo "no Proxy-Status error seen from the flaky upstream"; exit 1; }
echo "demo ok: stable route 200, flaky upstream explained as $seen"
curl -s --max-time 5 "http://127.0.0.1:$admin/stats" | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["requests"]>0, d; print("admin /stats ok:", d["gateway_errors"])'
# The guarded cluster health-checks the same three servers: once /readyz says the first checks are
# done, flaky is out and every request is answered 200.
for _ in $(seq 1 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$admin/readyz")" = 200 ] && break
    sleep 0.05
done
for _ in $(seq 1 12); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$listen/guarded/" || true)
    [ "$code" = 200 ] || { echo "guarded route answered $code"; exit 1; }
done
curl -s --max-time 5 "http://127.0.0.1:$admin/admin/upstreams" | python3 -c '
import json,sys
d=json.load(sys.stdin)
guarded=[c for c in d["clusters"] if c["name"]=="guarded"][0]
states=sorted(s["state"] for s in guarded["servers"])
assert states==["healthy","healthy","unhealthy"], guarded
print("admin /admin/upstreams ok: guarded cluster", states)'
# /metrics: the flaky server's errors are there by Proxy-Status type, and the page passes promtool's lint.
metrics=$(curl -s --max-time 5 "http://127.0.0.1:$admin/metrics")
grep -q '^gatehouse_gateway_errors_total{.*error="' <<<"$metrics" || { echo "no gateway error series on /metrics"; exit 1; }
grep -q '^gatehouse_build_info{version="' <<<"$metrics" || { echo "no build_info on /metrics"; exit 1; }
if command -v promtool >/dev/null 2>&1; then
    lint=$(echo "$metrics" | promtool check metrics 2>&1) || { echo "promtool check metrics failed: $lint"; exit 1; }
    [ -z "$lint" ] || { echo "promtool check metrics: $lint"; exit 1; }
fi
echo "admin /metrics ok: $(echo "$metrics" | grep -c '^gatehouse_') series"
