import NIOHTTP1

/// How a request or response body is delimited on the wire (RFC 9112 §6).
public enum BodyFraming: Sendable, Equatable {
    /// No body at all.
    case none
    /// `Content-Length: n`.
    case length(Int64)
    /// `Transfer-Encoding: chunked`.
    case chunked
}

/// The framing checks every downstream request passes before anything is forwarded (RFC 9112 §6.3,
/// and the request-smuggling lessons): a request whose framing two parsers could read differently
/// is refused with 400, never forwarded.
public enum RequestFraming {
    /// Why a request was refused.
    public struct Violation: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var status: Int

        public init(_ reason: String, status: Int = 400) {
            self.reason = reason
            self.status = status
        }

        public var description: String { self.reason }
    }

    /// Validates the head and returns the body framing the request uses.
    ///
    /// - Throws: ``Violation`` for ambiguous or invalid framing, control characters, or a bad `Host`.
    public static func validate(_ head: HTTPRequestHead) throws(Violation) -> BodyFraming {
        var contentLength: Int64? = nil
        var contentLengthCount = 0
        var transferEncoding: String? = nil
        var hostCount = 0
        for (name, value) in head.headers {
            guard Self.isToken(name) else { throw Violation("invalid character in header name \(Self.printable(name))") }
            guard Self.isFieldValue(value) else {
                throw Violation("invalid character (CR, LF, NUL or control) in the value of \(name)")
            }
            if Self.equalsLower(name, "content-length") {
                contentLengthCount += 1
                guard contentLengthCount == 1 else { throw Violation("several Content-Length headers") }
                guard let length = Self.decimal(value) else {
                    throw Violation("Content-Length is not a single decimal number: \(Self.printable(value))")
                }
                contentLength = length
            } else if Self.equalsLower(name, "transfer-encoding") {
                guard transferEncoding == nil else { throw Violation("several Transfer-Encoding headers") }
                transferEncoding = value
            } else if Self.equalsLower(name, "host") {
                hostCount += 1
                guard hostCount == 1 else { throw Violation("several Host headers") }
                guard Self.isValidHost(value) else { throw Violation("invalid Host \(Self.printable(value))") }
            }
        }
        if head.version.major == 1 && head.version.minor >= 1 && hostCount == 0 {
            throw Violation("HTTP/1.1 request without Host")
        }
        if let transferEncoding {
            guard contentLength == nil else { throw Violation("both Content-Length and Transfer-Encoding") }
            guard head.version.major == 1 && head.version.minor >= 1 else {
                throw Violation("Transfer-Encoding in an HTTP/1.0 request")
            }
            // Only exactly `chunked` is accepted: `gzip, chunked` and friends are what smuggling uses.
            guard Self.equalsLower(Substring(transferEncoding).trimmingSpaces(), "chunked") else {
                throw Violation("unsupported Transfer-Encoding \(Self.printable(transferEncoding))", status: 501)
            }
            return .chunked
        }
        if let contentLength { return contentLength == 0 ? .none : .length(contentLength) }
        return .none
    }

    static func decimal(_ value: String) -> Int64? {
        let trimmed = Substring(value).trimmingSpaces()
        guard !trimmed.isEmpty, trimmed.utf8.count <= 18,
            trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return Int64(trimmed)
    }

    static func isToken(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }

    static func isFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { byte in byte == 0x09 || (byte >= 0x20 && byte != 0x7F) }
    }

    static func isValidHost(_ value: String) -> Bool {
        let trimmed = Substring(value).trimmingSpaces()
        guard !trimmed.isEmpty, trimmed.utf8.count <= 255 else { return false }
        return trimmed.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "-._~:[]!$&'()*+,;=%".utf8.contains(byte)
            }
        }
    }

    static func equalsLower(_ text: some StringProtocol, _ lower: String) -> Bool {
        guard text.utf8.count == lower.utf8.count else { return false }
        return zip(text.utf8, lower.utf8).allSatisfy { RouteTable.lower($0) == $1 }
    }

    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.prefix(64).map { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F ? Character($0) : "?" })
    }
}
