import GatehouseConfig
import NIOHTTP1

/// Proxy header semantics (RFC 9110 §7.6): hop-by-hop headers stop here, `Via` grows by one entry,
/// the `X-Forwarded-*` / `Forwarded` chain is extended only for trusted peers, the request id is kept
/// or made, and framing is re-serialised by the gateway, never copied from the client.
public enum HeaderRewriter {
    /// What the gateway knows about the downstream side of a request.
    public struct Downstream: Sendable {
        /// The client's IP address as text (no port).
        public var clientIP: String
        /// Whether the client is a trusted proxy whose forwarding headers are kept and extended.
        public var isTrusted: Bool
        /// `http` or `https`.
        public var scheme: String

        public init(clientIP: String, isTrusted: Bool, scheme: String = "http") {
            self.clientIP = clientIP
            self.isTrusted = isTrusted
            self.scheme = scheme
        }
    }

    /// The tokens of all `Connection` headers, lower-cased.
    static func connectionTokens(_ headers: HTTPHeaders) -> [String] {
        RequestFraming.connectionOptions(headers, version: .http1_1).named
    }

    /// Whether an incoming `Via` already carries this gateway: a forwarding loop (`proxy_loop_detected`).
    public static func hasLooped(_ headers: HTTPHeaders, gatewayName: String) -> Bool {
        for entry in headers[canonicalForm: "via"] {
            // `1.1 gatehouse` or `HTTP/1.1 gatehouse (comment)`: the second token is the received-by name.
            let tokens = entry.split(separator: " ", omittingEmptySubsequences: true)
            if tokens.count >= 2, tokens[1] == gatewayName { return true }
        }
        return false
    }

    /// The request head to send upstream.
    ///
    /// - Parameters:
    ///   - head: the client's head, already validated by ``RequestFraming``.
    ///   - framing: the body framing from validation; re-serialised here.
    ///   - path: the (possibly rewritten) path.
    ///   - host: the `Host` value to send.
    ///   - requestID: the id to pass upstream.
    ///   - downstream: who sent it.
    ///   - gatewayName: for `Via`.
    ///   - receivedVersion: the protocol the client spoke, for `Via`, when not the head's (HTTP/2).
    ///   - upgrade: the client's `Upgrade` value, forwarded with `Connection: upgrade` (WebSocket).
    public static func upstreamRequestHead(
        _ head: HTTPRequestHead, framing: BodyFraming, path: String, host: String, requestID: String,
        downstream: Downstream, gatewayName: String, receivedVersion: HTTPVersion? = nil, upgrade: String? = nil
    ) -> HTTPRequestHead {
        let named = head.headers.contains(name: "connection") ? Self.connectionTokens(head.headers) : []
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 6)
        headers.add(name: "Host", value: host)
        var forwardedFor: String? = nil
        var forwarded: String? = nil
        var forwardedProto: String? = nil
        var forwardedHost: String? = nil
        var via: String? = nil
        for (name, value) in head.headers {
            switch KnownHeader(name) {
            case .host, .contentLength, .transferEncoding, .expect, .requestID:
                continue
            case .forwardedFor:
                if downstream.isTrusted { forwardedFor = forwardedFor.map { $0 + ", " + value } ?? value }
            case .forwarded:
                if downstream.isTrusted { forwarded = forwarded.map { $0 + ", " + value } ?? value }
            case .forwardedProto:
                if downstream.isTrusted, forwardedProto == nil { forwardedProto = value }
            case .forwardedHost:
                if downstream.isTrusted, forwardedHost == nil { forwardedHost = value }
            case .via:
                via = via.map { $0 + ", " + value } ?? value
            case .hopByHop, .proxyStatus:
                continue
            case .other:
                // A `Connection` token naming a framing header must not remove framing (the gateway
                // sets framing itself above), so only non-framing names are dropped here.
                if !named.isEmpty, named.contains(where: { RequestFraming.equalsLower(name, $0) }) { continue }
                headers.add(name: name, value: value)
            }
        }
        switch framing {
        case .none:
            if head.method == .POST || head.method == .PUT || head.method == .PATCH {
                headers.add(name: "Content-Length", value: "0")
            }
        case .length(let length): headers.add(name: "Content-Length", value: String(length))
        case .chunked: headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        if let upgrade {
            headers.add(name: "Connection", value: "upgrade")
            headers.add(name: "Upgrade", value: upgrade)
        }
        headers.add(name: "Via", value: (via.map { $0 + ", " } ?? "") + Self.viaEntry(receivedVersion ?? head.version, gatewayName))
        headers.add(name: "X-Forwarded-For", value: (forwardedFor.map { $0 + ", " } ?? "") + downstream.clientIP)
        headers.add(name: "X-Forwarded-Proto", value: forwardedProto ?? downstream.scheme)
        let originalHost = head.headers.first(name: "host") ?? host
        headers.add(name: "X-Forwarded-Host", value: forwardedHost ?? originalHost)
        let node = downstream.clientIP.contains(":") ? "\"[\(downstream.clientIP)]\"" : downstream.clientIP
        // Built in one string with its room reserved: one allocation per request, not four.
        var element = forwarded.map { $0 + ", " } ?? ""
        element.reserveCapacity(element.utf8.count + node.utf8.count + originalHost.utf8.count + 24)
        element += "for="
        element += node
        element += ";host="
        Self.appendForwardedValue(originalHost, to: &element)
        element += ";proto="
        element += downstream.scheme
        headers.add(name: "Forwarded", value: element)
        headers.add(name: "X-Request-Id", value: requestID)
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: path, headers: headers)
    }

    /// The response head to send downstream: hop-by-hop headers removed, `Via`, the request id and,
    /// for an upstream's own 5xx, `Proxy-Status` with `received-status` added.
    public static func downstreamResponseHead(
        _ head: HTTPResponseHead, requestID: String, gatewayName: String, proxyStatus: String?, keepAlive: Bool,
        clientVersion: HTTPVersion
    ) -> HTTPResponseHead {
        let named = head.headers.contains(name: "connection") ? Self.connectionTokens(head.headers) : []
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 4)
        var via: String? = nil
        var hasRequestID = false
        for (name, value) in head.headers {
            switch KnownHeader(name) {
            case .via:
                via = via.map { $0 + ", " + value } ?? value
                continue
            case .contentLength, .proxyStatus:
                // An upstream proxy's own Proxy-Status entries stay: ours is appended after them, as
                // RFC 9209 §2 orders the list from the origin outwards.
                headers.add(name: name, value: value)
                continue
            case .hopByHop, .transferEncoding:
                continue
            case .requestID:
                hasRequestID = true
            case .host, .expect, .forwardedFor, .forwarded, .forwardedProto, .forwardedHost, .other:
                if !named.isEmpty, named.contains(where: { RequestFraming.equalsLower(name, $0) }) { continue }
            }
            headers.add(name: name, value: value)
        }
        headers.add(name: "Via", value: (via.map { $0 + ", " } ?? "") + Self.viaEntry(head.version, gatewayName))
        if !hasRequestID { headers.add(name: "X-Request-Id", value: requestID) }
        if let proxyStatus { headers.add(name: "Proxy-Status", value: proxyStatus) }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if clientVersion.major == 1 && clientVersion.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        return HTTPResponseHead(version: clientVersion, status: head.status, headers: headers)
    }

    /// An informational (1xx) response to pass on, such as 103 Early Hints: hop-by-hop and framing
    /// fields removed (a 1xx has no body), `Via` extended.
    public static func informationalResponseHead(
        _ head: HTTPResponseHead, gatewayName: String, clientVersion: HTTPVersion
    ) -> HTTPResponseHead {
        let named = head.headers.contains(name: "connection") ? Self.connectionTokens(head.headers) : []
        var headers = HTTPHeaders()
        var via: String? = nil
        for (name, value) in head.headers {
            switch KnownHeader(name) {
            case .via:
                via = via.map { $0 + ", " + value } ?? value
            case .hopByHop, .transferEncoding, .contentLength:
                continue
            default:
                if !named.isEmpty, named.contains(where: { RequestFraming.equalsLower(name, $0) }) { continue }
                headers.add(name: name, value: value)
            }
        }
        headers.add(name: "Via", value: (via.map { $0 + ", " } ?? "") + Self.viaEntry(head.version, gatewayName))
        return HTTPResponseHead(version: clientVersion, status: head.status, headers: headers)
    }

    /// `1.1 gatehouse`: the received protocol (RFC 9110 §7.6.3) and this gateway's name.
    static func viaEntry(_ version: HTTPVersion, _ gatewayName: String) -> String {
        if version.major == 1 { return (version.minor == 0 ? "1.0 " : "1.1 ") + gatewayName }
        if version.major == 2 { return "2 " + gatewayName }
        return "\(version.major).\(version.minor) " + gatewayName
    }

    /// A `Forwarded` parameter value: a token as is, anything else quoted (RFC 7239 §4).
    static func forwardedValue(_ value: String) -> String {
        var result = ""
        Self.appendForwardedValue(value, to: &result)
        return result
    }

    static func appendForwardedValue(_ value: String, to result: inout String) {
        if RequestFraming.isToken(value) {
            result += value
        } else if value.utf8.count <= 256,
            value.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != 0x22 && $0 != 0x5C })
        {
            // `host:port` is no token: quoted on every request, so the common case skips the escaping loop.
            result += "\""
            result += value
            result += "\""
        } else {
            result += ProxyStatusHeader.quoted(value)
        }
    }
}

/// The header names the rewriter treats specially, recognised by length and a case-insensitive
/// byte comparison: no lower-cased copy of every name per request.
enum KnownHeader {
    case host, contentLength, transferEncoding, expect, requestID
    case forwardedFor, forwarded, forwardedProto, forwardedHost, via
    /// Connection, Keep-Alive, TE, Trailer, Upgrade, and every `Proxy-*` except Proxy-Status.
    case hopByHop
    case proxyStatus
    case other

    init(_ name: String) {
        let utf8 = name.utf8
        switch utf8.count {
        case 2: self = RequestFraming.equalsLower(name, "te") ? .hopByHop : .other
        case 3: self = RequestFraming.equalsLower(name, "via") ? .via : .other
        case 4: self = RequestFraming.equalsLower(name, "host") ? .host : .other
        case 6: self = RequestFraming.equalsLower(name, "expect") ? .expect : Self.proxyPrefixed(name)
        case 7:
            self = RequestFraming.equalsLower(name, "trailer") || RequestFraming.equalsLower(name, "upgrade")
                ? .hopByHop : Self.proxyPrefixed(name)
        case 9: self = RequestFraming.equalsLower(name, "forwarded") ? .forwarded : Self.proxyPrefixed(name)
        case 10:
            self = RequestFraming.equalsLower(name, "connection") || RequestFraming.equalsLower(name, "keep-alive")
                ? .hopByHop : Self.proxyPrefixed(name)
        case 12:
            if RequestFraming.equalsLower(name, "x-request-id") {
                self = .requestID
            } else if RequestFraming.equalsLower(name, "proxy-status") {
                self = .proxyStatus
            } else {
                self = Self.proxyPrefixed(name)
            }
        case 14: self = RequestFraming.equalsLower(name, "content-length") ? .contentLength : Self.proxyPrefixed(name)
        case 15: self = RequestFraming.equalsLower(name, "x-forwarded-for") ? .forwardedFor : Self.proxyPrefixed(name)
        case 16: self = RequestFraming.equalsLower(name, "x-forwarded-host") ? .forwardedHost : Self.proxyPrefixed(name)
        case 17:
            if RequestFraming.equalsLower(name, "x-forwarded-proto") {
                self = .forwardedProto
            } else if RequestFraming.equalsLower(name, "transfer-encoding") {
                self = .transferEncoding
            } else {
                self = Self.proxyPrefixed(name)
            }
        default: self = Self.proxyPrefixed(name)
        }
    }

    private static func proxyPrefixed(_ name: String) -> KnownHeader {
        let utf8 = name.utf8
        guard utf8.count > 6 else { return .other }
        return RequestFraming.equalsLower(Substring(name).prefix(6), "proxy-") ? .hopByHop : .other
    }
}
