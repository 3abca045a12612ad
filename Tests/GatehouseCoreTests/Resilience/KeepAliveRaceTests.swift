import Foundation
import GatehouseConfig
import GatehouseOrigins
import NIOCore
import Testing

@testable import GatehouseCore

extension Resilience {
    /// The keep-alive race: the upstream closes an idle pooled connection just as the gateway sends
    /// a request on it. The gateway must never turn that into a 502: it retries once on a fresh
    /// connection (whatever the method: the upstream never read the request), learns the upstream's
    /// unannounced limit, and honours an announced `Keep-Alive: timeout=N` so the race cannot happen.
    ///
    /// Everything here runs on TestGateway's single event loop (gateway, origin and client), so a
    /// request scheduled on that loop for the instant the origin's idle timer fires meets it in the
    /// same loop iteration.
    @Suite(.timeLimit(.minutes(2))) struct KeepAliveRaceTests {
        static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"

        static func request(_ method: String, _ path: String) -> String {
            method == "GET" ? RawHTTPClient.get(path) : Resilience.post(path, body: "hello")
        }

        /// One try, no retry budget at all: only the race's own retry can save the request.
        static let noRetries = Cluster.Retries(attempts: 1, budgetPercent: 0, minRetriesPerSecond: 0)

        @Test(arguments: ["GET", "POST"], [false, true])
        func aReusedConnectionClosedUnansweredIsRetriedOnAFreshOne(method: String, reset: Bool) async throws {
            // Connection 1 answers its first request and closes (FIN or RST) on the second without a
            // byte: what the gateway sees when the upstream's idle timer fires as the request arrives.
            let origin = try await RawOrigin.start { connection, request in
                connection == 1 && request == 2 ? RawOrigin.Reply("", closeAfter: true, reset: reset) : RawOrigin.Reply(Self.ok)
            }
            do {
                // max_connections 1: the dead connection must no longer count when the fresh one opens.
                try await withGateway(
                    [], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)], limits: Cluster.Limits(maxConnections: 1),
                    retries: Self.noRetries
                ) { gateway in
                    let address = "127.0.0.1:\(origin.port)"
                    let client = try await gateway.client()
                    try await client.send(RawHTTPClient.get("/first"))
                    #expect(try await client.response().status == 200)
                    try await client.send(Self.request(method, "/second"))
                    let second = try await client.response()
                    #expect(second.status == 200)
                    #expect(second.bodyText == "ok\n")
                    await client.close()
                    #expect(origin.connectionsAccepted == 2)
                    let stats = gateway.proxy.stats.snapshot()
                    #expect(stats.reusedConnectionFailures == 1)
                    #expect(stats.retries == 1)
                    #expect(stats.retryBudgetExhausted == 0)
                    let log = try await gateway.accessLog(atLeast: 2)
                    #expect(log.count == 2)
                    #expect(log.last?["method"] as? String == method)
                    #expect(log.last?["reused"] as? Bool == false)
                    #expect(
                        log.last.map(Resilience.attempts) == [
                            Attempt(server: address, error: "connection_terminated"), Attempt(server: address, error: nil),
                        ])
                    // The dead connection no longer counts. The fresh one is pooled, unless this
                    // client paused over 500 ms between its requests (a loaded machine): then the
                    // pool learned that idle limit from the race and closes it soon (0 then).
                    #expect(
                        try await Resilience.eventually {
                            Resilience.breakerIsIdle(gateway, connections: 1) || Resilience.breakerIsIdle(gateway, connections: 0)
                        })
                }
            } catch {
                await origin.stop()
                throw error
            }
            await origin.stop()
        }

        @Test func theRaceIsRetriedOnlyOnce() async throws {
            // After its first answer, the origin closes every request unanswered: the fresh connection
            // of the race's retry fails too, and that is a real failure.
            let origin = try await RawOrigin.start { connection, request in
                connection == 1 && request == 1 ? RawOrigin.Reply(Self.ok) : RawOrigin.Reply("", closeAfter: true)
            }
            do {
                try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)], retries: Self.noRetries) {
                    gateway in
                    let client = try await gateway.client()
                    try await client.send(RawHTTPClient.get("/first"))
                    #expect(try await client.response().status == 200)
                    try await client.send(RawHTTPClient.get("/second"))
                    let second = try await client.response()
                    #expect(second.status == 502)
                    #expect(second.header("proxy-status")?.contains("error=connection_terminated") == true)
                    await client.close()
                    #expect(origin.connectionsAccepted == 2)
                    let stats = gateway.proxy.stats.snapshot()
                    #expect(stats.reusedConnectionFailures == 1)
                    #expect(stats.retries == 1)
                    let line = try #require(try await gateway.accessLog(atLeast: 2).last)
                    #expect(Resilience.attempts(line).map(\.error) == ["connection_terminated", "connection_terminated"])
                }
            } catch {
                await origin.stop()
                throw error
            }
            await origin.stop()
        }

        @Test func aRaceOnABodyTooLargeToHoldIsNotRetried() async throws {
            // 100 KB is more than buffer_body (64 KiB): the body is no longer held, so it cannot be sent
            // again and the race surfaces (the documented limit of the race retry).
            let origin = try await RawOrigin.start { connection, request in
                connection == 1 && request == 2 ? RawOrigin.Reply("", closeAfter: true) : RawOrigin.Reply(Self.ok)
            }
            do {
                try await withGateway([], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)], retries: Self.noRetries) {
                    gateway in
                    let client = try await gateway.client()
                    try await client.send(RawHTTPClient.get("/first"))
                    #expect(try await client.response().status == 200)
                    try await client.send(Resilience.post("/upload", body: String(repeating: "x", count: 100_000)))
                    let response = try await client.response()
                    #expect(response.status == 502)
                    await client.close()
                    #expect(origin.connectionsAccepted == 1)
                    #expect(gateway.proxy.stats.snapshot().reusedConnectionFailures == 0)
                }
            } catch {
                await origin.stop()
                throw error
            }
            await origin.stop()
        }

        @Test func anUnannouncedIdleCloseRightAsRequestsArriveCausesNo502() async throws {
            // The origin closes a connection 300 ms after its last response, without saying so; the
            // gateway keeps idle connections 30 s (the default). 300 ms is below what the pool learns
            // from (500 ms), so every request that meets the close is saved by the race retry alone.
            try await withGateway([.keepAliveClose(after: .milliseconds(300))]) { gateway in
                let origin = gateway.origins[0]
                let client = try await gateway.client()
                try await client.send(RawHTTPClient.get("/"))
                var last = try await client.response()
                var statuses = [last.status]
                let cycles = 30
                for cycle in 0..<cycles {
                    // From 1 ms before to 0.2 ms after 300 ms past the last response, 40 µs apart: the
                    // origin's timer, armed a little before the client had the response, fires in there.
                    let offset = TimeAmount.microseconds(Int64(-1_000 + cycle * 40))
                    let at = (last.receivedAt ?? .now()) + .milliseconds(300) + offset
                    let method = cycle % 2 == 0 ? "GET" : "POST"
                    try await client.send(Self.request(method, method == "GET" ? "/?c=\(cycle)" : "/echo"), at: at)
                    last = try await client.response()
                    statuses.append(last.status)
                    if method == "POST" { #expect(last.bodyText == "hello") }
                }
                await client.close()
                #expect(statuses.count == cycles + 1)
                #expect(statuses.allSatisfy { $0 == 200 }, "statuses: \(statuses)")
                let stats = gateway.proxy.stats.snapshot()
                // With one try and no budget, every retry is a race retry.
                #expect(stats.retries == stats.reusedConnectionFailures)
                #expect(stats.statusClasses[5] == 0)
                let log = try await gateway.accessLog(atLeast: cycles + 1)
                let raced = log.filter { !Resilience.attempts($0).isEmpty }
                #expect(raced.count == stats.reusedConnectionFailures)
                print(
                    "[resilience] unannounced 300 ms idle close, \(cycles + 1) requests at the boundary: "
                        + "502s \(statuses.filter { $0 == 502 }.count), races met "
                        + "\(stats.reusedConnectionFailures) (\(raced.filter { $0["method"] as? String == "POST" }.count) POST), "
                        + "origin idle closes \(origin.idleConnectionsClosed), reused \(log.filter { $0["reused"] as? Bool == true }.count)")
            }
        }

        @Test func theUnannouncedLimitIsLearnedAndThePoolClosesFirstFromThenOn() async throws {
            // 700 ms is long enough to be learned: after the first idle close the pool keeps connections
            // idle at most 450 ms (700 − 250), so the origin never closes one again.
            try await withGateway([.keepAliveClose(after: .milliseconds(700))]) { gateway in
                let origin = gateway.origins[0]
                let client = try await gateway.client()
                try await client.send(RawHTTPClient.get("/"))
                var last = try await client.response()
                #expect(last.status == 200)
                // The origin's close, seen by the gateway on the same loop before the next request.
                #expect(try await Resilience.eventually { origin.idleConnectionsClosed == 1 })
                var statuses: [Int] = []
                for cycle in 0..<8 {
                    let offset = TimeAmount.microseconds(Int64(-1_000 + cycle * 250))
                    let at = (last.receivedAt ?? .now()) + .milliseconds(700) + offset
                    let method = cycle % 2 == 0 ? "GET" : "POST"
                    try await client.send(Self.request(method, method == "GET" ? "/" : "/echo"), at: at)
                    last = try await client.response()
                    statuses.append(last.status)
                }
                await client.close()
                #expect(statuses.allSatisfy { $0 == 200 }, "statuses: \(statuses)")
                #expect(origin.idleConnectionsClosed == 1)
                let stats = gateway.proxy.stats.snapshot()
                #expect(stats.reusedConnectionFailures == 0)
                #expect(stats.retries == 0)
                // Each request after the first waited 700 ms: its connection was closed by the pool, not reused.
                let log = try await gateway.accessLog(atLeast: 9)
                #expect(log.dropFirst().allSatisfy { $0["reused"] as? Bool == false })
            }
        }

        @Test func anAnnouncedKeepAliveTimeoutIsHonouredSoTheRaceNeverHappens() async throws {
            // `Keep-Alive: timeout=1`: the pool keeps a connection idle at most 750 ms, the origin 1 s.
            try await withGateway([.keepAliveAnnounced(timeout: 1)]) { gateway in
                let origin = gateway.origins[0]
                let client = try await gateway.client()
                // The gateway parks a connection after the request it carried was sent, so its idle
                // time is at most from that send to the next response: a machine that stalls (the
                // whole suite runs in parallel on two cores) stretches that span and the round then
                // expects nothing, instead of calling a late connection "should have been reused".
                var sentNoEarlierThan = NIODeadline.now()
                try await client.send(RawHTTPClient.get("/"))
                var last = try await client.response()
                var statuses = [last.status]
                var reusedExpected: [Bool?] = [false]
                // Waits: well below the pool's limit (reused), at the origin's timeout give or take a
                // millisecond, and past it (both fresh: the pool closed the connection at 750 ms).
                let waits: [TimeAmount] = [
                    .milliseconds(400), .milliseconds(999), .milliseconds(1_000), .milliseconds(400), .milliseconds(1_001),
                    .milliseconds(1_200),
                ]
                for (index, wait) in waits.enumerated() {
                    let method = index % 2 == 0 ? "GET" : "POST"
                    let sendAt = (last.receivedAt ?? .now()) + wait
                    try await client.send(Self.request(method, method == "GET" ? "/" : "/echo"), at: sendAt)
                    last = try await client.response()
                    statuses.append(last.status)
                    let idleAtMost = (last.receivedAt ?? .now()) - sentNoEarlierThan
                    reusedExpected.append(idleAtMost < .milliseconds(600) ? true : wait > .milliseconds(900) ? false : nil)
                    sentNoEarlierThan = sendAt
                }
                await client.close()
                #expect(statuses.allSatisfy { $0 == 200 }, "statuses: \(statuses)")
                let stats = gateway.proxy.stats.snapshot()
                #expect(stats.reusedConnectionFailures == 0)
                #expect(stats.retries == 0)
                // The pool always closed first: the origin never had to.
                #expect(origin.idleConnectionsClosed == 0)
                let log = try await gateway.accessLog(atLeast: waits.count + 1)
                for (line, expected) in zip(log, reusedExpected) {
                    if let expected { #expect(line["reused"] as? Bool == expected) }
                }
            }
        }
    }
}
