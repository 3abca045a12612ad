import Foundation
import GatehouseConfig
import Testing

/// The configuration that the tests around it vary; line numbers in the tests refer to it.
let minimalConfig = """
    listeners:
      - name: public
        address: 127.0.0.1:8080
    clusters:
      app:
        servers:
          - address: 127.0.0.1:3000
    routes:
      - cluster: app
    """

/// Parses `yaml` as `g.yaml` and returns the configuration, failing the test with the diagnostics otherwise.
func parseValid(_ yaml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> GatehouseConfiguration? {
    do {
        return try ConfigurationLoader.parse(yaml: yaml, file: "g.yaml")
    } catch {
        Issue.record("unexpected diagnostics:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// The rendered diagnostics for `yaml` parsed as `g.yaml`; empty if it parsed.
func diagnostics(_ yaml: String) -> [String] {
    do {
        _ = try ConfigurationLoader.parse(yaml: yaml, file: "g.yaml")
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

@Suite struct ConfigurationLoaderTests {
    @Test func designExampleParsesToItsValues() {
        let yaml = """
            listeners:
              - name: public
                address: 0.0.0.0:8080            # host:port; [::]:8080 for IPv6
            admin:
              address: 127.0.0.1:9901            # JSON API, /metrics, dashboard
            access_log:
              path: stdout                       # stdout | off | a file path
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000      # host:port, DNS names allowed
                  - address: app-2.internal:3000
                    weight: 2
                balance: round_robin             # later: weighted_round_robin | least_request | consistent_hash | random
                timeouts:                        # safe defaults when absent; every one is a limit, none infinite
                  connect: 2s
                  response_header: 30s           # first response byte → 504 connection_read_timeout
                  idle: 60s                      # between bytes, both directions
                  request: 300s                  # whole exchange → 504 http_response_timeout
                pool:
                  max_idle_per_server: 64
                  idle_timeout: 30s
            routes:                              # first match wins
              - match: { host: shop.example.com, path_prefix: /api/ }
                cluster: app
                strip_prefix: false
              - match: { path_prefix: / }
                cluster: app
            """
        let expected = GatehouseConfiguration(
            listeners: [Listener(name: "public", address: HostPort(host: "0.0.0.0", port: 8080))],
            admin: Admin(address: HostPort(host: "127.0.0.1", port: 9901)),
            accessLog: .stdout,
            clusters: [
                Cluster(
                    name: "app",
                    servers: [
                        Cluster.Server(address: HostPort(host: "127.0.0.1", port: 3000), weight: 1),
                        Cluster.Server(address: HostPort(host: "app-2.internal", port: 3000), weight: 2),
                    ],
                    balance: .roundRobin,
                    timeouts: Cluster.Timeouts(
                        connect: .seconds(2), responseHeader: .seconds(30), idle: .seconds(60), request: .seconds(300)),
                    pool: Cluster.Pool(maxIdlePerServer: 64, idleTimeout: .seconds(30)))
            ],
            routes: [
                Route(
                    name: "routes[0]", match: Route.Match(host: "shop.example.com", pathPrefix: "/api/"), cluster: "app"
                ),
                Route(name: "routes[1]", match: Route.Match(host: nil, pathPrefix: "/"), cluster: "app"),
            ])
        #expect(parseValid(yaml) == expected)
    }

    @Test func absentKeysTakeTheirDefaults() throws {
        let configuration = try #require(parseValid(minimalConfig))
        #expect(configuration.admin == nil)
        #expect(configuration.accessLog == .stdout)
        #expect(configuration.trustedProxies.isEmpty)
        #expect(configuration.exposeDetails == false)
        #expect(configuration.gatewayName == "gatehouse")
        #expect(configuration.requestLimits == RequestLimits(maxHeaderBytes: 65536, maxBodyBytes: 0))
        let cluster = try #require(configuration.cluster(named: "app"))
        #expect(cluster.servers == [Cluster.Server(address: HostPort(host: "127.0.0.1", port: 3000), weight: 1)])
        #expect(cluster.balance == .roundRobin)
        #expect(
            cluster.timeouts
                == Cluster.Timeouts(
                    connect: .seconds(2), responseHeader: .seconds(30), idle: .seconds(60), request: .seconds(300)))
        #expect(cluster.pool == Cluster.Pool(maxIdlePerServer: 64, idleTimeout: .seconds(30)))
        #expect(cluster.limits.maxResponseHeaderBytes == 32768)
        #expect(
            configuration.routes == [
                Route(
                    name: "routes[0]", match: Route.Match(host: nil, pathPrefix: "/"), cluster: "app",
                    stripPrefix: false, rewritePrefix: nil, hostRewrite: .preserve)
            ])
    }

    @Test func everyKeyIsRead() throws {
        let yaml = """
            listeners:
              - name: public
                address: "[::]:0"
              - name: spare
                address: "[::]:0"
            admin: { address: "[::1]:9901" }
            access_log: { path: /var/log/gatehouse.log }
            clusters:
              api:
                servers:
                  - { address: "[2001:db8::1]:8443", weight: 1000 }
                timeouts: { connect: 250ms, response_header: 1m30s, idle: 5m, request: 1h }
                pool: { max_idle_per_server: 0, idle_timeout: 45s }
                limits: { max_response_header_bytes: 1MiB }
            routes:
              - name: api
                match: { host: "*.Example.COM", path_prefix: /api/ }
                cluster: api
                strip_prefix: true
                host_rewrite: upstream
              - match: { path_prefix: /old/ }
                cluster: api
                rewrite_prefix: /new/
                host_rewrite: internal.example.com:8080
            trusted_proxies: [10.0.0.0/8, 127.0.0.1, "::1", fd00::/8]
            expose_details: true
            gateway_name: edge-1.eu
            request_limits: { max_header_bytes: 16k, max_body_bytes: 10MB }
            """
        let configuration = try #require(parseValid(yaml))
        #expect(
            configuration.listeners == [
                Listener(name: "public", address: HostPort(host: "::", port: 0)),
                Listener(name: "spare", address: HostPort(host: "::", port: 0)),
            ])
        #expect(configuration.admin == Admin(address: HostPort(host: "::1", port: 9901)))
        #expect(configuration.accessLog == .file("/var/log/gatehouse.log"))
        #expect(
            configuration.clusters == [
                Cluster(
                    name: "api",
                    servers: [Cluster.Server(address: HostPort(host: "2001:db8::1", port: 8443), weight: 1000)],
                    timeouts: Cluster.Timeouts(
                        connect: .milliseconds(250), responseHeader: .seconds(90), idle: .seconds(300),
                        request: .seconds(3600)),
                    pool: Cluster.Pool(maxIdlePerServer: 0, idleTimeout: .seconds(45)),
                    limits: Cluster.Limits(maxResponseHeaderBytes: 1_048_576))
            ])
        #expect(
            configuration.routes == [
                Route(
                    name: "api", match: Route.Match(host: "*.example.com", pathPrefix: "/api/"), cluster: "api",
                    stripPrefix: true, hostRewrite: .upstream),
                Route(
                    name: "routes[1]", match: Route.Match(pathPrefix: "/old/"), cluster: "api", rewritePrefix: "/new/",
                    hostRewrite: .fixed("internal.example.com:8080")),
            ])
        #expect(
            configuration.trustedProxies == [
                AddressRange(network: [10, 0, 0, 0], prefixLength: 8),
                AddressRange(network: [127, 0, 0, 1], prefixLength: 32),
                AddressRange(network: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], prefixLength: 128),
                AddressRange(network: [0xfd] + Array(repeating: 0, count: 15), prefixLength: 8),
            ])
        #expect(configuration.exposeDetails == true)
        #expect(configuration.gatewayName == "edge-1.eu")
        #expect(configuration.requestLimits == RequestLimits(maxHeaderBytes: 16384, maxBodyBytes: 10_485_760))
    }

    @Test(arguments: [
        ("stdout", AccessLogTarget.stdout),
        ("off", .off),
        ("\"off\"", .off),
        ("logs/access.json", .file("logs/access.json")),
    ])
    func accessLogTargets(path: String, expected: AccessLogTarget) throws {
        let configuration = try #require(parseValid(minimalConfig + "\naccess_log:\n  path: \(path)"))
        #expect(configuration.accessLog == expected)
    }

    @Test(arguments: [
        ("preserve", Route.HostRewrite.preserve),
        ("upstream", .upstream),
        ("api.internal", .fixed("api.internal")),
        ("10.0.0.1:8080", .fixed("10.0.0.1:8080")),
    ])
    func hostRewrites(value: String, expected: Route.HostRewrite) throws {
        let configuration = try #require(parseValid(minimalConfig + "\n    host_rewrite: \(value)"))
        #expect(configuration.routes.first?.hostRewrite == expected)
    }

    @Test func loadReadsAFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-\(UUID()).yaml").path
        try minimalConfig.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try ConfigurationLoader.load(path: path)
        #expect(configuration.listeners.map(\.name) == ["public"])
    }

    @Test func loadReportsWhereADiagnosticIs() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gatehouse-\(UUID()).yaml").path
        try (minimalConfig + "\ngateway_nme: x").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try ConfigurationLoader.load(path: path)
            Issue.record("loaded a file with an unknown key")
        } catch {
            #expect(error.description == "\(path):10:1: unknown key 'gateway_nme'; did you mean 'gateway_name'?")
        }
    }

    @Test(arguments: [
        ("/nonexistent/gatehouse.yaml", "/nonexistent/gatehouse.yaml:1:1: cannot read file: No such file or directory"),
        ("/", "/:1:1: cannot read file: Is a directory"),
    ])
    func unreadableFile(path: String, expected: String) {
        do {
            _ = try ConfigurationLoader.load(path: path)
            Issue.record("loaded \(path)")
        } catch {
            #expect(error.diagnostics.map(\.description) == [expected])
        }
    }

    @Test func diagnosticRendering() {
        let location = GatehouseConfig.SourceLocation(file: "a.yaml", line: 3, column: 7)
        let error = ConfigDiagnostic(location: location, message: "bad", severity: .error)
        let warning = ConfigDiagnostic(location: location, message: "odd", severity: .warning)
        #expect(error.description == "a.yaml:3:7: bad")
        #expect(warning.description == "a.yaml:3:7: warning: odd")
        #expect(
            ConfigurationError(diagnostics: [error, warning]).description == "a.yaml:3:7: bad\na.yaml:3:7: warning: odd"
        )
    }
}
