import GatehouseConfig
import Testing

@testable import GatehouseCore

/// `least_request`: power of two choices over weighted draws of two distinct members.
@Suite struct LeastRequestTests {
    @Test func theIdleMemberWinsTwoThirdsOfPicks() {
        // Two distinct members of three: the idle one is in the pair unless the pair is the two busy
        // ones (1/3), so it wins 2/3 of picks. Draws with replacement would give only 5/9.
        let table = BalancerTable(policy: .leastRequest, members: BalancingFixture.members(weights: [100, 100, 100]))
        let loads = [0, 100, 100]
        var random = BalancingTestRandom(seed: 21)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 30_000, cursor: &cursor, random: &random) { loads[$0] }
        let idleShare = BalancingFixture.shares(of: picks, memberCount: 3)[0]
        #expect(idleShare >= 0.55)
        #expect(abs(idleShare - 2.0 / 3.0) < 0.02, "\(idleShare)")
    }

    @Test(arguments: [[100, 0], [0, 100], [7, 3]])
    func ofTwoMembersTheMoreLoadedIsNeverPicked(loads: [Int]) {
        let table = BalancerTable(policy: .leastRequest, members: BalancingFixture.members(weights: [100, 900]))
        var random = BalancingTestRandom(seed: 22)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 2_000, cursor: &cursor, random: &random) { loads[$0] }
        let lighter = loads[0] < loads[1] ? 0 : 1
        #expect(picks.count == 2_000)
        #expect(picks.allSatisfy { $0 == lighter })
    }

    @Test func equalLoadsSpreadUniformly() {
        let table = BalancerTable(
            policy: .leastRequest,
            members: BalancingFixture.members(weights: [100, 100, 100, 100])
        )
        var random = BalancingTestRandom(seed: 23)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 40_000, cursor: &cursor, random: &random) { _ in 5 }
        let shares = BalancingFixture.shares(of: picks, memberCount: 4)
        #expect(BalancingFixture.maxDeviation(shares, [0.25, 0.25, 0.25, 0.25]) < 0.02, "\(shares)")
    }

    @Test func equalLoadsFollowWeights() {
        // With two members both are always drawn; a tie goes to the first draw, a weighted one.
        let table = BalancerTable(policy: .leastRequest, members: BalancingFixture.members(weights: [100, 300]))
        var random = BalancingTestRandom(seed: 24)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 20_000, cursor: &cursor, random: &random) { _ in 0 }
        let shares = BalancingFixture.shares(of: picks, memberCount: 2)
        #expect(BalancingFixture.maxDeviation(shares, [0.25, 0.75]) < 0.015, "\(shares)")
    }

    @Test func loadIsAskedForTwoDistinctValidMembersPerPick() {
        let table = BalancerTable(
            policy: .leastRequest,
            members: BalancingFixture.members(weights: [100, 200, 300, 400])
        )
        var random = BalancingTestRandom(seed: 25)
        var cursor = BalancerCursor()
        for _ in 0..<1_000 {
            var asked: [Int] = []
            let pick = cursor.pick(
                in: table,
                hash: nil,
                load: { index in
                    asked.append(index)
                    return index
                },
                using: &random
            )
            #expect(asked.count == 2)
            #expect(Set(asked).count == 2)
            #expect(asked.allSatisfy { (0..<4).contains($0) })
            #expect(pick == asked.min())
        }
    }
}
