import GatehouseConfig
import Logging
import NIOHTTP1
import Testing
import Tracing

@testable import GatehouseCore
@testable import GatehouseTracing

/// The W3C Trace Context checks the gateway makes before a tracer sees a header, and the sampler
/// the configuration builds: values, no sockets.
@Suite struct TraceContextTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func aValidTraceparentIsRead() throws {
        let parent = try #require(TraceParent.parse(Self.valid))
        #expect(parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(parent.parentSpanID == "00f067aa0ba902b7")
        #expect(parent.isSampled)
        #expect(parent.headerValue == Self.valid)
        let unsampled = try #require(TraceParent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
        #expect(!unsampled.isSampled)
        // Flags other than "sampled" are carried, and only bit 0 decides.
        #expect(TraceParent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02")?.isSampled == false)
    }

    @Test(arguments: [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",  // short
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // long
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // a version the tracer does not speak
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // the invalid version
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero parent id
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // delimiter
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",  // not hex
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-é",
    ])
    func malformedTraceparentsAreRefused(_ value: String) {
        #expect(TraceParent.parse(value) == nil)
    }

    @Test(arguments: [
        ("vendor=abc", true),
        ("vendor=abc,other=x y", true),
        ("vendor=abc, other=1,   third=2", true),
        ("tenant@system=v", true),
        ("a*b/c_d-e=v", true),
        ("Vendor=abc", false),  // keys are lower case
        ("vendor", false),
        ("vendor=", false),
        ("=abc", false),
        ("vendor=a,b", false),
        ("vendor=a=b", false),
        ("vendor=trailing ", false),
        ("tenant@@system=v", false),
        ("tenant@toolongsystemname=v", false),
        ("vendor=abc,,other=1", false),
        ("vendor=\u{7}", false),
        (" vendor=abc", false),
        ("vendor=abc,\tother=1", false),
    ])
    func tracestateIsChecked(_ value: String, _ valid: Bool) {
        #expect(TraceStateHeader.isValid(value) == valid)
    }

    @Test func tracestateLimits() {
        let members = (0..<33).map { "k\($0)=v" }
        #expect(TraceStateHeader.isValid(members.prefix(32).joined(separator: ",")))
        #expect(!TraceStateHeader.isValid(members.joined(separator: ",")))
        #expect(!TraceStateHeader.isValid("k=" + String(repeating: "v", count: 511)))
    }

    @Test func incomingContextNeedsExactlyOneValidTraceparent() throws {
        var headers = HTTPHeaders([("traceparent", Self.valid), ("tracestate", "a=1"), ("tracestate", "b=2")])
        let incoming = try #require(IncomingTrace(headers))
        #expect(incoming.traceparent == Self.valid)
        #expect(incoming.tracestate == "a=1,b=2")
        headers.replaceOrAdd(name: "tracestate", value: "Bad State")
        // A bad tracestate is dropped; the traceparent still counts (W3C §3.3.1.1 / §3.5).
        #expect(IncomingTrace(headers)?.tracestate == nil)
        #expect(IncomingTrace(headers)?.traceparent == Self.valid)
        headers.add(name: "traceparent", value: Self.valid)
        #expect(IncomingTrace(headers) == nil)
        #expect(IncomingTrace(HTTPHeaders()) == nil)
        #expect(IncomingTrace(HTTPHeaders([("traceparent", "garbage")])) == nil)
    }

    // MARK: - Sampling (the tracer the configuration builds; its service is never run here)

    static func tracer(ratio: Double) throws -> any Tracer {
        let configuration = TracingConfiguration(endpoint: "http://127.0.0.1:9/v1/traces", sampleRatio: ratio)
        var logger = Logger(label: "sampler-test")
        logger.logLevel = .critical
        return try TracingExporter.makeBackend(configuration, logger: logger).tracer
    }

    /// The `traceparent` an upstream would get for a request arriving with `incoming`.
    static func propagated(ratio: Double, incoming: String?) throws -> (recording: Bool, traceparent: String) {
        try Self.propagated(Self.tracer(ratio: ratio), incoming: incoming)
    }

    static func propagated(_ tracer: any Tracer, incoming: String?) -> (recording: Bool, traceparent: String) {
        var context = InstrumentationContext.topLevel
        if let incoming, let checked = IncomingTrace(HTTPHeaders([("traceparent", incoming)])) {
            tracer.extract(checked, into: &context, using: IncomingTrace.Extractor())
        }
        let server = tracer.startSpan("GET", context: context, ofKind: .server)
        let client = tracer.startSpan("GET", context: server.context, ofKind: .client)
        var headers = HTTPHeaders()
        tracer.inject(client.context, into: &headers, using: UpstreamTraceInjector())
        return (server.isRecording && client.isRecording, headers.first(name: "traceparent") ?? "")
    }

    @Test func theRatioDecidesNewTraces() throws {
        let never = try Self.propagated(ratio: 0, incoming: nil)
        #expect(!never.recording)
        // Not recorded, still propagated: the upstream's own spans stay in one (unsampled) trace.
        let parsed = try #require(TraceParent.parse(never.traceparent), "\(never.traceparent)")
        #expect(!parsed.isSampled)
        let always = try Self.propagated(ratio: 1, incoming: nil)
        #expect(always.recording)
        #expect(TraceParent.parse(always.traceparent)?.isSampled == true)
    }

    @Test func theCallersDecisionWinsOverTheRatio() throws {
        let sampledCaller = try Self.propagated(ratio: 0, incoming: Self.valid)
        #expect(sampledCaller.recording)
        #expect(sampledCaller.traceparent.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
        #expect(sampledCaller.traceparent.hasSuffix("-01"))
        let unsampledCaller = try Self.propagated(
            ratio: 1, incoming: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
        #expect(!unsampledCaller.recording)
        #expect(unsampledCaller.traceparent.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-"))
        #expect(unsampledCaller.traceparent.hasSuffix("-00"))
        // The span id is the gateway's own, not the caller's.
        #expect(!unsampledCaller.traceparent.contains("00f067aa0ba902b7"))
    }

    @Test func aRatioBetweenSamplesSomeNewTraces() throws {
        let tracer = try Self.tracer(ratio: 0.5)
        var sampled = 0
        for _ in 0..<200 where Self.propagated(tracer, incoming: nil).recording { sampled += 1 }
        // 200 fair coin flips: outside 40…160 has probability below 1e-17.
        #expect((40...160).contains(sampled))
    }
}
