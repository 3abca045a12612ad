import Yams

/// A route's request-rate limit: a token bucket per key (client address or a header's value),
/// shared by every event loop of the gateway.
public struct RateLimit: Sendable, Equatable {
    /// What a request is counted under.
    public enum Key: Sendable, Equatable {
        /// The client's address: the TCP peer, or — when the peer is in `trusted_proxies` — the
        /// rightmost `X-Forwarded-For` address that is not itself a trusted proxy.
        case clientAddress
        /// A request header's value (lower-cased name), e.g. an API key. A request without it is
        /// counted under its client address instead (so leaving the header out is no way around the limit).
        case header(String)
    }

    /// Requests allowed per `period` (the `100` of `100/s`).
    public var requests: Int
    /// One second (`/s`) or one minute (`/m`).
    public var period: Duration
    /// The bucket's size: the most requests accepted at once after a quiet spell (≥ 1).
    public var burst: Int
    public var key: Key
    /// Keys tracked at most; beyond it the least-limited bucket is forgotten (bounded memory against key flooding).
    public var maxKeys: Int

    public init(requests: Int, period: Duration = .seconds(1), burst: Int? = nil, key: Key = .clientAddress, maxKeys: Int = 100_000) {
        self.requests = requests
        self.period = period
        self.burst = burst ?? requests
        self.key = key
        self.maxKeys = maxKeys
    }

    /// `100/s` or `6000/m`, as written in the file.
    public var rateText: String { "\(self.requests)/\(self.period == .seconds(60) ? "m" : "s")" }

    /// Nanoseconds between two tokens (rounded to the nanosecond: an error below 1e-9 per token).
    public var intervalNanoseconds: Int64 {
        let (seconds, attoseconds) = self.period.components
        let periodNanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        return max(1, (periodNanoseconds + Int64(self.requests) / 2) / Int64(max(1, self.requests)))
    }
}

/// Time limits on what downstream clients send (slowloris, slow POST) and on idle keep-alive
/// connections. nginx: `client_header_timeout`, `client_body_timeout`, `keepalive_timeout`;
/// Envoy: `request_headers_timeout`, `idle_timeout`; Apache: `mod_reqtimeout`'s `MinRate`.
public struct ClientTimeouts: Sendable, Equatable {
    /// The whole request head must arrive within this, counted from its first byte (from the accept
    /// for a connection's first request). Exceeded → 408 and close (silent close if no byte came).
    public var header: Duration
    /// A keep-alive connection with no request under way is closed after this.
    public var keepAlive: Duration
    /// Bytes per second a request body must average over each `bodyRateWindow` (0 = off).
    /// Exceeded → 408 and close. Time the gateway itself holds reads (back-pressure) is not counted.
    public var bodyMinRate: Int64
    /// The window over which the body rate is measured; the first window is the grace period.
    public var bodyRateWindow: Duration

    public init(
        header: Duration = .seconds(10), keepAlive: Duration = .seconds(75), bodyMinRate: Int64 = 512,
        bodyRateWindow: Duration = .seconds(10)
    ) {
        self.header = header
        self.keepAlive = keepAlive
        self.bodyMinRate = bodyMinRate
        self.bodyRateWindow = bodyRateWindow
    }
}

extension ClientTimeouts {
    static let fields: [Field<ClientTimeouts>] = [
        Field(
            "header", .duration,
            doc: "The whole request head must arrive within this, from its first byte (from the accept for a connection's first request); beyond: 408 and close (default 10s; nginx client_header_timeout, Envoy request_headers_timeout)."
        ) { $0.header = $1.duration() ?? $0.header },
        Field(
            "keep_alive", .duration,
            doc: "An idle keep-alive connection is closed after this (default 75s; nginx keepalive_timeout, Envoy idle_timeout)."
        ) { $0.keepAlive = $1.duration() ?? $0.keepAlive },
        Field(
            "body_min_rate", .size(0...Int64(1 << 40)),
            doc: "Bytes per second a request body must average over each body_rate_window; slower: 408 and close (default 512; 0 = off)."
        ) { $0.bodyMinRate = $1.size(0...Int64(1 << 40)) ?? $0.bodyMinRate },
        Field(
            "body_rate_window", .duration,
            doc: "The window over which body_min_rate is measured; the first one is the grace period (default 10s)."
        ) { $0.bodyRateWindow = $1.duration() ?? $0.bodyRateWindow },
    ]
}

/// The `rate_limit` mapping of a route while it is read.
struct RateLimitDraft {
    var rate: (requests: Int, period: Duration)?
    var burst: Int?
    var key = RateLimit.Key.clientAddress
    var maxKeys = 100_000

    static let rateShape = ValueShape.pattern(
        "^[0-9]+/(s|m)$", hint: "requests per second or per minute, like 100/s or 600/m", sample: "10/s")

    static let fields: [Field<RateLimitDraft>] = [
        Field("rate", Self.rateShape, required: true, doc: "Requests per second (100/s) or per minute (600/m), per key.") {
            $0.rate = Self.rate($1)
        },
        Field(
            "burst", .integer(1...1_000_000),
            doc: "The most requests accepted at once after a quiet spell (the bucket's size; default: the rate's count)."
        ) { draft, value in
            guard let burst = value.int(0...1_000_000) else { return }
            if burst == 0 {
                value.error("burst 0 would refuse every request: the bucket holds no token (use at least 1)")
                return
            }
            draft.burst = burst
        },
        Field(
            "key", .anyOf(.words(["client_address"]), .mapping(Self.keyFields)),
            doc: "What requests are counted under: client_address (default) or {header: NAME}; a request without the header counts under its address."
        ) { $0.key = Self.key($1) ?? $0.key },
        Field(
            "max_keys", .integer(1_000...100_000_000),
            doc: "Keys tracked at most (memory: 16 bytes each); beyond it the bucket closest to full is forgotten (default 100000)."
        ) { $0.maxKeys = $1.int(1_000...100_000_000) ?? $0.maxKeys },
    ]

    static let keyFields: [Field<RateLimit.Key?>] = [
        Field("header", .nonEmptyText, doc: "Count requests by this header's value (an API key, a tenant id).") { key, value in
            guard let name = value.nonEmptyString() else { return }
            guard ValueSyntax.isHTTPToken(name) else {
                value.error("\(value.subject) must be a header name (letters, digits and !#$%&'*+-.^_`|~), got '\(name)'")
                return
            }
            key = .header(name.lowercased())
        }
    ]

    static func rate(_ value: Value) -> (requests: Int, period: Duration)? {
        guard let text = value.string() else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0]), parts[1] == "s" || parts[1] == "m" else {
            value.error("expected requests per second or per minute for \(value.subject), like 100/s or 600/m, got '\(text)'")
            return nil
        }
        guard (1...1_000_000).contains(count) else {
            value.error("\(value.subject) must allow between 1 and 1000000 requests per \(parts[1] == "s" ? "second" : "minute"), got \(count)")
            return nil
        }
        return (count, parts[1] == "s" ? .seconds(1) : .seconds(60))
    }

    static func key(_ value: Value) -> RateLimit.Key? {
        switch value.node {
        case .scalar(let scalar) where !Walker.isNull(scalar) && scalar.string == "client_address":
            return .clientAddress
        case .mapping:
            let reported = value.walker.diagnostics.count
            var key: RateLimit.Key?
            value.walk(fields: Self.keyFields, into: &key)
            if key == nil, value.walker.diagnostics.count == reported { value.error("key needs header: NAME") }
            return key
        default:
            value.error("expected client_address or {header: NAME} for key, got \(Walker.describe(value.node))")
            return nil
        }
    }

    static func read(_ value: Value) -> RateLimit? {
        var draft = RateLimitDraft()
        value.walk(fields: Self.fields, into: &draft)
        guard let rate = draft.rate else { return nil }
        return RateLimit(
            requests: rate.requests, period: rate.period, burst: draft.burst, key: draft.key, maxKeys: draft.maxKeys)
    }
}
