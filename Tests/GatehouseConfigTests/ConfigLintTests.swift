import GatehouseConfig
import Testing

/// `gatehouse check`'s lints: one test per lint, each with a configuration (built in code: the lints are
/// pure) that triggers it and one that does not; then the locations, read from YAML.
@Suite struct ConfigLintTests {
    static func server(_ address: String) -> Cluster.Server {
        let parts = address.split(separator: ":")
        return Cluster.Server(address: HostPort(host: String(parts[0]), port: Int(parts[1]) ?? 80))
    }

    /// A cluster that no lint flags: one server by IP, defaults, a pool idle timeout below 5 s.
    static func quiet(_ name: String = "app", servers: [String] = ["127.0.0.1:3000"]) -> Cluster {
        Cluster(name: name, servers: servers.map(Self.server), pool: Cluster.Pool(idleTimeout: .seconds(4)))
    }

    static func configuration(_ clusters: [Cluster], routes: [Route]? = nil) -> GatehouseConfiguration {
        GatehouseConfiguration(
            listeners: [Listener(name: "public", address: HostPort(host: "127.0.0.1", port: 8080))], clusters: clusters,
            routes: routes ?? clusters.map { Route(name: "to-\($0.name)", match: Route.Match(host: "\($0.name).test"), cluster: $0.name) })
    }

    static func rules(_ cluster: Cluster) -> [ConfigLint.Rule] {
        ConfigLints.check(Self.configuration([cluster])).map(\.rule)
    }

    @Test func theQuietClusterIsQuiet() {
        #expect(Self.rules(Self.quiet()).isEmpty)
    }

    @Test func noHealth() {
        var cluster = Self.quiet(servers: ["127.0.0.1:3000", "127.0.0.1:3001"])
        #expect(Self.rules(cluster) == [.noHealth])
        cluster.outlierDetection = Cluster.OutlierDetection()
        #expect(Self.rules(cluster).isEmpty)
        cluster.outlierDetection = nil
        cluster.healthCheck = Cluster.HealthCheck()
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func singleServerEjection() {
        var cluster = Self.quiet()
        cluster.outlierDetection = Cluster.OutlierDetection(maxEjectionPercent: 100)
        cluster.panicThreshold = 0
        #expect(Self.rules(cluster) == [.singleServerEjection])
        // At 50 % one server is never ejected; with panic mode on, an ejected lone server still gets traffic.
        cluster.outlierDetection = Cluster.OutlierDetection(maxEjectionPercent: 50)
        #expect(Self.rules(cluster).isEmpty)
        cluster.outlierDetection = Cluster.OutlierDetection(maxEjectionPercent: 100)
        cluster.panicThreshold = 50
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func nonIdempotentRetries() {
        var cluster = Self.quiet()
        cluster.retries.idempotentMethods = ["GET", "POST", "PATCH"]
        let lints = ConfigLints.check(Self.configuration([cluster]))
        #expect(lints.map(\.rule) == [.nonIdempotentRetries])
        #expect(lints.first?.reason.contains("PATCH, POST") == true)
        // Only connect failures retried: nothing was sent, the method list does not matter.
        cluster.retries.conditions = [.connectFailure]
        #expect(Self.rules(cluster).isEmpty)
        cluster.retries.conditions = [.reset]
        cluster.retries.attempts = 1
        #expect(Self.rules(cluster).isEmpty)
        cluster.retries.attempts = 3
        cluster.retries.idempotentMethods = ["GET", "PUT"]
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func noRetryBudget() {
        var cluster = Self.quiet()
        cluster.retries.budgetPercent = 0
        cluster.retries.minRetriesPerSecond = 0
        let lints = ConfigLints.check(Self.configuration([cluster]))
        #expect(lints.map(\.rule) == [.noRetryBudget])
        #expect(lints.first?.reason.contains("every retry is refused") == true)
        cluster.retries.minRetriesPerSecond = 1
        #expect(Self.rules(cluster).isEmpty)
        cluster.retries.minRetriesPerSecond = 0
        cluster.retries.attempts = 1
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func largeRetryBudget() {
        var cluster = Self.quiet()
        cluster.retries.budgetPercent = 51
        #expect(Self.rules(cluster) == [.largeRetryBudget])
        cluster.retries.budgetPercent = 50
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func dnsServersAreNotedAndAStaleRefreshWarned() {
        var cluster = Self.quiet(servers: ["app.internal:3000", "[::1]:3001"].map { $0 })
        cluster.servers[1] = Cluster.Server(address: HostPort(host: "::1", port: 3001))
        cluster.outlierDetection = Cluster.OutlierDetection()
        let lints = ConfigLints.check(Self.configuration([cluster]))
        #expect(lints.map(\.rule) == [.dnsServers])
        #expect(lints.first?.severity == .note)
        #expect(lints.first?.description == "<configuration>:1:1: note: cluster 'app': app.internal:3000 is resolved again every 30s (dns_refresh); each address is balanced, checked and ejected alone")
        cluster.dnsRefresh = .seconds(301)
        #expect(Self.rules(cluster) == [.staleDNS])
        cluster.servers = [Self.server("10.0.0.1:3000")]
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func responseHeaderBeyondRequest() {
        var cluster = Self.quiet()
        cluster.timeouts = Cluster.Timeouts(responseHeader: .seconds(30), idle: .seconds(60), request: .seconds(10))
        #expect(Self.rules(cluster) == [.responseHeaderBeyondRequest])
        cluster.timeouts.request = .seconds(30)
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func slowConnect() {
        var cluster = Self.quiet()
        cluster.timeouts.connect = .seconds(11)
        #expect(Self.rules(cluster) == [.slowConnect])
        cluster.timeouts.connect = .seconds(10)
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func idleBeforeResponseHeader() {
        var cluster = Self.quiet()
        cluster.timeouts.idle = .seconds(10)
        #expect(Self.rules(cluster) == [.idleBeforeResponseHeader])
        cluster.timeouts.idle = .seconds(30)
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func keepAliveRaceIsANoteFromFiveSeconds() {
        var cluster = Self.quiet()
        cluster.pool.idleTimeout = .seconds(5)
        let lints = ConfigLints.check(Self.configuration([cluster]))
        #expect(lints.map(\.rule) == [.keepAliveRace])
        #expect(lints.first?.severity == .note)
        #expect(lints.first?.reason.contains("Node 5s, gunicorn 2s, uvicorn 5s, Apache 5s; nginx 75s") == true)
        cluster.pool.maxIdlePerServer = 0  // no pool, no race
        #expect(Self.rules(cluster).isEmpty)
        cluster.pool = Cluster.Pool(idleTimeout: .milliseconds(4999))
        #expect(Self.rules(cluster).isEmpty)
    }

    @Test func shadowedRoute() {
        let clusters = [Self.quiet()]
        func rules(_ matches: [Route.Match]) -> [ConfigLint.Rule] {
            let routes = matches.enumerated().map { Route(name: "r\($0.offset)", match: $0.element, cluster: "app") }
            return ConfigLints.check(Self.configuration(clusters, routes: routes)).map(\.rule)
        }
        #expect(rules([Route.Match(pathPrefix: "/"), Route.Match(host: "a.test", pathPrefix: "/api/")]) == [.shadowedRoute])
        #expect(rules([Route.Match(pathPrefix: "/api"), Route.Match(pathPrefix: "/api/v2")]) == [.shadowedRoute])
        #expect(rules([Route.Match(host: "*.test"), Route.Match(host: "a.b.test", pathPrefix: "/x")]) == [.shadowedRoute])
        #expect(rules([Route.Match(host: "*.test"), Route.Match(host: "*.b.test")]) == [.shadowedRoute])
        // Narrower first is the right order; a host route does not shadow a host-less one.
        #expect(rules([Route.Match(pathPrefix: "/api/"), Route.Match(pathPrefix: "/")]).isEmpty)
        #expect(rules([Route.Match(host: "a.test"), Route.Match(pathPrefix: "/")]).isEmpty)
        #expect(rules([Route.Match(host: "*.test"), Route.Match(host: "test")]).isEmpty)
        #expect(rules([Route.Match(pathPrefix: "/api/v2"), Route.Match(pathPrefix: "/api")]).isEmpty)
    }

    @Test func unusedCluster() {
        let used = Self.quiet("app")
        let unused = Self.quiet("old")
        let routes = [Route(name: "all", match: Route.Match(), cluster: "app")]
        #expect(ConfigLints.check(Self.configuration([used, unused], routes: routes)).map(\.rule) == [.unusedCluster])
        #expect(ConfigLints.check(Self.configuration([used], routes: routes)).isEmpty)
    }

    @Test func connectionsBelowIdlePool() {
        var cluster = Self.quiet(servers: ["127.0.0.1:3000", "127.0.0.1:3001"])
        cluster.outlierDetection = Cluster.OutlierDetection()
        cluster.pool.maxIdlePerServer = 64
        cluster.limits.maxConnections = 127
        #expect(Self.rules(cluster) == [.connectionsBelowIdlePool])
        cluster.limits.maxConnections = 128
        #expect(Self.rules(cluster).isEmpty)
        cluster.limits.maxConnections = 0  // unlimited
        #expect(Self.rules(cluster).isEmpty)
    }

    // MARK: - Locations, from YAML

    static func lint(_ yaml: String) throws -> [String] {
        let (configuration, locations) = try ConfigurationLoader.parseWithLocations(yaml: yaml, file: "g.yaml")
        return ConfigLints.check(configuration, locations).map(\.description)
    }

    @Test func findingsPointAtTheKeyThatCausesThem() throws {
        let yaml = """
            listeners:
              - name: public
                address: 127.0.0.1:8080
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000
                  - address: 127.0.0.1:3001
                timeouts:
                  connect: 30s
                pool: { idle_timeout: 2s }
              old:
                servers:
                  - address: 127.0.0.1:4000
                pool: { idle_timeout: 2s }
            routes:
              - match: { path_prefix: / }
                cluster: app
              - name: api
                match: { path_prefix: /api/ }
                cluster: app
            """
        #expect(
            try Self.lint(yaml) == [
                "g.yaml:5:3: warning: cluster 'app' has 2 servers but neither health_check nor outlier_detection: a dead server keeps getting its share of requests (502/504) until someone notices. Fix: add outlier_detection (passive, needs nothing from the servers) and/or a health_check",
                "g.yaml:10:7: warning: in cluster 'app', connect is 30s: a server that is down or unreachable holds every request that long before the 504 connection_timeout (and before a retry on another server). Fix: keep connect at a few seconds (the default is 2s); a healthy connect takes milliseconds",
                "g.yaml:12:3: warning: cluster 'old' is not used by any route: it is health-checked and resolved, but serves nothing. Fix: add a route to it, or remove it",
                "g.yaml:19:5: warning: route 'api' can never match: route 'routes[0]' (at g.yaml:17:5) comes first and matches every request it would. Fix: move route 'api' above route 'routes[0]', or remove it",
            ])
    }

    @Test func aDefaultIsReportedAtTheNearestKeyWritten() throws {
        let yaml = """
            listeners:
              - name: public
                address: 127.0.0.1:8080
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000
                timeouts:
                  request: 10s
                pool: { idle_timeout: 2s }
            routes:
              - cluster: app
            """
        // response_header is the default (30s): the finding points at `request`, the key that was written.
        let lints = try Self.lint(yaml)
        #expect(lints.count == 1)
        #expect(lints.first?.hasPrefix("g.yaml:9:7: warning: in cluster 'app', response_header (30s) is longer than request (10s)") == true)
    }

    @Test func loadWithLintsOfTheExampleHasNoWarnings() throws {
        let path = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let (_, findings) = try ConfigurationLoader.loadWithLints(path: "/" + path + "/examples/gatehouse.yaml")
        #expect(findings.filter { $0.severity == .warning }.map(\.description) == [])
    }
}
