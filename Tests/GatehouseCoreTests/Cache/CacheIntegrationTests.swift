import Foundation
import GatehouseConfig
import GatehouseOrigins
import NIOCore
import Synchronization
import Testing

@testable import GatehouseCore

/// The response cache through a real gateway in front of the healthy app's `/cacheable/…` route,
/// which counts its requests: hits, revalidation, Vary, what is never stored, eviction,
/// coalescing, and stale-if-error with the origin gone.
@Suite(.timeLimit(.minutes(2))) struct CacheIntegrationTests {
    /// `/cacheable/…` through the cache; `/plain/…` to the same origin path without it.
    static func routes(_ cache: RouteCache = RouteCache()) -> [Route] {
        [
            Route(name: "cached", match: .init(pathPrefix: "/cacheable/"), cluster: "app", cache: cache),
            Route(name: "plain", match: .init(pathPrefix: "/plain/"), cluster: "app", rewritePrefix: "/cacheable/"),
        ]
    }

    static let admin = Admin(address: HostPort(host: "127.0.0.1", port: 0))

    /// A fresh query per test run keeps keys apart.
    static func get(_ path: String, _ headers: [String] = []) -> String {
        RawHTTPClient.get(path, headers: headers)
    }

    @Test func aFreshResponseIsServedFromTheCacheWithAgeAndCacheStatus() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes()) { gateway in
            let origin = gateway.origins[0]
            let first = try await gateway.request(Self.get("/cacheable/max-age=60"))
            #expect(first.status == 200)
            #expect(first.header("cache-status") == "gatehouse; fwd=miss; fwd-status=200; stored")
            let second = try await gateway.request(Self.get("/cacheable/max-age=60"))
            #expect(second.status == 200)
            #expect(second.bodyText == "cacheable lang=-\n")
            #expect(second.header("cache-status")?.hasPrefix("gatehouse; hit; ttl=") == true)
            #expect(second.header("age") != nil)
            #expect(second.header("etag") == "\"cacheable-v1\"")
            #expect(second.header("x-request-id") != first.header("x-request-id"))
            #expect(origin.requestsServed == 1)
            // HEAD is answered from the GET's entry, with its length and no body.
            let client = try await gateway.client()
            try await client.expectHeadResponse()
            try await client.send("HEAD /cacheable/max-age=60 HTTP/1.1\r\nHost: example.test\r\n\r\n")
            let head = try await client.response()
            await client.close()
            #expect(head.status == 200)
            #expect(head.header("content-length") == "17")
            #expect(head.header("cache-status")?.hasPrefix("gatehouse; hit") == true)
            // The client's own conditional request is answered 304 from the entry.
            let conditional = try await gateway.request(Self.get("/cacheable/max-age=60", ["If-None-Match: \"cacheable-v1\""]))
            #expect(conditional.status == 304)
            #expect(conditional.header("etag") == "\"cacheable-v1\"")
            #expect(origin.requestsServed == 1)
            let log = try await gateway.accessLog(atLeast: 4)
            #expect(log.compactMap { $0["cache"] as? String } == ["miss", "hit", "hit", "hit"])
        }
    }

    @Test func aStaleEntryIsRevalidatedAndA304RefreshesIt() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes()) { gateway in
            let origin = gateway.origins[0]
            // max-age=0: stored, stale at once, so every use asks the origin with its validators.
            let first = try await gateway.request(Self.get("/cacheable/max-age=0"))
            #expect(first.status == 200)
            let second = try await gateway.request(Self.get("/cacheable/max-age=0"))
            #expect(second.status == 200)
            #expect(second.bodyText == "cacheable lang=-\n")
            #expect(second.header("cache-status")?.hasPrefix("gatehouse; fwd=stale; fwd-status=304; stored") == true)
            #expect(origin.requestsServed == 2)
            let log = try await gateway.accessLog(atLeast: 2)
            #expect(log.last?["upstream_status"] as? Int == 304)
            #expect(log.last?["status"] as? Int == 200)
            #expect(log.last?["cache"] as? String == "revalidated")
        }
    }

    @Test func varyKeepsAVariantPerSelectingValue() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes()) { gateway in
            let origin = gateway.origins[0]
            let french = try await gateway.request(Self.get("/cacheable/max-age=60", ["Accept-Language: fr"]))
            let german = try await gateway.request(Self.get("/cacheable/max-age=60", ["Accept-Language: de"]))
            let frenchAgain = try await gateway.request(Self.get("/cacheable/max-age=60", ["Accept-Language: fr"]))
            let germanAgain = try await gateway.request(Self.get("/cacheable/max-age=60", ["Accept-Language: de"]))
            #expect(french.bodyText == "cacheable lang=fr\n")
            #expect(german.bodyText == "cacheable lang=de\n")
            #expect(frenchAgain.bodyText == "cacheable lang=fr\n")
            #expect(germanAgain.bodyText == "cacheable lang=de\n")
            #expect(frenchAgain.header("cache-status")?.hasPrefix("gatehouse; hit") == true)
            #expect(origin.requestsServed == 2)
        }
    }

    @Test(arguments: ["private,max-age=60", "no-store", "max-age=60,set-cookie", "none"])
    func responsesAPublicCacheMustNotKeepAreNotStored(directives: String) async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes()) { gateway in
            let first = try await gateway.request(Self.get("/cacheable/\(directives)"))
            let second = try await gateway.request(Self.get("/cacheable/\(directives)"))
            #expect(first.status == 200)
            #expect(second.status == 200)
            #expect(second.header("cache-status")?.contains("fwd=miss") == true)
            #expect(second.header("cache-status")?.contains("stored") == false)
            #expect(gateway.origins[0].requestsServed == 2)
            #expect(gateway.proxy.cache.stats().entries == 0)
        }
    }

    @Test func requestsWithAuthorizationAreOnlySharedWhenTheResponseSaysSo() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes()) { gateway in
            _ = try await gateway.request(Self.get("/cacheable/max-age=60", ["Authorization: Bearer a"]))
            let other = try await gateway.request(Self.get("/cacheable/max-age=60", ["Authorization: Bearer b"]))
            #expect(other.header("cache-status")?.contains("detail=authorization") == true)
            #expect(gateway.origins[0].requestsServed == 2)
            _ = try await gateway.request(Self.get("/cacheable/public,max-age=60", ["Authorization: Bearer a"]))
            let shared = try await gateway.request(Self.get("/cacheable/public,max-age=60", ["Authorization: Bearer b"]))
            #expect(shared.header("cache-status")?.hasPrefix("gatehouse; hit") == true)
            #expect(gateway.origins[0].requestsServed == 3)
        }
    }

    @Test func theByteBudgetEvictsTheLeastRecentlyUsed() async throws {
        try await withGateway(
            [.healthy(name: "app")], routes: Self.routes(),
            configure: { $0.cache = CacheStorage(maxBytes: 4096, maxObjectBytes: 1024) }
        ) { gateway in
            for index in 0..<30 {
                let response = try await gateway.request(Self.get("/cacheable/max-age=60?n=\(index)"))
                #expect(response.status == 200)
            }
            let stats = gateway.proxy.cache.stats()
            #expect(stats.bytes <= 4096)
            #expect(stats.entries > 0 && stats.entries < 30)
            #expect(stats.evictions == 30 - stats.entries)
            // The newest is still there, the oldest went.
            _ = try await gateway.request(Self.get("/cacheable/max-age=60?n=29"))
            #expect(gateway.origins[0].requestsServed == 30)
            _ = try await gateway.request(Self.get("/cacheable/max-age=60?n=0"))
            #expect(gateway.origins[0].requestsServed == 31)
        }
    }

    @Test func aResponseLargerThanMaxObjectBytesStreamsButIsNotKept() async throws {
        try await withGateway(
            [.healthy(name: "app")], routes: Self.routes(),
            configure: { $0.cache = CacheStorage(maxBytes: 1 << 20, maxObjectBytes: 8) }
        ) { gateway in
            let first = try await gateway.request(Self.get("/cacheable/max-age=60"))
            #expect(first.bodyText == "cacheable lang=-\n")
            #expect(first.header("cache-status")?.contains("detail=too-large") == true)
            _ = try await gateway.request(Self.get("/cacheable/max-age=60"))
            #expect(gateway.origins[0].requestsServed == 2)
            #expect(gateway.proxy.cache.stats().entries == 0)
        }
    }

    /// Sends `count` requests at once, each on its own connection; returns the responses.
    static func concurrently(_ gateway: TestGateway, count: Int, _ request: String) async throws -> [TestResponse] {
        try await withThrowingTaskGroup(of: TestResponse.self) { group in
            for _ in 0..<count {
                group.addTask { try await gateway.request(request, timeout: .seconds(30)) }
            }
            var responses: [TestResponse] = []
            for try await response in group { responses.append(response) }
            return responses
        }
    }

    @Test func concurrentMissesForOneKeyMakeOneUpstreamRequest() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes(), threads: 2) { gateway in
            // The origin answers after 300 ms, so the 100 requests overlap the first one's fetch.
            let responses = try await Self.concurrently(gateway, count: 100, Self.get("/cacheable/max-age=60,delay=300"))
            #expect(responses.count == 100)
            #expect(responses.allSatisfy { $0.status == 200 && $0.bodyText == "cacheable lang=-\n" })
            #expect(gateway.origins[0].requestsServed == 1)
            let coalesced = responses.filter { $0.header("cache-status")?.contains("detail=coalesced") == true }.count
            print("coalescing: 100 concurrent misses → \(gateway.origins[0].requestsServed) upstream request(s), \(coalesced) answered as coalesced waiters")
        }
    }

    @Test func waitersGoUpstreamThemselvesWhenTheFirstResponseIsNotStorable() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes(), threads: 2) { gateway in
            let responses = try await Self.concurrently(gateway, count: 10, Self.get("/cacheable/no-store,delay=200"))
            #expect(responses.allSatisfy { $0.status == 200 })
            #expect(gateway.origins[0].requestsServed == 10)
        }
    }

    @Test func withinStaleWhileRevalidateOneRequestRevalidatesAndTheOthersGetTheStaleCopy() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes(), threads: 2) { gateway in
            // max-age=0: stale at once; the origin takes a second, so the others arrive while it revalidates.
            let path = "/cacheable/max-age=0,stale-while-revalidate=60,delay=1000"
            _ = try await gateway.request(Self.get(path))
            let responses = try await Self.concurrently(gateway, count: 10, Self.get(path))
            #expect(responses.allSatisfy { $0.status == 200 && $0.bodyText == "cacheable lang=-\n" })
            let fields = responses.map { $0.header("cache-status") ?? "-" }
            let stale = fields.filter { $0.hasSuffix("; detail=stale-while-revalidate") }
            let revalidated = fields.filter { $0.hasPrefix("gatehouse; fwd=stale; fwd-status=304;") }
            #expect(!stale.isEmpty)
            #expect(stale.count + revalidated.count == 10, "\(fields)")
            #expect(gateway.origins[0].requestsServed == 1 + revalidated.count)
            #expect(stale.allSatisfy { $0.contains("; ttl=-") })
        }
    }

    @Test func anUnsafeMethodDropsTheStoredResponses() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes()) { gateway in
            _ = try await gateway.request(Self.get("/cacheable/max-age=60"))
            let post = try await gateway.request(
                "POST /cacheable/max-age=60 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 0\r\n\r\n")
            #expect(post.header("cache-status") == "gatehouse; fwd=bypass")
            let after = try await gateway.request(Self.get("/cacheable/max-age=60"))
            #expect(after.header("cache-status")?.contains("fwd=miss") == true)
            #expect(gateway.origins[0].requestsServed == 3)
        }
    }

    @Test func anUpstream5xxIsAnsweredFromAStaleCopyAndStillCounted() async throws {
        try await withGateway([.healthy(name: "app")], routes: Self.routes(), admin: Self.admin) { gateway in
            _ = try await gateway.request(Self.get("/cacheable/max-age=0"))
            let rescued = try await gateway.request(Self.get("/cacheable/max-age=0", ["X-Origin-Status: 503"]))
            #expect(rescued.status == 200)
            #expect(rescued.bodyText == "cacheable lang=-\n")
            #expect(rescued.header("cache-status")?.contains("fwd=stale; fwd-status=503") == true)
            #expect(rescued.header("cache-status")?.contains("detail=\"stale-if-error: received 503\"") == true)
            let log = try await gateway.accessLog(atLeast: 2)
            #expect(log.last?["cache"] as? String == "stale_if_error")
            #expect(log.last?["received_status"] as? Int == 503)
            #expect(log.last?["status"] as? Int == 200)
            let metrics = try await gateway.adminRequest("GET", "/metrics").bodyText
            #expect(metrics.contains("gatehouse_upstream_5xx_responses_total{"))
            #expect(metrics.contains("gatehouse_cache_responses_total{route=\"cached\",result=\"stale_if_error\"} 1"))
        }
    }

    @Test func theOriginKilledMidRunClientsKeepGetting200FromStale() async throws {
        let cache = RouteCache(staleIfError: .seconds(600))
        try await withGateway([.healthy(name: "app")], routes: Self.routes(cache), admin: Self.admin) { gateway in
            // max-age=1: fresh for a second, then every request goes to the origin first.
            let rounds = 60
            let killAt = 20
            var errorsWithCache = 0
            var errorsWithoutCache = 0
            for round in 0..<rounds {
                if round == killAt { try await gateway.kill(origin: 0) }
                let cached = try await gateway.request(Self.get("/cacheable/max-age=1"))
                let plain = try await gateway.request(Self.get("/plain/max-age=1"))
                if cached.status != 200 { errorsWithCache += 1 }
                if plain.status != 200 { errorsWithoutCache += 1 }
                if round >= killAt, round % 10 == 0 {
                    // A second passes, so the copy is stale for sure and stale-if-error answers.
                    try await Task.sleep(for: .milliseconds(1100))
                }
            }
            print("stale-if-error: origin stopped after \(killAt) of \(rounds) rounds; errors seen by clients: with the cache \(errorsWithCache), without the cache \(errorsWithoutCache)")
            #expect(errorsWithCache == 0)
            #expect(errorsWithoutCache == rounds - killAt)
            // The failures are still failures: logged with their type and counted, marked as rescued.
            let log = try await gateway.accessLog(atLeast: rounds * 2)
            let rescued = log.filter { $0["cache"] as? String == "stale_if_error" }
            #expect(!rescued.isEmpty)
            #expect(rescued.allSatisfy { $0["proxy_status"] as? String == "connection_refused" && $0["status"] as? Int == 200 })
            let errors = try await gateway.adminJSON("/admin/errors")
            let listed = (errors["errors"] as? [[String: Any]]) ?? []
            #expect(listed.contains { $0["status"] as? Int == 200 && $0["served_stale"] as? Bool == true })
            let stats = try await gateway.adminJSON("/admin/cache")
            #expect(((stats["responses"] as? [String: Any])?["stale_if_error"] as? Int ?? 0) == rescued.count)
            let metrics = try await gateway.adminRequest("GET", "/metrics").bodyText
            #expect(metrics.contains("gatehouse_gateway_errors_total{cluster=\"app\""))
            #expect(metrics.contains("gatehouse_cache_entries 1"))
        }
    }
}
