import GatehouseConfig
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
        /// Tries after the first.
        public var retries = 0
        /// Retries refused because the cluster's retry budget was spent.
        public var retryBudgetExhausted = 0
        /// Requests that met the keep-alive race: a reused connection closed by the upstream before
        /// any response byte (each was retried on a fresh connection).
        public var reusedConnectionFailures = 0
        /// Downstream connections refused by a listener's `max_connections`.
        public var refusedConnections = 0
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

    /// The counters, with servers in slots (no string hashing per request); a slot per cluster and
    /// server name, kept across reloads so the counts go on.
    private struct State {
        var snapshot = Snapshot()
        var servers: [Server] = []
        var names: [String] = []
        var slots: [String: Int] = [:]
    }

    private let state: Mutex<State>
    private static let recentLimit = 50

    public init() {
        self.state = Mutex(State())
    }

    /// The slots of a configuration's servers, `[cluster][server]`: existing ones for servers the
    /// stats already know (same cluster and address), new ones for the others.
    public func slots(for snapshot: ProxySnapshot) -> [[Int]] {
        self.state.withLock { state in
            snapshot.clusters.map { runtime in
                runtime.cluster.servers.map { server in
                    let name = server.address.description
                    let key = runtime.cluster.name + "\u{0}" + name
                    if let slot = state.slots[key] { return slot }
                    state.servers.append(Server())
                    state.names.append(name)
                    state.slots[key] = state.servers.count - 1
                    return state.servers.count - 1
                }
            }
        }
    }

    /// Counts a finished request.
    ///
    /// - Parameter slot: the server's slot (``slots(for:)``), -1 when none was chosen.
    public func record(_ record: RequestRecord, slot server: Int, openedConnection: Bool) {
        self.state.withLock { state in
            state.snapshot.requests += 1
            let statusClass = record.status / 100
            if statusClass >= 1 && statusClass <= 5 { state.snapshot.statusClasses[statusClass] += 1 }
            if openedConnection { state.snapshot.upstreamConnectionsOpened += 1 }
            let hasServer = server >= 0 && server < state.servers.count
            if hasServer {
                state.snapshot.upstreamRequests += 1
                state.servers[server].requests += 1
            }
            guard let failure = record.failure else { return }
            state.snapshot.errorsByType[failure.type, default: 0] += 1
            let time = RequestRecord.iso8601(seconds: record.startSeconds, nanoseconds: record.startNanoseconds)
            if hasServer {
                state.servers[server].failures += 1
                state.servers[server].lastError = failure.type
                state.servers[server].lastErrorTime = time
            }
            if state.snapshot.recentErrors.count >= Self.recentLimit { state.snapshot.recentErrors.removeFirst() }
            state.snapshot.recentErrors.append(
                RecentError(
                    time: time, requestID: record.requestID, type: failure.type, upstream: record.upstream,
                    route: record.route, details: failure.details))
        }
    }

    /// An event of the retry machinery.
    public enum RetryEvent: Sendable {
        case retry
        case budgetExhausted
        case reusedConnectionFailure
    }

    /// Counts a retry event (rare: no cost on the common path).
    public func count(_ event: RetryEvent) {
        self.state.withLock { state in
            switch event {
            case .retry: state.snapshot.retries += 1
            case .budgetExhausted: state.snapshot.retryBudgetExhausted += 1
            case .reusedConnectionFailure: state.snapshot.reusedConnectionFailures += 1
            }
        }
    }

    /// A listener refused a connection (max_connections).
    public func countRefusedConnection() {
        self.state.withLock { $0.snapshot.refusedConnections += 1 }
    }

    /// The current counters.
    public func snapshot() -> Snapshot {
        self.state.withLock { state in
            var snapshot = state.snapshot
            // A server in several clusters is one line: its counts add up.
            for (slot, name) in state.names.enumerated() {
                let counts = state.servers[slot]
                var total = snapshot.servers[name] ?? Server()
                total.requests += counts.requests
                total.failures += counts.failures
                if let time = counts.lastErrorTime, time >= total.lastErrorTime ?? "" {
                    total.lastError = counts.lastError
                    total.lastErrorTime = time
                }
                snapshot.servers[name] = total
            }
            return snapshot
        }
    }
}
