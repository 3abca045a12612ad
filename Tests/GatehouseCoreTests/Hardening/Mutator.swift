import Foundation

@testable import GatehouseCore

#if canImport(Glibc)
import Glibc
#endif

/// A seeded, reproducible byte mutator for the fuzz tests: the same seed gives the same inputs on
/// every machine, so a finding is replayed by its seed and iteration number.
struct Mutator {
    /// The gateway's own generator: the same sequence for a seed everywhere.
    private var random: SplitMix64

    init(seed: UInt64) {
        self.random = SplitMix64(seed: seed)
    }

    mutating func next() -> UInt64 {
        self.random.next()
    }

    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(self.next() % UInt64(bound)) }

    mutating func chance(_ percent: Int) -> Bool { self.below(100) < percent }

    mutating func pick<T>(_ items: [T]) -> T { items[self.below(items.count)] }

    /// Bytes that matter to HTTP parsers.
    static let interesting: [UInt8] =
        Array("\r\n\0 \t:,;\"=0123456789abcdefABCDEF-+xX/?#%\\".utf8) + [0x0B, 0x7F, 0x80, 0xFF, 0x01]

    /// Header lines that change framing, routing or connection handling.
    static let dictionary: [String] = [
        "Transfer-Encoding: chunked", "Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked, identity",
        "transfer-encoding:chunked", "Content-Length: 0", "Content-Length: 5", "Content-Length: 18",
        "Content-Length: 5, 5",
        "Host: b", "Host: a:80", "Connection: close", "Connection: keep-alive", "Connection: Content-Length",
        "Connection: Transfer-Encoding, Upgrade", "Upgrade: websocket", "Expect: 100-continue", "Trailer: X-T",
        "X-Forwarded-For: 6.6.6.6", "Via: 1.1 other", " folded", "\tfolded", "X-Empty:", "TE: trailers",
        "Keep-Alive: timeout=5",
    ]

    /// 1 to 4 mutations of `input`, with `others` to splice from.
    mutating func mutate(_ input: [UInt8], others: [[UInt8]]) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + self.below(4)) {
            switch self.below(10) {
            case 0 where !bytes.isEmpty:
                bytes[self.below(bytes.count)] = UInt8(truncatingIfNeeded: self.next())
            case 1:
                bytes.insert(self.pick(Self.interesting), at: self.below(bytes.count + 1))
            case 2 where !bytes.isEmpty:
                let start = self.below(bytes.count)
                bytes.removeSubrange(start..<min(bytes.count, start + 1 + self.below(8)))
            case 3:
                let lines = self.lineStarts(bytes)
                let start = self.pick(lines)
                let end = bytes[start...].firstRange(of: [13, 10]).map { $0.upperBound } ?? bytes.count
                bytes.insert(contentsOf: bytes[start..<end], at: start)
            case 4:
                let line = Array((self.pick(Self.dictionary) + "\r\n").utf8)
                let positions = self.lineStarts(bytes).filter { $0 > 0 }
                bytes.insert(contentsOf: line, at: positions.isEmpty ? 0 : self.pick(positions))
            case 5 where !others.isEmpty:
                let other = self.pick(others)
                let start = self.below(other.count + 1)
                bytes += other[start...]
            case 6:
                let digits = bytes.indices.filter { bytes[$0] >= 48 && bytes[$0] <= 57 }
                if !digits.isEmpty { bytes[self.pick(digits)] = UInt8(48 + self.below(10)) }
            case 7 where bytes.count > 1:
                bytes.removeSubrange(self.below(bytes.count)...)
            case 8:
                let letters = bytes.indices.filter { (bytes[$0] | 0x20) >= 97 && (bytes[$0] | 0x20) <= 122 }
                if !letters.isEmpty { bytes[self.pick(letters)] ^= 0x20 }
            default:
                // Replace a CRLF by a bare LF or CR: the line-end confusions.
                let crlfs = bytes.indices.dropLast().filter { bytes[$0] == 13 && bytes[$0 + 1] == 10 }
                if !crlfs.isEmpty {
                    let at = self.pick(crlfs)
                    bytes.remove(at: self.chance(50) ? at : at + 1)
                }
            }
        }
        return bytes
    }

    private func lineStarts(_ bytes: [UInt8]) -> [Int] {
        var starts = [0]
        for index in bytes.indices.dropLast() where bytes[index] == 10 { starts.append(index + 1) }
        return starts
    }

    /// Up to three offsets at which to split `bytes` into separate reads (none 70% of the time), so
    /// that heads, chunk lines and bodies also arrive in pieces.
    mutating func cuts(_ bytes: [UInt8]) -> [Int] {
        guard bytes.count > 1, self.chance(30) else { return [] }
        return (0..<(1 + self.below(3))).map { _ in 1 + self.below(bytes.count - 1) }.sorted()
    }

    static func pieces(_ bytes: [UInt8], cuts: [Int]) -> [[UInt8]] {
        var pieces: [[UInt8]] = []
        var start = 0
        for cut in cuts where cut > start && cut < bytes.count {
            pieces.append(Array(bytes[start..<cut]))
            start = cut
        }
        pieces.append(Array(bytes[start...]))
        return pieces
    }

    /// A printable, replayable form of an input for a failure message.
    static func show(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.prefix(600), as: UTF8.self).debugDescription
    }
}

/// How many iterations and which seed the fuzz tests use: `GATEHOUSE_FUZZ_ITERATIONS` and
/// `GATEHOUSE_FUZZ_SEED` override the CI defaults.
enum FuzzSettings {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["GATEHOUSE_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 20_000
    }

    /// `GATEHOUSE_FUZZ_DELAY` seconds (default 5) before the first campaign starts.
    static var startDelay: Duration {
        .seconds(ProcessInfo.processInfo.environment["GATEHOUSE_FUZZ_DELAY"].flatMap(Int.init) ?? 5)
    }

    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["GATEHOUSE_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x6761_7465_686F_7573
    }
}

/// Runs a long synchronous loop (a fuzz campaign) on a thread of its own, with idle CPU priority: it must neither hold one of the few threads of Swift's cooperative pool nor take CPU
/// time from the other suites, which run at the same time and measure time (timeouts, keep-alive).
enum OffPool {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                #if os(Linux)
                // SCHED_IDLE (5): the thread runs only on an otherwise idle CPU; Linux schedules
                // threads one by one, and 0 means the calling thread.
                var parameters = sched_param()
                if sched_setscheduler(0, 5, &parameters) != 0 {
                    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
                }
                #endif
                continuation.resume(with: Result { try body() })
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}
