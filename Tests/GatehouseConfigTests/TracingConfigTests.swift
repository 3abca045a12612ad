import GatehouseConfig
import Testing

/// The top-level `tracing` section (#7): off when absent, every key read, every mistake named at
/// its `file:line:column`, and a change reported by the reload diff as needing a restart.
@Suite struct TracingConfigTests {
    /// `tracing:` on line 10, `endpoint` on line 11, the line under test on line 12 (column 3).
    static func withLine(_ line: String) -> String {
        minimalConfig + "\ntracing:\n  endpoint: http://127.0.0.1:4318/v1/traces\n  " + line
    }

    @Test func absentMeansOff() throws {
        let parsed = try #require(parseValid(minimalConfig))
        #expect(parsed.tracing == nil)
    }

    @Test func everyKeyIsRead() throws {
        let yaml =
            minimalConfig + """

                tracing:
                  endpoint: https://collector.example.com:4318/otlp/v1/traces
                  protocol: http/protobuf
                  sample_ratio: 0.25
                  service_name: edge-gateway
                  timeout: 3s
                  schedule_delay: 250ms
                  max_queue_size: 100
                  headers: { authorization: "Bearer x", x-tenant: blue }
                """
        let parsed = try #require(parseValid(yaml))
        let tracing = try #require(parsed.tracing)
        #expect(
            tracing
                == TracingConfiguration(
                    endpoint: "https://collector.example.com:4318/otlp/v1/traces", exportProtocol: .httpProtobuf,
                    sampleRatio: 0.25, serviceName: "edge-gateway", timeout: .seconds(3),
                    scheduleDelay: .milliseconds(250), maxQueueSize: 100,
                    headers: [.init(name: "authorization", value: "Bearer x"), .init(name: "x-tenant", value: "blue")]))
    }

    @Test func defaultsAndABareOriginGetsTheTracesPath() throws {
        let yaml = minimalConfig + "\ntracing: { endpoint: \"http://otel:4318\" }"
        let parsed = try #require(parseValid(yaml))
        let tracing = try #require(parsed.tracing)
        #expect(tracing == TracingConfiguration(endpoint: "http://otel:4318/v1/traces"))
        #expect(tracing.exportProtocol == .httpProtobuf)
        #expect(tracing.sampleRatio == 1)
        #expect(tracing.serviceName == "gatehouse")
        let percent = try #require(parseValid(Self.withLine("sample_ratio: 10%")))
        #expect(percent.tracing?.sampleRatio == 0.1)
    }

    @Test(arguments: [
        ("sample_ratio: 1.5", ["g.yaml:12:17: 'sample_ratio' must be a ratio from 0 to 1 (0.1 traces one request in ten), got '1.5'"]),
        ("sample_ratio: often", ["g.yaml:12:17: 'sample_ratio' must be a ratio from 0 to 1 (0.1 traces one request in ten), got 'often'"]),
        ("protocol: grpc", ["g.yaml:12:13: protocol grpc is not built in; use http/protobuf with the collector's OTLP/HTTP port (4318)"]),
        (
            "protocol: http/json",
            [
                "g.yaml:12:13: protocol http/json is not supported: the exporter (swift-otel 1.6.0) writes trace ids in base64 where OTLP/JSON requires hex, so collectors refuse the spans; use http/protobuf"
            ]
        ),
        ("protocol: http/protobf", ["g.yaml:12:13: unknown protocol 'http/protobf'; did you mean 'http/protobuf'? (allowed: http/protobuf)"]),
        ("timeout: 0s", ["g.yaml:12:12: 'timeout' must be greater than 0"]),
        ("timeout: soon", ["g.yaml:12:12: invalid duration 'soon' for 'timeout': expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"]),
        ("schedule_delay: -1s", ["g.yaml:12:19: invalid duration '-1s' for 'schedule_delay': expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s"]),
        ("service_name: ''", ["g.yaml:12:17: 'service_name' must not be empty"]),
        ("max_queue_size: 0", ["g.yaml:12:19: 'max_queue_size' must be between 1 and 1000000, got 0"]),
        ("headers: { 'bad header': x }", ["g.yaml:12:14: invalid header name 'bad header' in 'headers'"]),
        ("headers: { authorization: [a, b] }", ["g.yaml:12:29: expected a string for 'authorization', got a sequence"]),
        ("headers: [authorization]", ["g.yaml:12:12: expected a mapping for 'headers', got a sequence"]),
        ("sample_rate: 0.5", ["g.yaml:12:3: unknown key 'sample_rate'; did you mean 'sample_ratio'?"]),
    ])
    func mistakesAreNamedWhereTheyAre(_ line: String, _ expected: [String]) {
        #expect(diagnostics(Self.withLine(line)) == expected)
    }

    @Test(arguments: [
        ("tracing: { protocol: http/protobuf }", ["g.yaml:10:10: tracing needs 'endpoint'"]),
        ("tracing: { endpoint: 127.0.0.1:4318 }", ["g.yaml:10:22: 'endpoint' must be an http:// or https:// URL (OTLP/HTTP), got '127.0.0.1:4318'"]),
        ("tracing: { endpoint: grpc://otel:4317 }", ["g.yaml:10:22: 'endpoint' must be an http:// or https:// URL (OTLP/HTTP), got 'grpc://otel:4317'"]),
        ("tracing: { endpoint: 'http:///v1/traces' }", ["g.yaml:10:22: 'endpoint' needs a host, as in http://127.0.0.1:4318/v1/traces, got 'http:///v1/traces'"]),
        ("tracing: on", ["g.yaml:10:10: expected a mapping for tracing, got 'on'"]),
    ])
    func sectionMistakes(_ appendix: String, _ expected: [String]) {
        #expect(diagnostics(minimalConfig + "\n" + appendix) == expected)
    }

    @Test func aChangedSectionIsAReloadChangeThatNeedsARestart() throws {
        let off = try #require(parseValid(minimalConfig))
        let on = try #require(parseValid(Self.withLine("sample_ratio: 0.5")))
        var other = on
        other.tracing?.sampleRatio = 0.1
        #expect(ConfigurationDiff.changes(off, on) == ["tracing added (takes effect at the next restart)"])
        #expect(ConfigurationDiff.changes(on, off) == ["tracing removed (takes effect at the next restart)"])
        #expect(ConfigurationDiff.changes(on, other) == ["tracing changed (takes effect at the next restart)"])
        #expect(ConfigurationDiff.changes(on, on).isEmpty)
    }
}
