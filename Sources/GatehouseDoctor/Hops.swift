import GatehouseConfig
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

/// What the HTTP hop sends: doctor's `GET`, a monitor's probe, or a webhook's `POST`.
public struct HopRequest: Sendable, Hashable {
    /// `GET`, `POST`…
    public var method: String
    /// Sent after `Host`, `User-Agent` and `Accept`; `Content-Length` is added when there is a body.
    public var headers: [HTTPObservation.Header]
    public var body: [UInt8]
    public var userAgent: String
    /// How much of the response body to keep (a monitor's body match); 0 keeps none.
    public var keepBody: Int

    public init(
        method: String = "GET", headers: [HTTPObservation.Header] = [], body: [UInt8] = [],
        userAgent: String = "gatehouse-doctor", keepBody: Int = 0
    ) {
        self.method = method
        self.headers = headers
        self.body = body
        self.userAgent = userAgent
        self.keepBody = keepBody
    }
}

/// One pass over a target's hops (DNS, TCP, TLS for https, HTTP), as doctor runs them: the steps with
/// their findings, the verdict, the phase timings and what the response said.
public struct HopRun: Sendable, Hashable {
    /// `dns`, `tcp`, `tls` (https), `http`; the hops after a failed one are `.skipped`.
    public var steps: [DoctorStep]
    /// ``VerdictBuilder/verdict(for:)`` of the steps.
    public var verdict: Verdict
    /// The phases that ran (a phase that did not run is `nil`; `dns` is `nil` for an IP literal).
    public var timing: TimingObservation
    /// From the start of resolution to the end of the response (or of the failure).
    public var total: Duration
    /// Whether every hop ran and a complete response came back (whatever its status). When `false`, a
    /// hop failed and the verdict names it: nothing listens, a TLS error, a malformed or cut response…
    public var responded: Bool
    /// The response status, when a head arrived.
    public var status: Int?
    /// The response headers, when a head arrived.
    public var headers: [HTTPObservation.Header]
    /// The start of the body, up to ``HopRequest/keepBody`` bytes.
    public var body: [UInt8]
    /// The bytes of the response's header section (status line to the blank line), as the gateway's
    /// `limits.max_response_header_bytes` counts them, when the end of the section arrived; measured
    /// even when the section is over the limit and the exchange failed for it.
    public var headerSectionSize: Int?

    public init(
        steps: [DoctorStep], timing: TimingObservation = TimingObservation(), total: Duration = .zero,
        responded: Bool, status: Int? = nil, headers: [HTTPObservation.Header] = [], body: [UInt8] = [],
        headerSectionSize: Int? = nil
    ) {
        self.steps = steps
        self.verdict = VerdictBuilder.verdict(for: steps)
        self.timing = timing
        self.total = total
        self.responded = responded
        self.status = status
        self.headers = headers
        self.body = body
        self.headerSectionSize = headerSectionSize
    }
}

/// Runs the hops once, outside a diagnosis: `gatehouse monitor`'s probes and its webhook deliveries.
/// The same code as `gatehouse doctor`'s hops, so a monitor's failure reads like doctor's verdict.
public struct HopProber: Sendable {
    private let group: any EventLoopGroup
    private let tlsContext: Result<NIOSSLContext, any Error>
    private let caFile: String?

    /// - Parameters:
    ///   - caFile: a PEM file of extra trusted CA certificates for https targets.
    ///   - group: the event loops the connections run on.
    public init(caFile: String? = nil, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
        self.caFile = caFile
        // Made once: it loads the system trust roots, which every https probe shares.
        self.tlsContext = Result { try TLSProbe.makeContext(caFile: caFile) }
    }

    /// Why https targets cannot be probed (an unreadable `caFile`), if they cannot: the CLI refuses to
    /// start rather than report every https target as failing.
    public var tlsProblem: String? {
        guard case .failure(let error) = self.tlsContext else { return nil }
        return "\(error)"
    }

    /// One pass over `target`'s hops, each with the time limit `timeout`; no keep-alive wait.
    public func run(_ target: ProbeTarget, request: HopRequest = HopRequest(), timeout: Duration) async -> HopRun {
        let outcome = await Hops.run(
            target, request: request, timeout: timeout, keepAliveMax: .zero, caFile: self.caFile,
            tlsContext: target.scheme == .https ? self.tlsContext : nil, inspectAlways: false, later: [],
            group: self.group)
        let head = outcome.http?.head
        return HopRun(
            steps: outcome.steps, timing: outcome.timing, total: outcome.total, responded: outcome.completed,
            status: head.map { Int($0.status.code) },
            headers: head?.headers.map { HTTPObservation.Header($0.name, $0.value) } ?? [],
            body: outcome.http?.body ?? [], headerSectionSize: outcome.headerSectionSize)
    }
}

/// The hop walk shared by ``DoctorRunner`` and ``HopProber``.
enum Hops {
    /// What the walk gave.
    struct Outcome {
        var steps: [DoctorStep] = []
        var timing = TimingObservation()
        var total: Duration = .zero
        /// The HTTP exchange, when it ran.
        var http: HTTPProbeResult?
        /// Every hop ran and the exchange did not fail.
        var completed = false
        /// The response's header section size, from the framing validator.
        var headerSectionSize: Int?
    }

    /// Runs DNS, TCP, TLS (https) and HTTP in order; the first that fails stops the walk, and the hops
    /// after it, then `later` (doctor's comparisons), are reported as not run.
    ///
    /// - Parameter inspectAlways: also inspect a chain that verified (doctor reports its expiry); when
    ///   `false` the second, inspecting handshake runs only to explain a failed one.
    static func run(
        _ probe: ProbeTarget, request: HopRequest, timeout: Duration, keepAliveMax: Duration, caFile: String?,
        tlsContext: Result<NIOSSLContext, any Error>?, inspectAlways: Bool, later extra: [String],
        group: any EventLoopGroup
    ) async -> Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let server = probe.server
        var outcome = Outcome()
        let later = ["tcp"] + (probe.scheme == .https ? ["tls"] : []) + ["http"] + extra
        func stop(after name: String, because reason: String) -> Outcome {
            let first = (later.firstIndex(of: name).map { $0 + 1 }) ?? 0
            for next in later[first...] { outcome.steps.append(.skipped(next, server: server, reason: reason)) }
            outcome.total = clock.now - start
            return outcome
        }

        let dns = await DNSProbe.resolve(host: probe.host, port: probe.port, timeout: timeout)
        outcome.steps.append(
            DoctorStep(
                name: "dns", server: server, milliseconds: dns.literal ? nil : Format.milliseconds(dns.elapsed),
                DNSDiagnosis.step(dns, host: probe.host)))
        guard dns.failure == nil, !dns.addresses.isEmpty else { return stop(after: "dns", because: "dns failed") }
        if !dns.literal { outcome.timing.dns = dns.elapsed }

        let tcp = await TCPProbe.connect(dns.addresses, timeout: timeout, group: group)
        let used = tcp.address.map(TCPProbe.display)
        let connected = tcp.attempts.first { $0.address == used } ?? tcp.attempts.first
        outcome.steps.append(
            DoctorStep(
                name: "tcp", server: server, milliseconds: connected.map { Format.milliseconds($0.elapsed) },
                TCPDiagnosis.step(tcp.attempts, timeout: timeout)))
        guard let channel = tcp.channel, let address = tcp.address else { return stop(after: "tcp", because: "tcp failed") }
        outcome.timing.connect = connected?.elapsed

        if probe.scheme == .https {
            let context: NIOSSLContext
            switch tlsContext {
            case .success(let made)?:
                context = made
            case .failure(let error)?:
                outcome.steps.append(DoctorStep(name: "tls", server: server, StepResult(.failed, "cannot set up TLS: \(error)")))
                try? await channel.close()
                return stop(after: "tls", because: "tls could not be set up")
            case nil:
                try? await channel.close()
                return stop(after: "tcp", because: "tls could not be set up")
            }
            let handshake = await TLSProbe.handshake(on: channel, host: probe.host, context: context, timeout: timeout)
            let failure = handshake.failure
            let inspection =
                inspectAlways || failure != nil
                ? await TLSProbe.inspect(address: address, host: probe.host, timeout: timeout, group: group)
                : (chain: [], nameMatches: nil)
            var observation = TLSObservation(
                host: probe.host, handshake: handshake.elapsed, version: handshake.version, failure: failure,
                failureDetail: handshake.detail, chain: inspection.chain, now: Int(time(nil)), caFile: caFile)
            observation.nameMatches = inspection.nameMatches
            outcome.steps.append(
                DoctorStep(
                    name: "tls", server: server, milliseconds: Format.milliseconds(handshake.elapsed),
                    TLSDiagnosis.step(observation)))
            guard failure == nil else {
                try? await channel.close()
                return stop(after: "tls", because: "tls failed")
            }
            outcome.timing.tlsHandshake = handshake.elapsed
        }

        let http = await HTTPProbe.exchange(
            on: channel, target: probe, request: request, timeout: timeout, keepAliveMax: keepAliveMax)
        outcome.http = http
        let framing = ResponseFramingValidator.validate(
            http.raw, received: http.rawTotal, closed: http.closedByPeer, headerLimit: probe.limits.maxResponseHeaderBytes)
        outcome.headerSectionSize = framing.headerSectionSize
        let observation = HTTPObservation(
            status: http.head.map { Int($0.status.code) }, reason: http.head?.status.reasonPhrase,
            headers: http.head?.headers.map { HTTPObservation.Header($0.name, $0.value) } ?? [],
            firstByte: http.firstByte, complete: http.complete, bodyBytes: http.bodyBytes, failure: http.failure?.type,
            failureDetails: http.failure?.details, failedBeforeHead: http.head == nil, reset: http.resetByPeer,
            framing: framing,
            stoppedEarly: http.stoppedEarly, timeout: timeout)
        outcome.steps.append(
            DoctorStep(
                name: "http", server: server, milliseconds: http.firstByte.map(Format.milliseconds),
                HTTPDiagnosis.step(observation, limits: probe.limits)))
        outcome.timing.firstByte = http.firstByte
        outcome.timing.longestGap = http.longestGap
        outcome.timing.response = http.complete
        guard http.failure == nil else { return stop(after: "http", because: "http failed") }
        outcome.completed = true
        outcome.total = clock.now - start
        return outcome
    }
}
