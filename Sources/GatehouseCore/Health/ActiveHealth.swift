/// One server's active health-check state: HAProxy's rise/fall counters as a pure value.
///
/// The health checker probes the server and feeds each result in with ``record(passed:)``; the
/// balancer reads ``admitsTraffic``. A single bad probe never takes a healthy server out (that is
/// what `unhealthyThreshold` is for), and a single good probe never puts a flapping server back in
/// (`healthyThreshold`). A server nobody has probed yet is ``Status-swift.enum/unchecked`` and still
/// admits traffic, so a gateway that starts before its first probe round is not an outage.
struct ActiveHealth: Sendable, Equatable {
    /// What the probes have concluded about the server so far.
    enum Status: Sendable, Equatable {
        /// No probe has finished yet; the server is trusted until one does.
        case unchecked
        /// The server passes its checks and takes traffic.
        case healthy
        /// The server failed `unhealthyThreshold` checks in a row (or its first one) and takes none.
        case unhealthy
    }

    /// The current verdict.
    private(set) var status: Status = .unchecked
    /// Passes since the last failure.
    private(set) var consecutivePasses = 0
    /// Failures since the last pass.
    private(set) var consecutiveFailures = 0
    /// Consecutive passes that bring an unhealthy server back (rise).
    let healthyThreshold: Int
    /// Consecutive failures that take a healthy server out (fall).
    let unhealthyThreshold: Int

    /// A server that has not been probed yet.
    /// - Parameters:
    ///   - healthyThreshold: Passes in a row that make an unhealthy server healthy; values below 1 act as 1.
    ///   - unhealthyThreshold: Failures in a row that make a healthy server unhealthy; values below 1 act as 1.
    init(healthyThreshold: Int, unhealthyThreshold: Int) {
        // A threshold of 0 would mean "flip without evidence"; validation should reject it, and if it
        // slips through, the least surprising reading is "the next result decides".
        self.healthyThreshold = max(1, healthyThreshold)
        self.unhealthyThreshold = max(1, unhealthyThreshold)
    }

    /// Whether the balancer may send requests to this server.
    var admitsTraffic: Bool {
        switch self.status {
        case .unchecked, .healthy: return true
        case .unhealthy: return false
        }
    }

    /// Records the outcome of one probe.
    /// - Parameter passed: Whether the probe passed.
    /// - Returns: The new status when this result changed it, nil otherwise (so the caller logs and
    ///   publishes a new snapshot only on a real transition).
    mutating func record(passed: Bool) -> Status? {
        if passed {
            self.consecutivePasses += 1
            self.consecutiveFailures = 0
        } else {
            self.consecutiveFailures += 1
            self.consecutivePasses = 0
        }
        let next: Status
        switch self.status {
        case .unchecked:
            // The first result decides at once: waiting for `healthyThreshold` passes would keep a
            // fresh gateway from using servers that are fine, and trusting a server whose very first
            // probe failed would send real requests to it for `unhealthyThreshold` intervals.
            next = passed ? .healthy : .unhealthy
        case .healthy:
            next = self.consecutiveFailures >= self.unhealthyThreshold ? .unhealthy : .healthy
        case .unhealthy:
            next = self.consecutivePasses >= self.healthyThreshold ? .healthy : .unhealthy
        }
        guard next != self.status else { return nil }
        self.status = next
        return next
    }
}
