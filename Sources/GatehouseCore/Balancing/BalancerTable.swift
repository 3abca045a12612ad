import GatehouseConfig

// `package` (not internal) so Benchmarks/GatehouseBenchmarks can measure picks in a release build.
/// Everything needed to pick among one published set of members, precomputed once per publication:
/// clamped weights for smooth weighted round robin, cumulative weights for weighted random draws
/// (`random`, `least_request`, and `consistent_hash` without a key), and the Maglev lookup table for
/// `consistent_hash`.
///
/// Immutable and shared by all event loops; the per-loop mutable part is ``BalancerCursor``. Building
/// is O(members) for every policy but `consistent_hash`, which also fills the Maglev table
/// (see ``BalancerTable/Maglev``).
package final class BalancerTable: Sendable {
    /// Maglev's table size when none is given: the prime Envoy uses by default. Large enough that
    /// each of up to a few hundred members gets a share within ~1 % of its weight.
    package static let defaultMaglevTableSize = 65_537
    /// The largest weight the table honours. Configured weights are 1...1000, × 100; the cap only
    /// keeps sums and Maglev's `iteration × weight` far from overflow whatever a caller passes.
    static let maximumWeight = 1 << 24

    /// The policy the cursor applies to this table.
    let policy: Cluster.Balance
    /// The members, in the order the indices returned by ``BalancerCursor/pick(in:hash:load:using:)`` refer to.
    let members: [BalancerMember]
    /// Each member's weight clamped to `1...maximumWeight`, in member order.
    let weights: [Int]
    /// `cumulativeWeights[i]` is the sum of `weights[0...i]`: a draw in `0..<totalWeight` lands on the
    /// first member whose cumulative weight exceeds it.
    let cumulativeWeights: [Int]
    /// The sum of `weights`; 0 for an empty table.
    let totalWeight: Int
    /// The Maglev lookup table, built only for `consistent_hash` with at least one member.
    let maglev: Maglev?

    /// Precomputes the table for `members`.
    /// - Parameters:
    ///   - policy: the cluster's balancing policy.
    ///   - members: the members to pick from, in the order the returned indices refer to.
    ///   - maglevTableSize: Maglev's table size for `consistent_hash`, rounded up to a prime. Tests
    ///     use the default too, so the measured key movement is the production one.
    package init(
        policy: Cluster.Balance,
        members: [BalancerMember],
        maglevTableSize: Int = BalancerTable.defaultMaglevTableSize
    ) {
        self.policy = policy
        self.members = members
        let weights = members.map { min(max($0.weight, 1), Self.maximumWeight) }
        var cumulativeWeights: [Int] = []
        cumulativeWeights.reserveCapacity(weights.count)
        var total = 0
        for weight in weights {
            total += weight
            cumulativeWeights.append(total)
        }
        self.weights = weights
        self.cumulativeWeights = cumulativeWeights
        self.totalWeight = total
        if policy == .consistentHash, !members.isEmpty {
            self.maglev = Maglev(keys: members.map(\.key), weights: weights, size: maglevTableSize)
        } else {
            self.maglev = nil
        }
    }
}

// MARK: - Weighted draws

extension BalancerTable {
    /// A member index drawn with probability proportional to its weight.
    ///
    /// One random number and a binary search over ``cumulativeWeights``; no allocation.
    /// - Precondition: the table is not empty.
    func weightedIndex(using random: inout some RandomNumberGenerator) -> Int {
        self.index(containing: Int.random(in: 0..<self.totalWeight, using: &random))
    }

    /// A member index other than `excluded`, drawn with probability proportional to its weight
    /// among the others: the second of power of two choices' draws.
    ///
    /// The draw skips over `excluded`'s stretch of the cumulative line instead of retrying, so it
    /// costs one random number however heavy `excluded` is.
    /// - Precondition: the table has at least two members.
    func weightedIndex(excluding excluded: Int, using random: inout some RandomNumberGenerator) -> Int {
        let excludedWeight = self.weights[excluded]
        let excludedStart = self.cumulativeWeights[excluded] - excludedWeight
        var ticket = Int.random(in: 0..<(self.totalWeight - excludedWeight), using: &random)
        if ticket >= excludedStart {
            ticket += excludedWeight
        }
        return self.index(containing: ticket)
    }

    /// The first member whose cumulative weight exceeds `ticket` (`0 ≤ ticket < totalWeight`).
    private func index(containing ticket: Int) -> Int {
        var low = 0
        var high = self.cumulativeWeights.count - 1
        while low < high {
            let middle = (low + high) / 2
            if self.cumulativeWeights[middle] > ticket {
                high = middle
            } else {
                low = middle + 1
            }
        }
        return low
    }
}
