import GatehouseCore
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a diagnosis: for each target the hops in order — DNS, TCP, TLS, HTTP — then the comparisons
/// with the gateway's limits (timing, keep-alive), then this machine's resources. A failed hop stops
/// the target's later hops (they are reported as not run); the local resources always run.
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
        let server = probe.server
        var steps: [DoctorStep] = []
        let later = ["tcp"] + (probe.scheme == .https ? ["tls"] : []) + ["http", "timing", "keepalive"]
        func skipRemaining(after name: String, because reason: String) {
            let start = (later.firstIndex(of: name).map { $0 + 1 }) ?? 0
            for next in later[start...] { steps.append(.skipped(next, server: server, reason: reason)) }
        }
        var timing = TimingObservation()

        let dns = await DNSProbe.resolve(host: probe.host, port: probe.port, timeout: plan.timeout)
        steps.append(
            DoctorStep(
                name: "dns", server: server, milliseconds: dns.literal ? nil : Format.milliseconds(dns.elapsed),
                DNSDiagnosis.step(dns, host: probe.host)))
        guard dns.failure == nil, !dns.addresses.isEmpty else {
            skipRemaining(after: "dns", because: "dns failed")
            return steps
        }
        if !dns.literal { timing.dns = dns.elapsed }

        let tcp = await TCPProbe.connect(dns.addresses, timeout: plan.timeout, group: group)
        let used = tcp.address.map(TCPProbe.display)
        let connected = tcp.attempts.first { $0.address == used } ?? tcp.attempts.first
        steps.append(
            DoctorStep(
                name: "tcp", server: server, milliseconds: connected.map { Format.milliseconds($0.elapsed) },
                TCPDiagnosis.step(tcp.attempts, timeout: plan.timeout)))
        guard let channel = tcp.channel, let address = tcp.address else {
            skipRemaining(after: "tcp", because: "tcp failed")
            return steps
        }
        timing.connect = connected?.elapsed

        if probe.scheme == .https {
            let context: NIOSSLContext
            switch tlsContext {
            case .success(let made)?:
                context = made
            case .failure(let error)?:
                steps.append(DoctorStep(name: "tls", server: server, StepResult(.failed, "cannot set up TLS: \(error)")))
                try? await channel.close()
                skipRemaining(after: "tls", because: "tls could not be set up")
                return steps
            case nil:
                try? await channel.close()
                skipRemaining(after: "tcp", because: "tls could not be set up")
                return steps
            }
            let handshake = await TLSProbe.handshake(on: channel, host: probe.host, context: context, timeout: plan.timeout)
            let inspection = await TLSProbe.inspect(address: address, host: probe.host, timeout: plan.timeout, group: group)
            let failure = handshake.failure
            var observation = TLSObservation(
                host: probe.host, handshake: handshake.elapsed, version: handshake.version, failure: failure,
                failureDetail: handshake.detail, chain: inspection.chain, now: Int(time(nil)), caFile: plan.caFile)
            observation.nameMatches = inspection.nameMatches
            steps.append(
                DoctorStep(
                    name: "tls", server: server, milliseconds: Format.milliseconds(handshake.elapsed),
                    TLSDiagnosis.step(observation)))
            guard failure == nil else {
                try? await channel.close()
                skipRemaining(after: "tls", because: "tls failed")
                return steps
            }
            timing.tlsHandshake = handshake.elapsed
        }

        let http = await HTTPProbe.exchange(
            on: channel, target: probe, timeout: plan.timeout, keepAliveMax: plan.keepAliveMax)
        let framing = ResponseFramingValidator.validate(
            http.raw, received: http.rawTotal, closed: http.closedByPeer, headerLimit: probe.limits.maxResponseHeaderBytes)
        let observation = HTTPObservation(
            status: http.head.map { Int($0.status.code) }, reason: http.head?.status.reasonPhrase,
            headers: http.head?.headers.map { HTTPObservation.Header($0.name, $0.value) } ?? [],
            firstByte: http.firstByte, complete: http.complete, bodyBytes: http.bodyBytes, failure: http.failure?.type,
            failureDetails: http.failure?.details, failedBeforeHead: http.head == nil, reset: http.resetByPeer,
            framing: framing,
            stoppedEarly: http.stoppedEarly, timeout: plan.timeout)
        let httpStep = HTTPDiagnosis.step(observation, limits: probe.limits)
        steps.append(
            DoctorStep(
                name: "http", server: server, milliseconds: http.firstByte.map(Format.milliseconds), httpStep))
        guard http.failure == nil else {
            skipRemaining(after: "http", because: "http failed")
            return steps
        }

        timing.firstByte = http.firstByte
        timing.longestGap = http.longestGap
        timing.response = http.complete
        steps.append(DoctorStep(name: "timing", server: server, LimitChecks.timing(timing, limits: probe.limits)))
        steps.append(
            DoctorStep(name: "keepalive", server: server, LimitChecks.keepAlive(http.keepAlive, limits: probe.limits)))
        return steps
    }
}
