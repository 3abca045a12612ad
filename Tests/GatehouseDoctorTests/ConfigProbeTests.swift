import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import GatehouseOrigins
import NIOPosix
import Testing

/// `gatehouse check --probe` against real loopback origins: each probe lint fires on an origin that
/// shows the problem, stays quiet on one that does not, and points at the line of the setting.
@Suite("check --probe against loopback origins", .timeLimit(.minutes(1)))
struct ConfigProbeTests {
    /// A one-cluster file with the origin as its server; `cluster` is spliced into the cluster's mapping.
    static func probe(port: Int, cluster: String = "") async throws -> (
        probes: [ServerProbe], lints: [ConfigLint], locations: ConfigLocations
    ) {
        let yaml = """
            listeners:
              - name: public
                address: 127.0.0.1:0
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:\(port)
            \(cluster.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            routes:
              - cluster: app
            """
        let (configuration, locations) = try ConfigurationLoader.parseWithLocations(yaml: yaml, file: "probe.yaml")
        let probes = await ConfigProbe.run(configuration, timeout: .seconds(5))
        return (probes, ConfigProbe.lints(probes, configuration, locations), locations)
    }

    @Test("a refused server → unreachable-server at its address, with the Proxy-Status cause")
    func unreachableServer() async throws {
        let result = try await withOrigin(.refuse) { origin in try await Self.probe(port: origin.port) }
        let lint = try #require(result.lints.first { $0.rule == .unreachableServer }, "\(result.lints)")
        #expect(lint.severity == .warning)
        #expect(lint.location == result.locations.nearest(["clusters", "app", "servers", "0", "address"]))
        #expect(lint.location.line == 7)
        #expect(lint.reason.contains("connection_refused"))
        #expect(result.probes.first?.line(limit: 32 * 1024).contains("unreachable: connection_refused") == true)
    }

    @Test("a TLS cluster is probed over https with its ca_file: valid → reachable, expired → tls_certificate_error")
    func tlsCluster() async throws {
        let pki = try await TestPKI.shared()
        for (leaf, reachable) in [(TestPKI.Leaf.valid, true), (.expired, false)] {
            let origin = try await TLSOrigin.start(certificate: pki.leaf(leaf).certificate, key: pki.leaf(leaf).key)
            let result = try await Self.probe(port: origin.port, cluster: "tls: {ca_file: \(pki.caFile)}")
            try await origin.stop()
            let lint = result.lints.first { $0.rule == .unreachableServer }
            if reachable {
                #expect(lint == nil, "\(result.lints)")
            } else {
                #expect(lint?.reason.contains("tls_certificate_error") == true, "\(result.lints)")
            }
        }
    }

    @Test("a healthy server → reachable, no lint; the health check path is what is asked for")
    func healthyServer() async throws {
        let result = try await withOrigin(.healthy(name: "a")) { origin in
            try await Self.probe(port: origin.port, cluster: "health_check: {path: /status/200}")
        }
        #expect(result.lints.isEmpty, "\(result.lints)")
        let probe = try #require(result.probes.first)
        #expect(probe.path == "/status/200")
        #expect(probe.run.status == 200)
        #expect((probe.run.headerSectionSize ?? 0) > 0)
        #expect(probe.line(limit: 32 * 1024).contains("reachable · 200 · header section"))
    }

    @Test("a 30 KiB header section with a 32 KiB limit → response-header-near-limit at the limit's line")
    func headersNearTheLimit() async throws {
        let result = try await withOrigin(.oversizedHeader(bytes: 30 * 1024)) { origin in
            try await Self.probe(port: origin.port, cluster: "limits: {max_response_header_bytes: 32KiB}")
        }
        let lint = try #require(result.lints.first { $0.rule == .responseHeaderNearLimit }, "\(result.lints)")
        #expect(lint.location == result.locations.nearest(["clusters", "app", "limits", "max_response_header_bytes"]))
        #expect(lint.location.line == 8)
        #expect(lint.reason.contains("30 KiB") && lint.reason.contains("94%"))
        #expect(!result.lints.contains { $0.rule == .unreachableServer })
    }

    @Test("a 40 KiB header section over a 32 KiB limit → the same lint, saying every response is a 502")
    func headersOverTheLimit() async throws {
        let result = try await withOrigin(.oversizedHeader(bytes: 40 * 1024)) { origin in
            try await Self.probe(port: origin.port)
        }
        let lint = try #require(result.lints.first { $0.rule == .responseHeaderNearLimit }, "\(result.lints)")
        #expect(lint.reason.contains("over limits.max_response_header_bytes"))
        #expect(lint.fix.contains("60KiB"))
        #expect(!result.lints.contains { $0.rule == .unreachableServer }, "\(result.lints)")
    }

    @Test("a 30 KiB header section with a 64 KiB limit → no header lint")
    func headersWellBelowTheLimit() async throws {
        let result = try await withOrigin(.oversizedHeader(bytes: 30 * 1024)) { origin in
            try await Self.probe(port: origin.port, cluster: "limits: {max_response_header_bytes: 64KiB}")
        }
        #expect(result.probes.first?.run.headerSectionSize == 30 * 1024)
        #expect(result.lints.isEmpty, "\(result.lints)")
    }

    @Test("Keep-Alive: timeout=5 with pool.idle_timeout 30s → advertised-keep-alive-race at idle_timeout")
    func keepAliveRace() async throws {
        let result = try await withOrigin(.keepAliveAnnounced(timeout: 5)) { origin in
            try await Self.probe(port: origin.port, cluster: "pool: {idle_timeout: 30s}")
        }
        #expect(result.probes.first?.advertisedKeepAlive == .seconds(5))
        let lint = try #require(result.lints.first { $0.rule == .advertisedKeepAliveRace }, "\(result.lints)")
        #expect(lint.severity == .warning)
        #expect(lint.location == result.locations.nearest(["clusters", "app", "pool", "idle_timeout"]))
        #expect(lint.location.line == 8)
        #expect(lint.fix.contains("below 5s (e.g. 4s)"))
    }

    @Test("Keep-Alive: timeout=5 with pool.idle_timeout 4s → no lint")
    func keepAliveBelowTheAnnouncement() async throws {
        let result = try await withOrigin(.keepAliveAnnounced(timeout: 5)) { origin in
            try await Self.probe(port: origin.port, cluster: "pool: {idle_timeout: 4s}")
        }
        #expect(result.probes.first?.advertisedKeepAlive == .seconds(5))
        #expect(result.lints.isEmpty, "\(result.lints)")
    }

    @Test("servers are probed in file order, at most a few at once, each reported")
    func severalServers() async throws {
        var origins: [LoopbackOrigin] = []
        for behavior in [LoopbackOrigin.Behavior.healthy(name: "a"), .refuse, .healthy(name: "c")] {
            origins.append(try await LoopbackOrigin.start(behavior, group: MultiThreadedEventLoopGroup.singleton))
        }
        let servers = origins.map { "{address: 127.0.0.1:\($0.port)}" }.joined(separator: ", ")
        let configuration = Result { () throws(ConfigurationError) in
            try ConfigurationLoader.parse(
                yaml: """
                    listeners: [{name: public, address: 127.0.0.1:0}]
                    clusters: {app: {servers: [\(servers)]}}
                    routes: [{cluster: app}]
                    """, file: "probe.yaml")
        }
        let probes: [ServerProbe]
        if case .success(let parsed) = configuration {
            probes = await ConfigProbe.run(parsed, timeout: .seconds(5), parallel: 2)
        } else {
            probes = []
        }
        for origin in origins { try await origin.stop() }
        let parsed = try configuration.get()
        #expect(probes.map(\.address.port) == origins.map(\.port))
        #expect(probes.map(\.run.responded) == [true, false, true])
        #expect(ConfigProbe.lints(probes, parsed).map(\.rule) == [.unreachableServer])
    }
}
