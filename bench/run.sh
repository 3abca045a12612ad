#!/usr/bin/env bash
# Gatehouse side by side with nginx, HAProxy and Caddy, on this machine, with the shared
# harness (../shared/bench/peers.sh: identical pinning, interleaved rounds, ratios per round).
#
#   bench/run.sh                       # full run (about 30 minutes)
#   TESTS="small big" ROUNDS=3 DURATION=5 bench/run.sh    # a quick look
#
# Builds the release binary (with -enforce-exclusivity=unchecked for every module, NIO's included,
# as scripts/release-build.sh builds the shipped one: measured as a fair win, it keeps bounds and
# overflow checks) unless GATEHOUSE_BIN names one, writes a one-event-loop config that forwards every path
# to the harness's origin with the access log off (as the peers run), and hands it to peers.sh.
# Installs the peers from Debian when missing. Prints the harness's summary table.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
harness="${PEERS_SH:-$repo/../shared/bench/peers.sh}"
[ -x "$harness" ] || [ -f "$harness" ] || { echo "missing $harness (the shared bench harness)"; exit 1; }

need=()
for bin in nginx haproxy caddy wrk taskset curl python3 ss; do command -v "$bin" >/dev/null || need+=("$bin"); done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq nginx haproxy caddy wrk curl util-linux iproute2 >/dev/null
fi

# GATEHOUSE_BIN: a release binary built already (scripts/release-build.sh's, for example).
if [ -n "${GATEHOUSE_BIN:-}" ]; then
    bin=$GATEHOUSE_BIN
else
    (cd "$repo" && swift build -c release -Xswiftc -enforce-exclusivity=unchecked --product gatehouse)
    bin="$repo/.build/release/gatehouse"
fi
port=${GATEHOUSE_PORT:-18021}
config="${WORKDIR:-/tmp/perf/peers}-gatehouse.yaml"
mkdir -p "$(dirname "$config")"
cat >"$config" <<YAML
listeners:
  - name: bench
    address: 127.0.0.1:$port
access_log:
  path: "off"
clusters:
  origin:
    servers:
      - address: 127.0.0.1:${ORIGIN_PORT:-18001}
    timeouts: { connect: 2s, response_header: 30s, idle: 300s, request: 300s }
    pool: { max_idle_per_server: 1024, idle_timeout: 300s }
routes:
  - match: { path_prefix: / }
    cluster: origin
YAML
"$bin" check -c "$config" >/dev/null
exec bash "$harness" --name gatehouse --port "$port" --proxy "$bin run -c $config --threads 1 --log-level error"
