import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A span as the collector received it: the OTLP fields the tests check.
struct ReceivedSpan: Sendable, CustomStringConvertible {
    /// OTLP `SpanKind`: 2 server, 3 client.
    static let server = 2
    static let client = 3

    var traceID = ""
    var spanID = ""
    var parentSpanID = ""
    var name = ""
    var kind = 0
    var attributes: [String: String] = [:]
    /// OTLP `Status.code`: 0 unset, 1 ok, 2 error.
    var statusCode = 0
    var statusMessage = ""
    var serviceName = ""

    var description: String {
        "\(self.name) kind=\(self.kind) trace=\(self.traceID) span=\(self.spanID) parent=\(self.parentSpanID) status=\(self.statusCode) \(self.attributes)"
    }
}

/// A small OTLP/HTTP collector on 127.0.0.1:0: takes `POST /v1/traces` with an
/// `ExportTraceServiceRequest` in protobuf, keeps the spans, answers an empty (success) response.
///
/// The OTLP protobuf types are internal to swift-otel, so the request is read with the minimal
/// wire-format reader below, for the fields the tests need.
final class OTLPReceiver: Sendable {
    let channel: any Channel
    private let store: Store

    /// What arrived, shared with the connections' handlers.
    final class Store: Sendable {
        let received = Mutex<[ReceivedSpan]>([])
        let requests = Mutex<[String]>([])

        func accept(line: String, body: [UInt8]) {
            self.requests.withLock { $0.append(line) }
            let spans = (try? OTLPWire.spans(of: body)) ?? []
            self.received.withLock { $0 += spans }
        }
    }

    var port: Int { self.channel.localAddress?.port ?? 0 }
    var endpoint: String { "http://127.0.0.1:\(self.port)/v1/traces" }

    var spans: [ReceivedSpan] { self.store.received.withLock { $0 } }
    /// `METHOD path content-type` of every request received.
    var requestLines: [String] { self.store.requests.withLock { $0 } }

    private init(channel: any Channel, store: Store) {
        self.channel = channel
        self.store = store
    }

    static func start(group: any EventLoopGroup) async throws -> OTLPReceiver {
        let store = Store()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(store: store))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return OTLPReceiver(channel: channel, store: store)
    }

    func stop() async {
        try? await self.channel.close()
    }

    /// Waits (bounded) until `condition` holds for the spans received, and returns them.
    func spans(
        within timeout: Duration = .seconds(10), until condition: ([ReceivedSpan]) -> Bool
    ) async throws -> [ReceivedSpan] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let spans = self.spans
            if condition(spans) || ContinuousClock.now > deadline { return spans }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// One connection's requests, read whole, then answered.
    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let store: Store
        private var line = ""
        private var body: [UInt8] = []

        init(store: Store) {
            self.store = store
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                let line = "\(head.method.rawValue) \(head.uri) \(head.headers.first(name: "content-type") ?? "-")"
                self.line = line
                self.body = []
            case .body(var buffer):
                let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
                self.body += bytes
            case .end:
                self.store.accept(line: self.line, body: self.body)
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/x-protobuf")
                headers.add(name: "Content-Length", value: "0")
                context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}

/// Protocol-buffers wire format (https://protobuf.dev/programming-guides/encoding/), just enough of
/// OTLP's `trace_service.proto` / `trace.proto` / `common.proto` to read spans.
enum OTLPWire {
    struct Malformed: Error {}

    /// A field: its number and its value (varint, fixed, or the bytes of a length-delimited one).
    enum FieldValue {
        case varint(UInt64)
        case fixed64(UInt64)
        case fixed32(UInt32)
        case bytes(ArraySlice<UInt8>)
    }

    static func fields(_ bytes: ArraySlice<UInt8>) throws -> [(Int, FieldValue)] {
        var index = bytes.startIndex
        var fields: [(Int, FieldValue)] = []
        func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard index < bytes.endIndex, shift < 64 else { throw Malformed() }
                let byte = bytes[index]
                index += 1
                result |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, bytes.endIndex - index >= count else { throw Malformed() }
            defer { index += count }
            return bytes[index..<(index + count)]
        }
        while index < bytes.endIndex {
            let key = try varint()
            let number = Int(key >> 3)
            switch key & 7 {
            case 0: fields.append((number, .varint(try varint())))
            case 1: fields.append((number, .fixed64(try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) })))
            case 2: fields.append((number, .bytes(try take(Int(try varint())))))
            case 5: fields.append((number, .fixed32(try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) })))
            default: throw Malformed()
            }
        }
        return fields
    }

    /// ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 }
    static func spans(of body: [UInt8]) throws -> [ReceivedSpan] {
        var spans: [ReceivedSpan] = []
        for case (1, .bytes(let resourceSpans)) in try fields(body[...]) {
            // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2 }
            var serviceName = ""
            let parts = try fields(resourceSpans)
            for case (1, .bytes(let resource)) in parts {
                // Resource { repeated KeyValue attributes = 1 }
                for case (1, .bytes(let pair)) in try fields(resource) {
                    let (key, value) = try keyValue(pair)
                    if key == "service.name" { serviceName = value }
                }
            }
            for case (2, .bytes(let scopeSpans)) in parts {
                // ScopeSpans { repeated Span spans = 2 }
                for case (2, .bytes(let span)) in try fields(scopeSpans) {
                    var decoded = try self.span(span)
                    decoded.serviceName = serviceName
                    spans.append(decoded)
                }
            }
        }
        return spans
    }

    /// Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5;
    /// SpanKind kind = 6; repeated KeyValue attributes = 9; Status status = 15 }
    static func span(_ bytes: ArraySlice<UInt8>) throws -> ReceivedSpan {
        var span = ReceivedSpan()
        for field in try fields(bytes) {
            switch field {
            case (1, .bytes(let id)): span.traceID = hex(id)
            case (2, .bytes(let id)): span.spanID = hex(id)
            case (4, .bytes(let id)): span.parentSpanID = hex(id)
            case (5, .bytes(let name)): span.name = String(decoding: name, as: UTF8.self)
            case (6, .varint(let kind)): span.kind = Int(kind)
            case (9, .bytes(let pair)):
                let (key, value) = try keyValue(pair)
                span.attributes[key] = value
            case (15, .bytes(let status)):
                // Status { string message = 2; StatusCode code = 3 }
                for statusField in try fields(status) {
                    switch statusField {
                    case (2, .bytes(let message)): span.statusMessage = String(decoding: message, as: UTF8.self)
                    case (3, .varint(let code)): span.statusCode = Int(code)
                    default: break
                    }
                }
            default: break
            }
        }
        return span
    }

    /// KeyValue { string key = 1; AnyValue value = 2 }, the value as text:
    /// AnyValue { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4 }
    static func keyValue(_ bytes: ArraySlice<UInt8>) throws -> (String, String) {
        var key = ""
        var value = ""
        for field in try fields(bytes) {
            switch field {
            case (1, .bytes(let text)): key = String(decoding: text, as: UTF8.self)
            case (2, .bytes(let any)):
                for anyField in try fields(any) {
                    switch anyField {
                    case (1, .bytes(let text)): value = String(decoding: text, as: UTF8.self)
                    case (2, .varint(let flag)): value = flag == 0 ? "false" : "true"
                    case (3, .varint(let number)): value = String(Int64(bitPattern: number))
                    case (4, .fixed64(let bits)): value = String(Double(bitPattern: bits))
                    default: break
                    }
                }
            default: break
            }
        }
        return (key, value)
    }

    static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
