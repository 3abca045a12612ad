import GatehouseConfig
import GatehouseOrigins
import NIOCore
import Synchronization
import Testing

@testable import GatehouseCore

/// Retries under an outage stay within the budget: one of three servers dying must not turn into
/// a retry storm.
@Suite struct RetryBudgetLoadTests {
    @Test func oneOfThreeServersDownRetriesStayWithinTheBudget() async throws {
        // 20 % of requests, and a floor of 2 per second (per loop; one loop here).
        let retries = Cluster.Retries(attempts: 3, budgetPercent: 20, minRetriesPerSecond: 2)
        try await withGateway([.healthy(name: "a"), .healthy(name: "b"), .refuse], retries: retries) { gateway in
            let load = ReloadAndShutdownTests.Load()
            let started = ContinuousClock.now
            await load.run(port: gateway.port, group: gateway.group, path: "/", clients: 4, maxPerClient: 150)
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            let stats = gateway.proxy.stats.snapshot()
            let requests = load.answered.load(ordering: .relaxed)
            let failed = load.failed.withLock { $0.count }
            #expect(requests == 600)
            // A third of first tries meet the dead server; without a budget each would be retried.
            // The budget allows 20 % of the requests of the last 10 s plus 2 per second.
            let allowed = Int(Double(requests) * 0.2) + Int((seconds.rounded(.up) + 10) * 2)
            #expect(stats.retries > 0)
            #expect(stats.retries <= allowed)
            #expect(stats.retryBudgetExhausted > 0)
            // What the budget refused surfaces as 502 connection_refused: visible, not amplified.
            #expect(failed == stats.retryBudgetExhausted)
            print(
                "retry budget: \(requests) requests in \(Int(seconds * 1000)) ms with 1 of 3 servers refusing: \(stats.retries) retries (\(stats.retries * 100 / requests) %), \(stats.retryBudgetExhausted) refused by the budget, \(failed) client-visible 502s"
            )
        }
    }
}
