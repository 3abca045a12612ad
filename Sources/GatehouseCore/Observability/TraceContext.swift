import Instrumentation
import NIOHTTP1

/// A W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header):
/// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`.
///
/// The gateway checks an incoming value itself before any tracer sees it: a malformed one starts a
/// new trace (the spec's rule), silently — a client must not be able to fill the error log by
/// sending garbage, which a tracer's own parser may warn about once per request.
public struct TraceParent: Sendable, Equatable {
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    public var parentID: UInt64
    public var flags: UInt8

    public init(traceIDHigh: UInt64, traceIDLow: UInt64, parentID: UInt64, flags: UInt8) {
        self.traceIDHigh = traceIDHigh
        self.traceIDLow = traceIDLow
        self.parentID = parentID
        self.flags = flags
    }

    /// The caller recorded its span: parent-based sampling keeps the trace.
    public var isSampled: Bool { self.flags & 1 == 1 }

    /// The 32 hex digits of the trace id.
    public var traceID: String { Self.hex(self.traceIDHigh) + Self.hex(self.traceIDLow) }

    /// The 16 hex digits of the parent (span) id.
    public var parentSpanID: String { Self.hex(self.parentID) }

    /// Parses a version-00 value: exactly 55 characters, lower-case hex, neither id all zeros.
    /// Other versions are refused (the tracer only speaks 00), and so is version `ff` (invalid).
    public static func parse(_ value: String) -> TraceParent? {
        var value = value
        return value.withUTF8 { bytes -> TraceParent? in
            guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"),
                bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
                let high = Self.number(bytes, from: 3, digits: 16), let low = Self.number(bytes, from: 19, digits: 16),
                let parent = Self.number(bytes, from: 36, digits: 16), let flags = Self.number(bytes, from: 53, digits: 2),
                high | low != 0, parent != 0
            else { return nil }
            return TraceParent(traceIDHigh: high, traceIDLow: low, parentID: parent, flags: UInt8(flags))
        }
    }

    /// The header value.
    public var headerValue: String {
        "00-\(self.traceID)-\(self.parentSpanID)-" + (self.flags < 16 ? "0" : "") + String(self.flags, radix: 16)
    }

    private static func number(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int, digits: Int) -> UInt64? {
        var result: UInt64 = 0
        for index in start..<(start + digits) {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            result = result << 4 | UInt64(digit)
        }
        return result
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}

/// W3C `tracestate` (https://www.w3.org/TR/trace-context/#tracestate-header): checked before it is
/// handed on. An invalid one is dropped and the `traceparent` still used (the spec's rule).
public enum TraceStateHeader {
    /// At most 32 list members, 512 bytes in all (the spec's limits for what must be propagated).
    public static let maxMembers = 32
    public static let maxBytes = 512

    /// Whether the value is a list of `key=value` members that any conforming parser accepts: keys
    /// `[a-z0-9_\-*/]` (one `tenant@system` form allowed), values printable ASCII without `,` and `=`,
    /// members separated by `,` with optional spaces after it. Stricter than the spec where the
    /// tracer's own parser is (so it never refuses, and never logs, what passes here).
    public static func isValid(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= Self.maxBytes else { return false }
        var members = 0
        for rawMember in value.utf8.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            // Spaces only after a comma: the tracer's parser refuses them anywhere else.
            let member = members == 0 ? rawMember : rawMember.drop { $0 == UInt8(ascii: " ") }
            // Empty members are allowed by the spec but some parsers refuse them: not passed on.
            guard let equals = member.firstIndex(of: UInt8(ascii: "=")) else { return false }
            let key = member[member.startIndex..<equals]
            let memberValue = member[member.index(after: equals)...]
            guard Self.isKey(key), Self.isValue(memberValue) else { return false }
            members += 1
        }
        return members <= Self.maxMembers
    }

    private static func isKey(_ key: Substring.UTF8View) -> Bool {
        guard !key.isEmpty, key.count <= 256, let first = key.first,
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
        else { return false }
        var sawAt = false
        var part = 0
        for byte in key {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"),
                UInt8(ascii: "-"), UInt8(ascii: "*"), UInt8(ascii: "/"):
                part += 1
            case UInt8(ascii: "@") where !sawAt:
                // tenant (≤ 241) @ system (≤ 14)
                guard part >= 1, part <= 241 else { return false }
                sawAt = true
                part = 0
            default:
                return false
            }
        }
        return sawAt ? (1...14).contains(part) : true
    }

    private static func isValue(_ value: Substring.UTF8View) -> Bool {
        guard !value.isEmpty, value.count <= 256, value.last != UInt8(ascii: " ") else { return false }
        return value.allSatisfy { $0 >= 0x20 && $0 <= 0x7E && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "=") }
    }
}

/// The trace context a request arrived with, once checked: what the tracer extracts from.
struct IncomingTrace: Sendable {
    var traceparent: String
    var tracestate: String?

    /// The checked `traceparent` (exactly one field) and `tracestate` (its fields joined, as the spec
    /// allows a list split across fields) of a request; nil when there is no valid `traceparent`.
    init?(_ headers: HTTPHeaders) {
        var traceparent: String?
        for value in headers[canonicalForm: "traceparent"] {
            // Two fields: which one is the caller? Neither (the spec says the value is then invalid).
            guard traceparent == nil else { return nil }
            traceparent = String(value)
        }
        guard let traceparent, TraceParent.parse(traceparent) != nil else { return nil }
        self.traceparent = traceparent
        let states = headers[canonicalForm: "tracestate"]
        if !states.isEmpty {
            let joined = states.count == 1 ? String(states[0]) : states.joined(separator: ",")
            self.tracestate = TraceStateHeader.isValid(joined) ? joined : nil
        }
    }

    /// Hands the checked values to a tracer's propagator.
    struct Extractor: Instrumentation.Extractor {
        func extract(key: String, from carrier: IncomingTrace) -> String? {
            switch key {
            case "traceparent": return carrier.traceparent
            case "tracestate": return carrier.tracestate
            default: return nil
            }
        }
    }
}

/// Writes a tracer's propagation fields into the upstream request head.
struct UpstreamTraceInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout HTTPHeaders) {
        carrier.replaceOrAdd(name: key, value: value)
    }
}
