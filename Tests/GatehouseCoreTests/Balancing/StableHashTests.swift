import Testing

@testable import GatehouseCore

/// ``StableHash`` is XXH64: published vectors pin the algorithm, so a change cannot silently move
/// every consistent-hash key.
@Suite struct StableHashTests {
    /// (input, seed, XXH64) from the xxHash reference implementation's published vectors.
    private static let vectors: [(String, UInt64, UInt64)] = [
        ("", 0, 0xEF46_DB37_51D8_E999),
        ("a", 0, 0xD24E_C4F1_A98C_6E5B),
        ("abc", 0, 0x44BC_2CF5_AD77_0999),
        // 39 bytes: one 32-byte stripe, then the 4- and 1-byte tails.
        ("Nobody inspects the spammish repetition", 0, 0xFBCE_A83C_8A37_8BF1),
        ("Nobody inspects the spammish repetition", 1234, 0x55E3_0CD2_48A5_419F),
        // 43 bytes: a stripe plus the 8-byte tail.
        ("The quick brown fox jumps over the lazy dog", 0, 0x0B24_2D36_1FDA_71BC),
        (String(repeating: "a", count: 32), 0, 0x856E_8432_98F9_9AD7),
        (String(repeating: "b", count: 64), 0, 0xECBA_F4BD_F26B_6349),
    ]

    @Test func matchesPublishedXXH64Vectors() {
        for (input, seed, expected) in Self.vectors {
            #expect(StableHash.hash(input.utf8, seed: seed) == expected, "\(input.prefix(12))… seed \(seed)")
            if seed == 0 {
                #expect(StableHash.hash(input) == expected)
            }
        }
    }

    @Test func contiguousAndCopiedInputsAgree() {
        let text = "10.0.0.1:8080 and a little more than thirty-two bytes"
        let bytes = Array(text.utf8)
        // A lazy map has no contiguous storage, so it takes the copying path.
        let lazyBytes = text.utf8.lazy.map { $0 }
        #expect(StableHash.hash(bytes) == StableHash.hash(text))
        #expect(StableHash.hash(lazyBytes) == StableHash.hash(text))
        #expect(StableHash.hash(lazyBytes, seed: 9) == StableHash.hash(bytes, seed: 9))
    }

    @Test func distinctInputsAndSeedsGiveDistinctHashes() {
        let keys = (0..<20_000).map { "10.0.\($0 / 256).\($0 % 256):8080" }
        #expect(Set(keys.map { StableHash.hash($0) }).count == keys.count)
        #expect(Set(keys.prefix(1_000).map { StableHash.hash($0.utf8, seed: 1) }).count == 1_000)
        #expect(StableHash.hash("key".utf8, seed: 0) != StableHash.hash("key".utf8, seed: 1))
    }

    @Test func everyLengthUpToTwoStripesIsDistinct() {
        // Each tail path (8-, 4-, 1-byte) and the stripe boundary: prefixes of one string must all differ.
        let text = String(repeating: "x", count: 70)
        let hashes = (0...70).map { StableHash.hash(String(text.prefix($0))) }
        #expect(Set(hashes).count == 71)
    }
}
