import NIOHTTP1

/// The request target (RFC 9112 §3.2), checked strictly and reduced to the origin form the
/// gateway forwards: `/path?query` as is, `http://host/path` as `/path` with `host` checked
/// against `Host`, `*` for OPTIONS only. Anything else is refused: authority form (CONNECT is not
/// supported), relative references, fragments, and characters RFC 3986 does not allow in a URI
/// (control characters, space, non-ASCII, `"<>\^`{|}`, malformed `%` escapes) — the characters
/// different servers decode differently.
public struct RequestTarget: Sendable, Equatable {
    /// The origin-form target to forward (the path and query).
    public var path: String
    /// The authority of an absolute-form target (`host[:port]`), nil for origin form.
    public var authority: String?
    /// The absolute-form target's scheme was `https`.
    public var isHTTPS: Bool

    public init(path: String, authority: String? = nil, isHTTPS: Bool = false) {
        self.path = path
        self.authority = authority
        self.isHTTPS = isHTTPS
    }

    /// - Parameters:
    ///   - uri: the target as decoded from the request line.
    ///   - method: the request's method (`*` is for OPTIONS only).
    ///   - maxBytes: `request_limits.max_request_line_bytes`; longer targets are refused with 414.
    /// - Throws: ``RequestFraming/Violation`` (400 or 414).
    public static func parse(_ uri: String, method: HTTPMethod, maxBytes: Int) throws(RequestFraming.Violation)
        -> RequestTarget
    {
        let utf8 = uri.utf8
        guard utf8.count <= maxBytes else {
            throw RequestFraming.Violation(
                "request target longer than request_limits.max_request_line_bytes (\(maxBytes))", status: 414)
        }
        guard let first = utf8.first else { throw RequestFraming.Violation("empty request target") }
        if first == UInt8(ascii: "/") {
            try Self.checkCharacters(Substring(uri))
            return RequestTarget(path: uri)
        }
        if first == UInt8(ascii: "*") && utf8.count == 1 {
            guard method == .OPTIONS else {
                throw RequestFraming.Violation("asterisk-form target (*) is only for OPTIONS")
            }
            return RequestTarget(path: uri)
        }
        let lowered = uri.prefix(8).lowercased()
        let schemeLength: Int
        if lowered.hasPrefix("http://") {
            schemeLength = 7
        } else if lowered.hasPrefix("https://") {
            schemeLength = 8
        } else {
            throw RequestFraming.Violation(
                "request target \(RequestFraming.printable(uri)) is neither a path nor an http(s) URL")
        }
        let rest = Substring(uri.utf8.dropFirst(schemeLength))
        let authorityEnd =
            rest.utf8.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.utf8.endIndex
        let authority = Substring(rest.utf8[..<authorityEnd])
        guard !authority.utf8.contains(UInt8(ascii: "@")) else {
            throw RequestFraming.Violation("user information (user@host) in the request target")
        }
        guard RequestFraming.isValidHost(String(authority)) else {
            throw RequestFraming.Violation(
                "invalid authority \(RequestFraming.printable(String(authority))) in the request target")
        }
        let pathPart = Substring(rest.utf8[authorityEnd...])
        try Self.checkCharacters(pathPart)
        let path =
            pathPart.isEmpty ? "/" : (pathPart.utf8.first == UInt8(ascii: "?") ? "/" + pathPart : String(pathPart))
        return RequestTarget(path: path, authority: String(authority), isHTTPS: schemeLength == 8)
    }

    /// Whether an absolute-form authority and a `Host` value name the same host and port
    /// (case-insensitive; an explicit default port equals none).
    public static func sameAuthority(_ authority: String, _ host: String, isHTTPS: Bool = false) -> Bool {
        let defaultPort = isHTTPS ? ":443" : ":80"
        func normalised(_ text: String) -> Substring {
            let trimmed = Substring(text).trimmingSpaces()
            if trimmed.utf8.count > defaultPort.utf8.count, trimmed.hasSuffix(defaultPort) {
                return trimmed.dropLast(defaultPort.count)
            }
            return trimmed
        }
        let left = normalised(authority)
        let right = normalised(host)
        guard left.utf8.count == right.utf8.count else { return false }
        return zip(left.utf8, right.utf8).allSatisfy { RouteTable.lower($0) == RouteTable.lower($1) }
    }

    /// Path and query characters: unreserved, sub-delims, `:@/?` and well-formed `%XX`.
    static func checkCharacters(_ text: Substring) throws(RequestFraming.Violation) {
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), HTTPSyntax.hexValue(high) != nil,
                    let low = iterator.next(), HTTPSyntax.hexValue(low) != nil
                else { throw RequestFraming.Violation("malformed percent-escape in the request target") }
                continue
            }
            guard Self.isURICharacter(byte) else {
                throw RequestFraming.Violation(
                    byte == UInt8(ascii: "#")
                        ? "fragment (#) in the request target"
                        : "character \(Self.describe(byte)) not allowed in a request target")
            }
        }
    }

    @inline(__always) static func isURICharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),  // unreserved
            UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("),
            UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: "="),  // sub-delims
            UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "/"), UInt8(ascii: "?"):
            return true
        default:
            return false
        }
    }

    private static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "0x" + String(byte, radix: 16, uppercase: true)
    }
}
