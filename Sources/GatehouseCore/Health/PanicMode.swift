/// Envoy's panic threshold: when too few servers are healthy, balance across all of them.
///
/// If half a cluster is marked down, the healthy half takes twice its load and may well fall over
/// next; past some point, health checks are more likely wrong (or the outage total) than right, and
/// spreading the load over every server, healthy or not, serves more requests than concentrating it.
/// See Envoy's "panic threshold" in its load-balancing docs.
enum PanicMode {
    /// Whether the balancer should ignore health and use every server.
    /// - Parameters:
    ///   - healthy: Servers that pass active and passive health.
    ///   - total: Servers in the cluster.
    ///   - thresholdPercent: The cluster's `panic_threshold`; 0 disables panic mode.
    /// - Returns: True when `healthy` is below `thresholdPercent` % of `total`.
    static func engaged(healthy: Int, total: Int, thresholdPercent: Int) -> Bool {
        guard total > 0, thresholdPercent > 0 else { return false }
        // Integer cross-multiplication, so "1 of 2 at 50 %" is exactly not below the threshold.
        return healthy * 100 < total * thresholdPercent
    }
}
