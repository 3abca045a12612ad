#!/usr/bin/env bash
# HTTP/2 throughput through the gateway with h2load (Debian nghttp2-client), next to HTTP/1.1 by
# the same tool on the same set-up: `gatehouse demo` (its two healthy loopback origins behind the
# `/stable/` route, in the same process), access log off.
#
#   bench/h2load.sh                          # release binary (built if GATEHOUSE_BIN is unset)
#   GATEHOUSE_BIN=.build/debug/gatehouse N=20000 bench/h2load.sh
#
# Prints h2load's summary lines for h2 (prior knowledge) and for HTTP/1.1 (`--h1`, keep-alive,
# no pipelining beyond one request per connection at a time).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v h2load >/dev/null || { echo "h2load is missing: apt-get install nghttp2-client"; exit 1; }
if [ -n "${GATEHOUSE_BIN:-}" ]; then
    bin=$GATEHOUSE_BIN
else
    (cd "$repo" && swift build -c release -Xswiftc -enforce-exclusivity=unchecked --product gatehouse)
    bin="$repo/.build/release/gatehouse"
fi
port=${PORT:-18431}
admin=${ADMIN_PORT:-18432}
threads=${THREADS:-1}
n=${N:-100000}
clients=${C:-4}
streams=${M:-10}
"$bin" demo --listen "127.0.0.1:$port" --admin "127.0.0.1:$admin" --access-log off --log-level error \
    --threads "$threads" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fso /dev/null "http://127.0.0.1:$port/stable/" && break; sleep 0.1; done
url="http://127.0.0.1:$port/stable/"
h2load -n 2000 -c "$clients" -m "$streams" "$url" >/dev/null  # warm-up
echo "== HTTP/2 (h2c): h2load -n $n -c $clients -m $streams, $threads event loop(s)"
h2load -n "$n" -c "$clients" -m "$streams" "$url" | grep -E "^(finished|requests|status codes)"
echo "== HTTP/1.1: h2load --h1 -n $n -c $((clients * streams)) -m 1"
h2load --h1 -n "$n" -c "$((clients * streams))" -m 1 "$url" | grep -E "^(finished|requests|status codes)"
