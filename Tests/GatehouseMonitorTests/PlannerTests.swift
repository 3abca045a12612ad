import GatehouseDoctor
import GatehouseConfig
import GatehouseMonitor
import Testing

/// The command line: URLs with shared options, or a file; the file's value syntax either way.
@Suite("monitor command line")
struct PlannerTests {
    static func plan(_ arguments: MonitorArguments) throws(MonitorUsageError) -> MonitorConfiguration {
        try MonitorPlanner.configuration(arguments) { path throws(ConfigurationError) in
            try ConfigurationLoader.parseMonitor(yaml: "targets:\n  - url: http://127.0.0.1:8080/\n", file: path)
        }
    }

    static func failure(_ arguments: MonitorArguments) -> String? {
        do {
            _ = try Self.plan(arguments)
            return nil
        } catch {
            return error.description
        }
    }

    @Test("URLs with options")
    func urls() throws {
        let configuration = try Self.plan(
            MonitorArguments(
                urls: ["http://127.0.0.1:8080/health", "https://shop.example/"], interval: "5s", retries: 3, expect: "2xx,404",
                bodyMatch: "ok", listen: "127.0.0.1:9115", webhooks: ["http://hooks.example/alert"], renotify: "1h"))
        #expect(configuration.targets.map(\.name) == ["http://127.0.0.1:8080/health", "https://shop.example/"])
        let first = try #require(configuration.targets.first)
        #expect(first.interval == .seconds(5))
        #expect(first.timeout == .seconds(5), "the timeout is capped at the interval")
        #expect(first.retries == 3)
        #expect(first.expectStatus.description == "2xx,404")
        #expect(first.expectStatus.matches(404) && !first.expectStatus.matches(302))
        #expect(first.bodyMatch == "ok")
        #expect(configuration.listen == HostPort(host: "127.0.0.1", port: 9115))
        #expect(configuration.alerts.webhooks.map(\.description) == ["http://hooks.example/alert"])
        #expect(configuration.alerts.renotify == .seconds(3600))
    }

    @Test("defaults: every 30 s, 2 retries, 200-399, no listener")
    func defaults() throws {
        let target = try #require(try Self.plan(MonitorArguments(urls: ["http://a.example"])).targets.first)
        #expect(target.interval == .seconds(30))
        #expect(target.timeout == .seconds(10))
        #expect(target.retries == 2)
        #expect(target.expectStatus == .success)
        #expect(target.url.path == "/")
    }

    @Test(arguments: [
        (MonitorArguments(), "give URLs to monitor"),
        (MonitorArguments(urls: ["ftp://a"]), "invalid URL 'ftp://a': unsupported scheme 'ftp'"),
        (MonitorArguments(urls: ["a.example:80"]), "invalid URL 'a.example:80': expected a URL starting with http:// or https://"),
        (MonitorArguments(urls: ["http://a"], interval: "30"), "invalid --interval '30': durations need a unit"),
        (MonitorArguments(urls: ["http://a"], interval: "0s"), "invalid --interval '0s': it must be greater than 0"),
        (MonitorArguments(urls: ["http://a"], retries: 0), "invalid --retries 0"),
        (MonitorArguments(urls: ["http://a"], expect: "2xx,600"), "invalid --expect '2xx,600': statuses are between 100 and 599"),
        (MonitorArguments(urls: ["http://a"], listen: "9115"), "invalid --listen '9115': missing port"),
        (MonitorArguments(urls: ["http://a", "http://a:80/"]), "http://a/ is given twice"),
        (MonitorArguments(configPath: "m.yaml", urls: ["http://a"]), "give either -c FILE or URLs, not both"),
        (MonitorArguments(configPath: "m.yaml", interval: "5s"), "--interval apply to URLs given on the command line"),
    ])
    func invalid(_ arguments: MonitorArguments, _ message: String) {
        let failure = Self.failure(arguments)
        #expect(failure?.contains(message) == true, "\(failure ?? "no error")")
    }

    @Test("a file, with --listen and --webhook on top")
    func file() throws {
        let configuration = try Self.plan(
            MonitorArguments(configPath: "m.yaml", listen: "127.0.0.1:0", webhooks: ["https://hooks.example/x"]))
        #expect(configuration.targets.map(\.name) == ["http://127.0.0.1:8080/"])
        #expect(configuration.listen?.port == 0)
        #expect(configuration.alerts.webhooks.first?.scheme == .https)
    }
}
