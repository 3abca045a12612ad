import GatehouseErrors
import Synchronization

/// Process-wide counters derived from request records: what the admin API shows. One uncontended
/// lock per finished request; metrics proper come with the observability issue.
public final class GatewayStats: Sendable {
    /// A snapshot of the counters.
    public struct Snapshot: Sendable {
        public var requests = 0
        /// Index 1…5 → 1xx…5xx.
        public var statusClasses = [Int](repeating: 0, count: 6)
        public var errorsByType: [ProxyStatusError: Int] = [:]
        public var servers: [String: Server] = [:]
        public var recentErrors: [RecentError] = []
        public var upstreamConnectionsOpened = 0
        public var upstreamRequests = 0
    }

    /// Per-server counters.
    public struct Server: Sendable {
        public var requests = 0
        public var failures = 0
        public var lastError: ProxyStatusError?
        public var lastErrorTime: String?
    }

    /// One of the latest gateway errors, for the admin API.
    public struct RecentError: Sendable {
        public var time: String
        public var requestID: String
        public var type: ProxyStatusError
        public var upstream: String?
        public var route: String?
        public var details: String?
    }

    private let state = Mutex(Snapshot())
    private static let recentLimit = 50

    public init() {}

    /// Counts a finished request.
    public func record(_ record: RequestRecord, openedConnection: Bool) {
        self.state.withLock { state in
            state.requests += 1
            let statusClass = record.status / 100
            if statusClass >= 1 && statusClass <= 5 { state.statusClasses[statusClass] += 1 }
            if openedConnection { state.upstreamConnectionsOpened += 1 }
            if let upstream = record.upstream {
                state.upstreamRequests += 1
                state.servers[upstream, default: Server()].requests += 1
            }
            guard let failure = record.failure else { return }
            state.errorsByType[failure.type, default: 0] += 1
            let time = RequestRecord.iso8601(seconds: record.startSeconds, nanoseconds: record.startNanoseconds)
            if let upstream = record.upstream {
                state.servers[upstream, default: Server()].failures += 1
                state.servers[upstream, default: Server()].lastError = failure.type
                state.servers[upstream, default: Server()].lastErrorTime = time
            }
            if state.recentErrors.count >= Self.recentLimit { state.recentErrors.removeFirst() }
            state.recentErrors.append(
                RecentError(
                    time: time, requestID: record.requestID, type: failure.type, upstream: record.upstream,
                    route: record.route, details: failure.details))
        }
    }

    /// The current counters.
    public func snapshot() -> Snapshot {
        self.state.withLock { $0 }
    }
}
