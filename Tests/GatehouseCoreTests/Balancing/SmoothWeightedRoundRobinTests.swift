import GatehouseConfig
import Testing

@testable import GatehouseCore

/// nginx's smooth weighted round robin, behind both `round_robin` and `weighted_round_robin`.
@Suite struct SmoothWeightedRoundRobinTests {
    /// 5:1:1 over one cycle: the heavy member spread out, the light ones in scan order from the
    /// cursor's rotation (which only decides ties between b and c).
    private static func fiveOneOneCycle(rotation: Int) -> [Int] {
        let (first, second) = rotation == 2 ? (2, 1) : (1, 2)
        return [0, 0, first, 0, second, 0, 0]
    }

    @Test(arguments: [Cluster.Balance.roundRobin, .weightedRoundRobin])
    func equalWeightsRotateStrictlyFromTheCursorsRotation(policy: Cluster.Balance) {
        let table = BalancerTable(policy: policy, members: BalancingFixture.members(weights: [100, 100, 100]))
        for seed in UInt64(1)...20 {
            var random = BalancingTestRandom(seed: seed)
            var cursor = BalancerCursor()
            let picks = BalancingFixture.picks(table, count: 30, cursor: &cursor, random: &random)
            #expect(picks == (0..<30).map { (cursor.rotation + $0) % 3 }, "seed \(seed)")
        }
    }

    @Test func cursorsDoNotAllStartOnTheFirstMember() {
        let table = BalancerTable(policy: .roundRobin, members: BalancingFixture.members(weights: [100, 100, 100]))
        var firstPicks = Set<Int>()
        for seed in UInt64(1)...30 {
            var random = BalancingTestRandom(seed: seed)
            var cursor = BalancerCursor()
            firstPicks.formUnion(BalancingFixture.picks(table, count: 1, cursor: &cursor, random: &random))
        }
        #expect(firstPicks == [0, 1, 2])
    }

    @Test func fiveOneOneSpreadsTheHeavyMemberEveryCycle() {
        let table = BalancerTable(policy: .weightedRoundRobin, members: BalancingFixture.members(weights: [5, 1, 1]))
        for seed in UInt64(1)...12 {
            var random = BalancingTestRandom(seed: seed)
            var cursor = BalancerCursor()
            let picks = BalancingFixture.picks(table, count: 7 * 4, cursor: &cursor, random: &random)
            let cycle = Self.fiveOneOneCycle(rotation: cursor.rotation)
            #expect(picks == cycle + cycle + cycle + cycle, "seed \(seed), rotation \(cursor.rotation)")
        }
    }

    @Test func scaledWeightsGiveTheSameSequenceAsUnscaled() {
        // Weights arrive × 100; the sequence must not depend on the scale.
        var randomA = BalancingTestRandom(seed: 7)
        var randomB = BalancingTestRandom(seed: 7)
        var cursorA = BalancerCursor()
        var cursorB = BalancerCursor()
        let small = BalancerTable(policy: .roundRobin, members: BalancingFixture.members(weights: [5, 1, 1]))
        let scaled = BalancerTable(policy: .roundRobin, members: BalancingFixture.members(weights: [500, 100, 100]))
        #expect(
            BalancingFixture.picks(small, count: 70, cursor: &cursorA, random: &randomA)
                == BalancingFixture.picks(scaled, count: 70, cursor: &cursorB, random: &randomB)
        )
    }

    @Test func everyCycleOfTotalWeightPicksGivesExactShares() {
        // Slow-start-like weights with no common factor: a cycle is 637 picks.
        let weights = [300, 200, 100, 37]
        let table = BalancerTable(policy: .roundRobin, members: BalancingFixture.members(weights: weights))
        var random = BalancingTestRandom(seed: 42)
        var cursor = BalancerCursor()
        let picks = BalancingFixture.picks(table, count: 637 * 5, cursor: &cursor, random: &random)
        for cycle in 0..<5 {
            var counts = [0, 0, 0, 0]
            for pick in picks[(cycle * 637)..<((cycle + 1) * 637)] {
                counts[pick] += 1
            }
            #expect(counts == weights, "cycle \(cycle)")
        }
        // Smooth: the lightest member's picks are spread out, never adjacent.
        let lightest = picks.indices.filter { picks[$0] == 3 }
        #expect(zip(lightest, lightest.dropFirst()).allSatisfy { $1 - $0 > 10 })
    }

    @Test func aNewTableResetsTheCursorEvenWithIdenticalMembers() {
        let members = BalancingFixture.members(weights: [5, 1, 1])
        var random = BalancingTestRandom(seed: 3)
        var cursor = BalancerCursor()
        let first = BalancerTable(policy: .roundRobin, members: members)
        // Three picks leave the current weights mid-cycle (a a b)…
        _ = BalancingFixture.picks(first, count: 3, cursor: &cursor, random: &random)
        // …and an equal but new table starts a whole cycle from zero again.
        let second = BalancerTable(policy: .roundRobin, members: members)
        let picks = BalancingFixture.picks(second, count: 7, cursor: &cursor, random: &random)
        #expect(picks == Self.fiveOneOneCycle(rotation: cursor.rotation))
    }

    @Test func aNewTableWithDifferentWeightsResetsTheCursor() {
        var random = BalancingTestRandom(seed: 5)
        var cursor = BalancerCursor()
        let equal = BalancerTable(policy: .roundRobin, members: BalancingFixture.members(weights: [1, 1, 1]))
        _ = BalancingFixture.picks(equal, count: 2, cursor: &cursor, random: &random)
        let skewed = BalancerTable(policy: .roundRobin, members: BalancingFixture.members(weights: [5, 1, 1]))
        let picks = BalancingFixture.picks(skewed, count: 7, cursor: &cursor, random: &random)
        #expect(picks == Self.fiveOneOneCycle(rotation: cursor.rotation))
    }

    @Test func shrinkingAndGrowingTablesOnlyYieldValidIndices() {
        var random = BalancingTestRandom(seed: 9)
        var cursor = BalancerCursor()
        for count in [5, 2, 7, 1, 4] {
            let table = BalancerTable(
                policy: .roundRobin,
                members: BalancingFixture.members(weights: Array(repeating: 1, count: count))
            )
            let picks = BalancingFixture.picks(table, count: count * 3, cursor: &cursor, random: &random)
            #expect(picks.count == count * 3)
            #expect(Set(picks) == Set(0..<count))
        }
    }
}
