# Sourced by the smoke scripts (demo, Prometheus, dashboard): free loopback ports, and
# `gatehouse demo` started on them and waited for on its own output (never a fixed sleep).

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_demo BIN OUTPUT_FILE: sets listen, admin (ports) and demo_pid; returns once the demo says
# it is ready, or fails with its output. The caller stops it (kill $demo_pid in its EXIT trap).
start_demo() {
    local bin=$1 out=$2
    listen=$(free_port)
    admin=$(free_port)
    "$bin" demo --listen "127.0.0.1:$listen" --admin "127.0.0.1:$admin" --flaky-period 1 --access-log off >"$out" 2>&1 &
    demo_pid=$!
    for _ in $(seq 1 600); do
        grep -q "Press Ctrl-C" "$out" && return 0
        kill -0 "$demo_pid" 2>/dev/null || { cat "$out"; echo "demo exited early"; return 1; }
        sleep 0.05
    done
    cat "$out"
    echo "demo did not become ready"
    return 1
}
