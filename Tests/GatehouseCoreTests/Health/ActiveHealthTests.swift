import Testing

@testable import GatehouseCore

extension HealthTests {
    @Suite("ActiveHealth")
    struct ActiveHealthTests {
        /// A server already marked healthy by its first probe.
        private func healthy(rise: Int = 2, fall: Int = 3) -> ActiveHealth {
            var health = ActiveHealth(healthyThreshold: rise, unhealthyThreshold: fall)
            _ = health.record(passed: true)
            return health
        }

        /// A server already marked unhealthy by its first probe.
        private func unhealthy(rise: Int = 2, fall: Int = 3) -> ActiveHealth {
            var health = ActiveHealth(healthyThreshold: rise, unhealthyThreshold: fall)
            _ = health.record(passed: false)
            return health
        }

        @Test func uncheckedServerAdmitsTraffic() {
            let health = ActiveHealth(healthyThreshold: 2, unhealthyThreshold: 3)
            #expect(health.status == .unchecked)
            #expect(health.admitsTraffic)
            #expect(health.consecutivePasses == 0)
            #expect(health.consecutiveFailures == 0)
        }

        @Test func firstPassDecidesHealthyAtOnce() {
            var health = ActiveHealth(healthyThreshold: 5, unhealthyThreshold: 5)
            #expect(health.record(passed: true) == .healthy)
            #expect(health.status == .healthy)
            #expect(health.admitsTraffic)
            #expect(health.consecutivePasses == 1)
        }

        @Test func firstFailureDecidesUnhealthyAtOnce() {
            var health = ActiveHealth(healthyThreshold: 5, unhealthyThreshold: 5)
            #expect(health.record(passed: false) == .unhealthy)
            #expect(health.status == .unhealthy)
            #expect(!health.admitsTraffic)
            #expect(health.consecutiveFailures == 1)
        }

        @Test func fallsOnlyAtTheUnhealthyThresholdAndReportsItOnce() {
            var health = self.healthy(fall: 3)
            #expect(health.record(passed: false) == nil)
            #expect(health.record(passed: false) == nil)
            #expect(health.status == .healthy)
            #expect(health.admitsTraffic)
            #expect(health.record(passed: false) == .unhealthy)
            #expect(!health.admitsTraffic)
            #expect(health.record(passed: false) == nil)
            #expect(health.status == .unhealthy)
            #expect(health.consecutiveFailures == 4)
        }

        @Test func risesOnlyAtTheHealthyThresholdAndReportsItOnce() {
            var health = self.unhealthy(rise: 2)
            #expect(health.record(passed: true) == nil)
            #expect(health.status == .unhealthy)
            #expect(health.record(passed: true) == .healthy)
            #expect(health.admitsTraffic)
            #expect(health.record(passed: true) == nil)
            #expect(health.consecutivePasses == 3)
        }

        @Test func passResetsTheFailureRun() {
            var health = self.healthy(fall: 3)
            _ = health.record(passed: false)
            _ = health.record(passed: false)
            #expect(health.record(passed: true) == nil)
            #expect(health.consecutiveFailures == 0)
            #expect(health.record(passed: false) == nil)
            #expect(health.record(passed: false) == nil)
            #expect(health.status == .healthy)
            #expect(health.record(passed: false) == .unhealthy)
        }

        @Test func failureResetsThePassRun() {
            var health = self.unhealthy(rise: 3)
            _ = health.record(passed: true)
            _ = health.record(passed: true)
            #expect(health.record(passed: false) == nil)
            #expect(health.consecutivePasses == 0)
            #expect(health.record(passed: true) == nil)
            #expect(health.record(passed: true) == nil)
            #expect(health.record(passed: true) == .healthy)
        }

        @Test(arguments: [true, false])
        func alternatingResultsNeverFlip(startHealthy: Bool) {
            var health = startHealthy ? self.healthy(rise: 2, fall: 2) : self.unhealthy(rise: 2, fall: 2)
            let before = health.status
            for round in 0..<50 {
                // Even rounds push the server the other way, odd rounds push it back.
                let pushesAway = round % 2 == 0
                #expect(health.record(passed: startHealthy ? !pushesAway : pushesAway) == nil)
            }
            #expect(health.status == before)
        }

        @Test func thresholdsBelowOneActAsOne() {
            var health = ActiveHealth(healthyThreshold: 0, unhealthyThreshold: -3)
            #expect(health.healthyThreshold == 1)
            #expect(health.unhealthyThreshold == 1)
            #expect(health.record(passed: true) == .healthy)
            #expect(health.record(passed: false) == .unhealthy)
            #expect(health.record(passed: true) == .healthy)
        }
    }
}
