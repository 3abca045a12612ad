#!/usr/bin/env bash
# The dashboard in a real browser: starts `gatehouse demo` on free loopback ports (waiting on its
# output, no sleeps as synchronisation), sends traffic until the flaky server has gateway errors,
# then loads the admin listener's `/` in headless Chromium and checks
#   (a) the DOM once the page's script has polled: body[data-state=live], the three demo servers,
#       a non-zero error count by Proxy-Status type for the flaky one;
#   (b) nothing on the browser console (the page logs nothing: any console line is an uncaught
#       error, a CSP refusal or a failed load);
#   (c) a screenshot, saved to artifacts/dashboard.png in the repository;
#   (d) the Lab tab: the scenarios listed, one played to its win in the page (#lab:ID:MOVES), a
#       screenshot of another in artifacts/lab.png.
# Everything started is stopped. Usage: dashboard-smoke.sh PATH_TO_GATEHOUSE
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-.build/debug/gatehouse}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "dashboard-smoke: chromium is not installed"; exit 1; }
started=$(date +%s)
source scripts/demo-lib.sh
work=$(mktemp -d)
demo_pid=""
trap '[ -n "$demo_pid" ] && { kill $demo_pid 2>/dev/null || true; wait $demo_pid 2>/dev/null || true; }; rm -rf "$work"' EXIT
start_demo "$bin" "$work/demo.out"
grep -q "Dashboard: http://127.0.0.1:$admin/" "$work/demo.out" || { cat "$work/demo.out"; echo "the demo banner has no dashboard URL"; exit 1; }

# Round robin over the three servers on the mixed route: every third request goes to flaky, which
# refuses, hangs (504 after 3 s) or answers garbage. Stop once the admin API counts its errors.
seen=0
for _ in $(seq 1 40); do
    for _ in 1 2 3; do curl -s -o /dev/null --max-time 6 "http://127.0.0.1:$listen/" || true; done
    curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$listen/stable/" || true
    seen=$(curl -s --max-time 5 "http://127.0.0.1:$admin/admin/upstreams" | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(sum(sum(s["errors"].values()) for c in d["clusters"] if c["name"]=="mixed" for s in c["servers"]))')
    [ "$seen" -gt 0 ] && break
done
[ "$seen" -gt 0 ] || { echo "no gateway errors counted for the flaky server"; exit 1; }
flaky=$(sed -n 's/^ *flaky  *\([0-9.:]*\) .*/\1/p' "$work/demo.out")
[ -n "$flaky" ] || { cat "$work/demo.out"; echo "no flaky address in the demo banner"; exit 1; }
# The timeline counts at the monitor's next tick (1 s): wait for it, so the chart has the errors too.
for _ in $(seq 1 100); do
    errors=$(curl -s --max-time 5 "http://127.0.0.1:$admin/admin/timeline" | python3 -c '
import json,sys
d=json.load(sys.stdin)
print(sum(c["totals"]["errors"] for c in d["clusters"]))')
    [ "$errors" -gt 0 ] && break
    sleep 0.1
done
[ "$errors" -gt 0 ] || { echo "/admin/timeline counted no gateway errors"; exit 1; }
# A bounded batch more (6 at a time, 4 s at most each), so the charts and the screenshot show some traffic.
curl -s --max-time 4 --parallel --parallel-max 6 \
    "http://127.0.0.1:$listen/?n=[1-24]" "http://127.0.0.1:$listen/guarded/?n=[1-12]" "http://127.0.0.1:$listen/stable/?n=[1-12]" \
    >/dev/null 2>&1 || true

url="http://127.0.0.1:$admin/"
# --virtual-time-budget lets the page's fetches and first render happen before the DOM is taken.
chrome() {
    timeout 90 "$browser" --headless --no-sandbox --disable-gpu --no-first-run --no-default-browser-check \
        --disable-extensions --hide-scrollbars --user-data-dir="$work/profile" "$@"
}
chrome --enable-logging=stderr --v=0 --virtual-time-budget=10000 --window-size=1280,1000 --dump-dom "$url" \
    >"$work/dom.html" 2>"$work/browser.log" || { tail -20 "$work/browser.log"; echo "chromium --dump-dom failed"; exit 1; }

python3 - "$work/dom.html" "$flaky" <<'EOF'
import html.parser, sys
path, flaky = sys.argv[1], sys.argv[2]
class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.body = {}
        self.servers = []
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if tag == "tr" and (attrs.get("id") or "").startswith("server-"):
            self.servers.append(attrs)
page = Page()
page.feed(open(path, encoding="utf-8").read())
state = page.body.get("data-state")
assert state == "live", f"body data-state is {state!r}, not 'live'"
addresses = {s["data-address"] for s in page.servers}
assert len(addresses) == 3, f"expected the three demo servers, the page shows {sorted(addresses)}"
assert flaky in addresses, f"flaky {flaky} not on the page: {sorted(addresses)}"
by_type = {}
for s in page.servers:
    if s["data-address"] != flaky:
        continue
    for name, value in s.items():
        if name.startswith("data-error-"):
            by_type[name[len("data-error-"):]] = by_type.get(name[len("data-error-"):], 0) + int(value)
assert any(n > 0 for n in by_type.values()), f"no error count by type for flaky {flaky}: {page.servers}"
clusters = sorted({s["data-cluster"] for s in page.servers})
print(f"dashboard DOM ok: state=live, servers {sorted(addresses)} in clusters {clusters}, flaky errors by type {by_type}")
EOF

# Every console line counts (the stderr log does not say which level a console message had).
if grep -E ':CONSOLE[:(]' "$work/browser.log" >"$work/console.log"; then
    cat "$work/console.log"
    echo "the dashboard wrote to the browser console"
    exit 1
fi
echo "browser console ok: no messages"

mkdir -p artifacts
chrome --virtual-time-budget=10000 --window-size=1280,1400 --screenshot="$PWD/artifacts/dashboard.png" "$url" \
    >"$work/shot.log" 2>&1 || { tail -20 "$work/shot.log"; echo "chromium --screenshot failed"; exit 1; }
[ -s artifacts/dashboard.png ] || { echo "no screenshot written"; exit 1; }
echo "screenshot: $PWD/artifacts/dashboard.png"

# The Lab tab: the fragment starts dns-gone and plays its optimal moves (1, 6.1, 9) through the admin
# API, each for real (a gateway and an upstream of its own on loopback); the page must list every
# scenario, end in data-state=won with the end screen, and log nothing on the console.
lab_url="${url}#lab:dns-gone:1,6.1,9"
chrome --enable-logging=stderr --v=0 --virtual-time-budget=30000 --window-size=1280,1000 --dump-dom "$lab_url" \
    >"$work/lab.html" 2>"$work/lab-browser.log" || { tail -20 "$work/lab-browser.log"; echo "chromium --dump-dom of the Lab tab failed"; exit 1; }
python3 - "$work/lab.html" "$("$bin" lab --list | tail -n +2 | wc -l)" <<'PYEOF'
import html.parser, sys
path, expected = sys.argv[1], int(sys.argv[2])
class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.lab = None
        self.scenarios = []
        self.in_end = False
        self.end = ""
    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id") == "lab":
            self.lab = attrs
        if tag == "li" and "data-scenario" in attrs:
            self.scenarios.append(attrs["data-scenario"])
        self.in_end = attrs.get("id") == "lab-end"
    def handle_endtag(self, tag):
        if tag == "pre":
            self.in_end = False
    def handle_data(self, data):
        if self.in_end:
            self.end += data
page = Page()
page.feed(open(path, encoding="utf-8").read())
assert page.lab is not None, "no #lab on the page"
assert "hidden" not in page.lab, "the Lab tab is not shown for #lab"
assert len(page.scenarios) == expected, f"the Lab tab lists {page.scenarios}, gatehouse lab --list has {expected}"
assert page.lab.get("data-state") == "won", f"#lab data-state is {page.lab.get('data-state')!r}, not 'won'"
assert "Congratulations" in page.end and "The real-world fix:" in page.end, f"no end screen: {page.end[:200]!r}"
print(f"lab tab ok: {len(page.scenarios)} scenarios, dns-gone played 1,6.1,9 and won in the browser")
PYEOF
if grep -E ':CONSOLE[:(]' "$work/lab-browser.log" >"$work/lab-console.log"; then
    cat "$work/lab-console.log"
    echo "the Lab tab wrote to the browser console"
    exit 1
fi
chrome --virtual-time-budget=30000 --window-size=1280,2400 --screenshot="$PWD/artifacts/lab.png" "${url}#lab:header-too-large:1,6.1,9" \
    >"$work/lab-shot.log" 2>&1 || { tail -20 "$work/lab-shot.log"; echo "chromium --screenshot of the Lab tab failed"; exit 1; }
[ -s artifacts/lab.png ] || { echo "no Lab screenshot written"; exit 1; }
echo "Lab screenshot: $PWD/artifacts/lab.png"
echo "dashboard smoke ok in $(( $(date +%s) - started )) s"
