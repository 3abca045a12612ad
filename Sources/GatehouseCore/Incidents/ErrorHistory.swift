import GatehouseErrors
import Synchronization

/// One gateway error as the history keeps it: what `/admin/errors` lists, what the error store
/// persists. Derived from the request record (no path: it may carry personal data, and the route
/// name says where the request went).
public struct GatewayErrorEntry: Sendable, Equatable {
    /// Wall-clock start of the request, milliseconds since the epoch.
    public var timeMillis: Int64
    public var requestID: String
    public var method: String
    public var route: String?
    public var cluster: String?
    /// The server of the last try (`host:port`), when one was picked.
    public var server: String?
    public var type: ProxyStatusError
    public var details: String?
    /// The status sent downstream.
    public var status: Int
    public var connectMilliseconds: Double?
    public var headerMilliseconds: Double?
    public var totalMilliseconds: Double
    /// Tries made (1 without retries).
    public var attempts: Int
    /// The client got a stale cached copy instead of the error (stale-if-error): the failure is
    /// real, the client was spared. Kept in memory only (not in the SQLite store).
    public var servedStale = false

    public init(
        timeMillis: Int64, requestID: String, method: String, route: String?, cluster: String?, server: String?,
        type: ProxyStatusError, details: String?, status: Int, connectMilliseconds: Double? = nil,
        headerMilliseconds: Double? = nil, totalMilliseconds: Double = 0, attempts: Int = 1
    ) {
        self.timeMillis = timeMillis
        self.requestID = requestID
        self.method = method
        self.route = route
        self.cluster = cluster
        self.server = server
        self.type = type
        self.details = details
        self.status = status
        self.connectMilliseconds = connectMilliseconds
        self.headerMilliseconds = headerMilliseconds
        self.totalMilliseconds = totalMilliseconds
        self.attempts = attempts
    }

    /// The entry of a finished request that failed; nil when it did not.
    public init?(_ record: RequestRecord) {
        guard let failure = record.failure else { return nil }
        self.init(
            timeMillis: Int64(record.startSeconds) * 1000 + Int64(record.startNanoseconds / 1_000_000),
            requestID: record.requestID, method: record.method, route: record.route, cluster: record.cluster,
            server: record.upstream, type: failure.type, details: failure.details, status: record.status,
            connectMilliseconds: record.connectMilliseconds, headerMilliseconds: record.headerMilliseconds,
            totalMilliseconds: record.totalMilliseconds, attempts: max(1, record.attempts.count))
        self.servedStale = record.cache == .staleIfError
    }

    /// `2026-11-21T06:15:37.123Z`.
    public var time: String {
        RequestRecord.iso8601(seconds: Int(self.timeMillis / 1000), nanoseconds: Int(self.timeMillis % 1000) * 1_000_000)
    }
}

/// What `/admin/errors` asks for: `?cluster=&type=&server=&limit=`.
public struct ErrorFilter: Sendable, Equatable {
    public var cluster: String?
    public var type: ProxyStatusError?
    public var server: String?
    public var limit: Int

    public static let defaultLimit = 100

    public init(cluster: String? = nil, type: ProxyStatusError? = nil, server: String? = nil, limit: Int = Self.defaultLimit) {
        self.cluster = cluster
        self.type = type
        self.server = server
        self.limit = limit
    }

    public func matches(_ entry: GatewayErrorEntry) -> Bool {
        (self.cluster == nil || entry.cluster == self.cluster) && (self.type == nil || entry.type == self.type)
            && (self.server == nil || entry.server == self.server)
    }

    /// Reads a query string (without `?`); a wrong parameter or value is a message for a 400.
    ///
    /// - Parameter maxLimit: the largest `limit` accepted (the ring's capacity).
    public static func parse(query: String, maxLimit: Int) -> Result<ErrorFilter, FilterError> {
        var filter = ErrorFilter(limit: min(Self.defaultLimit, maxLimit))
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = QueryText.decoded(parts[0])
            let value = parts.count > 1 ? QueryText.decoded(parts[1]) : ""
            guard !value.isEmpty else { return .failure(FilterError("parameter '\(name)' needs a value")) }
            switch name {
            case "cluster": filter.cluster = value
            case "server": filter.server = value
            case "type":
                guard let type = ProxyStatusError(rawValue: value) else {
                    let near = ProxyStatusError.allCases.map(\.token).first { $0.hasPrefix(value) || value.hasPrefix($0) }
                    return .failure(
                        FilterError(
                            "unknown Proxy-Status type '\(value)'\(near.map { "; did you mean '\($0)'?" } ?? "") (RFC 9209 tokens such as connection_refused, connection_timeout, destination_unavailable)"
                        ))
                }
                filter.type = type
            case "limit":
                guard let limit = Int(value), limit >= 1, limit <= maxLimit else {
                    return .failure(FilterError("limit must be an integer from 1 to \(maxLimit), got '\(value)'"))
                }
                filter.limit = limit
            default:
                return .failure(FilterError("unknown parameter '\(name)' (allowed: cluster, type, server, limit)"))
            }
        }
        return .success(filter)
    }

    /// A filter the admin API refuses, said in words.
    public struct FilterError: Error, Equatable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}

/// The latest gateway errors, in a fixed ring: the memory of `/admin/errors` and `/stats`, and the
/// door to the error store. Appended to only for failed requests, so its lock is off the success path.
public final class ErrorHistory: Sendable {
    /// The ring's size.
    public let capacity: Int

    private struct State {
        var ring: [GatewayErrorEntry] = []
        /// Where the next entry goes once the ring is full.
        var next = 0
        var sinks: [any IncidentSink] = []
    }

    private let state = Mutex(State())

    public init(capacity: Int = 1000) {
        self.capacity = max(1, capacity)
    }

    /// Keeps a failed request's entry and hands it to the sinks (which queue it and return).
    public func record(_ record: RequestRecord) {
        guard let entry = GatewayErrorEntry(record) else { return }
        self.append(entry)
    }

    public func append(_ entry: GatewayErrorEntry) {
        let sinks = self.state.withLock { state in
            Self.push(entry, into: &state, capacity: self.capacity)
            return state.sinks
        }
        for sink in sinks { sink.errorRecorded(entry) }
    }

    /// Errors from before a restart, oldest first; not handed to the sinks (they came from one).
    public func restore(_ entries: [GatewayErrorEntry]) {
        self.state.withLock { state in
            for entry in entries.suffix(self.capacity) { Self.push(entry, into: &state, capacity: self.capacity) }
        }
    }

    func attach(_ sink: any IncidentSink) {
        self.state.withLock { $0.sinks.append(sink) }
    }

    private static func push(_ entry: GatewayErrorEntry, into state: inout State, capacity: Int) {
        if state.ring.count < capacity {
            state.ring.append(entry)
        } else {
            state.ring[state.next] = entry
            state.next = (state.next + 1) % capacity
        }
    }

    /// The entries matching `filter`, newest first, at most `filter.limit`.
    public func entries(_ filter: ErrorFilter = ErrorFilter()) -> [GatewayErrorEntry] {
        self.state.withLock { state in
            var found: [GatewayErrorEntry] = []
            let count = state.ring.count
            var index = (state.next + count - 1) % max(count, 1)
            for _ in 0..<count where found.count < filter.limit {
                let entry = state.ring[index]
                if filter.matches(entry) { found.append(entry) }
                index = (index + count - 1) % count
            }
            return found
        }
    }

    /// The clusters the ring has errors of (a cluster removed by a reload is still a valid filter).
    public func clusters() -> Set<String> {
        self.state.withLock { Set($0.ring.compactMap(\.cluster)) }
    }
}

/// Percent-decoding of the admin API's paths and query parameters.
enum QueryText {
    /// Percent-decoding (`%5B%3A%3A1%5D%3A8080` → `[::1]:8080`); invalid escapes are kept as written.
    ///
    /// - Parameter plusAsSpace: `+` is a space in a query (form encoding), not in a path segment.
    static func decoded(_ text: Substring, plusAsSpace: Bool = true) -> String {
        guard text.contains("%") || (plusAsSpace && text.contains("+")) else { return String(text) }
        var bytes: [UInt8] = []
        var rest = Array(text.utf8)[...]
        while let byte = rest.popFirst() {
            if plusAsSpace, byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), rest.count >= 2,
                let value = UInt8(String(decoding: rest.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                rest = rest.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
