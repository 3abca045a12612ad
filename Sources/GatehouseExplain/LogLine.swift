#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One log line as bytes, without a copy: the parsers work on UTF-8 bytes because building a
/// `String` (or running a regex) per line would cost more than everything else put together.
///
/// A `LogLine` borrows its storage; it is only valid during the `consume` call that received it.
struct LogLine {
    /// The line's bytes, without the trailing newline.
    let bytes: UnsafeBufferPointer<UInt8>

    /// The number of bytes in the line.
    var count: Int { bytes.count }

    /// The byte at `index`, or 0 past the end (so look-ahead needs no bounds checks at call sites).
    @inline(__always)
    subscript(index: Int) -> UInt8 {
        index >= 0 && index < bytes.count ? bytes[index] : 0
    }

    /// The first index of `byte` in `from..<to`.
    func firstIndex(of byte: UInt8, from: Int = 0, to: Int? = nil) -> Int? {
        let end = Swift.min(to ?? bytes.count, bytes.count)
        guard from < end, let base = bytes.baseAddress else { return nil }
        guard let hit = memchr(base + from, Int32(byte), end - from) else { return nil }
        return base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    }

    /// The first index of `needle` in `from..<to` (memchr on the first byte, memcmp on the rest).
    func find(_ needle: StaticString, from: Int = 0, to: Int? = nil) -> Int? {
        let end = Swift.min(to ?? bytes.count, bytes.count)
        let length = needle.utf8CodeUnitCount
        guard length > 0, let base = bytes.baseAddress else { return nil }
        let first = needle.utf8Start.pointee
        var position = from
        while position + length <= end {
            guard let hit = memchr(base + position, Int32(first), end - length + 1 - position) else { return nil }
            let index = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + index, needle.utf8Start, length) == 0 { return index }
            position = index + 1
        }
        return nil
    }

    /// Whether the line contains `needle` anywhere in `from..<to`.
    func contains(_ needle: StaticString, from: Int = 0, to: Int? = nil) -> Bool {
        find(needle, from: from, to: to) != nil
    }

    /// Whether the bytes at `index` are exactly `prefix`.
    func matches(_ prefix: StaticString, at index: Int) -> Bool {
        let length = prefix.utf8CodeUnitCount
        guard index >= 0, index + length <= bytes.count, let base = bytes.baseAddress else { return false }
        return memcmp(base + index, prefix.utf8Start, length) == 0
    }

    /// The bytes in `range` as a `String` (lossy for invalid UTF-8, which logs do contain).
    func string(_ range: Range<Int>) -> String {
        let lower = Swift.max(0, range.lowerBound)
        let upper = Swift.min(bytes.count, range.upperBound)
        guard lower < upper else { return "" }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[lower..<upper]), as: UTF8.self)
    }

    /// The whole line as a `String`, cut at `limit` bytes so one pathological line cannot bloat the report.
    func text(limit: Int = 4096) -> String {
        string(0..<Swift.min(bytes.count, limit))
    }

    /// A non-negative decimal integer in `range`, or nil if the range holds anything else.
    func int(_ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= bytes.count else { return nil }
        var value = 0
        for index in range {
            let digit = bytes[index] &- 48
            guard digit < 10, value < 100_000_000_000 else { return nil }
            value = value * 10 + Int(digit)
        }
        return value
    }

    /// The decimal digits starting at `index` (`40` in `40)`), or nil when there are none.
    func leadingInt(at index: Int) -> Int? {
        var end = index
        while end < bytes.count, bytes[end] &- 48 < 10 { end += 1 }
        return int(index..<end)
    }

    /// An integer that may carry a sign (`-1` timers, `+3` retries in HAProxy logs).
    func signedInt(_ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= bytes.count else { return nil }
        switch bytes[range.lowerBound] {
        case UInt8(ascii: "-"): return int(range.lowerBound + 1..<range.upperBound).map { -$0 }
        case UInt8(ascii: "+"): return int(range.lowerBound + 1..<range.upperBound)
        default: return int(range)
        }
    }

    /// Seconds with a fractional part (`0.585`, `2`) as milliseconds; nil for `-` or anything else.
    func secondsAsMillis(_ range: Range<Int>) -> Int? {
        guard !range.isEmpty, range.lowerBound >= 0, range.upperBound <= bytes.count else { return nil }
        guard let dot = firstIndex(of: UInt8(ascii: "."), from: range.lowerBound, to: range.upperBound) else {
            return int(range).map { $0 * 1000 }
        }
        guard let whole = dot == range.lowerBound ? 0 : int(range.lowerBound..<dot) else { return nil }
        var millis = 0
        var scale = 100
        for index in dot + 1..<range.upperBound {
            let digit = bytes[index] &- 48
            guard digit < 10 else { return nil }
            millis += Int(digit) * scale
            scale /= 10
        }
        return whole * 1000 + millis
    }

    /// FNV-1a over `range`: a key for per-upstream counters that needs no `String` per line.
    func hash(_ range: Range<Int>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for index in range where index >= 0 && index < bytes.count {
            hash = (hash ^ UInt64(bytes[index])) &* 0x100_0000_01b3
        }
        return hash
    }

    /// The end of the token starting at `index` (the next space, or the end of the line); never
    /// before `index`, so `index..<tokenEnd(from: index)` is always a valid (possibly empty) range.
    func tokenEnd(from index: Int) -> Int {
        Swift.max(index, firstIndex(of: UInt8(ascii: " "), from: index) ?? bytes.count)
    }

    /// The first index at or after `index` that is not a space.
    func skipSpaces(from index: Int) -> Int {
        var position = index
        while position < bytes.count, bytes[position] == UInt8(ascii: " ") { position += 1 }
        return position
    }
}

extension String {
    /// FNV-1a of the string's UTF-8, equal to `LogLine.hash` over the same bytes.
    var upstreamHash: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in self.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// Runs `body` over this string's bytes as a `LogLine` (the convenience path for tests and callers with Strings).
    func withLogLine<Result>(_ body: (LogLine) -> Result) -> Result {
        var copy = self
        return copy.withUTF8 { body(LogLine(bytes: $0)) }
    }
}
