extension BalancerTable {
    /// A weighted Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
    /// Load Balancer", NSDI 2016, §3.4), built as Envoy's `MaglevTable` builds it.
    ///
    /// Each member walks its own permutation of the `size` slots, `(offset + skip × j) mod size`, with
    /// `offset` and `skip` from two XXH64 hashes of its key; members take turns claiming their next
    /// free slot until the table is full. Because a member's permutation depends only on its key,
    /// removing or adding one of N members moves little more than 1/N of the slots, unlike
    /// `hash % N`. A request's hash picks slot `hash % size`.
    ///
    /// Weights (Envoy's weighted variant): on turn `t` a member claims a slot only when
    /// `t × weight ≥ claims × maxWeight`, so the heaviest claims every turn and one of half its weight
    /// every other turn. Integers keep the build exact and platform-independent.
    ///
    /// Cost: each turn visits every member, and each claimed slot costs the probes past slots others
    /// took first, about `size × ln(size)` in all; tens of milliseconds at most, cheap enough to rebuild
    /// on every health change.
    struct Maglev: Sendable {
        /// Member indices by slot. UInt16 halves the table (128 KiB at 65 537 slots) and fits any
        /// realistic cluster; UInt32 keeps enormous ones correct.
        private enum Slots: Sendable {
            case narrow([UInt16])
            case wide([UInt32])
        }

        private let slots: Slots
        /// The number of slots: a prime, so every skip in `1..<size` visits every slot.
        let size: Int

        /// Builds the table.
        /// - Parameters:
        ///   - keys: each member's stable key; must not be empty.
        ///   - weights: each member's weight, ≥ 1, same order as `keys`.
        ///   - size: the requested number of slots, rounded up to a prime ≥ 2.
        init(keys: [String], weights: [Int], size: Int) {
            let size = Self.prime(atLeast: max(size, 2))
            self.size = size
            // The largest value of each slot type is the "free" marker, so it cannot be an index.
            if keys.count < Int(UInt16.max) {
                self.slots = .narrow(Self.fill(UInt16.self, keys: keys, weights: weights, size: size))
            } else {
                self.slots = .wide(Self.fill(UInt32.self, keys: keys, weights: weights, size: size))
            }
        }

        /// The index of the member that owns `hash`'s slot.
        func memberIndex(for hash: UInt64) -> Int {
            let slot = Int(hash % UInt64(self.size))
            switch self.slots {
            case .narrow(let slots): return Int(slots[slot])
            case .wide(let slots): return Int(slots[slot])
            }
        }

        /// How many slots each of `memberCount` members owns; for tests and diagnostics, not per request.
        func slotCounts(memberCount: Int) -> [Int] {
            var counts = [Int](repeating: 0, count: memberCount)
            for slot in 0..<self.size {
                let member = self.memberIndex(for: UInt64(slot))
                if member < memberCount {
                    counts[member] += 1
                }
            }
            return counts
        }

        /// Fills a table of `size` slots; members beyond `size` (an absurd configuration) get none.
        private static func fill<Slot: FixedWidthInteger & UnsignedInteger>(
            _: Slot.Type,
            keys: [String],
            weights: [Int],
            size: Int
        ) -> [Slot] {
            let count = keys.count
            var table = [Slot](repeating: Slot.max, count: size)
            guard count > 0 else { return table }
            let maxWeight = weights.max() ?? 1
            // position[m] is member m's next candidate slot; stepping by skip[m] modulo size walks its
            // permutation without a multiplication per probe.
            var position = keys.map { Int(StableHash.hash($0.utf8, seed: 0) % UInt64(size)) }
            let skip = keys.map { Int(StableHash.hash($0.utf8, seed: 1) % UInt64(size - 1)) + 1 }
            // Starting at 0 lets every member claim on the first turn, as in Envoy.
            var threshold = [Int](repeating: 0, count: count)
            table.withUnsafeMutableBufferPointer { table in
                var filled = 0
                var turn = 1
                // Terminates: the heaviest member claims on every turn, and a prime size means its
                // walk reaches every free slot.
                while filled < size {
                    for member in 0..<count {
                        if turn * weights[member] < threshold[member] {
                            continue
                        }
                        threshold[member] += maxWeight
                        var slot = position[member]
                        while table[slot] != Slot.max {
                            slot += skip[member]
                            if slot >= size { slot -= size }
                        }
                        table[slot] = Slot(member)
                        slot += skip[member]
                        if slot >= size { slot -= size }
                        position[member] = slot
                        filled += 1
                        if filled == size { break }
                    }
                    turn += 1
                }
            }
            return table
        }

        /// The smallest prime ≥ `value` (≥ 2); trial division, as sizes are small and built rarely.
        static func prime(atLeast value: Int) -> Int {
            var candidate = max(value, 2)
            while !Self.isPrime(candidate) {
                candidate += 1
            }
            return candidate
        }

        private static func isPrime(_ value: Int) -> Bool {
            if value < 4 { return value >= 2 }
            if value % 2 == 0 { return false }
            var divisor = 3
            while divisor * divisor <= value {
                if value % divisor == 0 { return false }
                divisor += 2
            }
            return true
        }
    }
}
