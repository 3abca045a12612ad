#!/usr/bin/env bash
# The release recipe: one self-contained binary with the Swift runtime linked statically
# (--static-swift-stdlib; it needs only glibc, libstdc++ and libm from the host), stripped, at
# dist/gatehouse, built as bench/run.sh builds the benchmarked one (run-time exclusivity checks off in
# every module; bounds and overflow checks stay). Then the binary itself is tried: --version, check of the shipped example, and the
# demo smoke test. Usage: scripts/release-build.sh [OUTPUT_DIR]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$repo/dist}"
cd "$repo"
swift build -c release --static-swift-stdlib -Xswiftc -enforce-exclusivity=unchecked --product gatehouse --scratch-path .build-static
mkdir -p "$out"
strip -o "$out/gatehouse" .build-static/release/gatehouse
bin="$out/gatehouse"
echo "== $bin ($(du -h "$bin" | cut -f1)), linked against:"
ldd "$bin" | awk '{print "   " $1}'
if ldd "$bin" | grep -q "libswift"; then
    echo "the release binary still links a Swift runtime library dynamically"
    exit 1
fi
echo "== $("$bin" --version)"
"$bin" check -c examples/gatehouse.yaml >/dev/null 2>&1
echo "== check of the shipped example: ok"
bash scripts/demo-smoke.sh "$bin"
# Unprivileged, as the systemd unit (DynamicUser) and the Kubernetes container (non-root) run it:
# root passes where a user without capabilities fails (a socket option that needed CAP_NET_ADMIN
# once reset every connection, unseen by a suite that runs as root).
if [ "$(id -u)" = 0 ]; then
    command -v setpriv >/dev/null || { echo "setpriv (util-linux) is needed to try the binary unprivileged"; exit 1; }
    unprivileged=$(mktemp -d)
    trap 'rm -rf "$unprivileged"' EXIT
    chmod 755 "$unprivileged"
    install -m 755 "$bin" "$unprivileged/gatehouse"
    printf '#!/bin/sh\ncd / && exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all %s/gatehouse "$@"\n' \
        "$unprivileged" >"$unprivileged/as-nobody"
    chmod 755 "$unprivileged/as-nobody"
    echo "== the demo smoke test again as uid 65534, no capabilities"
    bash scripts/demo-smoke.sh "$unprivileged/as-nobody"
else
    echo "== (the demo smoke test above ran as uid $(id -u), unprivileged)"
fi
