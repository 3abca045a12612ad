import GatehouseConfig
import Testing

/// `routes[].rate_limit` and `client_timeouts`: defaults, every key, and the diagnostics.
@Suite struct EdgeLimitsConfigTests {
    @Test func clientTimeoutsDefaultToTheDocumentedValues() throws {
        let timeouts = try #require(parseValid(minimalConfig)).clientTimeouts
        #expect(timeouts == ClientTimeouts(header: .seconds(10), keepAlive: .seconds(75), bodyMinRate: 512, bodyRateWindow: .seconds(10)))
    }

    @Test func everyClientTimeoutKeyIsRead() throws {
        let yaml = minimalConfig + "\nclient_timeouts: { header: 5s, keep_alive: 30s, body_min_rate: 1KiB, body_rate_window: 20s }"
        let timeouts = try #require(parseValid(yaml)).clientTimeouts
        #expect(timeouts == ClientTimeouts(header: .seconds(5), keepAlive: .seconds(30), bodyMinRate: 1024, bodyRateWindow: .seconds(20)))
    }

    @Test func rateLimitIsReadWithItsDefaults() throws {
        let route = try #require(parseValid(minimalConfig + "\n    rate_limit: { rate: 100/s }")?.routes.first)
        let limit = try #require(route.rateLimit)
        #expect(limit == RateLimit(requests: 100, period: .seconds(1), burst: 100, key: .clientAddress, maxKeys: 100_000))
        #expect(limit.intervalNanoseconds == 10_000_000)
        #expect(try #require(parseValid(minimalConfig)?.routes.first).rateLimit == nil)
    }

    @Test func rateLimitByHeaderPerMinute() throws {
        let yaml = minimalConfig + "\n    rate_limit: { rate: 600/m, burst: 20, key: { header: X-API-Key }, max_keys: 5000 }"
        let limit = try #require(parseValid(yaml)?.routes.first?.rateLimit)
        #expect(limit == RateLimit(requests: 600, period: .seconds(60), burst: 20, key: .header("x-api-key"), maxKeys: 5000))
        #expect(limit.intervalNanoseconds == 100_000_000)
        #expect(limit.rateText == "600/m")
    }

    @Test(arguments: [
        (
            "\n    rate_limit: { rate: 100/s, burst: 0 }",
            ["g.yaml:10:39: burst 0 would refuse every request: the bucket holds no token (use at least 1)"]
        ),
        (
            "\n    rate_limit: { rate: 100/h }",
            ["g.yaml:10:25: expected requests per second or per minute for 'rate', like 100/s or 600/m, got '100/h'"]
        ),
        (
            "\n    rate_limit: { rate: 0/s }",
            ["g.yaml:10:25: 'rate' must allow between 1 and 1000000 requests per second, got 0"]
        ),
        ("\n    rate_limit: { burst: 5 }", ["g.yaml:10:17: 'rate_limit' needs 'rate'"]),
        (
            "\n    rate_limit: { rate: 1/s, key: client_ip }",
            ["g.yaml:10:35: expected client_address or {header: NAME} for key, got 'client_ip'"]
        ),
        (
            "\n    rate_limit: { rate: 1/s, key: { header: 'x api' } }",
            ["g.yaml:10:45: 'header' must be a header name (letters, digits and !#$%&'*+-.^_`|~), got 'x api'"]
        ),
        ("\n    rate_limit: { rate: 1/s, brust: 2 }", ["g.yaml:10:30: unknown key 'brust'; did you mean 'burst'?"]),
        ("\n    ratelimit: { rate: 1/s }", ["g.yaml:10:5: unknown key 'ratelimit'; did you mean 'rate_limit'?"]),
        ("\nclient_timeouts: { header: 0s }", ["g.yaml:10:28: 'header' must be greater than 0"]),
        (
            "\nclient_timeouts: { keepalive: 10s }",
            ["g.yaml:10:20: unknown key 'keepalive'; did you mean 'keep_alive'?"]
        ),
    ])
    func mistakesAreDiagnosed(_ appendix: String, _ expected: [String]) {
        #expect(diagnostics(minimalConfig + appendix) == expected)
    }

    @Test func aChangedRateLimitOrClientTimeoutIsADiff() throws {
        let before = try #require(parseValid(minimalConfig))
        let after = try #require(
            parseValid(minimalConfig + "\n    rate_limit: { rate: 10/s }\nclient_timeouts: { header: 5s }"))
        #expect(ConfigurationDiff.changes(before, after) == ["route routes[0] changed", "client_timeouts changed"])
    }

    @Test func lintsOfTheClientDefences() throws {
        var configuration = ConfigLintTests.configuration([ConfigLintTests.quiet()])
        #expect(ConfigLints.check(configuration).isEmpty)
        configuration.clientTimeouts.header = .seconds(120)
        #expect(ConfigLints.check(configuration).map(\.rule) == [.longHeaderTimeout])
        configuration.clientTimeouts.header = .seconds(10)
        // Behind a balancer (trusted_proxies), a keep-alive shorter than its idle timeout races it.
        configuration.trustedProxies = [AddressRange(network: [10, 0, 0, 0], prefixLength: 8)]
        #expect(ConfigLints.check(configuration).isEmpty)
        configuration.clientTimeouts.keepAlive = .seconds(30)
        #expect(ConfigLints.check(configuration).map(\.rule) == [.keepAliveBelowBalancerIdle])
        configuration.trustedProxies = []
        #expect(ConfigLints.check(configuration).isEmpty)
        configuration.routes[0].rateLimit = RateLimit(requests: 50, burst: 1)
        #expect(ConfigLints.check(configuration).map(\.rule) == [.rateLimitWithoutBurst])
        configuration.routes[0].rateLimit = RateLimit(requests: 50, burst: 10)
        #expect(ConfigLints.check(configuration).isEmpty)
        configuration.routes[0].rateLimit = RateLimit(requests: 1, burst: 1)
        #expect(ConfigLints.check(configuration).isEmpty)
    }
}
