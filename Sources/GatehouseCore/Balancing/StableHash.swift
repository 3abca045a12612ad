// `package` (not internal) so Benchmarks/GatehouseBenchmarks can measure picks in a release build.
/// A stable 64-bit hash: XXH64 (xxHash, 64-bit variant), the same value in every process, run and
/// platform.
///
/// Swift's `Hasher` is seeded per process, so it cannot place a consistent-hash key on the same
/// server across restarts or across the loops of two Gatehouse instances. XXH64 is what Envoy's
/// Maglev uses for its permutations (`HashUtil::xxHash64`), is fast on short keys, and has published
/// test vectors, so a change of algorithm is caught by the tests rather than by moved sessions.
/// Not for secrets: an attacker who picks keys can pick colliding ones.
package enum StableHash {
    private static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    /// The XXH64 hash (seed 0) of the UTF-8 bytes of `text`.
    package static func hash(_ text: String) -> UInt64 {
        self.hash(text.utf8, seed: 0)
    }

    /// The XXH64 hash of `bytes` with `seed`.
    ///
    /// Contiguous inputs (native strings' UTF-8 views, arrays, buffers) are hashed in place without
    /// allocating; other sequences are copied once.
    static func hash(_ bytes: some Sequence<UInt8>, seed: UInt64 = 0) -> UInt64 {
        if let value = bytes.withContiguousStorageIfAvailable({ Self.xxh64(UnsafeRawBufferPointer($0), seed: seed) }) {
            return value
        }
        return Array(bytes).withUnsafeBytes { Self.xxh64($0, seed: seed) }
    }

    /// XXH64 as specified in xxHash's `doc/xxhash_spec.md`: 32-byte stripes into four lanes, then
    /// 8-, 4- and 1-byte tails, then the avalanche.
    private static func xxh64(_ input: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let length = input.count
        var offset = 0
        var hash: UInt64
        if length >= 32 {
            var lane1 = seed &+ Self.prime1 &+ Self.prime2
            var lane2 = seed &+ Self.prime2
            var lane3 = seed
            var lane4 = seed &- Self.prime1
            while length - offset >= 32 {
                lane1 = Self.round(lane1, Self.word64(input, offset))
                lane2 = Self.round(lane2, Self.word64(input, offset + 8))
                lane3 = Self.round(lane3, Self.word64(input, offset + 16))
                lane4 = Self.round(lane4, Self.word64(input, offset + 24))
                offset += 32
            }
            hash =
                Self.rotate(lane1, 1) &+ Self.rotate(lane2, 7) &+ Self.rotate(lane3, 12) &+ Self.rotate(lane4, 18)
            hash = Self.mergeRound(hash, lane1)
            hash = Self.mergeRound(hash, lane2)
            hash = Self.mergeRound(hash, lane3)
            hash = Self.mergeRound(hash, lane4)
        } else {
            hash = seed &+ Self.prime5
        }
        hash &+= UInt64(length)
        while length - offset >= 8 {
            hash ^= Self.round(0, Self.word64(input, offset))
            hash = Self.rotate(hash, 27) &* Self.prime1 &+ Self.prime4
            offset += 8
        }
        if length - offset >= 4 {
            let word = UInt64(UInt32(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            hash ^= word &* Self.prime1
            hash = Self.rotate(hash, 23) &* Self.prime2 &+ Self.prime3
            offset += 4
        }
        while offset < length {
            hash ^= UInt64(input[offset]) &* Self.prime5
            hash = Self.rotate(hash, 11) &* Self.prime1
            offset += 1
        }
        hash ^= hash >> 33
        hash &*= Self.prime2
        hash ^= hash >> 29
        hash &*= Self.prime3
        hash ^= hash >> 32
        return hash
    }

    private static func word64(_ input: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: input.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    private static func round(_ accumulator: UInt64, _ input: UInt64) -> UInt64 {
        Self.rotate(accumulator &+ input &* Self.prime2, 31) &* Self.prime1
    }

    private static func mergeRound(_ accumulator: UInt64, _ lane: UInt64) -> UInt64 {
        (accumulator ^ Self.round(0, lane)) &* Self.prime1 &+ Self.prime4
    }

    private static func rotate(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }
}
