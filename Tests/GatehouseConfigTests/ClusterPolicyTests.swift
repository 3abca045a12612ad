import GatehouseConfig
import Testing

/// A configuration whose one cluster ends the file, so an appendix indented by four spaces adds keys
/// to cluster `app`; its lines start at 10.
let clusterConfig = """
    listeners:
      - name: public
        address: 127.0.0.1:8080
    routes:
      - cluster: app
    clusters:
      app:
        servers:
          - address: 127.0.0.1:3000
    """

/// The keys of a cluster beyond its servers, timeouts and pool, and `admin.token_file`: how each
/// is read into the model, and what each is when absent.
@Suite struct ClusterPolicyTests {
    /// Cluster `app` of `clusterConfig` with `appendix` added, failing the test on any diagnostic.
    func cluster(_ appendix: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Cluster? {
        parseValid(clusterConfig + appendix, sourceLocation: sourceLocation)?.cluster(named: "app")
    }

    @Test func absentKeysTakeTheirDefaults() throws {
        let configuration = try #require(parseValid(clusterConfig))
        let cluster = try #require(configuration.cluster(named: "app"))
        #expect(cluster.balance == .roundRobin)
        #expect(cluster.hashOn == nil)
        #expect(cluster.healthCheck == nil)
        #expect(cluster.outlierDetection == nil)
        #expect(cluster.slowStart == nil)
        #expect(cluster.panicThreshold == 50)
        #expect(cluster.dnsRefresh == .seconds(30))
        #expect(configuration.admin == nil)
    }

    @Test(arguments: [
        ("round_robin", Cluster.Balance.roundRobin),
        ("weighted_round_robin", .weightedRoundRobin),
        ("least_request", .leastRequest),
        ("random", .random),
    ])
    func balancePolicies(text: String, expected: Cluster.Balance) throws {
        let cluster = try #require(self.cluster("\n    balance: \(text)"))
        #expect(cluster.balance == expected)
        #expect(cluster.hashOn == nil)
    }

    @Test(arguments: [
        ("client_address", Cluster.HashKey.clientAddress),
        ("\"client_address\"", .clientAddress),
        ("{ header: X-User-ID }", .header("x-user-id")),
        ("\n      header: x-tenant", .header("x-tenant")),
        ("{ cookie: SessionID }", .cookie("SessionID")),
        ("\n      cookie: sid", .cookie("sid")),
    ])
    func consistentHashKeys(text: String, expected: Cluster.HashKey) throws {
        let cluster = try #require(self.cluster("\n    balance: consistent_hash\n    hash_on: \(text)"))
        #expect(cluster.balance == .consistentHash)
        #expect(cluster.hashOn == expected)
    }

    @Test func hashOnBeforeBalanceIsReadTheSame() throws {
        let cluster = try #require(self.cluster("\n    hash_on: { cookie: sid }\n    balance: consistent_hash"))
        #expect(cluster.balance == .consistentHash)
        #expect(cluster.hashOn == .cookie("sid"))
    }

    @Test func emptyHealthCheckIsAnHTTPCheckWithTheDefaults() throws {
        let cluster = try #require(self.cluster("\n    health_check: {}"))
        #expect(
            cluster.healthCheck
                == Cluster.HealthCheck(
                    kind: .http(path: "/"), interval: .seconds(5), jitter: .milliseconds(500), timeout: .seconds(2),
                    healthyThreshold: 2, unhealthyThreshold: 3, expectedStatuses: [200...399], expectedBody: nil,
                    host: nil))
    }

    @Test func everyHealthCheckKeyIsRead() throws {
        let appendix = """

                health_check:
                  type: http
                  path: /healthz?full=1
                  interval: 10s
                  jitter: 1500ms
                  timeout: 10s
                  healthy_threshold: 1
                  unhealthy_threshold: 100
                  expected_statuses: [200, "204", "300-302", 4xx]
                  expected_body: '"status":"ok"'
                  host: health.internal
            """
        let cluster = try #require(self.cluster(appendix))
        #expect(
            cluster.healthCheck
                == Cluster.HealthCheck(
                    kind: .http(path: "/healthz?full=1"), interval: .seconds(10), jitter: .milliseconds(1500),
                    timeout: .seconds(10), healthyThreshold: 1, unhealthyThreshold: 100,
                    expectedStatuses: [200...200, 204...204, 300...302, 400...499],
                    expectedBody: "\"status\":\"ok\"", host: "health.internal"))
    }

    @Test func aTCPCheckKeepsTheTimings() throws {
        let cluster = try #require(
            self.cluster("\n    health_check: { type: tcp, interval: 2s, timeout: 1s, unhealthy_threshold: 1 }"))
        #expect(
            cluster.healthCheck
                == Cluster.HealthCheck(
                    kind: .tcp, interval: .seconds(2), jitter: .milliseconds(200), timeout: .seconds(1),
                    unhealthyThreshold: 1))
    }

    @Test(arguments: [
        ("interval: 30s", Duration.seconds(3)),
        ("interval: 1m30s", .seconds(9)),
        ("interval: 250ms", .milliseconds(25)),
        ("interval: 5s, jitter: 0", .zero),
        ("interval: 5s, jitter: \"0\"", .zero),
        ("interval: 5s, jitter: 0s", .zero),
        ("interval: 5s, jitter: 0ms", .zero),
        ("interval: 5s, jitter: 0m0s", .zero),
        ("interval: 5s, jitter: 4999ms", .milliseconds(4999)),
    ])
    func jitterIsATenthOfTheIntervalUnlessGiven(keys: String, expected: Duration) throws {
        let cluster = try #require(self.cluster("\n    health_check: { \(keys), timeout: 100ms }"))
        #expect(cluster.healthCheck?.jitter == expected)
    }

    @Test func aTimeoutEqualToTheIntervalIsAllowed() throws {
        let cluster = try #require(self.cluster("\n    health_check: { interval: 2s, timeout: 2s }"))
        #expect(cluster.healthCheck?.timeout == .seconds(2))
        #expect(cluster.healthCheck?.interval == .seconds(2))
    }

    @Test(arguments: [
        ("200", [200...200]),
        ("599", [599...599]),
        ("100", [100...100]),
        ("1xx", [100...199]),
        ("5xx", [500...599]),
        ("100-599", [100...599]),
        ("200-200", [200...200]),
        ("2xx, 304", [200...299, 304...304]),
    ])
    func expectedStatuses(list: String, expected: [ClosedRange<Int>]) throws {
        let cluster = try #require(self.cluster("\n    health_check: { expected_statuses: [\(list)] }"))
        #expect(cluster.healthCheck?.expectedStatuses == expected)
        for range in expected {
            #expect(cluster.healthCheck?.accepts(status: range.lowerBound) == true)
            #expect(cluster.healthCheck?.accepts(status: range.upperBound) == true)
        }
    }

    @Test(arguments: [
        "api.example.com", "api.example.com:8443", "API.Example.com.", "10.0.0.1", "10.0.0.1:8080", "svc_a.internal",
        "\"[::1]\"", "\"[2001:db8::1]:8080\"",
    ])
    func probeHosts(host: String) throws {
        let cluster = try #require(self.cluster("\n    health_check: { host: \(host) }"))
        #expect(cluster.healthCheck?.host == host.filter { $0 != "\"" })
    }

    @Test(arguments: [
        ("{ header: \"X-Api_Key.v2\" }", Cluster.HashKey.header("x-api_key.v2")),
        ("{ header: \"x~!#$%&'*+^`|\" }", .header("x~!#$%&'*+^`|")),
        ("{ cookie: __Host-session }", .cookie("__Host-session")),
    ])
    func hashOnNamesAreTokens(text: String, expected: Cluster.HashKey) throws {
        let cluster = try #require(self.cluster("\n    balance: consistent_hash\n    hash_on: \(text)"))
        #expect(cluster.hashOn == expected)
    }

    @Test func emptyOutlierDetectionTurnsItOnWithTheDefaults() throws {
        let cluster = try #require(self.cluster("\n    outlier_detection: {}"))
        #expect(
            cluster.outlierDetection
                == Cluster.OutlierDetection(
                    consecutiveFailures: 5, countServerErrors: false, baseEjectionTime: .seconds(30),
                    maxEjectionTime: .seconds(300), maxEjectionPercent: 50))
    }

    @Test func everyOutlierDetectionKeyIsRead() throws {
        let appendix = """

                outlier_detection:
                  consecutive_failures: 1000
                  count_5xx: true
                  base_ejection_time: 10s
                  max_ejection_time: 1h
                  max_ejection_percent: 100%
            """
        let cluster = try #require(self.cluster(appendix))
        #expect(
            cluster.outlierDetection
                == Cluster.OutlierDetection(
                    consecutiveFailures: 1000, countServerErrors: true, baseEjectionTime: .seconds(10),
                    maxEjectionTime: .seconds(3600), maxEjectionPercent: 100))
    }

    @Test(arguments: [
        ("base_ejection_time: 1m, max_ejection_time: 1m", Duration.seconds(60), Duration.seconds(60)),
        ("base_ejection_time: 5m", .seconds(300), .seconds(300)),
        ("max_ejection_time: 30s", .seconds(30), .seconds(30)),
    ])
    func maxEjectionTimeMayEqualTheBase(keys: String, base: Duration, max: Duration) throws {
        let detection = try #require(self.cluster("\n    outlier_detection: { \(keys) }")?.outlierDetection)
        #expect(detection.baseEjectionTime == base)
        #expect(detection.maxEjectionTime == max)
    }

    @Test(arguments: [("0", 0), ("0%", 0), ("50", 50), ("\"33%\"", 33), ("100", 100)])
    func maxEjectionPercent(text: String, expected: Int) throws {
        let cluster = try #require(self.cluster("\n    outlier_detection: { max_ejection_percent: \(text) }"))
        #expect(cluster.outlierDetection?.maxEjectionPercent == expected)
    }

    @Test(arguments: [("0", 0), ("0%", 0), ("10", 10), ("25%", 25), ("100", 100), ("100%", 100)])
    func panicThreshold(text: String, expected: Int) throws {
        #expect(self.cluster("\n    panic_threshold: \(text)")?.panicThreshold == expected)
    }

    @Test func slowStartAndDNSRefresh() throws {
        let cluster = try #require(self.cluster("\n    slow_start: 1m30s\n    dns_refresh: 250ms"))
        #expect(cluster.slowStart == .seconds(90))
        #expect(cluster.dnsRefresh == .milliseconds(250))
    }

    @Test(arguments: [
        "127.0.0.1:9901", "127.0.0.2:9901", "127.255.255.254:9901", "localhost:9901", "LocalHost:9901",
        "\"[::1]:9901\"",
    ])
    func aLoopbackAdminNeedsNoToken(address: String) throws {
        let configuration = try #require(parseValid(clusterConfig + "\nadmin:\n  address: \(address)"))
        #expect(configuration.admin?.tokenFile == nil)
        #expect(configuration.admin?.isLoopback == true)
    }

    @Test(arguments: [
        ("0.0.0.0:9901", HostPort(host: "0.0.0.0", port: 9901)),
        ("\"[::]:9901\"", HostPort(host: "::", port: 9901)),
        ("10.1.2.3:9901", HostPort(host: "10.1.2.3", port: 9901)),
        ("admin.internal:9901", HostPort(host: "admin.internal", port: 9901)),
        ("127.0.0.1:9901", HostPort(host: "127.0.0.1", port: 9901)),
    ])
    func aTokenFileIsRead(address: String, expected: HostPort) throws {
        let configuration = try #require(
            parseValid(clusterConfig + "\nadmin:\n  address: \(address)\n  token_file: /etc/gatehouse/admin.token"))
        #expect(configuration.admin == Admin(address: expected, tokenFile: "/etc/gatehouse/admin.token"))
    }

    /// Every new key at once, over two clusters, to the exact model.
    @Test func twoClustersWithEveryPolicyKey() {
        let yaml = """
            listeners:
              - name: public
                address: 0.0.0.0:8080
            admin:
              address: 0.0.0.0:9901
              token_file: secrets/admin-token
            clusters:
              app:
                servers:
                  - address: 127.0.0.1:3000
                  - address: localhost:3001
                    weight: 2
                balance: least_request
                health_check:
                  path: /healthz
                  interval: 2s
                  timeout: 1s
                  expected_statuses: [2xx]
                outlier_detection:
                  consecutive_failures: 3
                  count_5xx: true
                  base_ejection_time: 10s
                slow_start: 30s
                panic_threshold: 25%
                dns_refresh: 10s
              carts:
                servers:
                  - address: 127.0.0.1:4000
                  - address: 127.0.0.1:4001
                balance: consistent_hash
                hash_on: { cookie: cart }
                health_check: { type: tcp, jitter: 0s }
            routes:
              - match: { path_prefix: /cart/ }
                cluster: carts
              - cluster: app
            """
        let expected = GatehouseConfiguration(
            listeners: [Listener(name: "public", address: HostPort(host: "0.0.0.0", port: 8080))],
            admin: Admin(address: HostPort(host: "0.0.0.0", port: 9901), tokenFile: "secrets/admin-token"),
            clusters: [
                Cluster(
                    name: "app",
                    servers: [
                        Cluster.Server(address: HostPort(host: "127.0.0.1", port: 3000)),
                        Cluster.Server(address: HostPort(host: "localhost", port: 3001), weight: 2),
                    ],
                    balance: .leastRequest,
                    healthCheck: Cluster.HealthCheck(
                        kind: .http(path: "/healthz"), interval: .seconds(2), jitter: .milliseconds(200),
                        timeout: .seconds(1), expectedStatuses: [200...299]),
                    outlierDetection: Cluster.OutlierDetection(
                        consecutiveFailures: 3, countServerErrors: true, baseEjectionTime: .seconds(10)),
                    slowStart: .seconds(30), panicThreshold: 25, dnsRefresh: .seconds(10)),
                Cluster(
                    name: "carts",
                    servers: [
                        Cluster.Server(address: HostPort(host: "127.0.0.1", port: 4000)),
                        Cluster.Server(address: HostPort(host: "127.0.0.1", port: 4001)),
                    ],
                    balance: .consistentHash, hashOn: .cookie("cart"),
                    healthCheck: Cluster.HealthCheck(kind: .tcp, jitter: .zero)),
            ],
            routes: [
                Route(name: "routes[0]", match: Route.Match(pathPrefix: "/cart/"), cluster: "carts"),
                Route(name: "routes[1]", match: Route.Match(), cluster: "app"),
            ])
        #expect(parseValid(yaml) == expected)
    }

    @Test("examples/gatehouse.yaml, the README's example, is valid")
    func theExampleIsValid() throws {
        let root = String(#filePath.split(separator: "/Tests/").dropLast().joined(separator: "/Tests/"))
        let configuration = try ConfigurationLoader.load(path: root + "/examples/gatehouse.yaml")
        #expect(!configuration.clusters.isEmpty)
        for cluster in configuration.clusters {
            #expect(cluster.servers.allSatisfy { ["127.0.0.1", "localhost"].contains($0.address.host) })
        }
    }
}
