import NIOHTTP1

/// Why an upstream's bytes were refused by ``StrictResponseDecoder``. Classified once by
/// ``ProxyFailure/classify(_:phase:nextHop:)``: the kind decides the RFC 9209 type.
public struct ResponseDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong.
    public enum Kind: Sendable, Hashable {
        /// A status line or header field that is not valid HTTP/1.1 (`http_protocol_error`).
        case malformedHead
        /// Framing two parsers could read differently: Content-Length with Transfer-Encoding,
        /// several or invalid Content-Length, a coding other than `chunked` (`http_protocol_error`).
        case ambiguousFraming
        /// The head is larger than `limits.max_response_header_bytes` (`http_response_header_section_size`).
        case headerSectionTooLarge
        /// An invalid chunk-size line, chunk extension or chunk delimiter (`http_response_transfer_coding`).
        case invalidChunking
        /// The connection ended before the response did (`http_response_incomplete`).
        case incomplete
        /// Bytes arrived while no request was outstanding, or too many 1xx responses (`http_protocol_error`).
        case unsolicited
    }

    public var kind: Kind
    /// Plain words for the log and, with `expose_details`, the client.
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    public var description: String { self.reason }
}

/// Sent up the upstream pipeline (as a user inbound event) by ``StrictResponseDecoder`` when a
/// response is fine but the connection must not carry another exchange: bytes followed the
/// response, its body is delimited by the close, or it switched protocols. ``UpstreamHandler``
/// then refuses to return the connection to its pool.
struct UpstreamConnectionUnusable: Sendable {
    enum Reason: Sendable {
        case bytesAfterResponse
        case closeDelimited
        case switchedProtocols
    }

    var reason: Reason
}

/// How a response body is delimited (RFC 9112 §6.3), decided by ``ResponseFraming/decide``.
enum ResponseBodyFraming: Equatable {
    case none
    case length(Int64)
    case chunked
    case untilClose
}

/// The response framing rules: strict like the request side, so no response whose length two
/// parsers could disagree on is ever passed on.
enum ResponseFraming {
    /// - Parameters:
    ///   - contentLength: how many `Content-Length` fields the response has, and the first one's value.
    ///   - transferEncoding: the same for `Transfer-Encoding`.
    static func decide(
        status: Int, isHeadRequest: Bool, version: HTTPVersion, contentLength: (count: Int, first: String?),
        transferEncoding: (count: Int, first: String?)
    ) throws(ResponseDecodingError) -> ResponseBodyFraming {
        var length: Int64? = nil
        if contentLength.count > 0 {
            guard contentLength.count == 1, let value = contentLength.first else {
                throw ResponseDecodingError(.ambiguousFraming, "several Content-Length headers in the response")
            }
            guard let parsed = RequestFraming.decimal(value) else {
                throw ResponseDecodingError(
                    .ambiguousFraming,
                    "response Content-Length is not a single decimal number: \(RequestFraming.printable(value))")
            }
            length = parsed
        }
        var chunked = false
        if transferEncoding.count > 0 {
            guard version.minor >= 1 else {
                throw ResponseDecodingError(.ambiguousFraming, "Transfer-Encoding in an HTTP/1.0 response")
            }
            guard transferEncoding.count == 1, let value = transferEncoding.first else {
                throw ResponseDecodingError(.ambiguousFraming, "several Transfer-Encoding headers in the response")
            }
            guard RequestFraming.equalsLower(value, "chunked") else {
                throw ResponseDecodingError(
                    .ambiguousFraming,
                    "response Transfer-Encoding \(RequestFraming.printable(value)) is not exactly chunked")
            }
            guard length == nil else {
                throw ResponseDecodingError(
                    .ambiguousFraming, "both Content-Length and Transfer-Encoding in the response")
            }
            chunked = true
        }
        // RFC 9112 §6.3: these never have a body, whatever the headers say (the headers were still
        // checked above: an ambiguous one must not be passed on either).
        if isHeadRequest || status < 200 || status == 204 || status == 304 { return .none }
        if chunked { return .chunked }
        if let length { return length == 0 ? .none : .length(length) }
        return .untilClose
    }
}

/// Byte classes of RFC 9110 §5.6, allocation-free, shared by the strict parsers.
enum HTTPSyntax {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let space: UInt8 = 32
    static let tab: UInt8 = 9

    /// `tchar`: the characters of a token (header names, methods, chunk-extension names).
    @inline(__always) static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
            UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
            UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// A byte allowed inside a field value: HTAB, SP, VCHAR, obs-text. Never CR, LF, NUL, DEL.
    @inline(__always) static func isFieldValueByte(_ byte: UInt8) -> Bool {
        byte == Self.tab || (byte >= 0x20 && byte != 0x7F)
    }

    @inline(__always) static func hexValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt64(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt64(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }
}
