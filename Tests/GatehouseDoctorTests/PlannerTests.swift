import GatehouseConfig
import GatehouseDoctor
import Testing

/// Target and option parsing, and which cluster's limits apply: the usage errors that exit 2.
@Suite("doctor's command line")
struct PlannerTests {
    private func noConfiguration(_ path: String) throws(ConfigurationError) -> GatehouseConfiguration {
        throw ConfigurationError(diagnostics: [
            ConfigDiagnostic(location: SourceLocation(file: path, line: 1, column: 1), message: "cannot read file: No such file or directory")
        ])
    }

    @Test(
        "targets: URLs and host:port",
        arguments: [
            ("http://127.0.0.1:8080/health", ProbeTarget.Scheme.http, "127.0.0.1", 8080, "/health"),
            ("https://shop.example.com/cart?x=1#top", .https, "shop.example.com", 443, "/cart?x=1"),
            ("HTTP://Example.com", .http, "Example.com", 80, "/"),
            ("http://[::1]:9000/", .http, "::1", 9000, "/"),
            ("app.internal:3000", .http, "app.internal", 3000, "/"),
            ("[::1]:3000", .http, "::1", 3000, "/"),
            ("https://h:8443?q", .https, "h", 8443, "/?q"),
        ])
    func targets(text: String, scheme: ProbeTarget.Scheme, host: String, port: Int, path: String) throws {
        let target = try DoctorPlanner.parseTarget(text)
        #expect(target.scheme == scheme)
        #expect(target.host == host)
        #expect(target.port == port)
        #expect(target.path == path)
    }

    @Test("the Host header leaves out the default port; IPv6 gets brackets")
    func hostHeader() throws {
        #expect(try DoctorPlanner.parseTarget("https://a.example/").hostHeader == "a.example")
        #expect(try DoctorPlanner.parseTarget("http://a.example:8080/").hostHeader == "a.example:8080")
        #expect(try DoctorPlanner.parseTarget("[::1]:80").hostHeader == "[::1]")
        #expect(try DoctorPlanner.parseTarget("[::1]:81").hostPort == "[::1]:81")
    }

    @Test("bad targets are usage errors", arguments: ["ftp://x/", "justahost", "host:0", "host:99999", "http://user@h/", "[::1", "::1:80", "http://:80/"])
    func badTargets(text: String) {
        #expect(throws: DoctorUsageError.self) { try DoctorPlanner.parseTarget(text) }
    }

    @Test("durations: units and bare seconds")
    func durations() {
        #expect(DoctorPlanner.parseDuration("5s") == .seconds(5))
        #expect(DoctorPlanner.parseDuration("500ms") == .milliseconds(500))
        #expect(DoctorPlanner.parseDuration("1.5s") == .milliseconds(1500))
        #expect(DoctorPlanner.parseDuration("2m") == .seconds(120))
        #expect(DoctorPlanner.parseDuration("0.25") == .milliseconds(250))
        #expect(DoctorPlanner.parseDuration("0") == .zero)
        #expect(DoctorPlanner.parseDuration("fast") == nil)
        #expect(DoctorPlanner.parseDuration("-1s") == nil)
    }

    @Test("no target and no configuration, a bad timeout, --cluster without -c, an unreadable file: usage errors")
    func usageErrors() {
        #expect(throws: DoctorUsageError.self) { try DoctorPlanner.plan(DoctorArguments(target: nil), loadConfiguration: self.noConfiguration) }
        #expect(throws: DoctorUsageError.self) {
            try DoctorPlanner.plan(DoctorArguments(target: "h:80", timeout: "0s"), loadConfiguration: self.noConfiguration)
        }
        #expect(throws: DoctorUsageError.self) {
            try DoctorPlanner.plan(DoctorArguments(target: "h:80", cluster: "app"), loadConfiguration: self.noConfiguration)
        }
        #expect(throws: DoctorUsageError.self) {
            try DoctorPlanner.plan(DoctorArguments(target: nil, configPath: "missing.yaml"), loadConfiguration: self.noConfiguration)
        }
        #expect(throws: DoctorUsageError.self) {
            try DoctorPlanner.plan(DoctorArguments(target: "h:80", caFile: "/nonexistent/ca.pem"), loadConfiguration: self.noConfiguration)
        }
    }

    @Test("a URL with -c takes the limits of the cluster that lists it, or of --cluster")
    func clusterForURL() throws {
        let configuration = GatehouseConfiguration(
            listeners: [Listener(name: "public", address: HostPort(host: "127.0.0.1", port: 0))],
            clusters: [
                Cluster(name: "web", servers: [.init(address: HostPort(host: "10.0.0.1", port: 80))]),
                Cluster(
                    name: "api", servers: [.init(address: HostPort(host: "10.0.0.2", port: 8080))],
                    timeouts: Cluster.Timeouts(responseHeader: .seconds(3)), pool: Cluster.Pool(idleTimeout: .seconds(4))),
            ],
            routes: [])
        let load: (String) throws(ConfigurationError) -> GatehouseConfiguration = { _ in configuration }
        let matched = try DoctorPlanner.plan(DoctorArguments(target: "http://10.0.0.2:8080/", configPath: "x.yaml"), loadConfiguration: load)
        #expect(matched.probes.first?.limits.source == .cluster("api"))
        #expect(matched.probes.first?.limits.timeouts.responseHeader == .seconds(3))
        #expect(matched.probes.first?.limits.poolIdleTimeout == .seconds(4))
        let named = try DoctorPlanner.plan(DoctorArguments(target: "10.0.0.9:80", configPath: "x.yaml", cluster: "web"), loadConfiguration: load)
        #expect(named.probes.first?.limits.source == .cluster("web"))
        #expect(throws: DoctorUsageError.self) {
            try DoctorPlanner.plan(DoctorArguments(target: "10.0.0.9:80", configPath: "x.yaml"), loadConfiguration: load)
        }
        #expect(throws: DoctorUsageError.self) {
            try DoctorPlanner.plan(DoctorArguments(target: nil, configPath: "x.yaml", cluster: "nope"), loadConfiguration: load)
        }
        let all = try DoctorPlanner.plan(DoctorArguments(target: nil, configPath: "x.yaml", path: "/healthz"), loadConfiguration: load)
        #expect(all.probes.map(\.server) == ["web/10.0.0.1:80", "api/10.0.0.2:8080"])
        #expect(all.probes.allSatisfy { $0.path == "/healthz" })
        #expect(all.target == "x.yaml")
    }
}
