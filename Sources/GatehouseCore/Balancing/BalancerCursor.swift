import GatehouseConfig

// `package` (not internal) so Benchmarks/GatehouseBenchmarks can measure picks in a release build.
/// One event loop's mutable position for one cluster: the current weights of smooth weighted round
/// robin. Not shared between loops, so picking takes no lock.
///
/// Only round robin keeps state; the other policies are stateless draws over the immutable
/// ``BalancerTable``. When handed a different table than last time (by identity), the cursor resets
/// for that table: current weights belong to one set of members and weights.
///
/// Per-pick cost is O(members) for round robin, O(log members) for `random` and `least_request`, and
/// O(1) for `consistent_hash`; no pick allocates (a reset allocates at most once per table).
package struct BalancerCursor {
    /// The table ``currentWeights`` belongs to. Held strongly, not as an `ObjectIdentifier`: a freed
    /// table's address may be reused by the next one, which would skip the reset and pair stale
    /// weights with other members.
    private var table: BalancerTable?
    /// Smooth weighted round robin's current weight per member of ``table``.
    private var currentWeights: [Int] = []
    /// Where round robin's scan starts, and so which member wins ties. Drawn on reset so that the
    /// loops, all reset by the same publication, do not all send their next request to member 0.
    private(set) var rotation = 0

    /// A cursor that resets on its first pick.
    package init() {}

    /// Picks a member of `table` for one request.
    /// - Parameters:
    ///   - table: the cluster's current table.
    ///   - hash: the request's hash key for `consistent_hash`; nil when the request has none, which
    ///     falls back to a weighted random pick. Ignored by the other policies.
    ///   - load: the active requests of the member at an index, for `least_request`; only called
    ///     by that policy, at most twice per pick.
    ///   - random: the loop's generator.
    /// - Returns: an index into `table.members`, nil when the table is empty.
    package mutating func pick(
        in table: BalancerTable,
        hash: UInt64?,
        load: (Int) -> Int,
        using random: inout some RandomNumberGenerator
    ) -> Int? {
        switch table.policy {
        case .roundRobin, .weightedRoundRobin:
            return self.smoothWeightedRoundRobin(in: table, using: &random)
        case .random, .leastRequest, .consistentHash:
            // A policy change leaves the old round-robin table behind; release it.
            if self.table != nil {
                self.table = nil
                self.currentWeights = []
            }
            return Self.draw(in: table, hash: hash, load: load, using: &random)
        }
    }

    /// ``pick(in:hash:load:using:)`` with the event loops' own generator, for callers outside this
    /// module (Benchmarks/GatehouseBenchmarks): a generic call from another module runs unspecialized,
    /// several times slower than the loops' in-module call, so a benchmark through it would mislead.
    package mutating func pick(
        in table: BalancerTable,
        hash: UInt64?,
        load: (Int) -> Int,
        loopRandom random: inout SplitMix64
    ) -> Int? {
        self.pick(in: table, hash: hash, load: load, using: &random)
    }

    /// The stateless policies.
    private static func draw(
        in table: BalancerTable,
        hash: UInt64?,
        load: (Int) -> Int,
        using random: inout some RandomNumberGenerator
    ) -> Int? {
        let count = table.members.count
        if count <= 1 {
            return count == 1 ? 0 : nil
        }
        switch table.policy {
        case .random:
            return table.weightedIndex(using: &random)
        case .leastRequest:
            return Self.powerOfTwoChoices(in: table, load: load, using: &random)
        case .consistentHash:
            if let hash, let maglev = table.maglev {
                return maglev.memberIndex(for: hash)
            }
            return table.weightedIndex(using: &random)
        case .roundRobin, .weightedRoundRobin:
            // Not reached from `pick`, which keeps state for these; a weighted draw is still a fair answer.
            return table.weightedIndex(using: &random)
        }
    }

    /// nginx's smooth weighted round robin (`ngx_http_upstream_get_peer`): every member's current
    /// weight grows by its weight, the largest wins and pays back the total. Weights 5:1:1 give
    /// `a a b a c a a`, spread rather than in bursts, and every cycle of `totalWeight` picks gives each
    /// member exactly its weight.
    private mutating func smoothWeightedRoundRobin(
        in table: BalancerTable,
        using random: inout some RandomNumberGenerator
    ) -> Int? {
        let weights = table.weights
        let count = weights.count
        guard count > 0 else { return nil }
        if self.table !== table {
            self.table = table
            self.currentWeights.removeAll(keepingCapacity: true)
            self.currentWeights.append(contentsOf: repeatElement(0, count: count))
            self.rotation = count > 1 ? Int.random(in: 0..<count, using: &random) : 0
        }
        var best = self.rotation
        var bestWeight = Int.min
        var index = self.rotation
        for _ in 0..<count {
            self.currentWeights[index] += weights[index]
            // Strictly greater: the first maximum in scan order wins, as in nginx.
            if self.currentWeights[index] > bestWeight {
                best = index
                bestWeight = self.currentWeights[index]
            }
            index += 1
            if index == count {
                index = 0
            }
        }
        self.currentWeights[best] -= table.totalWeight
        return best
    }

    /// Power of two choices (Envoy's `least_request` default): two distinct members drawn by
    /// weight, the one with fewer active requests wins. Comparing two random members rather than
    /// scanning for the global minimum keeps loops with stale load counts from all herding onto
    /// the same idle member.
    private static func powerOfTwoChoices(
        in table: BalancerTable,
        load: (Int) -> Int,
        using random: inout some RandomNumberGenerator
    ) -> Int {
        let first = table.weightedIndex(using: &random)
        let second = table.weightedIndex(excluding: first, using: &random)
        // On a tie the first draw wins, which is itself a weighted random member.
        return load(second) < load(first) ? second : first
    }
}
