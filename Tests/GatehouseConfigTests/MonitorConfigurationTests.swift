import GatehouseConfig
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `monitor.yaml`: the same walker as the gateway's file, so the same `file:line:col` diagnostics.
@Suite struct MonitorConfigurationTests {
    static let example = """
        targets:
          - name: shop
            url: https://shop.example.com/cart?x=1
            interval: 15s
            timeout: 3s
            expect_status: [200, "3xx", "401-403"]
            body_match: Add to cart
            retries: 3
          - url: http://127.0.0.1:8080/healthz
        listen: 127.0.0.1:9115
        alerts:
          webhooks: [http://hooks.internal:9000/gatehouse, "https://alerts.example.com/hook"]
          renotify: 1h
        """

    static func diagnostics(_ yaml: String) -> [String] {
        do {
            _ = try ConfigurationLoader.parseMonitor(yaml: yaml, file: "m.yaml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func exampleParsesToItsValues() throws {
        let configuration = try ConfigurationLoader.parseMonitor(yaml: Self.example, file: "m.yaml")
        #expect(configuration.targets.count == 2)
        let shop = configuration.targets[0]
        #expect(shop.name == "shop")
        #expect(shop.url == HTTPURL(scheme: .https, host: "shop.example.com", port: 443, path: "/cart?x=1"))
        #expect(shop.interval == .seconds(15))
        #expect(shop.timeout == .seconds(3))
        #expect(shop.expectStatus.ranges == [200...200, 300...399, 401...403])
        #expect(shop.expectStatus.description == "200,3xx,401-403")
        #expect(shop.bodyMatch == "Add to cart")
        #expect(shop.retries == 3)
        let health = configuration.targets[1]
        #expect(health.name == "http://127.0.0.1:8080/healthz", "a target without a name is named by its URL")
        #expect(health.interval == .seconds(30))
        #expect(health.timeout == .seconds(10))
        #expect(health.expectStatus == .success)
        #expect(health.retries == 2)
        #expect(health.bodyMatch == nil)
        #expect(configuration.listen == HostPort(host: "127.0.0.1", port: 9115))
        #expect(configuration.alerts.webhooks.map(\.description) == [
            "http://hooks.internal:9000/gatehouse", "https://alerts.example.com/hook",
        ])
        #expect(configuration.alerts.renotify == .seconds(3600))
    }

    @Test(arguments: [
        ("", ["m.yaml:1:1: the file is empty: a monitor configuration needs 'targets'"]),
        ("listen: 127.0.0.1:9115", ["m.yaml:1:1: the monitor configuration needs 'targets'"]),
        ("targets: []", ["m.yaml:1:10: 'targets' needs at least one entry"]),
        (
            "targets:\n  - url: http://a.example/\n    intervall: 30s",
            ["m.yaml:3:5: unknown key 'intervall'; did you mean 'interval'?"]
        ),
        (
            "targets:\n  - url: http://a.example/\n    interval: 30",
            ["m.yaml:3:15: invalid duration '30' for 'interval': durations need a unit: 2s, 250ms, 5m, 1h"]
        ),
        (
            "targets:\n  - url: http://a.example/\n    expectStatus: 200",
            ["m.yaml:3:5: unknown key 'expectStatus'; did you mean 'expect_status'?"]
        ),
        (
            "targets:\n  - url: http://a.example/\n    expect_status: [200, 2xy, 700]",
            [
                "m.yaml:3:26: invalid status for 'expect_status': expected a status (200), a class (2xx) or a range (200-399), got '2xy'",
                "m.yaml:3:31: invalid status for 'expect_status': statuses are between 100 and 599, got '700'",
            ]
        ),
        (
            "targets:\n  - url: shop.example.com/cart",
            ["m.yaml:2:10: invalid URL 'shop.example.com/cart' for 'url': expected a URL starting with http:// or https://"]
        ),
        (
            "targets:\n  - url: http://a.example:99999/",
            ["m.yaml:2:10: invalid URL 'http://a.example:99999/' for 'url': port must be between 1 and 65535, got 99999"]
        ),
        ("targets:\n  - name: x", ["m.yaml:2:5: targets[0] needs 'url'"]),
        (
            "targets:\n  - url: http://a.example/\n    retries: 0",
            ["m.yaml:3:14: 'retries' must be between 1 and 100, got 0"]
        ),
        (
            "targets:\n  - name: a\n    url: http://a.example/\n  - name: a\n    url: http://b.example/",
            ["m.yaml:4:11: duplicate target name 'a' (first given at m.yaml:2:11)"]
        ),
        (
            "targets:\n  - url: http://a.example/\n  - url: http://a.example:80",
            [
                "m.yaml:3:10: duplicate target name 'http://a.example/' (first given at m.yaml:2:10); give each target its own 'name'"
            ]
        ),
        (
            "targets:\n  - url: http://a.example/\nlisten: 9115",
            ["m.yaml:3:9: invalid address '9115': missing port (expected host:port, e.g. 127.0.0.1:8080)"]
        ),
        (
            "targets:\n  - url: http://a.example/\nalerts:\n  webhook: [http://h/]\n  renotify: soon",
            [
                "m.yaml:4:3: unknown key 'webhook'; did you mean 'webhooks'?",
                "m.yaml:5:13: invalid duration 'soon' for 'renotify': expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s",
            ]
        ),
        (
            "targets:\n  - url: http://a.example/\nalerts:\n  webhooks: [ftp://h/]",
            ["m.yaml:4:14: invalid URL 'ftp://h/' for webhooks[0]: unsupported scheme 'ftp': expected http:// or https://"]
        ),
        (
            "targets:\n  - url: http://a.example/\nlisten_on: 127.0.0.1:9115\nalert: {}",
            ["m.yaml:3:1: unknown key 'listen_on'", "m.yaml:4:1: unknown key 'alert'; did you mean 'alerts'?"]
        ),
    ])
    func badFiles(yaml: String, expected: [String]) {
        #expect(Self.diagnostics(yaml) == expected)
    }

    @Test(arguments: [
        ("http://a.example", "http://a.example/"),
        ("HTTP://a.example:80/x?y#frag", "http://a.example/x?y"),
        ("https://[::1]:8443/health", "https://[::1]:8443/health"),
        ("https://[::1]/", "https://[::1]/"),
        ("http://10.0.0.3:8080?q=1", "http://10.0.0.3:8080/?q=1"),
    ])
    func urls(text: String, normalized: String) throws {
        #expect(try HTTPURL(parsing: text).description == normalized)
    }

    @Test(arguments: ["http://", "http://user@a/", "http://a b/", "http://[::1/", "gopher://a/", "http://-a-/"])
    func invalidURLs(text: String) {
        #expect(throws: InvalidValue.self) { try HTTPURL(parsing: text) }
    }

    @Test("examples/monitor.yaml, the README's example, is valid")
    func shippedExample() throws {
        let root = String(#filePath.split(separator: "/Tests/").dropLast().joined(separator: "/Tests/"))
        let configuration = try ConfigurationLoader.loadMonitor(path: root + "/examples/monitor.yaml")
        #expect(configuration.targets.map(\.name) == ["shop", "http://127.0.0.1:8080/healthz"])
        #expect(configuration.alerts.renotify == .seconds(3600))
    }

    @Test func loadsAFileAndNamesItInDiagnostics() throws {
        let path = "/tmp/gatehouse-monitor-test-\(getpid()).yaml"
        let text = "targets:\n  - url: http://a.example/\n    timeout: 0s\n"
        let file = fopen(path, "w")
        fputs(text, file)
        fclose(file)
        defer { unlink(path) }
        #expect(throws: ConfigurationError.self) { try ConfigurationLoader.loadMonitor(path: path) }
        do {
            _ = try ConfigurationLoader.loadMonitor(path: path)
        } catch {
            #expect(error.diagnostics.map(\.description) == ["\(path):3:14: 'timeout' must be greater than 0"])
        }
        do {
            _ = try ConfigurationLoader.loadMonitor(path: "/nonexistent/monitor.yaml")
        } catch {
            #expect(error.diagnostics.map(\.description) == ["/nonexistent/monitor.yaml:1:1: cannot read file: No such file or directory"])
        }
    }
}
