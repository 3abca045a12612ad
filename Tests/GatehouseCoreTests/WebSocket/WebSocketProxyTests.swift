import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import NIOCore
import NIOPosix
import Testing

/// WebSocket and other `Upgrade` requests through the gateway: a real client (Python's
/// `websockets`) against a real WebSocket server, and scripted upstreams for the switch's edges.
@Suite struct WebSocketProxyTests {
    static let pythonRuns = ExternalTool.runs(ExternalTool.websocketsPython, requiredBy: "GATEHOUSE_REQUIRE_WEBSOCKETS")

    static let upgradeHeaders = [
        "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]

    /// Messages both ways (text, a 20 000-byte binary, 50 in a row), a close started by the
    /// client, then one started by the server.
    static let client = #"""
        import asyncio, sys, websockets

        async def main(url):
            async with websockets.connect(url, max_size=None) as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"
                data = bytes((i * 7) % 256 for i in range(20000))
                await ws.send(data)
                assert await ws.recv() == data
                for i in range(50):
                    await ws.send(f"m{i}")
                for i in range(50):
                    assert await ws.recv() == f"m{i}"
            print("client-close", ws.close_code)
            async with websockets.connect(url) as ws:
                await ws.send("close-me")
                try:
                    await asyncio.wait_for(ws.recv(), 10)
                    print("not closed")
                except websockets.ConnectionClosed as closed:
                    print("server-close", closed.rcvd.code if closed.rcvd else None)

        asyncio.run(main(sys.argv[1]))
        """#

    @Test(.enabled(if: pythonRuns, "python3 with websockets is not installed (Debian python3-websockets)"))
    func echoThroughTheGatewayWithARealClient() async throws {
        let python = try #require(ExternalTool.websocketsPython, "python3 with websockets is not installed (Debian python3-websockets)")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let origin = try await WebSocketEchoOrigin.start(group: group)
        do {
            try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)]) { gateway in
                let result = try await ExternalTool.run(
                    python, ["-c", Self.client, "ws://127.0.0.1:\(gateway.port)/chat"], timeout: .seconds(30))
                #expect(result.status == 0, "client: \(result.output) \(result.errors)")
                #expect(result.output.contains("client-close 1000"), "\(result.output) \(result.errors)")
                #expect(result.output.contains("server-close 1000"), "\(result.output) \(result.errors)")
                // Each tunnel is logged once, when it ends: 101, bytes both ways.
                let log = try await gateway.accessLog(atLeast: 2)
                #expect(log.count == 2)
                for line in log {
                    #expect(line["status"] as? Int == 101)
                    #expect(line["upgrade"] as? String == "websocket")
                    #expect(line["proxy_status"] is NSNull)
                }
                let first = try #require(log.first)
                #expect((first["bytes"] as? Int ?? 0) > 20000, "\(first)")
                #expect((first["bytes_received"] as? Int ?? 0) > 20000, "\(first)")
            }
        } catch {
            await origin.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        await origin.stop()
        try? await group.shutdownGracefully()
    }

    @Test func bytesAfterThe101AndACloseFromTheUpstreamAreRelayed() async throws {
        // The 101 and the new protocol's first bytes in one write; then "ping" is answered
        // "pong" and the upstream closes.
        let origin = try await RawOrigin.start { _, request in
            request == 1
                ? .init("HTTP/1.1 101 Switching Protocols\r\nUpgrade: Foo/2\r\nConnection: Upgrade\r\n\r\nhello-from-origin")
                : .init("pong", closeAfter: true)
        }
        defer { Task { await origin.stop() } }
        try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)]) { gateway in
            let outcome = try await RawTCPClient.session(port: gateway.port, group: gateway.group) { session in
                try await session.send(RawHTTPClient.get("/tunnel", headers: ["Connection: upgrade", "Upgrade: foo/2"]))
                #expect(await session.read { String(decoding: $0, as: UTF8.self).hasSuffix("hello-from-origin") })
                try await session.send("ping\r\n\r\n")
                await session.readToEnd()
            }
            #expect(!outcome.timedOut, "the client was not closed: \(outcome.text)")
            #expect(outcome.text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(outcome.text)")
            #expect(outcome.text.lowercased().contains("\r\nupgrade: foo/2\r\n"), "\(outcome.text)")
            #expect(outcome.text.lowercased().contains("\r\nconnection: upgrade\r\n"), "\(outcome.text)")
            #expect(outcome.text.hasSuffix("\r\n\r\nhello-from-originpong"), "\(outcome.text)")
            let log = try await gateway.accessLog(atLeast: 1)
            #expect(log.first?["status"] as? Int == 101)
            #expect(log.first?["upgrade"] as? String == "foo")
            #expect(log.first?["bytes"] as? Int == "hello-from-originpong".utf8.count)
            #expect(log.first?["bytes_received"] as? Int == "ping\r\n\r\n".utf8.count)
            #expect(origin.connectionsAccepted == 1)
        }
    }

    @Test func aTunnelOutlivesTheRequestTimeoutAndEndsAfterTheIdleTimeout() async throws {
        let origin = try await RawOrigin.start { _, request in
            request == 1 ? .init("HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n") : .init("y")
        }
        defer { Task { await origin.stop() } }
        // timeouts.request (300 ms) ends exchanges, not tunnels; timeouts.idle ends a silent tunnel
        // (3 s: a loaded machine may stall this client between two rounds for longer than 1 s).
        let timeouts = Cluster.Timeouts(connect: .seconds(2), responseHeader: .seconds(5), idle: .seconds(3), request: .milliseconds(300))
        try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)], timeouts: timeouts) { gateway in
            let outcome = try await RawTCPClient.session(port: gateway.port, group: gateway.group, deadline: .seconds(10)) { session in
                try await session.send(RawHTTPClient.get("/tunnel", headers: ["Connection: upgrade", "Upgrade: foo"]))
                #expect(await session.read { String(decoding: $0, as: UTF8.self).hasSuffix("\r\n\r\n") })
                for round in 1...6 {
                    try await Task.sleep(for: .milliseconds(100))
                    try await session.send("x\r\n\r\n")
                    #expect(await session.read { String(decoding: $0, as: UTF8.self).hasSuffix(String(repeating: "y", count: round)) })
                }
                await session.readToEnd()
            }
            #expect(!outcome.timedOut, "the gateway did not close the idle tunnel")
            #expect(outcome.text.hasSuffix("yyyyyy"), "\(outcome.text)")
            let log = try await gateway.accessLog(atLeast: 1)
            #expect(log.first?["status"] as? Int == 101)
            #expect(log.first?["proxy_status"] is NSNull)
            #expect((log.first?["total_ms"] as? Double ?? 0) >= 600)
        }
    }

    /// The client half-closes (FIN after its last bytes): the upstream gets the FIN too, closes,
    /// and that close reaches the client; with a long idle timeout nothing else would end it.
    @Test func aHalfCloseFromTheClientReachesTheUpstream() async throws {
        let python = try #require(ExternalTool.find(["/usr/bin/python3", "/usr/local/bin/python3"]), "python3 is not installed")
        let origin = try await RawOrigin.start { _, request in
            request == 1 ? .init("HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\n") : .init("y")
        }
        defer { Task { await origin.stop() } }
        let script = #"""
            import socket, sys
            c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            c.settimeout(10)
            c.sendall(b"GET /t HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: foo\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += c.recv(4096)
            c.sendall(b"x\r\n\r\n")
            while not data.endswith(b"y"):
                data += c.recv(4096)
            c.shutdown(socket.SHUT_WR)
            while True:
                chunk = c.recv(4096)
                if not chunk:
                    break
                data += chunk
            print("eof", data.split(b"\r\n\r\n", 1)[1].decode())
            """#
        let timeouts = Cluster.Timeouts(connect: .seconds(2), responseHeader: .seconds(5), idle: .seconds(60), request: .seconds(60))
        try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)], timeouts: timeouts) { gateway in
            let result = try await ExternalTool.run(python, ["-c", script, String(gateway.port)], timeout: .seconds(30))
            #expect(result.status == 0, "\(result.output) \(result.errors)")
            #expect(result.output == "eof y\n", "\(result.output) \(result.errors)")
            let log = try await gateway.accessLog(atLeast: 1)
            #expect(log.first?["status"] as? Int == 101)
            #expect(log.first?["bytes_received"] as? Int == 5)
        }
    }

    @Test func anUpstreamRefusingTheUpgradeIsPassedThrough() async throws {
        let origin = try await RawOrigin.start { _, _ in
            .init("HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\nUpgrade: websocket\r\n\r\nnope")
        }
        defer { Task { await origin.stop() } }
        try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/chat", headers: Self.upgradeHeaders))
            // The upstream's own answer, not a gateway error.
            #expect(response.status == 426)
            #expect(response.bodyText == "nope")
            #expect(response.header("proxy-status") == nil)
            #expect(response.header("connection") == "close")
            let log = try await gateway.accessLog(atLeast: 1)
            #expect(log.first?["proxy_status"] is NSNull)
        }
    }

    @Test(arguments: [
        ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", "switched to h2c"),
        ("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n", "without an Upgrade field"),
    ])
    func a101ThatDoesNotMatchTheRequestIsUpgradeFailed(reply: String, details: String) async throws {
        let origin = try await RawOrigin.start { _, _ in .init(reply + "garbage") }
        defer { Task { await origin.stop() } }
        try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/chat", headers: Self.upgradeHeaders))
            #expect(response.status == 502)
            #expect(response.header("proxy-status")?.contains("error=http_upgrade_failed") == true, "\(response.headers)")
            let log = try await gateway.accessLog(atLeast: 1)
            #expect(log.first?["proxy_status"] as? String == "http_upgrade_failed")
            #expect((log.first?["details"] as? String)?.contains(details) == true, "\(log)")
        }
    }

    @Test func anUpgradeToARefusingServerIsClassifiedAsUsual() async throws {
        try await withGateway([.refuse]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/chat", headers: Self.upgradeHeaders))
            #expect(response.status == 502)
            #expect(response.header("proxy-status")?.contains("error=connection_refused") == true)
        }
    }

    @Test func anUpgradeHeaderNotNamedInConnectionIsNotForwarded() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/headers", headers: ["Upgrade: websocket"]))
            #expect(response.status == 200)
            #expect(!response.bodyText.lowercased().contains("websocket"), "\(response.bodyText)")
        }
    }
}
