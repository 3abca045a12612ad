import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOPosix

/// What `gatehouse check --probe` learned from one server: one pass of doctor's hops (DNS, TCP, TLS for
/// https, HTTP) with the request a health check would send.
public struct ServerProbe: Sendable {
    public var cluster: String
    /// The server's index in its cluster's `servers` list, to point lints at its `address` line.
    public var index: Int
    public var address: HostPort
    /// The path requested: the cluster's http health check path, else `/`.
    public var path: String
    public var run: HopRun

    public init(cluster: String, index: Int, address: HostPort, path: String, run: HopRun) {
        self.cluster = cluster
        self.index = index
        self.address = address
        self.path = path
        self.run = run
    }

    /// `timeout=N` of the response's `Keep-Alive` header (RFC 2068 §19.7.1.1), when announced.
    public var advertisedKeepAlive: Duration? {
        guard let value = self.run.headers.first(where: { $0.name.lowercased() == "keep-alive" })?.value else {
            return nil
        }
        for parameter in value.split(separator: ",") {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmed(" ").trimmed("\t") }
            if pair.count == 2, pair[0].lowercased() == "timeout", let seconds = Int(pair[1]), seconds > 0 {
                return .seconds(seconds)
            }
        }
        return nil
    }

    /// Whether the HTTP hop failed only because the header section was over the cluster's limit: the
    /// server is reachable, and the header lint says the rest.
    var headerSectionTooLarge: Bool { self.run.verdict.error == .httpResponseHeaderSectionSize }

    /// One line for the report: `app/127.0.0.1:3000 GET /healthz: 200 · header section 1.2 KiB of 32 KiB · …`.
    public func line(limit: Int) -> String {
        var parts: [String] = []
        if self.run.responded || self.headerSectionTooLarge {
            parts.append("reachable")
            if let tls = self.run.steps.first(where: { $0.name == "tls" }) { parts.append("TLS \(tls.outcome.rawValue)") }
            if let status = self.run.status { parts.append("\(status)") }
            if let size = self.run.headerSectionSize {
                parts.append("header section \(Format.bytes(size)) of \(Format.bytes(limit)) allowed")
            }
            parts.append(self.advertisedKeepAlive.map { "Keep-Alive: timeout=\(Format.configDuration($0))" } ?? "no Keep-Alive timeout announced")
        } else {
            parts.append("unreachable: \(self.cause)")
        }
        return "\(self.cluster)/\(self.address) GET \(self.path): " + parts.joined(separator: " · ")
    }

    /// The verdict in Proxy-Status terms: `connection_refused: upstream refused the connection (…)`.
    var cause: String {
        let verdict = self.run.verdict
        return (verdict.error.map { "\($0.token): " } ?? "") + verdict.cause
    }
}

/// `gatehouse check --probe`: connects once to every server of every cluster with doctor's hops, and
/// turns what it measured into lints of the configuration, at the line of the setting they concern.
public enum ConfigProbe {
    /// A header section at or above this share of the limit is reported (as doctor's http step does):
    /// a few more cookies and the gateway answers 502 `http_response_header_section_size`.
    public static let headerHeadroom = 0.8

    /// Probes every server, at most `parallel` at once, each hop bounded by `timeout`; in file order.
    public static func run(
        _ configuration: GatehouseConfiguration, timeout: Duration, parallel: Int = 4,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async -> [ServerProbe] {
        let plain = HopProber(group: group)
        var targets: [(probe: ServerProbe, target: ProbeTarget, prober: HopProber)] = []
        for cluster in configuration.clusters {
            let path: String
            if case .http(let checked)? = cluster.healthCheck?.kind { path = checked } else { path = "/" }
            // A TLS cluster is probed over https, trusting its ca_file as the gateway does.
            let prober = cluster.tls?.caFile.map { HopProber(caFile: $0, group: group) } ?? plain
            for (index, server) in cluster.servers.enumerated() {
                let target = ProbeTarget(
                    scheme: cluster.tls == nil ? .http : .https, host: server.address.host, port: server.address.port,
                    path: path,
                    server: "\(cluster.name)/\(server.address)", limits: ProbeLimits(cluster: cluster))
                let pending = ServerProbe(
                    cluster: cluster.name, index: index, address: server.address, path: path,
                    run: HopRun(steps: [], responded: false))
                targets.append((pending, target, prober))
            }
        }
        var results = targets.map(\.probe)
        let request = HopRequest(userAgent: "gatehouse-check")
        await withTaskGroup(of: (Int, HopRun).self) { group in
            var next = 0
            func startNext() {
                guard next < targets.count else { return }
                let (index, target, prober) = (next, targets[next].target, targets[next].prober)
                group.addTask { (index, await prober.run(target, request: request, timeout: timeout)) }
                next += 1
            }
            for _ in 0..<max(1, parallel) { startNext() }
            for await (index, run) in group {
                results[index].run = run
                startNext()
            }
        }
        return results
    }

    /// The lints of what was measured. Pure: tested with made-up runs as well as real ones.
    public static func lints(
        _ probes: [ServerProbe], _ configuration: GatehouseConfiguration, _ locations: ConfigLocations = ConfigLocations()
    ) -> [ConfigLint] {
        var lints: [ConfigLint] = []
        for probe in probes {
            guard let cluster = configuration.cluster(named: probe.cluster) else { continue }
            let path = ["clusters", cluster.name]
            let server = "\(cluster.name)/\(probe.address)"
            guard probe.run.responded || probe.headerSectionTooLarge else {
                lints.append(
                    ConfigLint(
                        .unreachableServer, at: locations.nearest(path + ["servers", String(probe.index), "address"]),
                        "server \(server) did not answer GET \(probe.path): \(probe.cause)",
                        fix: probe.run.verdict.fix.trimmingFinalPeriod))
                continue
            }
            let limit = cluster.limits.maxResponseHeaderBytes
            if let size = probe.run.headerSectionSize, Double(size) >= Double(limit) * self.headerHeadroom {
                let over = size > limit
                lints.append(
                    ConfigLint(
                        .responseHeaderNearLimit, at: locations.nearest(path + ["limits", "max_response_header_bytes"]),
                        over
                            ? "server \(server) sent a \(Format.bytes(size)) response header section, over limits.max_response_header_bytes (\(Format.bytes(limit))): every such response is answered 502 http_response_header_section_size"
                            : "server \(server) sent a \(Format.bytes(size)) response header section, \(Format.percent(Double(size), of: Double(limit))) of limits.max_response_header_bytes (\(Format.bytes(limit))): a few more cookies or a longer redirect and the answer is 502 http_response_header_section_size",
                        fix:
                            "raise limits.max_response_header_bytes to \(Self.suggestedLimit(for: size)) or more, or make the upstream send fewer or smaller headers"))
            }
            if let advertised = probe.advertisedKeepAlive, cluster.pool.maxIdlePerServer > 0,
                cluster.pool.idleTimeout >= advertised
            {
                let announced = Format.configDuration(advertised)
                lints.append(
                    ConfigLint(
                        .advertisedKeepAliveRace, at: locations.nearest(path + ["pool", "idle_timeout"]),
                        "server \(server) announces Keep-Alive: timeout=\(announced) but pool.idle_timeout is \(ValueSyntax.format(cluster.pool.idleTimeout)): the keep-alive race. Gatehouse shortens the idle time of connections whose last response carried the announcement, but one that did not (an error page from another layer) stays idle past the server's close, and the next request on it fails 502 connection_terminated",
                        fix: "set pool.idle_timeout below \(announced) (e.g. \(Self.suggestedIdleTimeout(below: advertised)))"))
            }
        }
        return lints
    }

    /// The measured size plus half again, rounded up to a whole KiB: room for the headers to grow.
    static func suggestedLimit(for size: Int) -> String {
        let kibibytes = (size + size / 2 + 1023) / 1024
        return "\(kibibytes)KiB"
    }

    /// Safely below the server's timeout: a fifth less, at least a second less when it allows.
    static func suggestedIdleTimeout(below advertised: Duration) -> String {
        let margin = max(advertised / 5, advertised > .seconds(2) ? .seconds(1) : advertised / 2)
        return Format.configDuration(advertised - margin)
    }
}

extension String {
    /// Fixes are written with a final period in doctor's findings; lints add their own punctuation.
    var trimmingFinalPeriod: String { self.hasSuffix(".") ? String(self.dropLast()) : self }
}
