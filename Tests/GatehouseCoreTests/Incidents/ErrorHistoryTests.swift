import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import Testing

/// The error ring and the `/admin/errors` filter, without sockets.
@Suite("error history")
struct ErrorHistoryTests {
    static func entry(
        _ number: Int, cluster: String = "app", type: ProxyStatusError = .connectionRefused, server: String? = "10.0.0.1:80"
    ) -> GatewayErrorEntry {
        GatewayErrorEntry(
            timeMillis: 1_700_000_000_000 + Int64(number), requestID: "req-\(number)", method: "GET", route: "all",
            cluster: cluster, server: server, type: type, details: nil, status: type.statusCode)
    }

    @Test("a full ring keeps the newest entries, listed newest first")
    func ring() {
        let history = ErrorHistory(capacity: 5)
        for number in 1...12 { history.append(Self.entry(number)) }
        #expect(history.entries().map(\.requestID) == ["req-12", "req-11", "req-10", "req-9", "req-8"])
        #expect(history.entries(ErrorFilter(limit: 2)).map(\.requestID) == ["req-12", "req-11"])
    }

    @Test("restored entries come before the new ones")
    func restore() {
        let history = ErrorHistory(capacity: 4)
        history.restore((1...6).map { Self.entry($0) })
        history.append(Self.entry(7))
        #expect(history.entries().map(\.requestID) == ["req-7", "req-6", "req-5", "req-4"])
    }

    @Test("filters by cluster, type and server, then limits")
    func filters() {
        let history = ErrorHistory(capacity: 100)
        history.append(Self.entry(1, cluster: "app", type: .connectionRefused, server: "a:1"))
        history.append(Self.entry(2, cluster: "api", type: .connectionTimeout, server: "b:1"))
        history.append(Self.entry(3, cluster: "app", type: .connectionTimeout, server: "a:2"))
        history.append(Self.entry(4, cluster: "app", type: .destinationUnavailable, server: nil))
        #expect(history.entries(ErrorFilter(cluster: "app")).map(\.requestID) == ["req-4", "req-3", "req-1"])
        #expect(history.entries(ErrorFilter(type: .connectionTimeout)).map(\.requestID) == ["req-3", "req-2"])
        #expect(history.entries(ErrorFilter(cluster: "app", type: .connectionTimeout)).map(\.requestID) == ["req-3"])
        #expect(history.entries(ErrorFilter(server: "a:1")).map(\.requestID) == ["req-1"])
        #expect(history.entries(ErrorFilter(cluster: "app", limit: 1)).map(\.requestID) == ["req-4"])
        #expect(history.clusters() == ["app", "api"])
    }

    @Test("query strings: good ones parse, bad ones say what is wrong")
    func parse() throws {
        let good = try ErrorFilter.parse(query: "cluster=app&type=connection_refused&server=10.0.0.1%3A80&limit=7", maxLimit: 1000).get()
        #expect(good == ErrorFilter(cluster: "app", type: .connectionRefused, server: "10.0.0.1:80", limit: 7))
        #expect(try ErrorFilter.parse(query: "", maxLimit: 50).get() == ErrorFilter(limit: 50))

        func message(_ query: String) -> String? {
            guard case .failure(let error) = ErrorFilter.parse(query: query, maxLimit: 1000) else { return nil }
            return error.description
        }
        #expect(message("type=connection_refuse")?.contains("did you mean 'connection_refused'?") == true)
        #expect(message("type=502")?.hasPrefix("unknown Proxy-Status type '502'") == true)
        #expect(message("limit=0") == "limit must be an integer from 1 to 1000, got '0'")
        #expect(message("limit=abc") == "limit must be an integer from 1 to 1000, got 'abc'")
        #expect(message("colour=red") == "unknown parameter 'colour' (allowed: cluster, type, server, limit)")
        #expect(message("cluster=") == "parameter 'cluster' needs a value")
    }

    @Test("an entry is derived from a failed request record; a successful one gives none")
    func fromRecord() {
        var record = RequestRecord()
        record.startSeconds = 1_700_000_000
        record.startNanoseconds = 123_000_000
        record.requestID = "abc"
        record.method = "POST"
        record.path = "/private/path?token=1"
        record.status = 200
        #expect(GatewayErrorEntry(record) == nil)
        record.status = 502
        record.route = "all"
        record.cluster = "app"
        record.upstream = "10.0.0.1:80"
        record.failure = ProxyFailure(type: .connectionRefused, phase: .connect, details: "refused")
        record.connectMilliseconds = 1.5
        let entry = GatewayErrorEntry(record)
        #expect(entry?.timeMillis == 1_700_000_000_123)
        #expect(entry?.time == "2023-11-14T22:13:20.123Z")
        #expect(entry?.type == .connectionRefused)
        #expect(entry?.attempts == 1)
        let json = entry.map(IncidentJSON.error) ?? ""
        #expect(!json.contains("/private/path"), "no path in the history")
        #expect(json.contains("\"proxy_status\":\"connection_refused\""))
    }
}

/// The heavy-hitter table behind the spike hint.
@Suite("client watch")
struct ClientWatchTests {
    @Test("counts only while watching; bounded, the heavy hitters stay on top; a new watch starts empty")
    func heavyHitters() {
        let watch = ClientWatch()
        #expect(!watch.isWatching)
        watch.watch(true)
        for _ in 0..<500 { watch.count("203.0.113.7") }
        for _ in 0..<200 { watch.count("198.51.100.2") }
        for number in 0..<1000 { watch.count("192.0.2.\(number % 250)") }
        let top = watch.top(2)
        #expect(top.map(\.address) == ["203.0.113.7", "198.51.100.2"])
        #expect(top.first.map { $0.requests >= 500 } == true, "never under-counted")
        watch.watch(false)
        #expect(!watch.isWatching)
        watch.watch(true)
        #expect(watch.top(5).isEmpty)
    }
}

/// The `alerts` and `storage` sections of the file.
@Suite("alerts configuration")
struct AlertsConfigurationTests {
    static let base = """
        listeners: [{ name: web, address: 127.0.0.1:8080 }]
        clusters: { app: { servers: [{ address: 127.0.0.1:3000 }] } }
        routes: [{ match: { path_prefix: / }, cluster: app }]

        """

    @Test("defaults without the sections; every key read when given")
    func parsed() throws {
        let plain = try ConfigurationLoader.parse(yaml: Self.base, file: "g.yaml")
        #expect(plain.alerts == Alerts())
        #expect(plain.storage == nil)
        let configuration = try ConfigurationLoader.parse(
            yaml: Self.base + """
                alerts:
                  incident: { window: 30s, error_ratio: 2%, min_requests: 50, recovery: 2m, spike_factor: 8, interval: 500ms }
                  webhooks:
                    - { url: https://hooks.example/x, format: slack, timeout: 2s, retries: 5 }
                    - url: http://127.0.0.1:9000/hook
                storage: { path: /var/lib/gatehouse/gatehouse.db, retention: 3d, max_errors: 5000 }
                """, file: "g.yaml")
        #expect(
            configuration.alerts.incident
                == IncidentSettings(
                    window: .seconds(30), errorRatio: 0.02, minRequests: 50, recovery: .seconds(120), spikeFactor: 8,
                    interval: .milliseconds(500)))
        #expect(configuration.alerts.webhooks.count == 2)
        #expect(configuration.alerts.webhooks.first?.format == .slack)
        #expect(configuration.alerts.webhooks.first?.retries == 5)
        #expect(configuration.alerts.webhooks.last == Webhook(url: HTTPURL(scheme: .http, host: "127.0.0.1", port: 9000, path: "/hook")))
        #expect(configuration.storage == Storage(path: "/var/lib/gatehouse/gatehouse.db", retention: .seconds(3 * 86_400), maxErrors: 5000))
    }

    @Test("wrong values are errors at their file:line:col, unknown keys get a suggestion")
    func errors() {
        let yaml = Self.base + """
            alerts:
              incident: { error_ratio: 150%, spike_factor: 1.1, windw: 10s }
              webhooks: [{ url: ftp://x, format: teams }]
            storage: { retention: 7 }
            """
        do {
            _ = try ConfigurationLoader.parse(yaml: yaml, file: "g.yaml")
            Issue.record("accepted")
        } catch {
            let lines = error.diagnostics.map(\.description)
            #expect(lines.contains { $0.hasPrefix("g.yaml:5:") && $0.contains("must be a ratio above 0 and at most 1") }, "\(lines)")
            #expect(lines.contains { $0.contains("must be 0 (off) or at least 1.5") }, "\(lines)")
            #expect(lines.contains { $0.contains("unknown key 'windw'; did you mean 'window'?") }, "\(lines)")
            #expect(lines.contains { $0.contains("invalid URL 'ftp://x'") }, "\(lines)")
            #expect(lines.contains { $0.contains("unknown webhook format 'teams'") }, "\(lines)")
            #expect(lines.contains { $0.contains("needs 'path'") }, "\(lines)")
            #expect(lines.contains { $0.contains("durations need a unit") }, "\(lines)")
        }
    }

    @Test("lints: an insensitive ratio, a window of one tick, a short retention, no storage with webhooks")
    func lints() throws {
        let (configuration, locations) = try ConfigurationLoader.parseWithLocations(
            yaml: Self.base + """
                alerts:
                  incident: { error_ratio: 0.6, window: 1s, interval: 1s }
                  webhooks: [{ url: http://127.0.0.1:9000/ }]
                """, file: "g.yaml")
        let rules = ConfigLints.check(configuration, locations).map(\.rule)
        #expect(rules.contains(.insensitiveIncidents))
        #expect(rules.contains(.incidentWindowBelowInterval))
        #expect(rules.contains(.incidentsInMemory))
        var stored = configuration
        stored.storage = Storage(path: "/tmp/x.db", retention: .seconds(3600))
        #expect(ConfigLints.check(stored).map(\.rule).contains(.shortRetention))
        let mine: Set<ConfigLint.Rule> = [.insensitiveIncidents, .incidentWindowBelowInterval, .shortRetention, .incidentsInMemory]
        let plain = ConfigLints.check(try ConfigurationLoader.parse(yaml: Self.base, file: "g.yaml")).map(\.rule)
        #expect(!plain.contains(where: mine.contains), "the defaults lint nothing: \(plain)")
    }

    @Test("the diff names incident settings, webhooks and storage")
    func diff() throws {
        let old = try ConfigurationLoader.parse(yaml: Self.base, file: "g.yaml")
        var new = old
        new.alerts.incident.errorRatio = 0.2
        new.alerts.webhooks = [Webhook(url: HTTPURL(scheme: .https, host: "hooks.example", path: "/x"))]
        new.storage = Storage(path: "/tmp/g.db")
        #expect(
            ConfigurationDiff.changes(old, new) == [
                "alerts: incident settings changed", "alerts: webhook https://hooks.example/x added",
                "storage changed (applies at the next start)",
            ])
    }
}
