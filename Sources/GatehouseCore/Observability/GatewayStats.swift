import GatehouseConfig
import GatehouseErrors
import Synchronization

/// Process-wide counters derived from request records: what the admin API shows. One uncontended
/// lock per finished request; metrics proper come with the observability issue.
///
/// Per-cluster counters (read by the incident monitor once per tick) are kept under the same lock:
/// on success one more array increment, nothing more.
public final class GatewayStats: Sendable {
    /// The latest gateway errors (`/admin/errors`, `recent_errors` of `/stats`).
    public let errors: ErrorHistory
    /// Client addresses, counted only while a traffic spike is suspected.
    public let clients = ClientWatch()
    /// A snapshot of the counters.
    public struct Snapshot: Sendable {
        public var requests = 0
        /// Index 1…5 → 1xx…5xx.
        public var statusClasses = [Int](repeating: 0, count: 6)
        public var errorsByType: [ProxyStatusError: Int] = [:]
        public var servers: [String: Server] = [:]
        /// The latest errors, oldest first (from ``GatewayStats/errors``).
        public var recentErrors: [GatewayErrorEntry] = []
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
        /// Incident notifications delivered to webhooks, failed after every retry, dropped (queue full).
        public var webhooksDelivered = 0
        public var webhookFailures = 0
        public var webhooksDropped = 0
        /// Errors and incidents the store could not keep: queue full, or a failed write.
        public var storageDropped = 0
        public var storageFailures = 0
    }

    /// Per-server counters.
    public struct Server: Sendable {
        public var requests = 0
        public var failures = 0
        public var lastError: ProxyStatusError?
        public var lastErrorTime: String?
    }

    /// The counters, with servers in slots (no string hashing per request); a slot per cluster and
    /// server name, kept across reloads so the counts go on.
    private struct State {
        var snapshot = Snapshot()
        var servers: [Server] = []
        var names: [String] = []
        var slots: [String: Int] = [:]
        var clusters: [ClusterCounters] = []
        var clusterNames: [String] = []
    }

    private let state: Mutex<State>
    private static let recentLimit = 50

    /// - Parameter errorHistory: how many gateway errors the ring keeps.
    public init(errorHistory: Int = 1000) {
        self.state = Mutex(State())
        self.errors = ErrorHistory(capacity: errorHistory)
    }

    /// The slots of a configuration's clusters and servers: existing ones for those the stats already
    /// know (same cluster name; same cluster and address), new ones for the others.
    public func slots(for snapshot: ProxySnapshot) -> StatSlots {
        self.state.withLock { state in
            let clusters = snapshot.clusters.map { runtime in
                if let slot = state.clusterNames.firstIndex(of: runtime.cluster.name) { return slot }
                state.clusters.append(ClusterCounters())
                state.clusterNames.append(runtime.cluster.name)
                return state.clusters.count - 1
            }
            let servers = snapshot.clusters.map { runtime in
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
            return StatSlots(servers: servers, clusters: clusters)
        }
    }

    /// Counts a finished request.
    ///
    /// - Parameters:
    ///   - slot: the server's slot (``slots(for:)``), -1 when none was chosen.
    ///   - cluster: the cluster's slot, -1 when the request was not routed to one.
    public func record(_ record: RequestRecord, slot server: Int, cluster: Int = -1, openedConnection: Bool) {
        self.state.withLock { state in
            state.snapshot.requests += 1
            let hasCluster = cluster >= 0 && cluster < state.clusters.count
            if hasCluster {
                state.clusters[cluster].requests += 1
                if record.receivedStatus != nil { state.clusters[cluster].receivedServerErrors += 1 }
            }
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
            if hasCluster, record.status >= 500 {
                state.clusters[cluster].gatewayErrors += 1
                state.clusters[cluster].errorsByType[failure.type, default: 0] += 1
                if let upstream = record.upstream { state.clusters[cluster].errorsByServer[upstream, default: 0] += 1 }
                if state.clusters[cluster].latestErrorIDs.count >= ClusterCounters.keptErrorIDs {
                    state.clusters[cluster].latestErrorIDs.removeFirst()
                }
                state.clusters[cluster].latestErrorIDs.append(record.requestID)
            }
        }
    }

    /// Every cluster's counters, by name (for the incident monitor's tick).
    public func clusterCounters() -> [String: ClusterCounters] {
        self.state.withLock { state in
            Dictionary(zip(state.clusterNames, state.clusters), uniquingKeysWith: { first, _ in first })
        }
    }

    /// An event of incident delivery and storage (rare: control plane).
    public enum IncidentEvent: Sendable {
        case webhookDelivered
        case webhookFailed
        case webhookDropped
        case storageDropped
        case storageFailed
    }

    public func count(_ event: IncidentEvent) {
        self.state.withLock { state in
            switch event {
            case .webhookDelivered: state.snapshot.webhooksDelivered += 1
            case .webhookFailed: state.snapshot.webhookFailures += 1
            case .webhookDropped: state.snapshot.webhooksDropped += 1
            case .storageDropped: state.snapshot.storageDropped += 1
            case .storageFailed: state.snapshot.storageFailures += 1
            }
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
        let recent = Array(self.errors.entries(ErrorFilter(limit: Self.recentLimit)).reversed())
        return self.state.withLock { state in
            var snapshot = state.snapshot
            snapshot.recentErrors = recent
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

/// Where a configuration's clusters and servers count in ``GatewayStats``.
public struct StatSlots: Sendable {
    /// `[cluster][server]`.
    public var servers: [[Int]]
    /// By cluster index.
    public var clusters: [Int]
}
