import Foundation
import GatehouseConfig
import GatehouseOrigins
import GatehouseTracing
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import GatehouseCore

/// Spans of real requests through a real gateway, exported by swift-otel over OTLP/HTTP to a
/// loopback collector: parent ids across the client → gateway → upstream hops, errors, retries,
/// and sampling. The exporter batches for 50 ms here, so the tests poll (bounded) for the spans.
@Suite(.timeLimit(.minutes(1))) struct TracingTests {
    static let callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let callerSpan = "00f067aa0ba902b7"

    /// A gateway whose tracer exports to a fresh receiver; everything is stopped afterwards.
    func withTracing(
        _ behaviors: [LoopbackOrigin.Behavior], sampleRatio: Double = 1,
        retries: Cluster.Retries = Cluster.Retries(attempts: 1),
        _ body: (TestGateway, OTLPReceiver) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let receiver = try await OTLPReceiver.start(group: group)
        let tracing = TracingConfiguration(
            endpoint: receiver.endpoint, sampleRatio: sampleRatio, serviceName: "gatehouse-test", timeout: .seconds(5),
            scheduleDelay: .milliseconds(50))
        var logger = Logger(label: "tracing-test")
        logger.logLevel = .critical
        let exporter: TracingExporter
        do {
            exporter = try TracingExporter(configuration: tracing, logger: logger)
        } catch {
            await receiver.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        do {
            try await withGateway(behaviors, retries: retries, configure: { $0.tracing = tracing }, tracer: exporter.tracer) {
                gateway in try await body(gateway, receiver)
            }
        } catch {
            await exporter.shutdown()
            await receiver.stop()
            try? await group.shutdownGracefully()
            throw error
        }
        await exporter.shutdown()
        await receiver.stop()
        try? await group.shutdownGracefully()
    }

    /// The value of a header the origin's `/headers` route says it received.
    static func receivedHeader(_ name: String, in response: TestResponse) throws -> [String] {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let headers = try #require(json["headers"] as? [[String]])
        return headers.filter { $0.first?.lowercased() == name }.compactMap { $0.last }
    }

    @Test func theCallersTraceContinuesThroughTheGatewayToTheUpstream() async throws {
        try await withTracing([.healthy(name: "app")]) { gateway, receiver in
            let response = try await gateway.request(
                RawHTTPClient.get(
                    "/headers?q=1",
                    headers: [
                        "traceparent: 00-\(Self.callerTrace)-\(Self.callerSpan)-01", "tracestate: vendor=abc,other=x y",
                        "User-Agent: tracing-test/1",
                    ]))
            #expect(response.status == 200)
            let spans = try await receiver.spans { $0.count >= 2 }
            let server = try #require(spans.first { $0.kind == ReceivedSpan.server }, "\(spans)")
            let client = try #require(spans.first { $0.kind == ReceivedSpan.client }, "\(spans)")
            #expect(spans.count == 2)
            #expect(receiver.requestLines.allSatisfy { $0 == "POST /v1/traces application/x-protobuf" })

            // Client → gateway: the server span is the caller's child, in the caller's trace.
            #expect(server.traceID == Self.callerTrace)
            #expect(server.parentSpanID == Self.callerSpan)
            // Gateway → upstream: the client span is the server span's child, and the upstream is
            // told the client span is its parent.
            #expect(client.traceID == Self.callerTrace)
            #expect(client.parentSpanID == server.spanID)
            #expect(client.spanID != server.spanID)
            #expect(try Self.receivedHeader("traceparent", in: response) == ["00-\(Self.callerTrace)-\(client.spanID)-01"])
            #expect(try Self.receivedHeader("tracestate", in: response) == ["vendor=abc, other=x y"])

            #expect(server.name == "GET all")
            #expect(server.serviceName == "gatehouse-test")
            #expect(server.statusCode == 0)
            #expect(server.attributes["http.request.method"] == "GET")
            #expect(server.attributes["url.path"] == "/headers")
            #expect(server.attributes["http.route"] == "all")
            #expect(server.attributes["http.response.status_code"] == "200")
            #expect(server.attributes["server.address"] == "example.test")
            #expect(server.attributes["network.peer.address"] == "127.0.0.1")
            #expect(server.attributes["user_agent.original"] == "tracing-test/1")
            #expect(server.attributes["gatehouse.request_id"] == response.header("x-request-id"))
            #expect(server.attributes["gatehouse.upstream"] == gateway.origins[0].address)
            #expect(server.attributes["gatehouse.retries"] == "0")
            #expect(server.attributes["proxy_status.error"] == nil)

            #expect(client.name == "GET")
            #expect(client.statusCode == 0)
            #expect(client.attributes["server.address"] == "127.0.0.1")
            #expect(client.attributes["server.port"] == String(gateway.origins[0].port))
            #expect(client.attributes["http.response.status_code"] == "200")
            #expect(client.attributes["http.request.resend_count"] == nil)
        }
    }

    @Test func aRefusedUpstreamGivesErrorSpansWithTheProxyStatus() async throws {
        try await withTracing([.refuse]) { gateway, receiver in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 502)
            let spans = try await receiver.spans { $0.count >= 2 }
            let server = try #require(spans.first { $0.kind == ReceivedSpan.server }, "\(spans)")
            let client = try #require(spans.first { $0.kind == ReceivedSpan.client }, "\(spans)")
            // No caller context: a new trace, rooted at the gateway.
            #expect(server.parentSpanID == "")
            #expect(client.parentSpanID == server.spanID)
            #expect(server.statusCode == 2)
            #expect(server.statusMessage.hasPrefix("connection_refused"))
            #expect(server.attributes["proxy_status.error"] == "connection_refused")
            #expect(server.attributes["error.type"] == "connection_refused")
            #expect(server.attributes["http.response.status_code"] == "502")
            #expect(client.statusCode == 2)
            #expect(client.attributes["proxy_status.error"] == "connection_refused")
            #expect(client.attributes["http.response.status_code"] == nil)
            #expect(client.attributes["gatehouse.upstream"] == gateway.origins[0].address)
        }
    }

    @Test func aRetriedRequestHasAClientSpanPerTry() async throws {
        let retries = Cluster.Retries(attempts: 2, conditions: [], statuses: [503])
        try await withTracing([.healthy(name: "app")], retries: retries) { gateway, receiver in
            let response = try await gateway.request(RawHTTPClient.get("/status/503"))
            #expect(response.status == 503)
            let spans = try await receiver.spans { $0.count >= 3 }
            #expect(spans.count == 3)
            let server = try #require(spans.first { $0.kind == ReceivedSpan.server }, "\(spans)")
            let tries = spans.filter { $0.kind == ReceivedSpan.client }
            #expect(tries.count == 2)
            #expect(Set(tries.map(\.spanID)).count == 2)
            for span in tries {
                #expect(span.parentSpanID == server.spanID)
                #expect(span.traceID == server.traceID)
                #expect(span.attributes["http.response.status_code"] == "503")
                #expect(span.statusCode == 2)
            }
            #expect(tries.compactMap { $0.attributes["http.request.resend_count"] } == ["1"])
            #expect(server.attributes["gatehouse.retries"] == "1")
            #expect(server.attributes["http.response.status_code"] == "503")
            #expect(server.statusCode == 2)
        }
    }

    @Test func anUnsampledRequestExportsNothingButStillPropagatesItsTrace() async throws {
        try await withTracing([.healthy(name: "app")], sampleRatio: 0) { gateway, receiver in
            let unsampled = try await gateway.request(RawHTTPClient.get("/headers"))
            #expect(unsampled.status == 200)
            let propagated = try #require(try Self.receivedHeader("traceparent", in: unsampled).first)
            let parsed = try #require(TraceParent.parse(propagated), "\(propagated)")
            #expect(!parsed.isSampled)
            #expect(propagated.hasSuffix("-00"))

            // A caller that sampled wins over the ratio (parent-based). Its spans arriving also
            // fence the check below: the first request's spans would have been batched before.
            let sampled = try await gateway.request(
                RawHTTPClient.get("/headers", headers: ["traceparent: 00-\(Self.callerTrace)-\(Self.callerSpan)-01"]))
            #expect(sampled.status == 200)
            let spans = try await receiver.spans { $0.count >= 2 }
            #expect(spans.count == 2)
            #expect(spans.allSatisfy { $0.traceID == Self.callerTrace })
            #expect(!spans.contains { $0.traceID == parsed.traceID })
        }
    }

    @Test func aMalformedTraceparentStartsANewTrace() async throws {
        try await withTracing([.healthy(name: "app")]) { gateway, receiver in
            let bogus = "00-\(Self.callerTrace.uppercased())-\(Self.callerSpan)-01"
            let response = try await gateway.request(
                RawHTTPClient.get("/headers", headers: ["traceparent: \(bogus)", "tracestate: vendor=abc"]))
            #expect(response.status == 200)
            let spans = try await receiver.spans { $0.count >= 2 }
            let server = try #require(spans.first { $0.kind == ReceivedSpan.server }, "\(spans)")
            let client = try #require(spans.first { $0.kind == ReceivedSpan.client }, "\(spans)")
            #expect(server.parentSpanID == "")
            #expect(server.traceID != Self.callerTrace)
            // The client's value is replaced, never forwarded next to the gateway's; the state of a
            // trace that was not continued goes with it.
            #expect(try Self.receivedHeader("traceparent", in: response) == ["00-\(server.traceID)-\(client.spanID)-01"])
            #expect(try Self.receivedHeader("tracestate", in: response) == [])
        }
    }
}
