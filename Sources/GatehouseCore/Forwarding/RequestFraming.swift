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

    /// What validation learnt about a request head besides its framing.
    public struct Facts: Sendable, Equatable {
        public var framing: BodyFraming
        /// The `Host` value as received, nil when absent (HTTP/1.0).
        public var host: String?
        /// `Expect: 100-continue` (the only expectation there is).
        public var expectsContinue: Bool
        /// The request carries `Upgrade`: the gateway does not switch protocols, so it answers the
        /// request as a plain one and closes the connection after it — the bytes that follow might
        /// be the other protocol and are never parsed as HTTP.
        public var carriesUpgrade: Bool
    }

    /// Validates the head and returns the body framing the request uses.
    ///
    /// - Throws: ``Violation`` for ambiguous or invalid framing, control characters, or a bad `Host`.
    public static func validate(_ head: HTTPRequestHead) throws(Violation) -> BodyFraming {
        try self.inspect(head).framing
    }

    /// Validates the head: framing, `Host`, method, expectations, characters.
    ///
    /// - Throws: ``Violation``: 400, 501 (CONNECT, an unsupported transfer coding) or 417 (an
    ///   expectation other than 100-continue).
    public static func inspect(_ head: HTTPRequestHead) throws(Violation) -> Facts {
        guard head.version.major == 1, head.version.minor <= 1 else {
            throw Violation("unsupported HTTP version \(head.version)", status: 505)
        }
        if head.method == .CONNECT {
            throw Violation("CONNECT (tunnelling) is not supported by this gateway", status: 501)
        }
        var contentLength: Int64? = nil
        var contentLengthCount = 0
        var transferEncoding: String? = nil
        var host: String? = nil
        var expectsContinue = false
        var carriesUpgrade = false
        for (name, value) in head.headers {
            guard Self.isToken(name) else { throw Violation("invalid character in header name \(Self.printable(name))") }
            guard Self.isFieldValue(value) else {
                throw Violation("invalid character (CR, LF, NUL or control) in the value of \(name)")
            }
            switch KnownHeader(name) {
            case .contentLength:
                contentLengthCount += 1
                guard contentLengthCount == 1 else { throw Violation("several Content-Length headers") }
                guard let length = Self.decimal(value) else {
                    throw Violation("Content-Length is not a single decimal number: \(Self.printable(value))")
                }
                contentLength = length
            case .transferEncoding:
                guard transferEncoding == nil else { throw Violation("several Transfer-Encoding headers") }
                transferEncoding = value
            case .host:
                guard host == nil else { throw Violation("several Host headers") }
                guard Self.isValidHost(value) else { throw Violation("invalid Host \(Self.printable(value))") }
                host = value
            case .expect:
                // RFC 9110 §10.1.1: 100-continue is the only expectation; others cannot be met.
                guard !expectsContinue, Self.equalsLower(Substring(value).trimmingSpaces(), "100-continue") else {
                    throw Violation("unsupported expectation \(Self.printable(value))", status: 417)
                }
                expectsContinue = true
            case .hopByHop:
                if Self.equalsLower(name, "upgrade") { carriesUpgrade = true }
            default:
                break
            }
        }
        if head.version.minor >= 1 && host == nil {
            throw Violation("HTTP/1.1 request without Host")
        }
        if let transferEncoding {
            guard contentLength == nil else { throw Violation("both Content-Length and Transfer-Encoding") }
            guard head.version.minor >= 1 else {
                throw Violation("Transfer-Encoding in an HTTP/1.0 request")
            }
            let coding = Substring(transferEncoding).trimmingSpaces()
            guard !coding.isEmpty else { throw Violation("empty Transfer-Encoding") }
            // Only exactly `chunked` is accepted: `gzip, chunked` and friends are what smuggling uses.
            guard Self.equalsLower(coding, "chunked") else {
                throw Violation("unsupported Transfer-Encoding \(Self.printable(transferEncoding))", status: 501)
            }
            return Facts(framing: .chunked, host: host, expectsContinue: expectsContinue, carriesUpgrade: carriesUpgrade)
        }
        let framing: BodyFraming = contentLength.map { $0 == 0 ? .none : .length($0) } ?? .none
        return Facts(framing: framing, host: host, expectsContinue: expectsContinue, carriesUpgrade: carriesUpgrade)
    }

    /// The first trailer field of a chunked request that must not be a trailer (RFC 9110 §6.5.1):
    /// framing, routing, connection and the forwarding headers the gateway sets itself. A request
    /// carrying one is refused rather than forwarded.
    public static func forbiddenTrailer(_ trailers: HTTPHeaders) -> String? {
        for (name, _) in trailers {
            if case .other = KnownHeader(name) { continue }
            return name
        }
        return nil
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

    /// `host[:port]` (RFC 9110 §7.2): a reg-name (unreserved, sub-delims, `%`), an IPv4 address or
    /// a bracketed IPv6 literal, then an optional decimal port of at most 5 digits.
    static func isValidHost(_ value: String) -> Bool {
        let trimmed = Substring(value).trimmingSpaces().utf8
        guard !trimmed.isEmpty, trimmed.count <= 255 else { return false }
        var index = trimmed.startIndex
        if trimmed[index] == UInt8(ascii: "[") {
            guard let close = trimmed.firstIndex(of: UInt8(ascii: "]")), trimmed.distance(from: index, to: close) > 1 else {
                return false
            }
            let literal = trimmed[trimmed.index(after: index)..<close]
            guard literal.allSatisfy({ HTTPSyntax.hexValue($0) != nil || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return false }
            index = trimmed.index(after: close)
        } else {
            while index < trimmed.endIndex, trimmed[index] != UInt8(ascii: ":") {
                guard RequestTarget.isURICharacter(trimmed[index]) || trimmed[index] == UInt8(ascii: "%"),
                    trimmed[index] != UInt8(ascii: "/"), trimmed[index] != UInt8(ascii: "?"),
                    trimmed[index] != UInt8(ascii: "@")
                else { return false }
                index = trimmed.index(after: index)
            }
            guard index > trimmed.startIndex else { return false }
        }
        guard index < trimmed.endIndex else { return true }
        guard trimmed[index] == UInt8(ascii: ":") else { return false }
        let port = trimmed[trimmed.index(after: index)...]
        return !port.isEmpty && port.count <= 5
            && port.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    static func equalsLower(_ text: some StringProtocol, _ lower: String) -> Bool {
        guard text.utf8.count == lower.utf8.count else { return false }
        // Native strings are contiguous: compare the bytes directly (the zip of two UTF-8 views
        // was 1.3 % of the gateway's CPU in bench/profile.sh, called for every header).
        let contiguous = text.utf8.withContiguousStorageIfAvailable { bytes in
            lower.utf8.withContiguousStorageIfAvailable { expected in
                for index in 0..<bytes.count where RouteTable.lower(bytes[index]) != expected[index] { return false }
                return true
            }
        }
        if let result = contiguous ?? nil { return result }
        return zip(text.utf8, lower.utf8).allSatisfy { RouteTable.lower($0) == $1 }
    }

    /// What the `Connection` fields of a head say (RFC 9112 §9.3): whether the connection persists
    /// after this message for `version`, and the lower-cased options other than `keep-alive` (the
    /// field names the message's sender wants removed; `keep-alive` names a hop-by-hop field that
    /// is removed anyway). One pass over the fields, with no copy of the `Connection` values
    /// unless they name something.
    static func connectionOptions(_ headers: HTTPHeaders, version: HTTPVersion) -> (persistent: Bool, named: [String]) {
        var close = false
        var keepAlive = false
        var named: [String] = []
        for (name, value) in headers where name.utf8.count == 10 && Self.equalsLower(name, "connection") {
            // Walked in place: a split would allocate an array for every response's `keep-alive`.
            var rest = Substring(value)
            while !rest.isEmpty {
                let comma = rest.utf8.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
                let token = rest[..<comma].trimmingSpaces()
                rest = comma == rest.endIndex ? rest[comma...] : rest[rest.utf8.index(after: comma)...]
                if token.isEmpty { continue }
                if Self.equalsLower(token, "keep-alive") {
                    keepAlive = true
                } else {
                    if Self.equalsLower(token, "close") { close = true }
                    named.append(token.lowercased())
                }
            }
        }
        // NIO's reading (HTTPHeaders.isKeepAlive): `close` wins, then `keep-alive`, then the version's default.
        let persistent = close ? false : keepAlive || (version.major == 1 && version.minor >= 1)
        return (persistent, named)
    }

    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.prefix(64).map { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F ? Character($0) : "?" })
    }
}
