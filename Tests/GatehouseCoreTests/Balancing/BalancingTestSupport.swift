import GatehouseConfig

@testable import GatehouseCore

/// SplitMix64 (Steele, Lea & Flood, 2014): a tiny seeded generator, so every balancing test sees the
/// same draws on every run. Named apart from the runtime's own generator on purpose.
struct BalancingTestRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = self.state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
}

/// Tables, pick loops and share counting shared by the balancing suites.
enum BalancingFixture {
    /// Members with ids 1…n and keys `10.0.0.i:8080`, one per weight.
    static func members(weights: [Int]) -> [BalancerMember] {
        weights.enumerated().map { index, weight in
            BalancerMember(id: index + 1, key: "10.0.0.\(index + 1):8080", weight: weight)
        }
    }

    /// Members with the given ids (keys derived from the id, so a member keeps its key across tables).
    static func members(ids: [Int], weight: Int = 100) -> [BalancerMember] {
        ids.map { BalancerMember(id: $0, key: "10.0.\($0 / 250).\($0 % 250):8080", weight: weight) }
    }

    /// `count` picks from one cursor without hash keys.
    static func picks(
        _ table: BalancerTable,
        count: Int,
        cursor: inout BalancerCursor,
        random: inout BalancingTestRandom,
        load: (Int) -> Int = { _ in 0 }
    ) -> [Int] {
        var picks: [Int] = []
        picks.reserveCapacity(count)
        for _ in 0..<count {
            if let index = cursor.pick(in: table, hash: nil, load: load, using: &random) {
                picks.append(index)
            }
        }
        return picks
    }

    /// How often each of `memberCount` indices occurs in `picks`, as fractions of all picks.
    static func shares(of picks: [Int], memberCount: Int) -> [Double] {
        var counts = [Int](repeating: 0, count: memberCount)
        for pick in picks {
            counts[pick] += 1
        }
        return counts.map { Double($0) / Double(max(picks.count, 1)) }
    }

    /// Each weight's fraction of their sum.
    static func expectedShares(_ weights: [Int]) -> [Double] {
        let total = Double(weights.reduce(0, +))
        return weights.map { Double($0) / total }
    }

    /// The largest absolute difference between two share vectors of the same length.
    static func maxDeviation(_ actual: [Double], _ expected: [Double]) -> Double {
        zip(actual, expected).map { abs($0 - $1) }.max() ?? .infinity
    }
}
