import GatehouseConfig
import GatehouseCore
import NIOCore
import NIOPosix
import NIOSSL

/// Runs a diagnosis: for each target the hops in order — DNS, TCP, TLS, HTTP (``Hops``, shared with
/// ``HopProber``) — then the comparisons with the gateway's limits (timing, keep-alive), then this
/// machine's resources. A failed hop stops the target's later hops (they are reported as not run); the
/// local resources always run.
public enum DoctorRunner {
    /// How many servers are probed at once in `-c` mode.
    static let parallelProbes = 8

    public static func run(_ plan: DoctorPlan, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async
        -> DoctorReport
    {
        let tlsContext: Result<NIOSSLContext, any Error>? =
            plan.probes.contains { $0.scheme == .https } ? Result { try TLSProbe.makeContext(caFile: plan.caFile) } : nil
        // Servers are diagnosed side by side (each waits on timeouts and idle connections, not on CPU),
        // a few at a time, and reported in configuration order.
        let results = await withTaskGroup(of: (Int, [DoctorStep]).self) { tasks in
            var collected: [(Int, [DoctorStep])] = []
            for (index, probe) in plan.probes.enumerated() {
                if index >= Self.parallelProbes, let done = await tasks.next() { collected.append(done) }
                tasks.addTask { (index, await Self.diagnose(probe, plan: plan, tlsContext: tlsContext, group: group)) }
            }
            for await done in tasks { collected.append(done) }
            return collected.sorted { $0.0 < $1.0 }
        }
        var steps = results.flatMap(\.1)
        if plan.checkLocalResources { steps += LocalResources.steps() }
        let servers = plan.probes.compactMap(\.server)
        return DoctorReport(
            target: plan.target, steps: steps, verdict: VerdictBuilder.verdict(for: steps),
            serverVerdicts: VerdictBuilder.serverVerdicts(for: steps, servers: servers))
    }

    /// The hops and comparisons of one target.
    static func diagnose(
        _ probe: ProbeTarget, plan: DoctorPlan, tlsContext: Result<NIOSSLContext, any Error>?, group: any EventLoopGroup
    ) async -> [DoctorStep] {
        let outcome = await Hops.run(
            probe, request: HopRequest(), timeout: plan.timeout, keepAliveMax: plan.keepAliveMax, caFile: plan.caFile,
            tlsContext: tlsContext, inspectAlways: true, later: ["timing", "keepalive"], group: group)
        guard outcome.completed, let http = outcome.http else { return outcome.steps }
        return outcome.steps + [
            DoctorStep(name: "timing", server: probe.server, LimitChecks.timing(outcome.timing, limits: probe.limits)),
            DoctorStep(name: "keepalive", server: probe.server, LimitChecks.keepAlive(http.keepAlive, limits: probe.limits)),
        ]
    }
}
