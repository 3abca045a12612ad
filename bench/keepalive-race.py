#!/usr/bin/env python3
"""The pieces of bench/keepalive-race.sh, standard library only, 127.0.0.1 only.

  keepalive-race.py origin PORT IDLE_SECONDS
      An HTTP/1.1 keep-alive origin (Content-Length responses, GET and POST) that closes a
      connection after exactly IDLE_SECONDS idle, WITHOUT announcing it (no Keep-Alive header),
      as Node's keepAliveTimeout (5 s by default) or a Go server's IdleTimeout do. One thread, one
      select loop; like libuv, due timers run before the I/O that woke the loop, so a connection
      whose idle time is up is closed even if a request has just arrived on it (unread: RST).
      Prints its counters (requests, idle closes) on SIGTERM.

  keepalive-race.py relay LISTEN_PORT TARGET_PORT DELAY_MS
      A TCP relay adding DELAY_MS of one-way latency in each direction, FIN and RST included (a
      netem-like delay without root, on loopback only). On bare loopback the race window (a FIN
      still in flight while the proxy sends a request) lasts microseconds; across a network it
      lasts about one round trip. DELAY_MS 0 connects nothing: the script then skips the relay.

  keepalive-race.py client PORT CLIENTS REQUESTS SPACING JITTER SEED
      CLIENTS threads, each on its own keep-alive connection to the proxy, each sending REQUESTS
      requests alternately GET and POST (a small body), waiting SPACING ± JITTER seconds
      (uniform, seeded) after each response. Prints one JSON line of counts by method and status.
"""

import asyncio
import http.client
import json
import random
import selectors
import signal
import socket
import struct
import sys
import threading
import time


# ---- origin ---------------------------------------------------------------------------------

class Connection:
    def __init__(self, now):
        self.buffer = b""
        self.idle_since = now  # None while a request is being read or answered


def origin(port, idle):
    selector = selectors.DefaultSelector()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(512)
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    connections = {}
    counters = {"requests": 0, "idle_closes": 0, "accepted": 0}
    running = [True]

    def stop(*_):
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    def close(sock):
        selector.unregister(sock)
        connections.pop(sock, None)
        sock.close()

    def serve(sock, conn):
        while True:
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                return True
            head = conn.buffer[:end].decode("latin-1")
            length = 0
            keep_alive = True
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "connection" and value.strip().lower() == "close":
                    keep_alive = False
            if len(conn.buffer) < end + 4 + length:
                return True
            body = conn.buffer[end + 4:end + 4 + length]
            conn.buffer = conn.buffer[end + 4 + length:]
            counters["requests"] += 1
            payload = b"ok " + str(len(body)).encode() + b"\n"
            response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                        + str(len(payload)).encode() + b"\r\n"
                        + (b"" if keep_alive else b"Connection: close\r\n") + b"\r\n" + payload)
            try:
                sock.setblocking(True)
                sock.sendall(response)
                sock.setblocking(False)
            except OSError:
                return False
            if not keep_alive:
                return False
            conn.idle_since = time.monotonic() if not conn.buffer else None

    while running[0]:
        idle_deadlines = [c.idle_since + idle for c in connections.values() if c.idle_since is not None]
        timeout = max(0.0, min(idle_deadlines) - time.monotonic()) if idle_deadlines else 0.5
        try:
            events = selector.select(min(timeout, 0.5))
        except InterruptedError:
            continue
        now = time.monotonic()
        # Timers first: an idle connection whose time is up is closed, a request just arrived or not.
        for sock, conn in list(connections.items()):
            if conn.idle_since is not None and now - conn.idle_since >= idle:
                counters["idle_closes"] += 1
                close(sock)
        for key, _ in events:
            sock = key.fileobj
            if sock is listener:
                try:
                    accepted, _ = listener.accept()
                except OSError:
                    continue
                accepted.setblocking(False)
                accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                connections[accepted] = Connection(time.monotonic())
                counters["accepted"] += 1
                selector.register(accepted, selectors.EVENT_READ, None)
                continue
            conn = connections.get(sock)
            if conn is None:
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                close(sock)
                continue
            if not data:
                close(sock)
                continue
            conn.buffer += data
            conn.idle_since = None
            if not serve(sock, conn):
                close(sock)
    print(json.dumps({"origin": counters}), flush=True)


# ---- relay ----------------------------------------------------------------------------------

EOF, RST = object(), object()


def reset(writer):
    sock = writer.get_extra_info("socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    writer.transport.abort()


async def forward(reader, writer, delay):
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def sender():
        while True:
            due, item = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if item is EOF:
                if writer.can_write_eof() and not writer.transport.is_closing():
                    try:
                        writer.write_eof()
                    except OSError:
                        pass
                return
            if item is RST:
                reset(writer)
                return
            if not writer.transport.is_closing():
                writer.write(item)

    task = asyncio.create_task(sender())
    while True:
        try:
            data = await reader.read(65536)
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time() + delay, RST))
            break
        queue.put_nowait((loop.time() + delay, data if data else EOF))
        if not data:
            break
    await task


async def relay(listen_port, target_port, delay_ms):
    delay = delay_ms / 1000.0

    async def handle(client_reader, client_writer):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            reset(client_writer)
            return
        await asyncio.gather(forward(client_reader, upstream_writer, delay),
                             forward(upstream_reader, client_writer, delay))
        for writer in (client_writer, upstream_writer):
            writer.transport.abort() if writer.transport.is_closing() else writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, backlog=512)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


# ---- client ---------------------------------------------------------------------------------

def client(port, clients, requests, spacing, jitter, seed):
    counts = {}
    lock = threading.Lock()

    def count(method, status):
        with lock:
            key = f"{method} {status}"
            counts[key] = counts.get(key, 0) + 1

    def worker(index):
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        for number in range(requests):
            method = "GET" if number % 2 == 0 else "POST"
            body = f"payload {index}/{number}" if method == "POST" else None
            headers = {"Content-Type": "text/plain"} if body else {}
            try:
                conn.request(method, f"/r?c={index}&n={number}", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                count(method, response.status)
                if response.will_close:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            except (OSError, http.client.HTTPException) as error:
                count(method, type(error).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
            time.sleep(max(0.0, spacing + rng.uniform(-jitter, jitter)))
        conn.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(dict(sorted(counts.items()))), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "origin":
        origin(int(sys.argv[2]), float(sys.argv[3]))
    elif mode == "relay":
        asyncio.run(relay(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
    elif mode == "client":
        port, clients, requests = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
        client(port, clients, requests, float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]))
    elif mode == "freeport":
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])
        sock.close()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
