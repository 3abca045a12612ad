import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// Keep-alive and framing semantics across the two hops: HEAD, `Expect: 100-continue`, HTTP/1.0
/// clients, an upstream asking to close, a client going away.
@Suite struct ConnectionSemanticsTests {
    @Test func headResponseHasNoBodyAndTheConnectionGoesOn() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.expectHeadResponse()
            try await client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try await client.response()
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            try await client.send(RawHTTPClient.get("/"))
            let get = try await client.response()
            #expect(get.bodyText == "hello from a\n")
            await client.close()
            #expect(gateway.origins[0].connectionsAccepted == 1)
        }
    }

    @Test func expectContinueIsAnsweredByTheGateway() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.send("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            // The collector skips the interim 100; the final answer needs the body, so a gateway that
            // did not send 100 would still work here — the body is sent at once, as curl does after 1 s.
            try await client.send("hello")
            let response = try await client.response()
            #expect(response.status == 200)
            #expect(response.bodyText == "5")
            await client.close()
        }
    }

    @Test func http10ClientGetsAClosedOrLengthDelimitedResponse() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.send("GET /chunked/1000 HTTP/1.0\r\nHost: x\r\n\r\n")
            let response = try await client.response()
            #expect(response.status == 200)
            #expect(response.bodyLength == 1000)
            #expect(!response.isTruncated)
            try await client.waitForClose()
            #expect(!client.isActive)
        }
    }

    @Test func upstreamConnectionCloseIsNotReused() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.send(RawHTTPClient.get("/close"))
            #expect(try await client.response().status == 200)
            try await client.send(RawHTTPClient.get("/"))
            #expect(try await client.response().status == 200)
            await client.close()
            #expect(gateway.origins[0].connectionsAccepted == 2)
            let log = try await gateway.accessLog(atLeast: 2)
            #expect(log.compactMap { $0["proxy_status"] as? String }.isEmpty)
        }
    }

    @Test func clientConnectionCloseIsHonoured() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.send(RawHTTPClient.get("/", headers: ["Connection: close"]))
            let response = try await client.response()
            #expect(response.status == 200)
            #expect(response.header("connection")?.lowercased() == "close")
            try await client.waitForClose()
        }
    }

    @Test func clientGoingAwayIsLoggedAs499() async throws {
        try await withGateway([.hang]) { gateway in
            let client = try await gateway.client()
            try await client.send(RawHTTPClient.get("/"))
            // Closing before any answer: wait until the origin has the request, so the exchange is in flight.
            let deadline = ContinuousClock.now + .seconds(10)
            while gateway.origins[0].requestsServed == 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
            await client.close()
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["status"] as? Int == 499)
            #expect(log["proxy_status"] is NSNull)
        }
    }
}
