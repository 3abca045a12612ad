import Foundation
import GatehouseConfig
import GatehouseErrors
import GatehouseOrigins
import Synchronization
import Testing

@testable import GatehouseCore

extension Resilience {
    /// The cluster's circuit breakers against real origins: beyond a limit, 503
    /// `connection_limit_reached` at once with `Retry-After`; below it again, requests go through,
    /// and the breaker's counters return to what is really open.
    @Suite(.timeLimit(.minutes(1))) struct CircuitBreakerTests {
        static func expectLimitReached(_ response: TestResponse, _ comment: Comment? = nil) {
            #expect(response.status == 503, comment)
            #expect(response.header("proxy-status")?.contains("error=connection_limit_reached") == true, comment)
            #expect(response.header("retry-after") == "1", comment)
        }

        @Test func maxRequestsAnswersTheThirdConcurrentRequestAtOnce() async throws {
            try await withGateway([.healthy(name: "ok")], limits: Cluster.Limits(maxRequests: 2)) { gateway in
                let origin = gateway.origins[0]
                async let first = gateway.request(RawHTTPClient.get("/slow/2000"))
                async let second = gateway.request(RawHTTPClient.get("/slow/2000"))
                #expect(try await Resilience.eventually { origin.requestsServed == 2 })
                let refused = try await gateway.request(RawHTTPClient.get("/"))
                // At once: answered while both slow requests are still in flight, not queued behind them.
                #expect(Resilience.breaker(gateway).requests.load(ordering: .relaxed) == 2)
                Self.expectLimitReached(refused)
                #expect(try await first.status == 200)
                #expect(try await second.status == 200)
                #expect(origin.requestsServed == 2)
                #expect(Resilience.breaker(gateway).tripped.load(ordering: .relaxed) == 1)
                #expect(try await Resilience.eventually { Resilience.breakerIsIdle(gateway, connections: 2) })
                // Below the limit again: two at a time go through.
                async let third = gateway.request(RawHTTPClient.get("/slow/50"))
                async let fourth = gateway.request(RawHTTPClient.get("/slow/50"))
                #expect(try await third.status == 200)
                #expect(try await fourth.status == 200)
                let log = try await gateway.accessLog(atLeast: 5)
                let shed = log.filter { $0["status"] as? Int == 503 }
                #expect(shed.count == 1)
                #expect(shed.first?["proxy_status"] as? String == "connection_limit_reached")
                #expect(gateway.proxy.stats.snapshot().errorsByType[.connectionLimitReached] == 1)
            }
        }

        @Test func maxConnectionsRefusesASecondConnectionButReusesTheFirst() async throws {
            try await withGateway([.healthy(name: "ok")], limits: Cluster.Limits(maxConnections: 1)) { gateway in
                let origin = gateway.origins[0]
                async let slow = gateway.request(RawHTTPClient.get("/slow/1000"))
                #expect(try await Resilience.eventually { origin.requestsServed == 1 })
                // The only connection is busy: a second one would exceed the limit.
                Self.expectLimitReached(try await gateway.request(RawHTTPClient.get("/")))
                #expect(Resilience.breaker(gateway).requests.load(ordering: .relaxed) == 1)
                #expect(try await slow.status == 200)
                #expect(try await Resilience.eventually { Resilience.breakerIsIdle(gateway, connections: 1) })
                // Once it is idle again, it carries the next requests.
                for index in 0..<3 {
                    #expect(try await gateway.request(RawHTTPClient.get("/?n=\(index)")).status == 200)
                }
                #expect(origin.connectionsAccepted == 1)
                #expect(Resilience.breaker(gateway).tripped.load(ordering: .relaxed) == 1)
                #expect(try await Resilience.eventually { Resilience.breakerIsIdle(gateway, connections: 1) })
            }
        }

        /// A gateway whose only server is a ``StalledListener``: its connects wait (until `connect`, or
        /// until the test admits one).
        private static func withStalledServer(
            connect: Duration, limits: Cluster.Limits,
            _ body: (TestGateway, ClusterBreaker, StalledListener) async throws -> Void
        ) async throws {
            let stalled = try StalledListener()
            defer { stalled.stop() }
            let timeouts = Cluster.Timeouts(connect: connect, responseHeader: .seconds(5), idle: .seconds(5), request: .seconds(60))
            try await withGateway([], extraServers: [stalled.address], timeouts: timeouts, limits: limits) { gateway in
                try await body(gateway, Resilience.breaker(gateway), stalled)
            }
        }

        @Test func maxPendingRequestsRefusesWhileAConnectHangs() async throws {
            try await Self.withStalledServer(connect: .seconds(2), limits: Cluster.Limits(maxPendingRequests: 1)) {
                gateway, breaker, _ in
                async let hanging = gateway.request(RawHTTPClient.get("/"))
                #expect(try await Resilience.eventually { breaker.pending.load(ordering: .relaxed) == 1 })
                let refused = try await gateway.request(RawHTTPClient.get("/"))
                // At once: the first connect is still pending (it gives up after 2 s).
                #expect(breaker.pending.load(ordering: .relaxed) == 1)
                Self.expectLimitReached(refused)
                let timedOut = try await hanging
                #expect(timedOut.status == 504)
                #expect(timedOut.header("proxy-status")?.contains("error=connection_timeout") == true)
                #expect(try await Resilience.eventually { Resilience.breakerIsIdle(gateway, connections: 0) })
            }
        }

        @Test func aClientLeavingDuringTheConnectLeavesNoConnectionCounted() async throws {
            // The connect completes after the client has gone: the gateway closes the new connection
            // at once, while NIO is still activating it, and NIO then never tells the handler it
            // closed. Counted as open, it stayed counted for ever, and with max_connections: 1 every
            // later request was refused with 503 connection_limit_reached.
            try await Self.withStalledServer(connect: .seconds(8), limits: Cluster.Limits(maxConnections: 1)) {
                gateway, breaker, stalled in
                let client = try ResettingClient(port: gateway.port)
                try client.send("GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
                #expect(try await Resilience.eventually { breaker.pending.load(ordering: .relaxed) == 1 })
                client.reset()
                #expect(try await Resilience.eventually { breaker.requests.load(ordering: .relaxed) == 0 })
                #expect(breaker.pending.load(ordering: .relaxed) == 1, "the connect is still waiting")
                try stalled.admitOne()
                #expect(try await Resilience.eventually { breaker.pending.load(ordering: .relaxed) == 0 })
                #expect(
                    try await Resilience.eventually { breaker.connections.load(ordering: .relaxed) == 0 },
                    "the connection the gateway closed is not counted as open")
                #expect(breaker.tripped.load(ordering: .relaxed) == 0)
            }
        }

        @Test func retriesAndRefusedConnectsLeakNoBreakerCount() async throws {
            // Twice what four clients need: a request's slot is given back when its last write
            // completes, which on a loaded machine can come after the client has sent the next
            // round; a leak still shows in the counts checked at the end.
            let limits = Cluster.Limits(maxConnections: 8, maxPendingRequests: 8, maxRequests: 8)
            try await withGateway(
                [.refuse, .closeBeforeHead, .healthy(name: "ok")], limits: limits,
                // A budget that never runs out: this test is about the breakers' counts.
                retries: Cluster.Retries(attempts: 3, conditions: [.connectFailure, .reset], budgetPercent: 100, minRetriesPerSecond: 1_000)
            ) { gateway in
                // Four at a time, twenty rounds: every request fits the limits, whatever its tries cost.
                for round in 0..<20 {
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        for index in 0..<4 {
                            group.addTask { try await gateway.request(RawHTTPClient.get("/?r=\(round)&n=\(index)")).status }
                        }
                        for try await status in group { #expect(status == 200) }
                    }
                }
                #expect(Resilience.breaker(gateway).tripped.load(ordering: .relaxed) == 0)
                #expect(gateway.proxy.stats.snapshot().retries > 0)
                // What remains open is what the pool holds: connections to the healthy server only.
                #expect(
                    try await Resilience.eventually {
                        let breaker = Resilience.breaker(gateway)
                        return breaker.requests.load(ordering: .relaxed) == 0 && breaker.pending.load(ordering: .relaxed) == 0
                            && breaker.connections.load(ordering: .relaxed) == gateway.origins[2].connectionsAccepted
                    })
            }
        }
    }
}
