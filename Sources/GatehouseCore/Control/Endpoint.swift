import GatehouseConfig
import GatehouseErrors
import NIOCore
import Synchronization

/// One connectable address of a configured server: the unit that is balanced, health-checked,
/// ejected and pooled. A server given as an IP literal is one endpoint; a server given by DNS name is
/// one endpoint per address the name resolves to.
///
/// Shared by every event loop and the ``UpstreamController``: identity and address are immutable,
/// the data-path counters are atomics (a request touches them without a lock).
public final class Endpoint: Sendable {
    /// Unique for the life of the process (across reloads); never reused, so pools and health state
    /// keyed by it cannot be confused when DNS replaces an address.
    public let id: Int

    private static let lastID = Atomic<Int>(0)

    /// A new process-wide endpoint id.
    static func makeID() -> Int {
        Self.lastID.wrappingAdd(1, ordering: .relaxed).newValue
    }
    /// The cluster's index in the configuration.
    public let cluster: Int
    /// The configured server's index in its cluster.
    public let server: Int
    /// The configured `host:port`: the `Host` sent with `host: upstream`, and what the admin API names.
    public let serverName: String
    /// `ip:port`: the next hop in logs and `Proxy-Status` (nginx's `$upstream_addr`).
    public let display: String
    public let address: SocketAddress
    /// The configured weight.
    public let weight: Int
    /// The cluster's pool settings, for this endpoint's per-loop pools.
    let pool: Cluster.Pool

    /// Requests in flight to this endpoint, from all loops (least_request and the admin API).
    let active = Atomic<Int>(0)
    /// Gateway failures in a row, from all loops (passive health).
    let consecutiveFailures = Atomic<Int>(0)
    /// The run of failures that asks the controller to eject: the configured one, 1 on probation, 0 = off.
    let failureThreshold: Atomic<Int>
    /// Requests answered through this endpoint.
    let requests = Atomic<Int>(0)
    /// Gateway errors by Proxy-Status type; written only when a request fails.
    private let errors = Mutex<[ProxyStatusError: Int]>([:])

    init(
        id: Int, cluster: Int, server: Int, serverName: String, address: SocketAddress, weight: Int,
        pool: Cluster.Pool, failureThreshold: Int
    ) {
        self.pool = pool
        self.id = id
        self.cluster = cluster
        self.server = server
        self.serverName = serverName
        self.address = address
        self.display = Self.display(address, fallback: serverName)
        self.weight = weight
        self.failureThreshold = Atomic(failureThreshold)
    }

    /// `ip:port` with IPv6 brackets.
    static func display(_ address: SocketAddress, fallback: String) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return fallback }
        return HostPort(host: ip, port: port).description
    }

    func countError(_ type: ProxyStatusError) {
        self.errors.withLock { $0[type, default: 0] += 1 }
    }

    /// Gateway errors by type so far.
    var errorCounts: [ProxyStatusError: Int] {
        self.errors.withLock { $0 }
    }

    /// What the data path does after a request through this endpoint: counts it and tells whether
    /// the run of failures just reached the ejection threshold (once per threshold-long run).
    func recordOutcome(failed: Bool?) -> Bool {
        switch failed {
        case .none:
            return false
        case .some(false):
            // A load first: most requests succeed, and a store would bounce the cache line between cores.
            if self.consecutiveFailures.load(ordering: .relaxed) != 0 {
                self.consecutiveFailures.store(0, ordering: .relaxed)
            }
            return false
        case .some(true):
            let threshold = self.failureThreshold.load(ordering: .relaxed)
            guard threshold > 0 else { return false }
            let run = self.consecutiveFailures.wrappingAdd(1, ordering: .relaxed).newValue
            return run >= threshold && (run - threshold) % threshold == 0
        }
    }
}
