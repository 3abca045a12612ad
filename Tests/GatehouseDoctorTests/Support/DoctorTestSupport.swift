import GatehouseConfig
import GatehouseDoctor
import GatehouseOrigins
import NIOCore
import NIOPosix

/// Starts a loopback origin, runs `body`, and stops the origin whatever happens.
func withOrigin<T>(
    _ behavior: LoopbackOrigin.Behavior, _ body: (LoopbackOrigin) async throws -> T
) async throws -> T {
    let origin = try await LoopbackOrigin.start(behavior, group: MultiThreadedEventLoopGroup.singleton)
    do {
        let result = try await body(origin)
        try await origin.stop()
        return result
    } catch {
        try? await origin.stop()
        throw error
    }
}

/// Limits as a cluster named `app` would have them.
func clusterLimits(
    responseHeader: Duration = .seconds(30), idleTimeout: Duration = .seconds(30), maxHeaderBytes: Int = 32 * 1024
) -> ProbeLimits {
    ProbeLimits(
        source: .cluster("app"), timeouts: Cluster.Timeouts(responseHeader: responseHeader),
        poolIdleTimeout: idleTimeout, maxResponseHeaderBytes: maxHeaderBytes)
}

/// Diagnoses one plain-HTTP loopback target; local resources are left out so verdicts depend only on the origin.
func diagnose(
    port: Int, host: String = "127.0.0.1", scheme: ProbeTarget.Scheme = .http, limits: ProbeLimits = ProbeLimits(),
    timeout: Duration = .seconds(5), keepAliveMax: Duration = .zero, caFile: String? = nil
) async -> DoctorReport {
    let probe = ProbeTarget(scheme: scheme, host: host, port: port, limits: limits)
    let plan = DoctorPlan(
        target: probe.url, probes: [probe], timeout: timeout, keepAliveMax: keepAliveMax, caFile: caFile,
        checkLocalResources: false)
    return await DoctorRunner.run(plan)
}

extension DoctorReport {
    /// The step with this name (the first, in `-c` mode).
    func step(_ name: String) -> DoctorStep? { self.steps.first { $0.name == name } }

    /// The report as text, for failure messages.
    var dump: String { DoctorRenderer.text(self, color: false) }
}
