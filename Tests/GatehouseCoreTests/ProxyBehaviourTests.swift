import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// The healthy path: forwarding, bodies both ways, keep-alive reuse, proxy header semantics,
/// routing rewrites and request-framing refusals, against real loopback origins.
@Suite struct ProxyBehaviourTests {
    @Test func getIsForwardedWithViaAndRequestID() async throws {
        try await withGateway([.healthy(name: "app-1")]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 200)
            #expect(response.bodyText == "hello from app-1\n")
            #expect(response.header("via")?.hasSuffix("1.1 gatehouse") == true)
            #expect(response.header("x-request-id")?.count == 15)
            #expect(response.header("proxy-status") == nil)
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["status"] as? Int == 200)
            #expect(log["proxy_status"] is NSNull)
            #expect(log["upstream_status"] as? Int == 200)
            #expect(log["bytes"] as? Int == 17)
            #expect(log["method"] as? String == "GET")
        }
    }

    @Test func postBodyIsEchoedAndChunkedUploadIsStreamed() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
            let echoed = try await client.response()
            #expect(echoed.status == 200)
            #expect(echoed.bodyText == "hello world")
            try await client.send("POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            let sunk = try await client.response()
            #expect(sunk.status == 200)
            #expect(sunk.bodyText == "11")
            await client.close()
        }
    }

    @Test func keepAliveReusesOneUpstreamConnection() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            for _ in 0..<5 {
                try await client.send(RawHTTPClient.get("/"))
                #expect(try await client.response().status == 200)
            }
            await client.close()
            #expect(gateway.origins[0].connectionsAccepted == 1)
            let log = try await gateway.accessLog(atLeast: 5)
            #expect(log.compactMap { $0["reused"] as? Bool } == [false, true, true, true, true])
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.send(RawHTTPClient.get("/status/201") + RawHTTPClient.get("/status/202") + RawHTTPClient.get("/status/203"))
            #expect(try await client.response().status == 201)
            #expect(try await client.response().status == 202)
            #expect(try await client.response().status == 203)
            await client.close()
        }
    }

    @Test func roundRobinSpreadsOverServers() async throws {
        try await withGateway([.healthy(name: "a"), .healthy(name: "b")]) { gateway in
            var names: [String] = []
            for _ in 0..<4 { names.append(try await gateway.request(RawHTTPClient.get("/")).bodyText) }
            #expect(Set(names) == ["hello from a\n", "hello from b\n"])
            #expect(names[0] != names[1] && names[0] == names[2])
        }
    }

    @Test func hopByHopHeadersStopAndForwardingHeadersAreSet() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let response = try await gateway.request(
                RawHTTPClient.get(
                    "/headers", host: "shop.example.com",
                    headers: [
                        "Connection: keep-alive, X-Secret", "X-Secret: 1", "Keep-Alive: timeout=5", "TE: trailers",
                        "Proxy-Authorization: Basic abc", "X-Forwarded-For: 6.6.6.6", "X-Request-Id: client-id-1",
                        "X-Kept: yes",
                    ]))
            #expect(response.status == 200)
            #expect(response.header("x-request-id") == "client-id-1")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            let pairs = try #require(json["headers"] as? [[String]])
            var headers: [String: [String]] = [:]
            for pair in pairs where pair.count == 2 { headers[pair[0].lowercased(), default: []].append(pair[1]) }
            for removed in ["connection", "x-secret", "keep-alive", "te", "proxy-authorization"] {
                #expect(headers[removed] == nil, "\(removed) must not reach the upstream")
            }
            // Not a trusted proxy: its X-Forwarded-For is replaced, not extended.
            #expect(headers["x-forwarded-for"] == ["127.0.0.1"])
            #expect(headers["x-forwarded-proto"] == ["http"])
            #expect(headers["x-forwarded-host"] == ["shop.example.com"])
            #expect(headers["forwarded"] == ["for=127.0.0.1;host=shop.example.com;proto=http"])
            #expect(headers["x-request-id"] == ["client-id-1"])
            #expect(headers["host"] == ["shop.example.com"])
            #expect(headers["via"] == ["1.1 gatehouse"])
            #expect(headers["x-kept"] == ["yes"])
        }
    }

    @Test func trustedProxyForwardingChainIsExtended() async throws {
        let loopback = AddressRange(network: [127, 0, 0, 0], prefixLength: 8)
        try await withGateway([.healthy(name: "a")], trustedProxies: [loopback]) { gateway in
            let response = try await gateway.request(
                RawHTTPClient.get("/headers", headers: ["X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https"]))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            let pairs = try #require(json["headers"] as? [[String]])
            #expect(pairs.contains(["X-Forwarded-For", "203.0.113.7, 127.0.0.1"]))
            #expect(pairs.contains(["X-Forwarded-Proto", "https"]))
        }
    }

    @Test func routeStripsPrefixAndRewritesHost() async throws {
        let routes = [
            Route(name: "api", match: .init(pathPrefix: "/api/"), cluster: "app", stripPrefix: true, hostRewrite: .fixed("internal.app")),
            Route(name: "v2", match: .init(pathPrefix: "/v2"), cluster: "app", rewritePrefix: "/v1", hostRewrite: .upstream),
        ]
        try await withGateway([.healthy(name: "a")], routes: routes) { gateway in
            let stripped = try await gateway.request(RawHTTPClient.get("/api/headers?x=1"))
            let strippedJSON = try #require(try JSONSerialization.jsonObject(with: Data(stripped.body)) as? [String: Any])
            #expect(strippedJSON["path"] as? String == "/headers?x=1")
            #expect((strippedJSON["headers"] as? [[String]])?.contains(["Host", "internal.app"]) == true)
            let rewritten = try await gateway.request(RawHTTPClient.get("/v2/x"))
            #expect(rewritten.status == 404 || rewritten.status == 200)
            let log = try await gateway.accessLog(atLeast: 2)
            #expect(log.last?["route"] as? String == "v2")
        }
    }

    static let ambiguous: [(String, String)] = [
        ("CL and TE", "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("two differing CL", "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        ("two equal CL", "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
        ("non-decimal CL", "POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"),
        ("TE not chunked", "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
        ("invalid chunk size", "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"),
        ("bare CR", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"),
        ("no Host", "GET / HTTP/1.1\r\nX-A: a\r\n\r\n"),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ]

    @Test(arguments: Self.ambiguous)
    func ambiguousFramingIsRefusedNeverForwarded(_ name: String, _ raw: String) async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let client = try await gateway.client()
            try await client.send(raw)
            let response = try await client.response()
            #expect(response.status == 400 || response.status == 501, "\(name)")
            #expect(response.header("proxy-status")?.hasPrefix("gatehouse; error=http_request_error") == true)
            try await client.waitForClose()
            #expect(gateway.origins[0].requestsServed == 0, "\(name) must not reach the upstream")
        }
    }

    @Test func requestLimitsAnswer413And431() async throws {
        let limits = RequestLimits(maxHeaderBytes: 2048, maxBodyBytes: 10)
        try await withGateway([.healthy(name: "a")], requestLimits: limits) { gateway in
            let declared = try await gateway.request("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
            #expect(declared.status == 413)
            let chunked = try await gateway.request(
                "POST /sink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n")
            #expect(chunked.status == 413)
            let bigHeader = try await gateway.request(RawHTTPClient.get("/", headers: ["X-Big: " + String(repeating: "a", count: 4096)]))
            #expect(bigHeader.status == 431)
            let small = try await gateway.request("POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            #expect(small.status == 200)
            #expect(gateway.origins[0].requestsServed == 1)
        }
    }
}
