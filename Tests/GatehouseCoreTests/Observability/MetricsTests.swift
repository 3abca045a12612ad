import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// `GET /metrics` on the admin listener of a real gateway: the series derived from request records,
/// the scrape-time gauges, label names and their bounds, and the text format (checked by
/// `promtool check metrics` where promtool is installed, as CI installs it).
@Suite(.serialized) struct MetricsTests {
    /// The samples of an exposition: `name{labels}` → value.
    struct Exposition {
        var text: String
        var samples: [String: Double] = [:]

        init(_ text: String) {
            self.text = text
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                    continue
                }
                self.samples[String(line[..<space])] = value
            }
        }

        /// The sum of the series named `name` whose labels include `labels`; nil when there is none.
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            let matching = self.samples.filter { key, _ in
                guard key == name || key.hasPrefix(name + "{") else { return false }
                return labels.allSatisfy { key.contains("\($0.key)=\"\($0.value)\"") }
            }
            return matching.isEmpty ? nil : matching.values.reduce(0, +)
        }

        /// Every label name the series of `name` use.
        func labelNames(_ name: String) -> Set<String> {
            var names = Set<String>()
            for key in self.samples.keys where key.hasPrefix(name + "{") {
                for pair in key.dropFirst(name.count + 1).dropLast().split(separator: ",") {
                    if let equals = pair.firstIndex(of: "=") { names.insert(String(pair[..<equals])) }
                }
            }
            return names
        }
    }

    static func scrape(_ gateway: TestGateway) async throws -> Exposition {
        let response = try await gateway.adminRequest("GET", "/metrics")
        #expect(response.status == 200)
        #expect(response.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        return Exposition(response.bodyText)
    }

    /// Cluster `app` keeps the first origin; a cluster `broken` gets the second, routed at `/broken/`.
    static func splitClusters(_ configuration: inout GatehouseConfiguration) {
        let servers = configuration.clusters[0].servers
        configuration.clusters[0].servers = [servers[0]]
        configuration.clusters.append(Cluster(name: "broken", servers: [servers[1]], timeouts: Fixtures.timeouts))
        configuration.routes = [
            Route(name: "broken", match: .init(pathPrefix: "/broken/"), cluster: "broken"),
            Route(name: "all", match: .init(), cluster: "app"),
        ]
    }

    @Test func requestsErrorsAndLatenciesAreCountedByRouteClusterAndServer() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse], timeouts: Fixtures.timeouts, admin: Fixtures.admin,
            configure: Self.splitClusters
        ) { gateway in
            let healthy = gateway.origins[0].address
            let refusing = gateway.origins[1].address
            for _ in 0..<3 { #expect(try await gateway.request(RawHTTPClient.get("/")).status == 200) }
            #expect(try await gateway.request(RawHTTPClient.get("/status/502")).status == 502)
            for _ in 0..<2 { #expect(try await gateway.request(RawHTTPClient.get("/broken/x")).status == 502) }

            let metrics = try await Self.scrape(gateway)
            #expect(metrics.value("gatehouse_requests_total", ["route": "all", "cluster": "app", "code": "2xx"]) == 3)
            #expect(metrics.value("gatehouse_requests_total", ["route": "all", "cluster": "app", "code": "5xx"]) == 1)
            #expect(metrics.value("gatehouse_requests_total", ["route": "broken", "cluster": "broken", "code": "5xx"]) == 2)
            #expect(
                metrics.value(
                    "gatehouse_gateway_errors_total",
                    ["cluster": "broken", "server": refusing, "error": "connection_refused", "code": "502"]) == 2)
            // The upstream's own 502 is not the gateway's: it is counted apart, with its status.
            #expect(metrics.value("gatehouse_gateway_errors_total", ["cluster": "app"]) == nil)
            #expect(
                metrics.value("gatehouse_upstream_5xx_responses_total", ["cluster": "app", "server": healthy, "code": "502"]) == 1)
            #expect(metrics.value("gatehouse_upstream_header_duration_seconds_count", ["cluster": "app"]) == 4)
            #expect(metrics.value("gatehouse_request_duration_seconds_count", ["route": "all"]) == 4)
            #expect(metrics.value("gatehouse_request_duration_seconds_count", ["route": "broken"]) == 2)
            let opened = try #require(metrics.value("gatehouse_upstream_connections_opened_total", ["cluster": "app"]))
            #expect(opened >= 1 && opened <= 4)
            #expect(metrics.value("gatehouse_upstream_connect_duration_seconds_count", ["cluster": "app"]) == opened)
            // Scrape-time gauges: servers in rotation, requests in flight, pooled connections.
            #expect(metrics.value("gatehouse_upstream_server_up", ["cluster": "app", "server": healthy]) == 1)
            #expect(metrics.value("gatehouse_upstream_requests_in_flight", ["cluster": "app", "server": healthy]) == 0)
            #expect(metrics.value("gatehouse_upstream_connections", ["cluster": "app", "state": "active"]) == 0)
            #expect((metrics.value("gatehouse_upstream_connections", ["cluster": "app", "state": "idle"]) ?? 0) >= 1)
            #expect(metrics.value("gatehouse_downstream_connections", ["listener": "test"]) != nil)
            #expect(metrics.value("gatehouse_config_last_reload_successful") == 1)
            // Bounded labels: names from the configuration, never paths or client addresses.
            #expect(metrics.labelNames("gatehouse_requests_total") == ["route", "cluster", "code"])
            #expect(metrics.labelNames("gatehouse_gateway_errors_total") == ["cluster", "server", "error", "code"])
            #expect(!metrics.text.contains("/status/502") && !metrics.text.contains("/broken/x"))
            #expect(metrics.text.contains("# HELP gatehouse_gateway_errors_total "))
            #expect(metrics.text.contains("# TYPE gatehouse_request_duration_seconds histogram"))
        }
    }

    @Test func retriesAreCountedPerClusterAndAgreeWithStats() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse], timeouts: Fixtures.timeouts, retries: Cluster.Retries(attempts: 2),
            admin: Fixtures.admin
        ) { gateway in
            for _ in 0..<6 { #expect(try await gateway.request(RawHTTPClient.get("/")).status == 200) }
            let metrics = try await Self.scrape(gateway)
            let stats = try await gateway.adminJSON("/stats")
            let retries = try #require(metrics.value("gatehouse_upstream_retries_total", ["cluster": "app"]))
            #expect(retries >= 1)
            #expect(Int(retries) == stats["retries"] as? Int)
            #expect(metrics.value("gatehouse_upstream_retry_budget_exhausted_total", ["cluster": "app"]) == 0)
            // Tries that a retry made good are no client's error: the SLI series stays clean.
            #expect(
                metrics.value("gatehouse_gateway_errors_total", ["server": gateway.origins[1].address]) == nil)
            #expect(metrics.value("gatehouse_requests_total", ["code": "2xx"]) == 6)
        }
    }

    @Test func healthChecksAndServerStateAreGauged() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse],
            app: { servers in
                Cluster(name: "app", servers: servers, timeouts: Fixtures.timeouts, healthCheck: Fixtures.check())
            },
            admin: Fixtures.admin
        ) { gateway in
            let healthy = gateway.origins[0].address
            let refusing = gateway.origins[1].address
            try await eventually("the refusing server is out of rotation") {
                let metrics = try await Self.scrape(gateway)
                return metrics.value("gatehouse_upstream_server_up", ["server": refusing]) == 0
                    && metrics.value("gatehouse_upstream_server_up", ["server": healthy]) == 1
            }
            let metrics = try await Self.scrape(gateway)
            #expect(
                (metrics.value("gatehouse_upstream_health_checks_total", ["server": refusing, "result": "failure"]) ?? 0) >= 1)
            #expect(
                (metrics.value("gatehouse_upstream_health_checks_total", ["server": healthy, "result": "success"]) ?? 0) >= 1)
            #expect(metrics.value("gatehouse_upstream_health_checks_total", ["server": healthy, "result": "failure"]) == nil)
        }
    }

    @Test func countsGoOnAcrossAReloadAndRemovedServersStopBeingReported() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse], timeouts: Fixtures.timeouts, admin: Fixtures.admin,
            configure: Self.splitClusters
        ) { gateway in
            for _ in 0..<2 { #expect(try await gateway.request(RawHTTPClient.get("/")).status == 200) }
            let before = try await Self.scrape(gateway)
            #expect(before.value("gatehouse_upstream_server_up", ["cluster": "broken"]) != nil)
            var configuration = gateway.proxy.snapshot.configuration
            configuration.clusters.removeAll { $0.name == "broken" }
            configuration.routes.removeAll { $0.cluster == "broken" }
            _ = try await gateway.proxy.reload(configuration)
            #expect(try await gateway.request(RawHTTPClient.get("/")).status == 200)
            let after = try await Self.scrape(gateway)
            #expect(after.value("gatehouse_requests_total", ["route": "all", "code": "2xx"]) == 3)
            #expect(after.value("gatehouse_upstream_server_up", ["cluster": "broken"]) == nil)
            #expect(after.value("gatehouse_upstream_server_up", ["cluster": "app"]) == 1)
        }
    }

    static let promtool: String? = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    @Test(.enabled(if: Self.promtool != nil, "promtool is not installed (Debian package prometheus; CI installs it)"))
    func expositionPassesPromtoolsLint() async throws {
        try await withGateway(
            [.healthy(name: "a"), .refuse], timeouts: Fixtures.timeouts, admin: Fixtures.admin,
            configure: Self.splitClusters
        ) { gateway in
            #expect(try await gateway.request(RawHTTPClient.get("/")).status == 200)
            #expect(try await gateway.request(RawHTTPClient.get("/broken/")).status == 502)
            let metrics = try await Self.scrape(gateway)
            let result = try await ExternalTool.run(
                try #require(Self.promtool), ["check", "metrics"], input: Data(metrics.text.utf8))
            let report = result.output + result.errors
            #expect(result.status == 0, "promtool check metrics: \(report)")
            #expect(report.isEmpty, "promtool check metrics: \(report)")
        }
    }
}
