import GatehouseConfig
import GatehouseErrors
import Synchronization

/// A cluster's circuit breakers (Envoy's): open connections, requests waiting for a connection,
/// requests in flight, counted across all loops. Beyond a limit the gateway answers 503
/// `connection_limit_reached` at once, with `Retry-After`, instead of queueing the request until a
/// timeout turns it into a 504 — and instead of piling more load on a struggling upstream.
final class ClusterBreaker: Sendable {
    let limits: Cluster.Limits
    let clusterName: String
    let connections = Atomic<Int>(0)
    let pending = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    /// Requests refused by a breaker, for the stats.
    let tripped = Atomic<Int>(0)

    init(cluster: Cluster) {
        self.limits = cluster.limits
        self.clusterName = cluster.name
    }

    /// Takes one request slot, or says which limit refuses it.
    func admitRequest() -> ProxyFailure? {
        let inFlight = self.requests.wrappingAdd(1, ordering: .relaxed).newValue
        guard self.limits.maxRequests > 0, inFlight > self.limits.maxRequests else { return nil }
        self.requests.wrappingSubtract(1, ordering: .relaxed)
        return self.trip("max_requests (\(self.limits.maxRequests)) requests are already in flight")
    }

    func requestFinished() {
        self.requests.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Takes a slot for opening one more connection (a pending request), or says which limit refuses it.
    func admitConnection() -> ProxyFailure? {
        if self.limits.maxConnections > 0, self.connections.load(ordering: .relaxed) >= self.limits.maxConnections {
            return self.trip("max_connections (\(self.limits.maxConnections)) upstream connections are open")
        }
        let waiting = self.pending.wrappingAdd(1, ordering: .relaxed).newValue
        if self.limits.maxPendingRequests > 0, waiting > self.limits.maxPendingRequests {
            self.pending.wrappingSubtract(1, ordering: .relaxed)
            return self.trip("max_pending_requests (\(self.limits.maxPendingRequests)) requests are waiting for a connection")
        }
        return nil
    }

    /// The pending connection attempt ended; `opened` when it became an open connection.
    func connectFinished(opened: Bool) {
        self.pending.wrappingSubtract(1, ordering: .relaxed)
        if opened { self.connections.wrappingAdd(1, ordering: .relaxed) }
    }

    func connectionClosed() {
        self.connections.wrappingSubtract(1, ordering: .relaxed)
    }

    private func trip(_ why: String) -> ProxyFailure {
        self.tripped.wrappingAdd(1, ordering: .relaxed)
        return ProxyFailure(
            type: .connectionLimitReached, phase: .selectUpstream,
            details: "cluster \(self.clusterName): \(why) (circuit breaker)")
    }
}
