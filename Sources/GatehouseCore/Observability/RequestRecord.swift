import GatehouseErrors

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one record of a request, filled along the exchange and handed at the end to the access
/// log, the stats and the error log (DESIGN.md: observability is derived, not sprinkled).
public struct RequestRecord: Sendable {
    /// Wall-clock start, seconds and nanoseconds since the epoch.
    public var startSeconds: Int = 0
    public var startNanoseconds: Int = 0
    public var requestID: String = ""
    public var client: String = ""
    public var method: String = ""
    public var host: String?
    public var path: String = ""
    /// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2`: how the client spoke.
    public var protocolName: StaticString = "HTTP/1.1"
    /// The status sent downstream (499 when the client went away first, as nginx logs it).
    public var status: Int = 0
    /// Response body bytes sent downstream.
    public var bytes: Int64 = 0
    public var route: String?
    public var cluster: String?
    public var upstream: String?
    public var upstreamStatus: Int?
    public var connectMilliseconds: Double?
    public var headerMilliseconds: Double?
    public var totalMilliseconds: Double = 0
    /// Whether the upstream connection came from the pool.
    public var reusedConnection: Bool = false
    /// The gateway's own failure, if any.
    public var failure: ProxyFailure?
    /// An upstream's own 5xx passed through.
    public var receivedStatus: Int?
    /// The protocol a 101 switched to (`websocket`): the record is then a tunnel's, logged when
    /// it closes, with `bytes` sent to the client and `bytesReceived` from it.
    public var upgrade: String?
    /// Bytes received from the client through a tunnel.
    public var bytesReceived: Int64 = 0
    /// Every try when there was more than one: the server, its error (nil for the one that
    /// answered), its duration.
    public var attempts: [Attempt] = []
    /// How the response cache took part, nil on routes without `cache`. `stale_if_error` goes
    /// with the `failure` (or `receivedStatus`) the stored copy stood in for.
    public var cache: CacheOutcome?

    /// One try of a retried request.
    public struct Attempt: Sendable, Equatable {
        public var server: String
        public var error: String?
        public var milliseconds: Double
    }

    public init() {}

    /// Stamps the wall-clock start.
    public mutating func stampStart() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.startSeconds = Int(now.tv_sec)
        self.startNanoseconds = Int(now.tv_nsec)
    }

    /// The access-log line: one JSON object, newline-terminated.
    public func jsonLine() -> String {
        var line = "{\"time\":\""
        line += Self.iso8601(seconds: self.startSeconds, nanoseconds: self.startNanoseconds)
        line += "\",\"request_id\":"
        line += JSONText.quoted(self.requestID)
        line += ",\"client\":" + JSONText.quoted(self.client)
        line += ",\"method\":" + JSONText.quoted(self.method)
        line += ",\"host\":" + (self.host.map(JSONText.quoted) ?? "null")
        line += ",\"path\":" + JSONText.quoted(self.path)
        line += ",\"protocol\":\"\(self.protocolName)\""
        line += ",\"status\":\(self.status),\"bytes\":\(self.bytes)"
        line += ",\"route\":" + (self.route.map(JSONText.quoted) ?? "null")
        line += ",\"cluster\":" + (self.cluster.map(JSONText.quoted) ?? "null")
        line += ",\"upstream\":" + (self.upstream.map(JSONText.quoted) ?? "null")
        line += ",\"upstream_status\":" + (self.upstreamStatus.map { String($0) } ?? "null")
        line += ",\"connect_ms\":" + Self.milliseconds(self.connectMilliseconds)
        line += ",\"header_ms\":" + Self.milliseconds(self.headerMilliseconds)
        line += ",\"total_ms\":" + Self.milliseconds(self.totalMilliseconds)
        line += ",\"reused\":\(self.reusedConnection)"
        line += ",\"proxy_status\":" + (self.failure.map { "\"\($0.type.token)\"" } ?? "null")
        line += ",\"received_status\":" + (self.receivedStatus.map { String($0) } ?? "null")
        if let upgrade = self.upgrade {
            line += ",\"upgrade\":" + JSONText.quoted(upgrade) + ",\"bytes_received\":\(self.bytesReceived)"
        }
        if let details = self.failure?.details { line += ",\"details\":" + JSONText.quoted(details) }
        if let cache = self.cache { line += ",\"cache\":\"" + cache.rawValue + "\"" }
        if !self.attempts.isEmpty {
            line += ",\"attempts\":["
            line += self.attempts.map { attempt in
                "{\"server\":" + JSONText.quoted(attempt.server) + ",\"error\":"
                    + (attempt.error.map(JSONText.quoted) ?? "null") + ",\"ms\":" + Self.milliseconds(attempt.milliseconds) + "}"
            }.joined(separator: ",")
            line += "]"
        }
        line += "}\n"
        return line
    }

    /// Milliseconds with three decimals, without Foundation's formatter.
    static func milliseconds(_ value: Double?) -> String {
        guard let value, value.isFinite, value >= 0 else { return "null" }
        let micros = Int((value * 1000).rounded())
        let fraction = micros % 1000
        let padded = fraction < 10 ? "00\(fraction)" : fraction < 100 ? "0\(fraction)" : "\(fraction)"
        return "\(micros / 1000).\(padded)"
    }

    /// The wall-clock time now, as `iso8601`.
    static func now() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Self.iso8601(seconds: Int(now.tv_sec), nanoseconds: Int(now.tv_nsec))
    }

    /// `2026-11-21T06:15:37.123Z` from epoch seconds.
    public static func iso8601(seconds: Int, nanoseconds: Int) -> String {
        CivilDate.iso8601(seconds: seconds, nanoseconds: nanoseconds)
    }
}
