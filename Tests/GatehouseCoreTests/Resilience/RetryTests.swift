import Foundation
import GatehouseConfig
import GatehouseOrigins
import Synchronization
import Testing

@testable import GatehouseCore

extension Resilience {
    /// Retries against real loopback origins: to another server, only when safe, on statuses, within
    /// the budget, and after a per-try timeout. Every retried request lists its tries in the access log.
    @Suite(.timeLimit(.minutes(1))) struct RetryTests {
        static let connectFailures = Cluster.Retries(attempts: 2, conditions: [.connectFailure])
        static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
        static let busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 5\r\n\r\nbusy\n"

        @Test func aRefusedConnectionIsRetriedOnTheOtherServer() async throws {
            try await withGateway([.refuse, .healthy(name: "ok")], retries: Self.connectFailures) { gateway in
                let refused = gateway.origins[0].address
                let healthy = gateway.origins[1].address
                for index in 0..<20 {
                    let response = try await gateway.request(RawHTTPClient.get("/?n=\(index)"))
                    #expect(response.status == 200)
                    #expect(response.bodyText == "hello from ok\n")
                    #expect(response.header("proxy-status") == nil)
                }
                let log = try await gateway.accessLog(atLeast: 20)
                #expect(log.count == 20)
                let retried = log.filter { !Resilience.attempts($0).isEmpty }
                // Round robin gives the refused server about every other first try (more, since a
                // retry moves the cursor on as well).
                #expect(retried.count >= 5)
                for line in retried {
                    #expect(
                        Resilience.attempts(line) == [
                            Attempt(server: refused, error: "connection_refused"), Attempt(server: healthy, error: nil),
                        ])
                    #expect(line["upstream"] as? String == healthy)
                    #expect(line["status"] as? Int == 200)
                    #expect(line["proxy_status"] is NSNull)
                }
                for line in log where Resilience.attempts(line).isEmpty {
                    #expect(line["upstream"] as? String == healthy)
                }
                let stats = gateway.proxy.stats.snapshot()
                #expect(stats.retries == retried.count)
                #expect(stats.retryBudgetExhausted == 0)
                #expect(stats.reusedConnectionFailures == 0)
                #expect(stats.statusClasses[5] == 0)
                // Nothing leaks: no request slot, no pending connect, one pooled connection to the healthy server.
                #expect(try await Resilience.eventually { Resilience.breakerIsIdle(gateway, connections: 1) })
            }
        }

        @Test(arguments: [LoopbackOrigin.Behavior.closeBeforeHead, .resetBeforeHead])
        func aPostThatReachedTheUpstreamIsNotRetriedButAGetIs(_ failing: LoopbackOrigin.Behavior) async throws {
            let retries = Cluster.Retries(attempts: 2, conditions: [.connectFailure, .reset])
            try await withGateway([failing, .healthy(name: "ok")], retries: retries) { gateway in
                let failingOrigin = gateway.origins[0]
                var refusedPosts = 0
                for index in 0..<10 {
                    let response = try await gateway.request(Resilience.post("/echo", body: "payload \(index)"))
                    if response.status == 502 {
                        refusedPosts += 1
                        #expect(response.header("proxy-status")?.contains("error=connection_terminated") == true)
                    } else {
                        #expect(response.status == 200)
                        #expect(response.bodyText == "payload \(index)")
                    }
                }
                // Every POST the failing server received (on a fresh connection) became a 502: none went again.
                #expect(refusedPosts > 0)
                #expect(refusedPosts == failingOrigin.requestsServed)
                #expect(gateway.proxy.stats.snapshot().retries == 0)

                let before = failingOrigin.requestsServed
                for index in 0..<10 {
                    let response = try await gateway.request(RawHTTPClient.get("/?n=\(index)"))
                    #expect(response.status == 200)
                    #expect(response.bodyText == "hello from ok\n")
                }
                let failedGets = failingOrigin.requestsServed - before
                #expect(failedGets > 0)
                let stats = gateway.proxy.stats.snapshot()
                #expect(stats.retries == failedGets)
                #expect(stats.reusedConnectionFailures == 0)
                let log = try await gateway.accessLog(atLeast: 20)
                for line in log where line["method"] as? String == "POST" {
                    #expect(Resilience.attempts(line).isEmpty)
                }
                let retriedGets = log.filter { $0["method"] as? String == "GET" && !Resilience.attempts($0).isEmpty }
                #expect(retriedGets.count == failedGets)
                for line in retriedGets {
                    #expect(Resilience.attempts(line).map(\.error) == ["connection_terminated", nil])
                }
            }
        }

        @Test func withoutResetInTheConditionsAGetIsNotRetriedEither() async throws {
            try await withGateway([.closeBeforeHead, .healthy(name: "ok")], retries: Self.connectFailures) { gateway in
                var failed = 0
                for index in 0..<6 {
                    let response = try await gateway.request(RawHTTPClient.get("/?n=\(index)"))
                    if response.status == 502 { failed += 1 } else { #expect(response.status == 200) }
                }
                #expect(failed > 0)
                #expect(failed == gateway.origins[0].requestsServed)
                #expect(gateway.proxy.stats.snapshot().retries == 0)
            }
        }

        @Test func aPostIsRetriedWhenTheConnectionCouldNotBeOpened() async throws {
            try await withGateway([.refuse, .healthy(name: "ok")], retries: Self.connectFailures) { gateway in
                for index in 0..<10 {
                    let response = try await gateway.request(Resilience.post("/echo", body: "payload \(index)"))
                    #expect(response.status == 200)
                    #expect(response.bodyText == "payload \(index)")
                }
                let log = try await gateway.accessLog(atLeast: 10)
                let retried = log.filter { !Resilience.attempts($0).isEmpty }
                #expect(retried.count > 0)
                #expect(gateway.proxy.stats.snapshot().retries == retried.count)
                for line in retried {
                    #expect(Resilience.attempts(line).map(\.error) == ["connection_refused", nil])
                }
            }
        }

        @Test func aBodyLargerThanTheReplayBufferIsStillSentAfterARefusedConnect() async throws {
            // Nothing was written to the refused server, so nothing needs holding: the body arriving
            // meanwhile is queued and goes to the next server whole.
            var retries = Self.connectFailures
            retries.bufferBodyBytes = 1_024
            try await withGateway([.refuse, .healthy(name: "ok")], retries: retries) { gateway in
                let body = String(repeating: "0123456789abcdef", count: 8_192)
                for _ in 0..<4 {
                    let response = try await gateway.request(Resilience.post("/sink", body: body))
                    #expect(response.status == 200)
                    #expect(response.bodyText == "131072")
                }
                #expect(gateway.proxy.stats.snapshot().retries > 0)
            }
        }

        @Test func a503IsRetriedOnTheOtherServerForAGetAndPassedOnForAPost() async throws {
            let busy = try await RawOrigin.start { _, _ in RawOrigin.Reply(Self.busy) }
            let retries = Cluster.Retries(attempts: 2, conditions: [], statuses: [503])
            do {
                try await withGateway(
                    [.healthy(name: "ok")], extraServers: [HostPort(host: "127.0.0.1", port: busy.port)], retries: retries
                ) { gateway in
                    let busyAddress = "127.0.0.1:\(busy.port)"
                    let healthy = gateway.origins[0].address
                    for index in 0..<10 {
                        let response = try await gateway.request(RawHTTPClient.get("/?n=\(index)"))
                        #expect(response.status == 200)
                        #expect(response.bodyText == "hello from ok\n")
                    }
                    let answeredBusy = busy.requestsReceived
                    #expect(answeredBusy > 0)
                    #expect(gateway.proxy.stats.snapshot().retries == answeredBusy)
                    let log = try await gateway.accessLog(atLeast: 10)
                    let retried = log.filter { !Resilience.attempts($0).isEmpty }
                    #expect(retried.count == answeredBusy)
                    for line in retried {
                        #expect(
                            Resilience.attempts(line) == [
                                Attempt(server: busyAddress, error: "http_503"), Attempt(server: healthy, error: nil),
                            ])
                    }
                    // A POST is not idempotent: the 503 is passed on, marked as received from upstream.
                    var passedOn = 0
                    for index in 0..<6 {
                        let response = try await gateway.request(Resilience.post("/echo", body: "p\(index)"))
                        if response.status == 503 {
                            passedOn += 1
                            #expect(response.bodyText == "busy\n")
                            #expect(response.header("proxy-status")?.contains("received-status=503") == true)
                        } else {
                            #expect(response.status == 200)
                        }
                    }
                    #expect(passedOn > 0)
                    #expect(gateway.proxy.stats.snapshot().retries == answeredBusy)
                }
            } catch {
                await busy.stop()
                throw error
            }
            await busy.stop()
        }

        @Test func whenEveryTryAnswers503TheLastAnswerIsPassedOnAndEachTryIsLogged() async throws {
            let busy = try await RawOrigin.start { _, _ in RawOrigin.Reply(Self.busy) }
            let retries = Cluster.Retries(attempts: 3, conditions: [], statuses: [503])
            do {
                try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: busy.port)], retries: retries) { gateway in
                    let address = "127.0.0.1:\(busy.port)"
                    let response = try await gateway.request(RawHTTPClient.get("/"))
                    #expect(response.status == 503)
                    #expect(response.bodyText == "busy\n")
                    #expect(response.header("proxy-status")?.contains("received-status=503") == true)
                    #expect(busy.requestsReceived == 3)
                    let line = try #require(try await gateway.accessLog(atLeast: 1).first)
                    #expect(
                        Resilience.attempts(line) == [
                            Attempt(server: address, error: "http_503"), Attempt(server: address, error: "http_503"),
                            Attempt(server: address, error: nil),
                        ])
                    #expect(line["received_status"] as? Int == 503)
                    #expect(line["proxy_status"] is NSNull)
                    #expect(gateway.proxy.stats.snapshot().retries == 2)
                }
            } catch {
                await busy.stop()
                throw error
            }
            await busy.stop()
        }

        @Test func anEmptyBudgetLetsFailuresThroughAndCountsThem() async throws {
            var retries = Self.connectFailures
            retries.budgetPercent = 0
            retries.minRetriesPerSecond = 0
            try await withGateway([.refuse, .healthy(name: "ok")], retries: retries) { gateway in
                var failed = 0
                for index in 0..<20 {
                    let response = try await gateway.request(RawHTTPClient.get("/?n=\(index)"))
                    if response.status == 502 {
                        failed += 1
                        #expect(response.header("proxy-status")?.contains("error=connection_refused") == true)
                    } else {
                        #expect(response.status == 200)
                    }
                }
                #expect(failed > 0)
                let stats = gateway.proxy.stats.snapshot()
                #expect(stats.retries == 0)
                #expect(stats.retryBudgetExhausted == failed)
                let log = try await gateway.accessLog(atLeast: 20)
                #expect(log.allSatisfy { Resilience.attempts($0).isEmpty })
            }
        }

        @Test func theBudgetFloorAllowsTenRetriesPerWindowThenFailuresSurface() async throws {
            // percent 0, 1 retry a second: 10 retries within the 10 s window, whatever the traffic.
            var retries = Self.connectFailures
            retries.budgetPercent = 0
            retries.minRetriesPerSecond = 1
            try await withGateway([.refuse, .healthy(name: "ok")], retries: retries) { gateway in
                var failed = 0
                for index in 0..<40 {
                    let response = try await gateway.request(RawHTTPClient.get("/?n=\(index)"))
                    if response.status == 502 { failed += 1 } else { #expect(response.status == 200) }
                }
                let stats = gateway.proxy.stats.snapshot()
                #expect(stats.retries == 10)
                #expect(failed > 0)
                #expect(stats.retryBudgetExhausted == failed)
            }
        }

        @Test func aClientGoneDuringTheBackoffLeaksNothingAndLogsOnlyTheRealTries() async throws {
            // A refused first try waits up to 2 s before its retry; the clients leave after 20 ms.
            var retries = Self.connectFailures
            retries.backoffBase = .seconds(2)
            retries.backoffMax = .seconds(2)
            try await withGateway([.refuse, .healthy(name: "ok")], retries: retries) { gateway in
                let refused = gateway.origins[0].address
                for index in 0..<6 {
                    let client = try await gateway.client()
                    try await client.send(RawHTTPClient.get("/?n=\(index)"))
                    try await Task.sleep(for: .milliseconds(20))
                    await client.close()
                }
                let breaker = Resilience.breaker(gateway)
                #expect(
                    try await Resilience.eventually(within: .seconds(1)) {
                        breaker.requests.load(ordering: .relaxed) == 0 && breaker.pending.load(ordering: .relaxed) == 0
                    })
                let log = try await gateway.accessLog(atLeast: 6)
                #expect(log.count == 6)
                // Only requests answered by the healthy server reached it: no retry went out for a client gone.
                #expect(gateway.origins[1].requestsServed == log.filter { $0["status"] as? Int == 200 }.count)
                // An abandoned request lists the one try it made, not a second one that never ran.
                let abandoned = log.filter { $0["status"] as? Int == 499 }
                for line in abandoned {
                    let attempts = Resilience.attempts(line)
                    if attempts.count == 2 {
                        // Its retry ran (a backoff drawn under 20 ms) and was cut by the client's close.
                        #expect(attempts.last?.server != refused)
                    } else {
                        #expect(attempts == [Attempt(server: refused, error: "connection_refused")])
                    }
                }
            }
        }

        @Test func aHungServerIsLeftAfterThePerTryTimeout() async throws {
            let retries = Cluster.Retries(attempts: 2, perTryTimeout: .milliseconds(300), conditions: [.readTimeout])
            // response_header stays 5 s (TestGateway's): only the per-try limit can make this quick.
            try await withGateway([.hang, .healthy(name: "ok")], retries: retries) { gateway in
                let hung = gateway.origins[0].address
                let clock = ContinuousClock()
                var slowest = Duration.zero
                for index in 0..<4 {
                    let start = clock.now
                    let response = try await gateway.request(RawHTTPClient.get("/?n=\(index)"))
                    slowest = max(slowest, clock.now - start)
                    #expect(response.status == 200)
                    #expect(response.bodyText == "hello from ok\n")
                }
                // Without the per-try limit a hung try would last response_header (5 s); the margin
                // below it is for a loaded machine, not a timing target.
                #expect(slowest < .milliseconds(4_500))
                #expect(gateway.origins[0].requestsServed > 0)
                let log = try await gateway.accessLog(atLeast: 4)
                let retried = log.filter { !Resilience.attempts($0).isEmpty }
                #expect(retried.count == gateway.origins[0].requestsServed)
                for line in retried {
                    let attempts = Resilience.attempts(line)
                    #expect(attempts.first == Attempt(server: hung, error: "connection_read_timeout"))
                    let waited = (line["attempts"] as? [[String: Any]])?.first?["ms"] as? Double ?? 0
                    #expect(waited >= 300 && waited < 1_500)
                }
                // A POST that reached the hung server is not sent again: 504 after the per-try limit, not 5 s.
                var timedOut = 0
                for index in 0..<4 {
                    let start = clock.now
                    let response = try await gateway.request(Resilience.post("/echo", body: "p\(index)"))
                    if response.status == 504 {
                        timedOut += 1
                        #expect(response.header("proxy-status")?.contains("error=connection_read_timeout") == true)
                        #expect(clock.now - start < .seconds(2))
                    } else {
                        #expect(response.status == 200)
                    }
                }
                #expect(timedOut > 0)
            }
        }
    }
}
