#!/usr/bin/env bash
# Micro-benchmarks of the hot pure code (#10) with ordo-one/benchmark: route matching, header
# rewriting, balancer picks, error classification and Proxy-Status text, access-log lines
# (Benchmarks/GatehouseBenchmarks). Nothing is listened on or sent: pure functions in one process.
#
#   bench/micro.sh                      # build (release, .build-bench) and run all, ~2 min after the build
#   FILTER='balancer.*' bench/micro.sh  # only the benchmarks matching a regex
#
# The benchmark package is in the graph only when GATEHOUSE_BENCHMARKS is set (Package.swift), so
# CI and `swift test` never fetch or build it; it gets its own scratch path, .build-bench, so the
# release build does not disturb .build. The first build compiles the whole graph in release
# (10–15 min on 2 cores).
#
# Mallocs come from the package's malloc interposer (trait MallocInterposer, LD_PRELOADed by the
# plugin). ordo-one/benchmark 1.38 no longer uses jemalloc, so libjemalloc-dev is not needed, and
# BENCHMARK_DISABLE_JEMALLOC must NOT be set: it is now an alias that turns the interposer off,
# and every malloc column would read 0.
#
# Instructions are measured only where hardware counters work (`perf stat -e instructions` counts
# them); on VMs without them (like the one bench/RESULTS.md was measured on) the column is left out
# instead of showing zeros. GATEHOUSE_BENCH_INSTRUCTIONS=1 forces it on.
#
# Prints ordo-one/benchmark's own tables (also kept in bench/out/micro.txt), then one summary
# table: p50 per operation (each iteration runs its operation 1,000 times; the tool divides).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export GATEHOUSE_BENCHMARKS=1
unset BENCHMARK_DISABLE_JEMALLOC BENCHMARK_DISABLE_MALLOC_INTERPOSER
scratch=(--scratch-path .build-bench)
lock=${BUILD_LOCK:-/tmp/gatehouse-build.lock}
filter=()
[ -n "${FILTER:-}" ] && filter=(--filter "$FILTER")

if [ -z "${GATEHOUSE_BENCH_INSTRUCTIONS:-}" ] && command -v perf >/dev/null &&
    perf stat -x, -e instructions -- true 2>&1 >/dev/null | awk -F, '$3 ~ /^instructions/ && $1 ~ /^[0-9]+$/ { ok = 1 } END { exit !ok }'; then
    export GATEHOUSE_BENCH_INSTRUCTIONS=1
fi
echo "instructions: ${GATEHOUSE_BENCH_INSTRUCTIONS:+measured}${GATEHOUSE_BENCH_INSTRUCTIONS:-not measured (no hardware counters here)}"

# The build, under the shared build lock: `benchmark list` builds the tool and the benchmark target
# in release and only lists the benchmarks. The run below then finds everything built (the plugin
# still relinks its small debug-built helper tools, a few seconds) and measures without the lock.
mkdir -p bench/out
build_log=bench/out/micro-build.log
echo "building (log: $build_log) ..."
if command -v flock >/dev/null; then
    flock "$lock" swift package "${scratch[@]}" benchmark list >"$build_log" 2>&1 || { tail -40 "$build_log"; exit 1; }
else
    swift package "${scratch[@]}" benchmark list >"$build_log" 2>&1 || { tail -40 "$build_log"; exit 1; }
fi

out=bench/out/micro.txt
# Wall clock is only as good as the machine is quiet: the load average frames the run.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
swift package "${scratch[@]}" benchmark "${filter[@]}" --no-progress 2>&1 |
    grep -v -e "unhandled; explicitly declare" -e "CMakeLists.txt" >"$out" || { tail -40 "$out"; exit 1; }
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)"
sed -n '/^Running Benchmarks/,$p' "$out"

# One row per benchmark from the tool's text tables: the p50 column of each metric.
python3 - "$out" <<'EOF'
import re, sys

rows, name, metrics = [], None, {}
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
for index, line in enumerate(lines):
    if line.startswith("╒") and index > 0:
        if name is not None:
            rows.append((name, metrics))
        name, metrics = lines[index - 1].strip(), {}
    elif line.startswith("│") and name is not None:
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0] != "Metric" and len(cells) >= 4:
            metrics[cells[0]] = cells[3]  # p0, p25, p50
if name is not None:
    rows.append((name, metrics))

def find(metrics, prefix):
    for label, value in metrics.items():
        if label.startswith(prefix):
            return label, value
    return None, None

def time_ns(metrics):
    label, value = find(metrics, "Time (wall clock)")
    if label is None:
        return "?"
    scale = {"(ns)": 1, "(μs)": 1_000, "(us)": 1_000, "(ms)": 1_000_000}
    factor = next((f for unit, f in scale.items() if unit in label), 1)
    return f"{round(float(value.replace(',', '')) * factor):,}"

def throughput(metrics):
    label, value = find(metrics, "Throughput")
    if label is None:
        return "?"
    factor = {"(K)": 1_000, "(M)": 1_000_000, "(G)": 1_000_000_000}
    scale = next((f for unit, f in factor.items() if label.endswith(unit)), 1)
    return f"{round(float(value.replace(',', '')) * scale):,}"

has_instructions = any(find(m, "Instructions")[0] for _, m in rows)
header = "| benchmark | ns/op (p50) | ops/s (p50) | mallocs/op (p50) |" + (" instructions/op (p50) |" if has_instructions else "")
print()
print("Summary (p50 per operation):")
print()
print(header)
print("|---|---:|---:|---:|" + ("---:|" if has_instructions else ""))
for name, metrics in rows:
    mallocs = find(metrics, "Malloc (total)")[1] or "?"
    line = f"| {name} | {time_ns(metrics)} | {throughput(metrics)} | {mallocs} |"
    if has_instructions:
        line += f" {find(metrics, 'Instructions')[1] or '?'} |"
    print(line)
EOF
