/// Distributed tracing (the top-level `tracing:` section): where spans are exported over OTLP/HTTP
/// and how many requests are traced. Absent = off; the data path then pays one nil check.
///
/// The names follow OpenTelemetry's exporter settings (`OTEL_EXPORTER_OTLP_TRACES_*`,
/// `OTEL_BSP_SCHEDULE_DELAY`), so an operator who knows one knows the other.
public struct TracingConfiguration: Sendable, Equatable {
    /// How spans are encoded on the wire. Only OTLP/HTTP with protobuf: gRPC is not built in, and
    /// swift-otel 1.6.0's `http/json` writes ids in base64 where OTLP/JSON requires hex, which
    /// collectors refuse.
    public enum ExportProtocol: String, Sendable, Equatable, CaseIterable {
        case httpProtobuf = "http/protobuf"
    }

    /// One header sent with every export request (typically a collector's credentials).
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The collector's URL that receives `POST`s of spans; `/v1/traces` when the file gives no path.
    public var endpoint: String
    public var exportProtocol: ExportProtocol
    /// Share of new traces sampled (0…1). Parent-based: a request whose `traceparent` says sampled
    /// (or not) follows its caller's decision, so one trace is never half exported.
    public var sampleRatio: Double
    /// `service.name` of the exported resource.
    public var serviceName: String
    /// The limit of one export request.
    public var timeout: Duration
    /// Spans wait at most this long in the batch before they are exported.
    public var scheduleDelay: Duration
    /// Ended spans held for export at most; beyond it new spans are dropped (and counted in the log).
    public var maxQueueSize: Int
    public var headers: [Header]

    public init(
        endpoint: String, exportProtocol: ExportProtocol = .httpProtobuf, sampleRatio: Double = 1,
        serviceName: String = "gatehouse", timeout: Duration = .seconds(10), scheduleDelay: Duration = .seconds(5),
        maxQueueSize: Int = 2048, headers: [Header] = []
    ) {
        self.endpoint = endpoint
        self.exportProtocol = exportProtocol
        self.sampleRatio = sampleRatio
        self.serviceName = serviceName
        self.timeout = timeout
        self.scheduleDelay = scheduleDelay
        self.maxQueueSize = maxQueueSize
        self.headers = headers
    }
}

/// The `tracing` section while it is read.
struct TracingDraft {
    var endpoint: String?
    var tracing = TracingConfiguration(endpoint: "")

    static let fields: [Field<TracingDraft>] = [
        Field("endpoint", .url, required: true, doc: "The collector's OTLP/HTTP traces URL; a bare origin gets /v1/traces.") { $0.endpoint = Self.endpoint($1) },
        Field("protocol", .choice(TracingConfiguration.ExportProtocol.self), doc: "The OTLP encoding: http/protobuf.") { $0.tracing.exportProtocol = Self.exportProtocol($1) ?? $0.tracing.exportProtocol },
        Field("sample_ratio", .ratio(0...1), doc: "Share of new traces recorded: 0 to 1 or a percentage (default 1); a caller's sampled flag wins.") { $0.tracing.sampleRatio = Self.ratio($1) ?? $0.tracing.sampleRatio },
        Field("service_name", .nonEmptyText, doc: "service.name of the spans (default gatehouse).") { $0.tracing.serviceName = $1.nonEmptyString() ?? $0.tracing.serviceName },
        Field("timeout", .duration, doc: "Time limit of one export request (default 10s).") { $0.tracing.timeout = $1.duration() ?? $0.tracing.timeout },
        Field("schedule_delay", .duration, doc: "How long spans wait in the batch before export (default 5s).") { $0.tracing.scheduleDelay = $1.duration() ?? $0.tracing.scheduleDelay },
        Field("max_queue_size", .integer(1...1_000_000), doc: "Spans held for export; more are dropped (default 2048).") { $0.tracing.maxQueueSize = $1.int(1...1_000_000) ?? $0.tracing.maxQueueSize },
        Field("headers", .named(.text), doc: "Headers sent with every export request (collector credentials).") { $0.tracing.headers = Self.headers($1) },
    ]

    static let shape = ValueShape.mapping(Self.fields)

    static func read(_ value: Value) -> TracingConfiguration? {
        var draft = TracingDraft()
        guard value.walker.walk(value.node, subject: "tracing", fields: Self.fields, into: &draft),
            let endpoint = draft.endpoint
        else { return nil }
        draft.tracing.endpoint = endpoint
        return draft.tracing
    }

    /// An `http://` or `https://` URL with a host; a bare origin gets OTLP's `/v1/traces` path (as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` does), since a collector answers 404 on `/`.
    static func endpoint(_ value: Value) -> String? {
        guard let text = value.nonEmptyString() else { return nil }
        let scheme = text.hasPrefix("http://") ? "http://" : text.hasPrefix("https://") ? "https://" : nil
        guard let scheme else {
            value.error("\(value.subject) must be an http:// or https:// URL (OTLP/HTTP), got '\(text)'")
            return nil
        }
        let rest = text.dropFirst(scheme.count)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.isEmpty, !text.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            value.error("\(value.subject) needs a host, as in http://127.0.0.1:4318/v1/traces, got '\(text)'")
            return nil
        }
        let path = rest.dropFirst(authority.count)
        return path.isEmpty || path == "/" ? scheme + authority + "/v1/traces" : text
    }

    /// The two protocols OTLP also defines get a reason, not just "unknown".
    static func exportProtocol(_ value: Value) -> TracingConfiguration.ExportProtocol? {
        switch value.string() {
        case "http/json":
            value.error(
                "protocol http/json is not supported: the exporter (swift-otel 1.6.0) writes trace ids in base64 where OTLP/JSON requires hex, so collectors refuse the spans; use http/protobuf"
            )
            return nil
        case "grpc":
            value.error("protocol grpc is not built in; use http/protobuf with the collector's OTLP/HTTP port (4318)")
            return nil
        case .some:
            return value.choice("protocol", of: TracingConfiguration.ExportProtocol.self)
        case .none:
            return nil
        }
    }

    static func ratio(_ value: Value) -> Double? {
        value.ratio(allowingZero: true, example: "0.1 traces one request in ten")
    }

    /// Header names are tokens and values single-line text: they go on the wire as they are.
    static func headers(_ value: Value) -> [TracingConfiguration.Header] {
        guard let entries = value.namedEntries(nonEmpty: false) else { return [] }
        var headers: [TracingConfiguration.Header] = []
        for entry in entries {
            guard ValueSyntax.isHTTPToken(entry.name) else {
                value.walker.error("invalid header name '\(entry.name)' in \(value.subject)", at: entry.keyNode)
                continue
            }
            guard let text = entry.value.string() else { continue }
            guard !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) else {
                entry.value.error("the value of header '\(entry.name)' must be one line of text")
                continue
            }
            headers.append(TracingConfiguration.Header(name: entry.name, value: text))
        }
        return headers
    }
}
