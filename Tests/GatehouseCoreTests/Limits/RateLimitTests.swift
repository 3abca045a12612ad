import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// `routes[].rate_limit` through a real gateway with two event loops: the burst exactly, then 429
/// `http_request_denied` with `Retry-After` and the RateLimit fields, counted once in the metrics
/// and the access log; keys by header and by address, through trusted proxies.
@Suite(.serialized) struct RateLimitTests {
    static let admin = Admin(address: HostPort(host: "127.0.0.1", port: 0))

    static func routes(_ limit: RateLimit) -> [Route] {
        [Route(name: "api", match: .init(), cluster: "app", rateLimit: limit)]
    }

    /// The status of `GET /` on a fresh connection (fresh connections land on both loops).
    static func send(_ gateway: TestGateway, headers: [String] = []) async throws -> TestResponse {
        try await gateway.request(RawHTTPClient.get("/", headers: headers))
    }

    static func code(_ gateway: TestGateway, headers: [String] = []) async throws -> Int {
        try await Self.send(gateway, headers: headers).status
    }

    @Test func theBurstPassesExactlyThenEveryLoopRefusesWith429AndTheFields() async throws {
        // One token a minute: none comes back during the test, so the count is exact.
        let limit = RateLimit(requests: 1, period: .seconds(60), burst: 5)
        try await withGateway([.healthy(name: "a")], routes: Self.routes(limit), threads: 2, admin: Self.admin) { gateway in
            var responses: [TestResponse] = []
            for _ in 0..<8 { responses.append(try await Self.send(gateway)) }
            #expect(responses.map(\.status) == [200, 200, 200, 200, 200, 429, 429, 429])
            // Allowed: the quota left after each, and the policy (q = burst, w = seconds to refill).
            for (index, response) in responses[0..<5].enumerated() {
                #expect(response.header("ratelimit")?.hasPrefix("\"api\";r=\(4 - index);t=") == true)
            }
            #expect(responses[0].header("ratelimit-policy") == "\"api\";q=5;w=300")
            for refused in responses[5...] {
                #expect(refused.header("proxy-status")?.contains("error=http_request_denied") == true)
                let retryAfter = try #require(refused.header("retry-after").flatMap { Int($0) })
                #expect((50...60).contains(retryAfter))
                #expect(refused.header("ratelimit") == "\"api\";r=0;t=\(retryAfter)")
                #expect(refused.header("ratelimit-policy") == "\"api\";q=5;w=300")
            }
            #expect(gateway.origins[0].requestsServed == 5)
            let log = try await gateway.accessLog(atLeast: 8)
            #expect(log.filter { ($0["status"] as? Int) == 429 && ($0["proxy_status"] as? String) == "http_request_denied" }.count == 3)
            let metrics = try await MetricsTests.scrape(gateway)
            #expect(metrics.value("gatehouse_gateway_errors_total", ["error": "http_request_denied", "code": "429"]) == 3)
            // /admin/config shows the limit and the client timeouts as the gateway runs them.
            let config = try await gateway.adminRequest("GET", "/admin/config")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(config.body)) as? [String: Any])
            let route = try #require((json["routes"] as? [[String: Any]])?.first)
            let shown = try #require(route["rate_limit"] as? [String: Any])
            #expect(shown["rate"] as? String == "1/m")
            #expect(shown["burst"] as? Int == 5)
            #expect(shown["key"] as? String == "client_address")
            #expect((json["client_timeouts"] as? [String: Any])?["header"] as? String == "10s")
        }
    }

    @Test func tokensComeBackAtTheConfiguredRate() async throws {
        // 20/s with a burst of 2, asked ~100 times a second for about a second.
        let limit = RateLimit(requests: 20, burst: 2)
        try await withGateway([.healthy(name: "a")], routes: Self.routes(limit), threads: 2) { gateway in
            let client = try await gateway.client()
            let clock = ContinuousClock()
            let start = clock.now
            var allowed = 0
            var sent = 0
            while clock.now - start < .seconds(1) {
                try await client.send(RawHTTPClient.get("/"))
                let response = try await client.response()
                sent += 1
                if response.status == 200 { allowed += 1 } else { #expect(response.status == 429) }
                try await Task.sleep(for: .milliseconds(10))
            }
            let elapsed = Double((clock.now - start).components.seconds) + Double((clock.now - start).components.attoseconds) / 1e18
            await client.close()
            // Never more than the bucket plus what the rate refilled. Tokens do come back (more
            // than the burst got through), but how many depends on this client's pace: a stall
            // of the machine loses the tokens a full bucket cannot hold. The exact refill is
            // TokenBucketTests' (an injected clock).
            print("rate limit 20/s burst 2: \(allowed) of \(sent) requests allowed in \(String(format: "%.2f", elapsed)) s")
            #expect(Double(allowed) <= 2 + 20 * elapsed + 1)
            #expect(allowed > 2 || sent <= 2)
        }
    }

    @Test func aHeaderKeyCountsEachKeyApartAndRequestsWithoutItByAddress() async throws {
        let limit = RateLimit(requests: 1, period: .seconds(60), burst: 2, key: .header("x-api-key"))
        try await withGateway([.healthy(name: "a")], routes: Self.routes(limit), threads: 2) { gateway in
            let alice = ["X-API-Key: alice"]
            let bob = ["X-API-Key: bob"]
            // No key (or an empty one): counted under the client's address, a bucket of its own.
            let noKey: [String] = []
            var codes: [Int] = []
            for headers in [alice, alice, alice, bob, bob, bob, noKey, ["X-API-Key: "], noKey] {
                codes.append(try await Self.code(gateway, headers: headers))
            }
            #expect(codes == [200, 200, 429, 200, 200, 429, 200, 200, 429])
        }
    }

    @Test func theAddressBehindATrustedProxyIsTheRightmostUntrustedForwardedFor() async throws {
        let limit = RateLimit(requests: 1, period: .seconds(60), burst: 1)
        let loopback = AddressRange(network: [127, 0, 0, 1], prefixLength: 32)
        try await withGateway(
            [.healthy(name: "a")], routes: Self.routes(limit), trustedProxies: [loopback], threads: 2
        ) { gateway in
            // A trusted hop on the right is skipped; what the client wrote on the left proves nothing;
            // no X-Forwarded-For at all: the peer itself.
            let chains = [
                "203.0.113.5", "203.0.113.5", "203.0.113.6", "203.0.113.5, 127.0.0.1", "198.51.100.1, 203.0.113.7",
                "198.51.100.2, 203.0.113.7", nil,
            ]
            var codes: [Int] = []
            for chain in chains {
                codes.append(try await Self.code(gateway, headers: chain.map { ["X-Forwarded-For: \($0)"] } ?? []))
            }
            #expect(codes == [200, 429, 200, 429, 200, 429, 200])
        }
        // From an untrusted peer the header is ignored: every request is 127.0.0.1's.
        try await withGateway([.healthy(name: "a")], routes: Self.routes(limit), threads: 2) { gateway in
            let first = try await Self.code(gateway, headers: ["X-Forwarded-For: 203.0.113.8"])
            let second = try await Self.code(gateway, headers: ["X-Forwarded-For: 203.0.113.9"])
            #expect(first == 200)
            #expect(second == 429)
        }
    }
}
