import GatehouseOrigins
import NIOCore
import NIOPosix
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The loopback origins themselves, checked with a raw TCP client (no HTTP client in between).
@Suite("Loopback origins", .timeLimit(.minutes(1)))
struct OriginTests {
    let group = MultiThreadedEventLoopGroup.singleton

    @Test("healthy: GET / answers hello with X-Origin")
    func healthyRoot() async throws {
        try await withOrigin(.healthy(name: "alpha")) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!session.timedOut)
            #expect(session.error == nil)
            let response = try #require(RawHTTPResponse(session.received))
            #expect(response.statusLine == "HTTP/1.1 200 OK")
            #expect(response.header("x-origin") == "alpha")
            #expect(response.header("connection") == "close")
            #expect(response.body == "hello from alpha\n")
            #expect(origin.connectionsAccepted == 1)
            #expect(origin.requestsServed == 1)
        }
    }

    @Test("healthy: two requests on one keep-alive connection")
    func healthyKeepAlive() async throws {
        try await withOrigin(.healthy(name: "beta")) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET /status/201 HTTP/1.1\r\nHost: test\r\n\r\n")
                let first = await session.read { RawHTTPResponse($0)?.isComplete == true }
                #expect(first)
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!session.timedOut)
            let first = try #require(RawHTTPResponse(session.received))
            #expect(first.statusLine == "HTTP/1.1 201 Created")
            let rest = Array(session.received.dropFirst(first.totalLength))
            let second = try #require(RawHTTPResponse(rest))
            #expect(second.body == "hello from beta\n")
            #expect(origin.connectionsAccepted == 1)
            #expect(origin.requestsServed == 2)
        }
    }

    @Test("healthy: /headers lists the request headers in order, duplicates kept")
    func healthyHeaders() async throws {
        try await withOrigin(.healthy(name: "gamma")) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send(
                    "GET /headers?x=1 HTTP/1.1\r\nHost: test\r\nVia: 1.1 a\r\nVia: 1.1 \"b\"\r\nConnection: close\r\n\r\n"
                )
                await session.readToEnd()
            }
            let response = try #require(RawHTTPResponse(session.received))
            #expect(response.header("content-type") == "application/json")
            #expect(
                response.body == #"{"method":"GET","path":"/headers?x=1","version":"HTTP/1.1","headers":"#
                    + #"[["Host","test"],["Via","1.1 a"],["Via","1.1 \"b\""],["Connection","close"]]}"# + "\n"
            )
        }
    }

    @Test("healthy: /bytes and /chunked stream the pattern; /sink counts an upload", arguments: ["bytes", "chunked"])
    func healthyStreaming(route: String) async throws {
        let size = 300_000
        try await withOrigin(.healthy(name: "delta")) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET /\(route)/\(size) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!session.timedOut)
            let response = try #require(RawHTTPResponse(session.received))
            #expect(response.statusLine == "HTTP/1.1 200 OK")
            let decoded = route == "chunked" ? response.dechunkedBody : response.bodyBytes
            let body = try #require(decoded)
            #expect(body.count == size)
            #expect(body.enumerated().allSatisfy { $0.element == LoopbackOrigin.patternByte(at: $0.offset) })

            let upload = String(repeating: "x", count: size)
            let sink = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send(
                    "POST /sink HTTP/1.1\r\nHost: test\r\nContent-Length: \(size)\r\nConnection: close\r\n\r\n\(upload)"
                )
                await session.readToEnd()
            }
            #expect(try #require(RawHTTPResponse(sink.received)).body == "\(size)")
        }
    }

    @Test(".refuse: connecting fails with ECONNREFUSED")
    func refuse() async throws {
        try await withOrigin(.refuse) { origin in
            #expect(origin.port > 0)
            let error = await #expect(throws: IOError.self) {
                try await RawTCPClient.session(port: origin.port, group: self.group) { _ in }
            }
            #expect(error?.errnoCode == ECONNREFUSED)
            #expect(origin.connectionsAccepted == 0)
        }
    }

    @Test(".malformedStatusLine: sends a status line without a numeric code, then FIN")
    func malformedStatusLine() async throws {
        try await withOrigin(.malformedStatusLine) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!session.timedOut)
            #expect(session.error == nil)
            #expect(session.text.hasPrefix("HTTP/1.1 abc OK\r\n"))
            #expect(origin.requestsServed == 1)
        }
    }

    @Test(".resetBeforeHead: the connection ends with ECONNRESET and no byte")
    func resetBeforeHead() async throws {
        try await withOrigin(.resetBeforeHead) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!session.timedOut)
            #expect(session.received.isEmpty)
            #expect((session.error as? IOError)?.errnoCode == ECONNRESET)
        }
    }

    @Test(".closeMidBody: a head announcing 1000 bytes, 100 of them, then FIN")
    func closeMidBody() async throws {
        try await withOrigin(.closeMidBody) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!session.timedOut)
            #expect(session.error == nil)
            let response = try #require(RawHTTPResponse(session.received))
            #expect(response.header("content-length") == "1000")
            #expect(response.bodyBytes.count == 100)
        }
    }

    @Test(".oversizedHeader: the header section has exactly the requested size")
    func oversizedHeader() async throws {
        try await withOrigin(.oversizedHeader(bytes: 100_000)) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                await session.readToEnd()
            }
            let response = try #require(RawHTTPResponse(session.received))
            #expect(response.headLength == 100_000)
            #expect(response.body == "ok\n")
        }
    }

    @Test(".hang: no byte and no close before the client's deadline")
    func hang() async throws {
        try await withOrigin(.hang) { origin in
            let session = try await RawTCPClient.session(
                port: origin.port,
                group: self.group,
                deadline: .milliseconds(300)
            ) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                await session.readToEnd()
            }
            #expect(session.timedOut)
            #expect(session.received.isEmpty)
            #expect(origin.requestsServed == 1)
        }
    }

    @Test(".keepAliveClose: an idle connection is closed by the origin after the timeout")
    func keepAliveClose() async throws {
        // The idle clock starts at accept: under a loaded test run the request itself can take over a
        // second to arrive, so the limit leaves room for that.
        try await withOrigin(.keepAliveClose(after: .seconds(2))) { origin in
            let clock = ContinuousClock()
            let sent = clock.now
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                let answered = await session.read { RawHTTPResponse($0)?.isComplete == true }
                #expect(answered)
                await session.readToEnd()
            }
            // The close comes no earlier than the timeout after the response, itself after the request.
            #expect(clock.now - sent >= .seconds(2))
            #expect(!session.timedOut)
            #expect(session.error == nil)
            #expect(try #require(RawHTTPResponse(session.received)).body == "hello from keep-alive\n")
        }
    }

    @Test(".keepAliveClose counts its idle closes; a client's own close is not one")
    func keepAliveCloseCountsIdleCloses() async throws {
        // 2 s, not less: the idle clock starts at accept, and a loaded run can delay the request.
        try await withOrigin(.keepAliveClose(after: .seconds(2))) { origin in
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!session.timedOut)
            #expect(origin.idleConnectionsClosed == 1)
            _ = try await self.get("/", port: origin.port)
            #expect(origin.idleConnectionsClosed == 1)
        }
    }

    @Test(".keepAliveAnnounced: Keep-Alive: timeout=N on keep-alive responses, then the close after N s idle")
    func keepAliveAnnounced() async throws {
        // 2 s: the idle clock starts at accept, and a loaded run can delay the request.
        try await withOrigin(.keepAliveAnnounced(timeout: 2)) { origin in
            let clock = ContinuousClock()
            let sent = clock.now
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                await session.readToEnd()
            }
            #expect(clock.now - sent >= .seconds(2))
            #expect(!session.timedOut)
            let response = try #require(RawHTTPResponse(session.received))
            #expect(response.header("keep-alive") == "timeout=2")
            #expect(response.body == "hello from keep-alive\n")
            #expect(origin.idleConnectionsClosed == 1)
            // A response that closes the connection announces nothing.
            let closing = try await self.get("/", port: origin.port)
            #expect(closing.header("connection") == "close")
            #expect(closing.header("keep-alive") == nil)
        }
    }

    @Test(".slowHead: the response starts after the delay; /echo still streams a chunked body back")
    func slowHeadEcho() async throws {
        try await withOrigin(.slowHead(delay: .milliseconds(300))) { origin in
            let clock = ContinuousClock()
            let start = clock.now
            let session = try await RawTCPClient.session(port: origin.port, group: self.group) { session in
                try await session.send(
                    "POST /echo?q HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        + "5\r\nhello\r\n"
                )
                try await session.send("6\r\n world\r\n0\r\n\r\n")
                await session.readToEnd()
            }
            #expect(clock.now - start >= .milliseconds(300))
            #expect(!session.timedOut)
            let response = try #require(RawHTTPResponse(session.received))
            #expect(response.header("x-origin") == "slow")
            #expect(response.header("x-echo-method") == "POST")
            #expect(response.header("x-echo-path") == "/echo?q")
            #expect(response.header("transfer-encoding") == "chunked")
            #expect(response.dechunkedBody.map { String(decoding: $0, as: UTF8.self) } == "hello world")
        }
    }

    @Test(".rotating: a refuse phase closes the port, the next phase binds the same port again")
    func rotating() async throws {
        let phases: [LoopbackOrigin.Behavior] = [.healthy(name: "first"), .refuse, .healthy(name: "second")]
        // The period is long against one request, and each check waits for the phase it needs
        // (at most two full cycles) rather than assuming no phase was missed on a loaded machine.
        try await withOrigin(.rotating(phases, every: .seconds(2))) { origin in
            #expect(origin.currentPhase == 0)
            let first = try await self.get("/", port: origin.port)
            #expect(first.body == "hello from first\n")

            var phase = await origin.nextPhase()
            for _ in 0..<6 where phase != 1 { phase = await origin.nextPhase() }
            #expect(phase == 1)
            let error = await #expect(throws: IOError.self) {
                try await RawTCPClient.session(port: origin.port, group: self.group) { _ in }
            }
            #expect(error?.errnoCode == ECONNREFUSED)

            phase = await origin.nextPhase()
            for _ in 0..<6 where phase != 2 { phase = await origin.nextPhase() }
            #expect(phase == 2)
            let second = try await self.get("/", port: origin.port)
            #expect(second.body == "hello from second\n")
        }
    }

    @Test("flaky preset: starts in a healthy phase and names it")
    func flakyPreset() async throws {
        try await withOrigin(.flaky(name: "demo", every: .seconds(30))) { origin in
            #expect(origin.currentPhase == 0)
            let response = try await self.get("/", port: origin.port)
            #expect(response.body == "hello from demo\n")
        }
    }

    // MARK: Helpers

    /// Starts an origin, runs `body`, and stops the origin whatever happens.
    private func withOrigin(
        _ behavior: LoopbackOrigin.Behavior,
        _ body: (LoopbackOrigin) async throws -> Void
    ) async throws {
        let origin = try await LoopbackOrigin.start(behavior, group: self.group)
        do {
            try await body(origin)
        } catch {
            try? await origin.stop()
            throw error
        }
        try await origin.stop()
    }

    /// One `GET` with `Connection: close`, parsed.
    private func get(_ path: String, port: Int) async throws -> RawHTTPResponse {
        let session = try await RawTCPClient.session(port: port, group: self.group) { session in
            try await session.send("GET \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            await session.readToEnd()
        }
        return try #require(RawHTTPResponse(session.received))
    }
}
