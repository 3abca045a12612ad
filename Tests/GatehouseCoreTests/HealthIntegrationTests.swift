import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// Active health checks, panic mode and passive outlier ejection through a real gateway in front of
/// real loopback origins, observed through `/admin/upstreams` and what clients get.
///
/// Every state is waited for by polling (``eventually(_:timeout:_:)``), never by sleeping; errors are
/// only required to stop once the state says the server is out, since requests already on their way
/// to a server that dies may fail before any check can notice.
@Suite(.serialized) struct HealthIntegrationTests {
    // MARK: - Active health: kill and restart under load

    /// With two event loops, the membership change reaches a loop other than the controller's by a
    /// task; the requests sent after the report says "unhealthy" must still all avoid the server.
    @Test(arguments: [1, 2])
    func killedOriginIsMarkedUnhealthyAvoidedAndRampedUpAfterRestart(threads: Int) async throws {
        let interval = Duration.milliseconds(100)
        let (fall, rise) = (2, 2)
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b"), .healthy(name: "c")], threads: threads,
            app: { servers in
                Cluster(
                    name: "app", servers: servers, timeouts: Fixtures.timeouts,
                    healthCheck: Fixtures.check(interval: interval, fall: fall, rise: rise), slowStart: .seconds(3))
            },
            admin: Fixtures.admin
        ) { gateway in
            let victim = gateway.origins[2]
            let address = victim.address
            try await eventually("every server healthy") {
                try await gateway.upstreams().states == ["healthy", "healthy", "healthy"]
            }
            try await withLoad(on: gateway, clients: 3) { load in
                let clock = ContinuousClock()
                let warm = clock.now
                try await eventually("the load reaches every origin") {
                    ["a", "b", "c"].allSatisfy { load.served(by: $0, startedAfter: warm) }
                }

                // Kill c: it must be marked unhealthy within interval × fall (+ slack for a busy machine).
                let killed = clock.now
                try await gateway.kill(origin: 2)
                let detection = try await eventually("\(address) unhealthy", timeout: interval * fall + .seconds(2)) {
                    try await gateway.upstreams().state(address) == "unhealthy"
                }
                let marked = clock.now
                let detected = marked - killed
                // Once it is marked, nothing reaches it: every request of a fresh client succeeds elsewhere.
                for _ in 0..<30 {
                    let response = try await gateway.request(RawHTTPClient.get("/"))
                    #expect(response.status == 200)
                    #expect(response.header("x-origin") != "c")
                }

                // Restart c on the same port: healthy again after `rise` passes, ramping up (slow start).
                let restarted = clock.now
                let origin = try await gateway.restart(origin: 2)
                try await eventually("\(address) healthy again", timeout: interval * rise + .seconds(2)) {
                    try await gateway.upstreams().state(address) == "healthy"
                }
                let back = clock.now
                let view = try await gateway.upstreams()
                let progress = try #require(view.number("slow_start_progress", of: address))
                let effective = try #require(view.number("effective_weight", of: address))
                let weight = try #require(view.number("weight", of: address))
                #expect(progress >= 0 && progress < 1, "slow start just began")
                #expect(effective > 0 && effective < weight, "a returning server starts below its weight")
                // Requests started after this report was made are counted after it, so they add to it.
                let requestsAtReturn = view.number("requests", of: address) ?? 0
                let reported = clock.now
                try await eventually("clients are answered by c again") { load.served(by: "c", startedAfter: reported) }
                // (`requestsServed` counts the health checks too; client traffic is shown by the
                // responses' X-Origin above and by the endpoint's proxied-request count below.)
                #expect(origin.requestsServed > 0)
                #expect(try await gateway.upstreams().number("requests", of: address) ?? 0 > requestsAtReturn)

                let outcomes = await load.stop()
                let cycle = outcomes.filter { $0.finished >= killed }
                let failed = cycle.filter { $0.status != 200 }
                let failedAfterMark = outcomes.filter { $0.started >= marked && $0.status != 200 }
                #expect(failedAfterMark.isEmpty, "errors after the unhealthy mark: \(failedAfterMark.map(\.detail))")
                var causes: [String: Int] = [:]
                for outcome in failed {
                    let cause = outcome.status == -1 ? "transport error" : "\(outcome.status) \(Self.errorToken(outcome.detail))"
                    causes[cause, default: 0] += 1
                }
                Fixtures.report(
                    "kill/restart (\(threads) event loop(s), 3 origins, 3 keep-alive clients, "
                        + "health interval \(interval), fall \(fall), rise \(rise)): "
                        + "unhealthy \(Self.milliseconds(detected)) ms after the kill (polled: \(Self.milliseconds(detection)) ms); "
                        + "healthy \(Self.milliseconds(back - restarted)) ms after the restart; "
                        + "client-visible errors during the cycle: \(failed.count) of \(cycle.count) requests "
                        + "\(causes.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }); "
                        + "after the unhealthy mark: \(failedAfterMark.count) of \(outcomes.filter { $0.started >= marked }.count)")
            }
        }
    }

    // MARK: - Active health: a server answering 500 to its checks

    @Test func serverAnswering500ToItsHealthCheckGetsNoRequests() async throws {
        let broken = try await RawOrigin.start { _, _ in
            RawOrigin.Reply(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 7\r\nConnection: close\r\n\r\nbroken\n",
                closeAfter: true)
        }
        let address = "127.0.0.1:\(broken.port)"
        do {
            try await withGateway(
                [.healthy(name: "a"), .healthy(name: "b")], extraServers: [HostPort(host: "127.0.0.1", port: broken.port)],
                app: { servers in
                    Cluster(
                        name: "app", servers: servers, timeouts: Fixtures.timeouts,
                        healthCheck: Fixtures.check(path: "/status/200"))
                },
                admin: Fixtures.admin
            ) { gateway in
                try await eventually("\(address) unhealthy") { try await gateway.upstreams().state(address) == "unhealthy" }
                let view = try await gateway.upstreams()
                #expect(view.healthy == 2)
                let check = try #require(view.server(address)?["health_check"] as? [String: Any])
                #expect((check["last"] as? String)?.hasPrefix("HTTP 500") == true)
                // The first check decides at once (a fresh server is not trusted for `fall` intervals).
                #expect((view.server(address)?["why"] as? String)?.hasPrefix("failed 1 health check(s) in a row: HTTP 500") == true)
                for _ in 0..<30 {
                    let response = try await gateway.request(RawHTTPClient.get("/"))
                    #expect(response.status == 200)
                    #expect(["a", "b"].contains(response.header("x-origin") ?? "-"))
                }
                #expect(try await gateway.upstreams().number("requests", of: address) == 0)
            }
        } catch {
            await broken.stop()
            throw error
        }
        await broken.stop()
    }

    // MARK: - Panic mode

    @Test func belowThePanicThresholdEveryServerGetsTraffic() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse, .refuse],
            app: { servers in
                Cluster(
                    name: "app", servers: servers, timeouts: Fixtures.timeouts, healthCheck: Fixtures.check(),
                    panicThreshold: 50)
            },
            admin: Fixtures.admin
        ) { gateway in
            let refusing = [gateway.origins[1].address, gateway.origins[2].address]
            try await eventually("panic mode with both refusing servers unhealthy") {
                let view = try await gateway.upstreams()
                return view.panic && refusing.allSatisfy { view.state($0) == "unhealthy" }
            }
            let before = try await gateway.upstreams()
            #expect(before.panicModeEntries >= 1)
            #expect(before.healthy == 1)
            var statuses: [Int] = []
            for _ in 0..<30 { statuses.append(try await gateway.request(RawHTTPClient.get("/")).status) }
            let after = try await gateway.upstreams()
            // Spread across all three, healthy or not: that is what panic mode is for.
            for address in after.addresses {
                #expect((after.number("requests", of: address) ?? 0) > (before.number("requests", of: address) ?? 0))
            }
            #expect(statuses.contains(200))
            #expect(statuses.contains(502))
            #expect(statuses.allSatisfy { $0 == 200 || $0 == 502 })
            #expect(after.panic)
        }
    }

    @Test func withPanicModeOffOnlyTheHealthyServerGetsTraffic() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse, .refuse],
            app: { servers in
                Cluster(
                    name: "app", servers: servers, timeouts: Fixtures.timeouts, healthCheck: Fixtures.check(),
                    panicThreshold: 0)
            },
            admin: Fixtures.admin
        ) { gateway in
            let refusing = [gateway.origins[1].address, gateway.origins[2].address]
            try await eventually("both refusing servers unhealthy") {
                let view = try await gateway.upstreams()
                return refusing.allSatisfy { view.state($0) == "unhealthy" }
            }
            for _ in 0..<30 {
                let response = try await gateway.request(RawHTTPClient.get("/"))
                #expect(response.status == 200)
                #expect(response.header("x-origin") == "a")
            }
            let view = try await gateway.upstreams()
            #expect(!view.panic)
            #expect(view.panicModeEntries == 0)
            for address in refusing { #expect(view.number("requests", of: address) == 0) }
        }
    }

    // MARK: - Passive health (outlier detection, no active checks)

    @Test func refusingServerIsEjectedAfterConsecutiveFailures() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b"), .refuse],
            app: { servers in
                Cluster(
                    name: "app", servers: servers, timeouts: Fixtures.timeouts,
                    outlierDetection: Cluster.OutlierDetection(consecutiveFailures: 2, baseEjectionTime: .seconds(30)))
            },
            admin: Fixtures.admin
        ) { gateway in
            let address = gateway.origins[2].address
            var sent = 0
            try await eventually("\(address) ejected") {
                sent += 1
                _ = try await gateway.request(RawHTTPClient.get("/"))
                return try await gateway.upstreams().state(address) == "ejected"
            }
            // Round robin over three: two failures on the refusing server take at most six requests
            // (plus one for the ejection to be published).
            #expect(sent <= 7)
            let view = try await gateway.upstreams()
            #expect(view.number("ejections", of: address) == 1)
            #expect((view.errors(address)["connection_refused"] ?? 0) >= 2)
            #expect((view.number("ejected_for_seconds", of: address) ?? 0) > 20)
            #expect(view.healthy == 2)
            for _ in 0..<30 {
                let response = try await gateway.request(RawHTTPClient.get("/"))
                #expect(response.status == 200)
            }
            #expect(try await gateway.upstreams().number("ejections", of: address) == 1)
        }
    }

    @Test func maxEjectionPercentKeepsTheSecondFailingServerIn() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse, .refuse],
            app: { servers in
                Cluster(
                    name: "app", servers: servers, timeouts: Fixtures.timeouts,
                    outlierDetection: Cluster.OutlierDetection(
                        consecutiveFailures: 2, baseEjectionTime: .seconds(30), maxEjectionPercent: 50))
            },
            admin: Fixtures.admin
        ) { gateway in
            let refusing = [gateway.origins[1].address, gateway.origins[2].address]
            // Both refusing servers reach the threshold several times over.
            for _ in 0..<24 { _ = try await gateway.request(RawHTTPClient.get("/")) }
            try await eventually("one refusing server ejected") {
                try await gateway.upstreams().states.filter { $0 == "ejected" }.count == 1
            }
            for _ in 0..<12 { _ = try await gateway.request(RawHTTPClient.get("/")) }
            let view = try await gateway.upstreams()
            // 50 % of 3 servers, rounded down: one.
            #expect(view.states.filter { $0 == "ejected" }.count == 1)
            let kept = try #require(refusing.first { view.state($0) != "ejected" })
            #expect(view.state(kept) == "healthy")
            #expect(view.number("ejections", of: kept) == 0)
            #expect((view.errors(kept)["connection_refused"] ?? 0) >= 4)
        }
    }

    @Test func ejectedServerReturnsOnProbationIsEjectedLongerOnFailureAndForgivenWhenClean() async throws {
        // Long enough that a poll cannot miss a probation (the polls see each state within ~20 ms
        // unless the machine stalls for half a second), short enough to keep the test near 2 s.
        let base = Duration.milliseconds(500)
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b"), .healthy(name: "c")],
            app: { servers in
                Cluster(
                    name: "app", servers: servers, timeouts: Fixtures.timeouts,
                    outlierDetection: Cluster.OutlierDetection(
                        consecutiveFailures: 2, baseEjectionTime: base, maxEjectionTime: .seconds(10)))
            },
            admin: Fixtures.admin
        ) { gateway in
            let address = gateway.origins[2].address
            try await gateway.kill(origin: 2)
            try await Self.requestUntil(gateway, "\(address) ejected") { $0.state(address) == "ejected" }
            var view = try await gateway.upstreams()
            #expect(view.number("ejections", of: address) == 1)
            #expect((view.server(address)?["why"] as? String)?.contains("(ejection 1 in a row)") == true)

            // Back after the ejection, on probation: one failure ejects it again, for twice as long.
            try await eventually("\(address) back on probation", timeout: base + .seconds(3)) {
                let view = try await gateway.upstreams()
                return view.state(address) == "healthy" && view.server(address)?["probation"] as? Bool == true
            }
            try await Self.requestUntil(gateway, "\(address) ejected again") { $0.state(address) == "ejected" }
            view = try await gateway.upstreams()
            #expect(view.number("ejections", of: address) == 2)
            #expect((view.server(address)?["why"] as? String)?.contains("(ejection 2 in a row)") == true)
            #expect((view.number("ejected_for_seconds", of: address) ?? 0) <= 1)

            // Restarted: back on probation, it serves cleanly and is forgiven when the probation ends.
            // (The poll below accepts a probation already passed, so a slow poll cannot fail it.)
            _ = try await gateway.restart(origin: 2)
            try await eventually("\(address) back from its second ejection", timeout: base * 2 + .seconds(3)) {
                try await gateway.upstreams().state(address) == "healthy"
            }
            let back = try await gateway.upstreams().number("requests", of: address) ?? 0
            for _ in 0..<9 {
                let response = try await gateway.request(RawHTTPClient.get("/"))
                #expect(response.status == 200)
            }
            view = try await gateway.upstreams()
            #expect((view.number("requests", of: address) ?? 0) >= back + 3)
            try await eventually("probation passed", timeout: base + .seconds(3)) {
                try await gateway.upstreams().server(address)?["why"] as? String == "probation passed"
            }
            view = try await gateway.upstreams()
            #expect(view.server(address)?["probation"] as? Bool == false)
            #expect(view.state(address) == "healthy")
            #expect(view.number("ejections", of: address) == 2)
        }
    }

    /// A client that gives up before the answer (499) says nothing about the server: it must not
    /// reset the server's run of failures, or clients with short timeouts would keep a hung server in.
    @Test func clientGivingUpDoesNotResetTheFailureRun() async throws {
        try await withGateway(
            [.hang],
            app: { servers in
                Cluster(
                    name: "app", servers: servers,
                    timeouts: Cluster.Timeouts(
                        connect: .seconds(1), responseHeader: .milliseconds(300), idle: .seconds(5), request: .seconds(30)),
                    outlierDetection: Cluster.OutlierDetection(
                        consecutiveFailures: 2, baseEjectionTime: .seconds(30), maxEjectionPercent: 100))
            },
            admin: Fixtures.admin
        ) { gateway in
            let address = gateway.origins[0].address
            let timedOut = try await gateway.request(RawHTTPClient.get("/"))
            #expect(timedOut.status == 504)
            #expect(try await gateway.upstreams().number("consecutive_failures", of: address) == 1)

            // A client that leaves while its request waits on the server.
            let impatient = try await gateway.client()
            try await impatient.send(RawHTTPClient.get("/"))
            try await eventually("the request is with the server") {
                try await gateway.upstreams().number("active_requests", of: address) == 1
            }
            await impatient.close()
            try await eventually("the abandoned exchange is over") {
                try await gateway.upstreams().number("active_requests", of: address) == 0
            }
            #expect(try await gateway.upstreams().number("consecutive_failures", of: address) == 1)

            // The next timeout is the second in a row: ejected.
            #expect(try await gateway.request(RawHTTPClient.get("/")).status == 504)
            try await eventually("\(address) ejected") { try await gateway.upstreams().state(address) == "ejected" }
        }
    }

    // MARK: - Helpers

    /// Sends requests one at a time (at most 30) until `/admin/upstreams` satisfies `condition`.
    private static func requestUntil(
        _ gateway: TestGateway, _ what: String, _ condition: @escaping (UpstreamsView) -> Bool
    ) async throws {
        var sent = 0
        try await eventually(what) {
            guard sent < 30 else { throw TestClientError(description: "30 requests and still not: \(what)") }
            sent += 1
            _ = try await gateway.request(RawHTTPClient.get("/"))
            return condition(try await gateway.upstreams())
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// `error=connection_refused` out of a Proxy-Status value.
    private static func errorToken(_ proxyStatus: String?) -> String {
        guard let proxyStatus, let range = proxyStatus.range(of: "error=") else { return "(no Proxy-Status error)" }
        return String(proxyStatus[range.upperBound...].prefix { $0 != ";" })
    }
}
