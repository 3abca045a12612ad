import GatehouseConfig
import Testing

@testable import GatehouseCore

/// `random`, and `consistent_hash` for requests without a hash key: weighted random draws.
@Suite struct WeightedRandomTests {
    @Test func sharesFollowWeights() {
        let weights = [100, 200, 700]
        let table = BalancerTable(policy: .random, members: BalancingFixture.members(weights: weights))
        var random = BalancingTestRandom(seed: 11)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 100_000, cursor: &cursor, random: &random)
        let shares = BalancingFixture.shares(of: picks, memberCount: 3)
        // One standard deviation of the 0.7 share is 0.0015 at 100k picks.
        #expect(BalancingFixture.maxDeviation(shares, BalancingFixture.expectedShares(weights)) < 0.01, "\(shares)")
    }

    @Test func consistentHashWithoutAKeyFallsBackToWeightedRandom() {
        let weights = [100, 300]
        let table = BalancerTable(policy: .consistentHash, members: BalancingFixture.members(weights: weights))
        var random = BalancingTestRandom(seed: 12)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 20_000, cursor: &cursor, random: &random)
        let shares = BalancingFixture.shares(of: picks, memberCount: 2)
        #expect(BalancingFixture.maxDeviation(shares, [0.25, 0.75]) < 0.015, "\(shares)")
    }

    @Test func firstAndLastMembersAreReachable() {
        // The binary search's edges: a heavy middle must not swallow the light ends.
        let weights = [1, 1_000, 1]
        let table = BalancerTable(policy: .random, members: BalancingFixture.members(weights: weights))
        var random = BalancingTestRandom(seed: 13)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 20_000, cursor: &cursor, random: &random)
        let counts = BalancingFixture.shares(of: picks, memberCount: 3).map { Int(($0 * 20_000).rounded()) }
        // Expected 20 each for the light members.
        #expect((5...45).contains(counts[0]), "\(counts)")
        #expect((5...45).contains(counts[2]), "\(counts)")
    }

    @Test func outOfRangeWeightsAreClampedNotTrapped() {
        let members = [
            BalancerMember(id: 1, key: "a", weight: 0),
            BalancerMember(id: 2, key: "b", weight: -5),
            BalancerMember(id: 3, key: "c", weight: Int.max),
        ]
        let table = BalancerTable(policy: .random, members: members)
        #expect(table.weights == [1, 1, BalancerTable.maximumWeight])
        #expect(table.totalWeight == BalancerTable.maximumWeight + 2)
        var random = BalancingTestRandom(seed: 14)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 1_000, cursor: &cursor, random: &random)
        #expect(picks.count == 1_000)
        #expect(picks.allSatisfy { $0 == 2 })
    }

    @Test func theSecondDrawNeverRepeatsTheFirstAndFollowsTheOthersWeights() {
        let weights = [100, 200, 700]
        let table = BalancerTable(policy: .leastRequest, members: BalancingFixture.members(weights: weights))
        var random = BalancingTestRandom(seed: 15)
        for excluded in 0..<3 {
            var counts = [0, 0, 0]
            for _ in 0..<30_000 {
                counts[table.weightedIndex(excluding: excluded, using: &random)] += 1
            }
            #expect(counts[excluded] == 0)
            let others = (0..<3).filter { $0 != excluded }
            let otherTotal = Double(others.map { weights[$0] }.reduce(0, +))
            for other in others {
                let share = Double(counts[other]) / 30_000
                #expect(abs(share - Double(weights[other]) / otherTotal) < 0.015, "excluded \(excluded): \(counts)")
            }
        }
    }
}
