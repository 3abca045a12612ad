import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOHTTP1

/// The rate-limit fields of one response (draft-ietf-httpapi-ratelimit-headers): the route's
/// policy, the quota left, and on a refusal `Retry-After`.
struct RateLimitFields {
    /// `RateLimit-Policy`: `"route";q=<burst>;w=<seconds to refill>`.
    var policy: String
    /// `RateLimit`: `"route";r=<tokens left>;t=<seconds until the next token>`.
    var limit: String
    /// Seconds until a token is there; set on a refusal only.
    var retryAfter: Int64?

    func add(to headers: inout HTTPHeaders) {
        headers.add(name: "RateLimit-Policy", value: self.policy)
        headers.add(name: "RateLimit", value: self.limit)
        if let retryAfter = self.retryAfter { headers.add(name: "Retry-After", value: String(retryAfter)) }
    }
}

extension DownstreamHandler {
    // MARK: - Rate limits

    /// Takes a token of the route's limit for the request; without one, answers 429
    /// `http_request_denied` (with `Retry-After` and the RateLimit fields) and returns false.
    func admit(_ exchange: Exchange, limiter: RateLimiter) -> Bool {
        let key = self.rateLimitKey(limiter.limit.key, head: exchange.requestHead)
        let now = Int64(truncatingIfNeeded: exchange.start.uptimeNanoseconds)
        switch limiter.take(key: key, now: now) {
        case .allowed(let remaining, let nextToken):
            exchange.rateLimitFields = RateLimitFields(
                policy: limiter.policyHeader, limit: limiter.serviceLimitHeader(remaining: remaining, nanoseconds: nextToken))
            return true
        case .denied(let retryAfter):
            let seconds = RateLimiter.seconds(retryAfter)
            // Retry-After and the effective window name the same instant (the draft: Retry-After
            // must not be earlier than the end of the window).
            exchange.rateLimitFields = RateLimitFields(
                policy: limiter.policyHeader, limit: limiter.serviceLimitHeader(remaining: 0, nanoseconds: retryAfter),
                retryAfter: seconds)
            let limit = limiter.limit
            let by: String
            switch limit.key {
            case .clientAddress: by = "client address"
            case .header(let name): by = name
            }
            self.fail(
                exchange,
                ProxyFailure(
                    type: .httpRequestDenied, phase: .route,
                    details: "rate_limit of route \(limiter.routeName) (\(limit.rateText), burst \(limit.burst), by \(by)) exceeded; next token in \(seconds)s"))
            return false
        }
    }

    /// The key the request is counted under. A header key falls back to the client address when
    /// the request lacks the header (or sends it empty): unlike nginx, which skips empty keys,
    /// leaving the header out must not be a way around the limit, and counting all such requests
    /// under one shared key would let one client starve the others.
    func rateLimitKey(_ key: RateLimit.Key, head: HTTPRequestHead) -> UInt64 {
        if case .header(let name) = key, let value = head.headers.first(name: name), !value.isEmpty {
            return RateLimiter.hash(value, kind: 1)
        }
        return RateLimiter.hash(self.rateLimitAddress(head), kind: 0)
    }

    /// The client's address for rate limiting: the TCP peer, unless the peer is a trusted proxy —
    /// then the rightmost `X-Forwarded-For` entry that is not itself trusted (nginx's `real_ip`
    /// with `real_ip_recursive on`): entries left of it were written by the client and prove nothing.
    func rateLimitAddress(_ head: HTTPRequestHead) -> String {
        guard self.isTrustedPeer else { return self.clientIP }
        let snapshot = self.snapshot
        var leftmost: Substring?
        for entry in head.headers[canonicalForm: "x-forwarded-for"].reversed() {
            guard !entry.isEmpty else { continue }
            guard snapshot.isTrusted(address: entry) else { return String(entry) }
            leftmost = entry
        }
        return leftmost.map(String.init) ?? self.clientIP
    }

    // MARK: - Client timeouts

    /// A `client_timeouts` limit ran out: counted, then the connection answers 408 and closes (a
    /// head or body too slow: the client-side failure `http_request_error`, like a malformed
    /// request, in the access log), or just closes (idle, or no byte ever sent — as nginx does).
    func clientTimedOut(_ expired: ClientDeadlines.Expired, exchange: Exchange?) {
        self.timeoutCounters?.count(expired)
        let limits = self.snapshot.configuration.clientTimeouts
        switch expired {
        case .keepAlive, .header(hasBytes: false):
            self.isClosed = true
            self.context?.close(promise: nil)
        case .header(hasBytes: true):
            // Only between exchanges: an exchange's head is already read.
            guard exchange == nil else { return }
            let failure = ProxyFailure(
                type: .httpRequestError, phase: .route,
                details: "request head not complete within client_timeouts.header (\(ValueSyntax.format(limits.header)))")
            self.refuse(nil, failure, status: 408)
        case .body(let bytes):
            guard let exchange else { return }
            let failure = ProxyFailure(
                type: .httpRequestError, phase: exchange.phase,
                details:
                    "request body slower than client_timeouts.body_min_rate (\(limits.bodyMinRate) bytes/s): \(bytes) bytes in the last \(ValueSyntax.format(limits.bodyRateWindow))"
            )
            exchange.closeConnection = true
            self.fail(exchange, failure, status: 408)
        }
    }
}

extension ProxySnapshot {
    /// Whether an address written as text (an `X-Forwarded-For` entry) is a trusted proxy.
    func isTrusted(address text: Substring) -> Bool {
        guard !self.configuration.trustedProxies.isEmpty else { return false }
        return self.isTrusted(try? SocketAddress(ipAddress: String(text), port: 0))
    }
}
