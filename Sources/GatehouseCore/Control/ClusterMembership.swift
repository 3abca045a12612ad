import GatehouseConfig
import GatehouseErrors

/// The servers of one cluster that the event loops may pick from, as the ``UpstreamController``
/// last published them: healthy, not ejected, not drained, weights ramped for slow start. Immutable
/// and shared by all loops; the controller replaces it on every change.
final class ClusterMembership: Sendable {
    /// The balancing table over `endpoints` (same order).
    let table: BalancerTable
    let endpoints: [Endpoint]
    /// Too few servers are healthy: `endpoints` holds all of them, healthy or not (Envoy's panic mode).
    let panic: Bool
    /// Why nothing can be picked, when `endpoints` is empty: the answer the client gets.
    let emptyFailure: ProxyFailure?

    init(policy: Cluster.Balance, endpoints: [Endpoint], weights: [Int], panic: Bool, emptyFailure: ProxyFailure?) {
        self.endpoints = endpoints
        self.table = BalancerTable(
            policy: policy,
            members: zip(endpoints, weights).map { BalancerMember(id: $0.id, key: $0.display, weight: max(1, $1)) })
        self.panic = panic
        self.emptyFailure = emptyFailure
    }

    /// The members of a configuration before any health information: every server given as an IP
    /// literal, at full weight. For loops that run without a controller (the in-memory tests).
    static func initial(_ snapshot: ProxySnapshot) -> [ClusterMembership] {
        snapshot.clusters.enumerated().map { clusterIndex, runtime in
            let cluster = runtime.cluster
            let endpoints = cluster.servers.enumerated().compactMap { serverIndex, server -> Endpoint? in
                guard let address = runtime.targets[serverIndex].socketAddress else { return nil }
                return Endpoint(
                    id: Endpoint.makeID(), cluster: clusterIndex, server: serverIndex,
                    serverName: server.address.description, address: address, weight: server.weight, pool: cluster.pool,
                    failureThreshold: cluster.outlierDetection?.consecutiveFailures ?? 0)
            }
            return ClusterMembership(
                policy: cluster.balance, endpoints: endpoints, weights: endpoints.map { $0.weight * 100 },
                panic: false,
                emptyFailure: ProxyFailure(
                    type: .destinationUnavailable, phase: .selectUpstream,
                    details: "cluster \(cluster.name) has no server with an address"))
        }
    }
}
