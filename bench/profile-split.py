#!/usr/bin/env python3
"""Splits a perf profile of the gateway by who spends the time: the kernel, NIO's channel and
pipeline, the HTTP/1 codec (NIOHTTP1 and llhttp), Gatehouse's own parsers, header rewriting and
checks, the rest of the gateway, and other libraries. Every sample is charged to the innermost
frame that belongs to one of those, so Swift runtime work (retain/release, allocation, generic
metadata) and ByteBuffer/NIOAny helpers are charged to the code that asked for them.

    perf script -i perf.data -F ip,sym --no-demangle | bench/profile-split.py
(bench/profile.sh records with call graphs and runs this after its symbol table.)
"""
import re
import sys
from collections import Counter

# Frames that do work on behalf of their caller: charged to the caller.
TRANSPARENT = re.compile(
    r"^(swift_|_swift_|\$ss|\$sS|\$sy|swift::|_Z|malloc|_int_|cfree|free|__mem|__libc_|__GI_|__vdso|__pthread|"
    r"__malloc|clock_gettime|read$|write$|writev$|epoll_|tuple_|tryCast|"
    r"\$s7NIOCore10ByteBuffer|\$s7NIOCore6NIOAny|\$s7NIOCore14CircularBuffer|\$s7NIOCore20MarkedCircularBuffer|"
    r"\$s7NIOCore13HTTPVersion|\[unknown\]|0x)")

CATEGORIES = [
    ("HTTP/1 codec (NIOHTTP1, llhttp)", re.compile(r"^(\$s8NIOHTTP1|c_nio_llhttp)")),
    ("response parser (Gatehouse)", re.compile(r"^\$s13GatehouseCore\d+(StrictResponseDecoder|ResponseHeadParser|ResponseDecoding)")),
    ("head rewriting and checks (Gatehouse)", re.compile(r"^\$s13GatehouseCore\d+(HeaderRewriter|KnownHeader|RequestFraming|RequestTarget|RequestLineGuard|ProxyStatusHeader)")),
    ("gateway logic (Gatehouse)", re.compile(r"^\$s13GatehouseCore")),
    ("NIO channel and pipeline", re.compile(r"^\$s(7NIOCore|8NIOPosix)")),
    ("metrics, logging, other libraries", re.compile(r"^\$s\d+(Prometheus|CoreMetrics|Metrics|Logging|Tracing|Instrumentation|NIOConcurrencyHelpers)")),
]


def classify(frames):
    if not frames:
        return "unknown"
    if frames[0][1]:
        return "kernel"
    for symbol, _ in frames:
        if TRANSPARENT.match(symbol):
            continue
        for name, pattern in CATEGORIES:
            if pattern.search(symbol):
                return name
        return "other user space"
    return "Swift runtime, libc (no caller found)"


def samples(stream):
    frames = []
    for line in stream:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) < 2 or not re.match(r"^[0-9a-f]+$", parts[0]):
            continue  # a sample header line
        symbol = parts[1]
        kernel = symbol.endswith("([kernel.kallsyms])") or "[kernel" in symbol
        symbol = re.sub(r"\s*\(.*\)$", "", symbol).split("+0x")[0]
        frames.append((symbol, kernel))
    if frames:
        yield frames


def main():
    counts = Counter(classify(frames) for frames in samples(sys.stdin))
    total = sum(counts.values()) or 1
    print(f"{'where the gateway CPU goes':44} {'share':>7}")
    for name, count in counts.most_common():
        print(f"{name:44} {100.0 * count / total:6.1f} %")
    print(f"{'samples':44} {total:>7}")


if __name__ == "__main__":
    main()
