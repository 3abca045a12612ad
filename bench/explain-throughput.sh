#!/usr/bin/env bash
# Throughput of `gatehouse explain` on a generated 1,000,000-line nginx log (access + error).
# A benchmark, not a test: not run in CI.
#
#   bench/explain-throughput.sh [BINARY]        # default .build/release/gatehouse
#   LINES=5000000 bench/explain-throughput.sh   # another size
#   SUBCOMMAND= bench/explain-throughput.sh path/to/explain-only-binary
#
# The log is mostly 200s with ~2% 502 (refused, premature close, relayed) and ~1% 504 (read
# timeout), each generated error with its error.log line, over ~6 hours of timestamps. It is
# generated once into $TMPDIR/gatehouse-explain-bench and reused.
set -euo pipefail

BIN=${1:-.build/release/gatehouse}
LINES=${LINES:-1000000}
SUBCOMMAND=${SUBCOMMAND-explain}
DIR=${TMPDIR:-/tmp}/gatehouse-explain-bench
ACCESS=$DIR/access-$LINES.log
ERROR=$DIR/error-$LINES.log

if [ ! -x "$BIN" ]; then
  echo "no executable at $BIN (build it: swift build -c release)" >&2
  exit 2
fi
mkdir -p "$DIR"
if [ ! -s "$ACCESS" ] || [ ! -s "$ERROR" ]; then
  echo "generating $LINES lines into $DIR ..."
  awk -v total="$LINES" -v access="$ACCESS" -v error="$ERROR" 'BEGIN {
    srand(42)
    split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", months, " ")
    split("/ /cart /api/items /api/items?page=2 /login /static/app.js /checkout", paths, " ")
    written = 0; t = 0
    while (written < total) {
      t += 0.02 + rand() * 0.01
      s = int(t); hh = int(s / 3600) % 24; mm = int(s / 60) % 60; ss = s % 60
      clf = sprintf("21/Nov/2026:%02d:%02d:%02d +0000", hh, mm, ss)
      ymd = sprintf("2026/11/21 %02d:%02d:%02d", hh, mm, ss)
      ip = sprintf("10.%d.%d.%d", int(rand() * 4), int(rand() * 250), int(rand() * 250))
      server = sprintf("10.0.1.%d:8080", 1 + int(rand() * 4))
      path = paths[1 + int(rand() * 7)]
      method = (rand() < 0.1) ? "POST" : "GET"
      request = method " " path " HTTP/1.1"
      r = rand(); conn++
      status = 200; us = "200"; ct = "0.001"; ht = sprintf("%.3f", rand() * 0.05); rt = ht; msg = ""
      if (r < 0.01) {
        status = 502; us = "502"; ct = "-"; ht = "-"; rt = "0.000"
        msg = "connect() failed (111: Connection refused) while connecting to upstream"
      } else if (r < 0.018) {
        status = 502; us = "502"; ht = "-"; rt = "0.004"
        msg = "upstream prematurely closed connection while reading response header from upstream"
      } else if (r < 0.02) {
        status = 502; us = "502"  # relayed from the upstream: no error.log line
      } else if (r < 0.03) {
        status = 504; us = "504"; ht = "-"; rt = "60.001"
        msg = "upstream timed out (110: Connection timed out) while reading response header from upstream"
      }
      printf "%s - - [%s] \"%s\" %d %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\" upstream_addr=\"%s\" upstream_status=\"%s\" upstream_connect_time=\"%s\" upstream_header_time=\"%s\" upstream_response_time=\"%s\" request_time=%s\n", ip, clf, request, status, 100 + int(rand() * 5000), server, us, ct, ht, rt, rt > access
      written++
      if (msg != "") {
        printf "%s [error] 2211#2211: *%d %s, client: %s, server: shop.example.com, request: \"%s\", upstream: \"http://%s%s\", host: \"shop.example.com\"\n", ymd, conn, msg, ip, request, server, path > error
        written++
      }
    }
  }'
fi
total=$(( $(wc -l < "$ACCESS") + $(wc -l < "$ERROR") ))
bytes=$(( $(wc -c < "$ACCESS") + $(wc -c < "$ERROR") ))
echo "input: $total lines, $((bytes / 1048576)) MiB"

args=()
[ -n "$SUBCOMMAND" ] && args+=("$SUBCOMMAND")
args+=("$ERROR" "$ACCESS")
timer=()
if [ -x /usr/bin/time ]; then timer=(/usr/bin/time -q -o "$DIR/time.txt" -f "max RSS: %M KiB"); fi
start=$(date +%s.%N)
set +e
"${timer[@]}" "$BIN" "${args[@]}" > "$DIR/report.txt"
rc=$?
set -e
end=$(date +%s.%N)
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
  echo "explain failed with exit code $rc" >&2
  exit "$rc"
fi
awk -v lines="$total" -v start="$start" -v end="$end" 'BEGIN {
  elapsed = end - start
  printf "elapsed: %.2f s\nthroughput: %.0f lines/s\n", elapsed, lines / elapsed
}'
[ -s "$DIR/time.txt" ] && cat "$DIR/time.txt"
tail -n 1 "$DIR/report.txt"
