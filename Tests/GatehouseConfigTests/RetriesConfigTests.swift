import GatehouseConfig
import Testing

/// The `retries:` and `limits:` keys of a cluster: every key read, the defaults, and the diagnostics.
@Suite struct RetriesConfigTests {
    static func cluster(_ block: String) -> String {
        """
        listeners:
          - name: public
            address: 127.0.0.1:8080
        clusters:
          app:
            servers:
              - address: 127.0.0.1:3000
        \(block.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n"))
        routes:
          - cluster: app
        """
    }

    @Test func defaultsWhenAbsent() throws {
        let cluster = try #require(parseValid(minimalConfig)?.clusters.first)
        #expect(cluster.retries == Cluster.Retries())
        #expect(cluster.retries.attempts == 2)
        #expect(cluster.retries.conditions == [.connectFailure, .reset])
        #expect(cluster.retries.statuses.isEmpty)
        #expect(cluster.retries.perTryTimeout == nil)
        #expect(cluster.limits.maxConnections == 0 && cluster.limits.maxPendingRequests == 0 && cluster.limits.maxRequests == 0)
    }

    @Test func everyRetriesAndLimitsKeyIsRead() throws {
        let yaml = Self.cluster(
            """
            retries:
              attempts: 3
              per_try_timeout: 300ms
              retry_on: [connect_failure, read_timeout, 502, 503]
              methods: [GET, PUT]
              backoff: { base: 10ms, max: 1s }
              budget: { percent: 25%, min_per_second: 3 }
              buffer_body: 16KiB
            limits:
              max_connections: 100
              max_pending_requests: 10
              max_requests: 50
            """)
        let cluster = try #require(parseValid(yaml)?.clusters.first)
        #expect(
            cluster.retries
                == Cluster.Retries(
                    attempts: 3, perTryTimeout: .milliseconds(300), conditions: [.connectFailure, .readTimeout], statuses: [502, 503],
                    idempotentMethods: ["GET", "PUT"], backoffBase: .milliseconds(10), backoffMax: .seconds(1), budgetPercent: 25,
                    minRetriesPerSecond: 3, bufferBodyBytes: 16_384))
        #expect(cluster.limits.maxConnections == 100)
        #expect(cluster.limits.maxPendingRequests == 10)
        #expect(cluster.limits.maxRequests == 50)
    }

    @Test func anEmptyRetryOnRetriesNothingButTheRace() throws {
        let cluster = try #require(parseValid(Self.cluster("retries: { retry_on: [] }"))?.clusters.first)
        #expect(cluster.retries.conditions.isEmpty)
        #expect(cluster.retries.statuses.isEmpty)
    }

    @Test(arguments: [
        ("retries: { attempts: 0 }", "'attempts'"),
        ("retries: { attempts: 11 }", "'attempts'"),
        ("retries: { retry_on: [404] }", "only 5xx statuses can be retried, got 404"),
        ("retries: { retry_on: [timeout] }", "timeout"),
        ("retries: { methods: [get] }", "methods are upper-case tokens like GET or PUT, got 'get'"),
        ("retries: { backoff: { base: 1s, max: 100ms } }", "retries backoff max must not be shorter than its base"),
        ("retries: { budget: { percent: 120 } }", "must be a percentage from 0 to 100"),
        ("retries: { attemps: 2 }", "did you mean 'attempts'?"),
        ("limits: { max_requests: -1 }", "'max_requests'"),
    ])
    func badValuesAreDiagnosed(_ block: String, _ expected: String) {
        let found = diagnostics(Self.cluster(block))
        #expect(found.contains { $0.contains(expected) }, "\(found)")
    }
}
