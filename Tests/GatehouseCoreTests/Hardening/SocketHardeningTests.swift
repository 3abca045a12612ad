import Foundation
import GatehouseConfig
import GatehouseCore
import NIOCore
import NIOPosix
import Testing

/// The hardening cases that depend on real sockets — FIN after a partial body, a pooled
/// connection receiving stray bytes, 1xx on the wire — through a real gateway in front of a
/// ``RawOrigin`` that sends scripted bytes.
@Suite struct SocketHardeningTests {
    /// Runs `body` with a raw origin and a gateway whose only server it is.
    private func withRawOrigin(
        _ script: @escaping RawOrigin.Script, _ body: (TestGateway, RawOrigin) async throws -> Void
    ) async throws {
        let origin = try await RawOrigin.start(script)
        do {
            try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)]) { gateway in
                try await body(gateway, origin)
            }
        } catch {
            await origin.stop()
            throw error
        }
        await origin.stop()
    }

    @Test func contentLengthBodyCutByTheUpstreamIsTruncatedForTheClient() async throws {
        try await self.withRawOrigin({ _, _ in
            .init("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", closeAfter: true)
        }) {
            gateway, _ in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 200)
            #expect(response.isTruncated)
            #expect(response.bodyText == "hello")
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["proxy_status"] as? String == "http_response_incomplete")
            #expect(log["upstream_status"] as? Int == 200)
        }
    }

    @Test func chunkedBodyCutByTheUpstreamEndsWithoutTheLastChunk() async throws {
        try await self.withRawOrigin({ _, _ in
            .init("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", closeAfter: true)
        }) { gateway, _ in
            let outcome = try await RawTCPClient.session(port: gateway.port, group: gateway.group) { session in
                try await session.send(RawHTTPClient.get("/"))
                await session.readToEnd()
            }
            let text = outcome.text
            #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(text.lowercased().contains("transfer-encoding: chunked"))
            #expect(
                text.hasSuffix("5\r\nhello\r\n"),
                "the stream stops after the last whole chunk: \(text.debugDescription)")
            #expect(!text.contains("\r\n0\r\n\r\n"), "never the last-chunk: the cut must not look complete")
            #expect(!outcome.timedOut, "the gateway closes the connection")
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["proxy_status"] as? String == "http_response_incomplete")
        }
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
        "HTTP/1.1 200 OK\r\nX-Poison: ",
        "\r\n",
    ])
    func bytesAfterAResponseNeverReachTheNextClient(_ trailing: String) async throws {
        try await self.withRawOrigin({ connection, _ in
            .init(
                "HTTP/1.1 200 OK\r\nContent-Length: \(6 + String(connection).count)\r\n\r\nclean-\(connection)"
                    + trailing)
        }) { gateway, origin in
            let first = try await gateway.request(RawHTTPClient.get("/1"))
            #expect(first.bodyText == "clean-1")
            // Another client, another request: it must not get the stray bytes, and it must not
            // travel on the poisoned connection.
            let second = try await gateway.request(RawHTTPClient.get("/2"))
            #expect(second.status == 200)
            #expect(second.bodyText == "clean-2")
            #expect(origin.connectionsAccepted == 2)
        }
    }

    @Test func bytesArrivingOnAPooledConnectionEvictIt() async throws {
        try await self.withRawOrigin({ connection, _ in
            .init(
                "HTTP/1.1 200 OK\r\nContent-Length: \(6 + String(connection).count)\r\n\r\nclean-\(connection)",
                later: connection == 1 ? "HTTP/1.1 200 OK\r\nX-Poison: " : nil)
        }) { gateway, origin in
            let client = try await gateway.client()
            try await client.send(RawHTTPClient.get("/1"))
            #expect(try await client.response().bodyText == "clean-1")
            // The stray bytes arrive while the connection idles in the pool: it must be evicted,
            // not handed to the next request with a poisoned parser.
            try await Task.sleep(for: .milliseconds(400))
            try await client.send(RawHTTPClient.get("/2"))
            #expect(try await client.response().bodyText == "clean-2")
            #expect(origin.connectionsAccepted == 2)
            await client.close()
        }
    }

    @Test func earlyHintsReachHTTP11ClientsAndAnUnaskedUpgradeIsRefused() async throws {
        try await self.withRawOrigin({ connection, request in
            connection == 1 && request == 1
                ? .init(
                    "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                )
                : .init("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nraw")
        }) { gateway, _ in
            let hints = try await RawTCPClient.session(port: gateway.port, group: gateway.group) { session in
                try await session.send(RawHTTPClient.get("/"))
                await session.read { String(decoding: $0, as: UTF8.self).hasSuffix("\r\n\r\nok") }
            }
            let text = hints.text
            let early = try #require(text.range(of: "HTTP/1.1 103 Early Hints\r\n"))
            let final = try #require(text.range(of: "HTTP/1.1 200 OK\r\n"))
            #expect(early.lowerBound < final.lowerBound)
            #expect(text[early.upperBound..<final.lowerBound].contains("Link: </style.css>; rel=preload"))

            let upgrade = try await gateway.request(RawHTTPClient.get("/"))
            #expect(upgrade.status == 502)
            #expect(upgrade.header("proxy-status")?.hasPrefix("gatehouse; error=http_protocol_error") == true)
        }
    }

    @Test func aRefusedRequestStopsThePipelineEvenWithAPooledConnection() async throws {
        try await self.withRawOrigin({ _, request in .init("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") }) {
            gateway, origin in
            // Warm the pool so that a request slipping through would be forwarded at once.
            #expect(try await gateway.request(RawHTTPClient.get("/warm")).status == 200)
            let outcome = try await RawTCPClient.session(port: gateway.port, group: gateway.group) { session in
                try await session.send(
                    "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
                await session.readToEnd()
            }
            #expect(outcome.text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
            #expect(!outcome.text.contains("HTTP/1.1 200"))
            #expect(origin.requestsReceived == 1, "only the warm-up request reached the origin")
        }
    }
}
