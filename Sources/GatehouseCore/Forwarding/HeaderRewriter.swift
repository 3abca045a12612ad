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

    /// Headers that describe one connection, never the message (RFC 9110 §7.6.1), and every
    /// `Proxy-*` header (credentials and state meant for this hop only).
    ///
    /// - Parameter lower: the header name, lower-cased.
    static func isHopByHop(lower: String) -> Bool {
        switch lower {
        case "connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade":
            return true
        default:
            return lower.hasPrefix("proxy-")
        }
    }

    /// The tokens of all `Connection` headers, lower-cased.
    static func connectionTokens(_ headers: HTTPHeaders) -> [String] {
        var tokens: [String] = []
        for value in headers[canonicalForm: "connection"] { tokens.append(value.trimmingSpaces().lowercased()) }
        return tokens
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
    public static func upstreamRequestHead(
        _ head: HTTPRequestHead, framing: BodyFraming, path: String, host: String, requestID: String,
        downstream: Downstream, gatewayName: String
    ) -> HTTPRequestHead {
        let named = Self.connectionTokens(head.headers)
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 6)
        headers.add(name: "Host", value: host)
        var forwardedFor: String? = nil
        var forwarded: String? = nil
        var forwardedProto: String? = nil
        var forwardedHost: String? = nil
        var via: String? = nil
        for (name, value) in head.headers {
            let lower = name.lowercased()
            switch lower {
            case "host", "content-length", "transfer-encoding", "expect", "x-request-id":
                continue
            case "x-forwarded-for":
                if downstream.isTrusted { forwardedFor = forwardedFor.map { $0 + ", " + value } ?? value }
                continue
            case "forwarded":
                if downstream.isTrusted { forwarded = forwarded.map { $0 + ", " + value } ?? value }
                continue
            case "x-forwarded-proto":
                if downstream.isTrusted, forwardedProto == nil { forwardedProto = value }
                continue
            case "x-forwarded-host":
                if downstream.isTrusted, forwardedHost == nil { forwardedHost = value }
                continue
            case "via":
                via = via.map { $0 + ", " + value } ?? value
                continue
            default:
                // A `Connection` token naming a framing header must not remove framing (the gateway
                // sets framing itself above), so only non-framing names are dropped here.
                if Self.isHopByHop(lower: lower) || named.contains(lower) { continue }
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
        let version = "\(head.version.major).\(head.version.minor)"
        headers.add(name: "Via", value: (via.map { $0 + ", " } ?? "") + version + " " + gatewayName)
        headers.add(name: "X-Forwarded-For", value: (forwardedFor.map { $0 + ", " } ?? "") + downstream.clientIP)
        headers.add(name: "X-Forwarded-Proto", value: forwardedProto ?? downstream.scheme)
        let originalHost = head.headers.first(name: "host") ?? host
        headers.add(name: "X-Forwarded-Host", value: forwardedHost ?? originalHost)
        let node = downstream.clientIP.contains(":") ? "\"[\(downstream.clientIP)]\"" : downstream.clientIP
        let element = "for=\(node);host=\(Self.forwardedValue(originalHost));proto=\(downstream.scheme)"
        headers.add(name: "Forwarded", value: (forwarded.map { $0 + ", " } ?? "") + element)
        headers.add(name: "X-Request-Id", value: requestID)
        return HTTPRequestHead(version: .http1_1, method: head.method, uri: path, headers: headers)
    }

    /// The response head to send downstream: hop-by-hop headers removed, `Via`, the request id and,
    /// for an upstream's own 5xx, `Proxy-Status` with `received-status` added.
    public static func downstreamResponseHead(
        _ head: HTTPResponseHead, requestID: String, gatewayName: String, proxyStatus: String?, keepAlive: Bool,
        clientVersion: HTTPVersion
    ) -> HTTPResponseHead {
        let named = Self.connectionTokens(head.headers)
        var headers = HTTPHeaders()
        headers.reserveCapacity(head.headers.count + 4)
        var via: String? = nil
        var hasRequestID = false
        for (name, value) in head.headers {
            let lower = name.lowercased()
            if lower == "via" {
                via = via.map { $0 + ", " + value } ?? value
                continue
            }
            if lower == "content-length" {
                headers.add(name: name, value: value)
                continue
            }
            // An upstream proxy's own Proxy-Status entries stay: ours is appended after them, as
            // RFC 9209 §2 orders the list from the origin outwards.
            if lower != "proxy-status" && (Self.isHopByHop(lower: lower) || named.contains(lower)) { continue }
            if lower == "x-request-id" { hasRequestID = true }
            headers.add(name: name, value: value)
        }
        let version = "\(head.version.major).\(head.version.minor)"
        headers.add(name: "Via", value: (via.map { $0 + ", " } ?? "") + version + " " + gatewayName)
        if !hasRequestID { headers.add(name: "X-Request-Id", value: requestID) }
        if let proxyStatus { headers.add(name: "Proxy-Status", value: proxyStatus) }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if clientVersion.major == 1 && clientVersion.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        return HTTPResponseHead(version: clientVersion, status: head.status, headers: headers)
    }

    /// A `Forwarded` parameter value: a token as is, anything else quoted (RFC 7239 §4).
    static func forwardedValue(_ value: String) -> String {
        if RequestFraming.isToken(value) { return value }
        return ProxyStatusHeader.quoted(value)
    }
}
