import GatehouseConfig
import Testing

@testable import GatehouseCore

extension Unit {
    /// The weighted round-robin schedule: each server index `weight` times, interleaved by rounds.
    @Suite struct ScheduleTests {
        struct Case: Sendable, CustomTestStringConvertible {
            var weights: [Int]
            var schedule: [Int]
            var testDescription: String { "weights \(self.weights)" }
        }

        @Test(arguments: [
            Case(weights: [], schedule: []),
            Case(weights: [1], schedule: [0]),
            Case(weights: [1, 1], schedule: [0, 1]),
            Case(weights: [2, 1], schedule: [0, 1, 0]),
            Case(weights: [1, 2], schedule: [0, 1, 1]),
            Case(weights: [3, 1, 2], schedule: [0, 1, 2, 0, 2, 0]),
            Case(weights: [1, 1, 1], schedule: [0, 1, 2]),
            Case(weights: [2, 2], schedule: [0, 1, 0, 1]),
            Case(weights: [4], schedule: [0, 0, 0, 0]),
        ])
        func weightedInterleaving(_ testCase: Case) {
            let servers = testCase.weights.enumerated().map { index, weight in
                Cluster.Server(address: HostPort(host: "10.0.0.\(index + 1)", port: 80), weight: weight)
            }
            let schedule = ProxySnapshot.schedule(servers)
            #expect(schedule == testCase.schedule)
            // Every server appears exactly `weight` times.
            for (index, weight) in testCase.weights.enumerated() {
                #expect(schedule.count { $0 == index } == weight)
            }
        }
    }
}
