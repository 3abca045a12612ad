import GatehouseConfig
import Testing

@testable import GatehouseCore

/// What every policy does with no member or a single one.
@Suite struct BalancerEdgeCaseTests {
    @Test(arguments: Cluster.Balance.allCases)
    func anEmptyTablePicksNothing(policy: Cluster.Balance) {
        let table = BalancerTable(policy: policy, members: [])
        var random = BalancingTestRandom(seed: 41)
        var cursor = BalancerCursor()
        #expect(cursor.pick(in: table, hash: nil, load: { _ in 0 }, using: &random) == nil)
        #expect(cursor.pick(in: table, hash: 12_345, load: { _ in 0 }, using: &random) == nil)
    }

    @Test(arguments: Cluster.Balance.allCases)
    func aSingleMemberIsAlwaysPicked(policy: Cluster.Balance) {
        let table = BalancerTable(policy: policy, members: BalancingFixture.members(weights: [100]))
        var random = BalancingTestRandom(seed: 42)
        var cursor = BalancerCursor()
        for hash in [nil, 0, 1, UInt64.max] as [UInt64?] {
            for _ in 0..<5 {
                #expect(cursor.pick(in: table, hash: hash, load: { _ in 0 }, using: &random) == 0)
            }
        }
    }

    @Test func aCursorSurvivesPolicyChangesBetweenTables() {
        var random = BalancingTestRandom(seed: 43)
        var cursor = BalancerCursor()
        let members = BalancingFixture.members(weights: [1, 1, 1])
        for policy in Cluster.Balance.allCases + Cluster.Balance.allCases.reversed() {
            let table = BalancerTable(policy: policy, members: members)
            let picks = BalancingFixture.picks(table, count: 30, cursor: &cursor, random: &random)
            #expect(picks.count == 30)
            #expect(Set(picks) == [0, 1, 2], "\(policy)")
        }
    }
}
