import ArgumentParser
import GatehouseConfig
import GatehouseCore
import GatehouseLab
import GatehouseOrigins
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// `gatehouse demo`: the zero-setup first run. Three sample upstreams on loopback (two healthy, one
/// that rotates through refusing, hanging and answering garbage) behind a gateway, so every kind
/// of 502/504 can be seen, with its `Proxy-Status`, in the first minute.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a gateway in front of built-in sample upstreams on loopback (no file needed).")

    @Option(help: "Where the gateway listens (host:port).")
    var listen: String = "127.0.0.1:8080"

    @Option(help: "Where the admin API listens (host:port).")
    var admin: String = "127.0.0.1:9901"

    @Option(help: "How long the flaky upstream stays in each failure mode.")
    var flakyPeriod: Int = 10

    @Option(help: "Access log: stdout, off, or a file path.")
    var accessLog: String = "stdout"

    @OptionGroup var serve: ServeOptions

    func run() async throws {
        guard let listen = HostPort.parse(self.listen), let admin = HostPort.parse(self.admin) else {
            printError("gatehouse: --listen and --admin take host:port, e.g. 127.0.0.1:8080")
            throw ExitCode(2)
        }
        let logger = self.serve.makeLogger()
        // One loop by default: round robin is per loop, and the demo should show 200, 200, then the
        // flaky server's error in that order.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, self.serve.threads ?? 1))
        let app1 = try await LoopbackOrigin.start(.healthy(name: "app-1"), group: group)
        let app2 = try await LoopbackOrigin.start(.healthy(name: "app-2"), group: group)
        let flaky = try await LoopbackOrigin.start(
            .rotating([.refuse, .hang, .malformedStatusLine], every: .seconds(max(1, self.flakyPeriod))), group: group)

        let configuration = Self.configuration(
            listen: listen, admin: admin, accessLog: self.accessLog,
            servers: [app1.address, app2.address, flaky.address])
        // The dashboard's Lab tab: each game runs its own gateway and upstreams, apart from the demo's.
        let lab = LabDashboardProvider()
        let gateway = try await GatewayProcess.start(configuration: configuration, group: group, logger: logger, lab: lab)
        guard let base = gateway.listenerAddresses.first?.displayHostPort else { throw ExitCode(1) }
        let adminBase = gateway.adminAddress?.displayHostPort ?? admin.description
        writeOutput(
            """
            Gatehouse demo: a gateway on http://\(base)/ in front of three sample upstreams
              app-1  \(app1.address)  healthy
              app-2  \(app2.address)  healthy
              flaky  \(flaky.address)  every \(self.flakyPeriod)s: refuses connections, then hangs, then sends a malformed status line

            Dashboard: http://\(adminBase)/   (live charts, every server's state, the latest errors with their cause and fix)
            Lab:       http://\(adminBase)/#lab   (the troubleshooting maze with real tools; also: gatehouse lab --list)

            Try:
              curl -i http://\(base)/stable/                   always 200 (cluster 'stable': app-1, app-2)
              curl -i http://\(base)/                          round robin over all three, no retries: 200, 200, then 502/504 from flaky
              curl -i http://\(base)/guarded/                  all three again, with health checks, outlier detection and retries: flaky is out, always 200
              curl -i -H 'Accept: application/json' http://\(base)/    the same errors as application/problem+json
              curl -s http://\(adminBase)/stats                      errors by Proxy-Status type, per server
              curl -s http://\(adminBase)/admin/upstreams            every server's health state, why, since when
              curl -s -X POST http://\(adminBase)/admin/upstreams/stable/\(app1.address)/drain    take app-1 out gracefully (/enable brings it back)
            Every gateway error carries a Proxy-Status header naming the cause; the access log below has one JSON line per request.
            Press Ctrl-C to stop.


            """)
        await gateway.runUntilSignalled(drainTimeout: self.serve.drainTimeout)
        await lab.shutdown()
    }

    static func configuration(listen: HostPort, admin: HostPort, accessLog: String, servers: [String])
        -> GatehouseConfiguration
    {
        let target: AccessLogTarget =
            switch accessLog {
            case "stdout": .stdout
            case "off": .off
            default: .file(accessLog)
            }
        let addresses = servers.compactMap(HostPort.parse)
        // Short limits so the hanging phase answers 504 in seconds rather than after the 30 s default.
        let timeouts = Cluster.Timeouts(connect: .seconds(1), responseHeader: .seconds(3), idle: .seconds(10), request: .seconds(30))
        // The prevention side: a check every second takes flaky out within one check, outlier
        // detection catches what a check misses between two, and a returning server ramps up.
        let healthCheck = Cluster.HealthCheck(
            kind: .http(path: "/status/200"), interval: .seconds(1), timeout: .milliseconds(500), healthyThreshold: 2,
            unhealthyThreshold: 2)
        let outliers = Cluster.OutlierDetection(consecutiveFailures: 3, baseEjectionTime: .seconds(10))
        return GatehouseConfiguration(
            listeners: [Listener(name: "demo", address: listen)],
            admin: Admin(address: admin),
            accessLog: target,
            clusters: [
                Cluster(name: "stable", servers: addresses.prefix(2).map { Cluster.Server(address: $0) }, timeouts: timeouts),
                // No prevention at all (one try, no checks): the route that shows what each failure becomes.
                Cluster(
                    name: "mixed", servers: addresses.map { Cluster.Server(address: $0) }, timeouts: timeouts,
                    retries: Cluster.Retries(attempts: 1)),
                Cluster(
                    name: "guarded", servers: addresses.map { Cluster.Server(address: $0) }, balance: .leastRequest,
                    timeouts: timeouts, healthCheck: healthCheck, outlierDetection: outliers, slowStart: .seconds(10)),
            ],
            routes: [
                Route(name: "stable", match: .init(pathPrefix: "/stable/"), cluster: "stable", stripPrefix: true),
                Route(name: "guarded", match: .init(pathPrefix: "/guarded/"), cluster: "guarded", stripPrefix: true),
                Route(name: "mixed", match: .init(pathPrefix: "/"), cluster: "mixed"),
            ],
            exposeDetails: true)
    }
}

extension HostPort {
    /// Parses `host:port` or `[v6]:port` from the command line.
    static func parse(_ text: String) -> HostPort? {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (0...65535).contains(port) else { return nil }
            return HostPort(host: host, port: port)
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        return HostPort(host: String(text[..<colon]), port: port)
    }
}
