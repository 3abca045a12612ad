import GatehouseErrors
import NIOCore
import NIOHTTP1
import Tracing

/// Spans of an exchange (OpenTelemetry HTTP semantic conventions, v1.26 names): a server span from
/// the request head to the record, a client span per upstream try. Attributes are derived from the
/// record when a span ends, never written along the way, and only for spans that record (a trace
/// sampled out costs its ids and the propagated `traceparent`, nothing more).
///
/// Every entry point is reached only when ``LoopState/tracer`` is set (the exchange's span fields
/// stay nil otherwise), so tracing off costs nil checks, no allocation.
extension DownstreamHandler {
    /// The server span, as the exchange starts: a child of the caller's `traceparent` when it is
    /// valid, else the root of a new trace.
    func startServerSpan(_ exchange: Exchange, tracer: any Tracer) {
        var context = InstrumentationContext.topLevel
        if let incoming = IncomingTrace(exchange.requestHead.headers) {
            tracer.extract(incoming, into: &context, using: IncomingTrace.Extractor())
        }
        exchange.serverSpan = tracer.startSpan(exchange.requestHead.method.rawValue, context: context, ofKind: .server)
    }

    /// A client span for the try about to start on `endpoint`, child of the server span.
    func startAttemptSpan(_ exchange: Exchange, parent: any Span, endpoint: Endpoint) {
        guard let tracer = self.loop.tracer else { return }
        let span = tracer.startSpan(exchange.requestHead.method.rawValue, context: parent.context, ofKind: .client)
        exchange.attemptSpan = span
        guard span.isRecording else { return }
        let resends = exchange.record.attempts.count
        let target = Self.splitHostPort(endpoint.serverName)
        span.updateAttributes { attributes in
            attributes["http.request.method"] = exchange.requestHead.method.rawValue
            attributes["server.address"] = target.host
            if let port = target.port { attributes["server.port"] = port }
            if let ip = endpoint.address.ipAddress { attributes["network.peer.address"] = ip }
            if let port = endpoint.address.port { attributes["network.peer.port"] = port }
            attributes["gatehouse.upstream"] = endpoint.display
            if resends > 0 { attributes["http.request.resend_count"] = resends }
        }
    }

    /// Writes the try's trace context into the upstream head: `traceparent` names the client span,
    /// `tracestate` is the caller's (checked). What the client sent is replaced, never forwarded twice.
    func injectTrace(_ exchange: Exchange, span: any Span) {
        guard let tracer = self.loop.tracer, var head = exchange.upstreamHead else { return }
        // Taken out while it changes so its headers stay uniquely referenced (no copy).
        exchange.upstreamHead = nil
        head.headers.remove(name: "traceparent")
        head.headers.remove(name: "tracestate")
        tracer.inject(span.context, into: &head.headers, using: UpstreamTraceInjector())
        exchange.upstreamHead = head
    }

    /// Ends the try's client span: `error` is its Proxy-Status type (or `http_503` for a retried
    /// status), `status` what the upstream answered, if anything.
    func endAttemptSpan(_ exchange: Exchange, error: String?, status: Int?, details: String? = nil) {
        guard let span = exchange.attemptSpan else { return }
        exchange.attemptSpan = nil
        if span.isRecording {
            span.updateAttributes { attributes in
                if let status { attributes["http.response.status_code"] = status }
                if let error {
                    attributes["proxy_status.error"] = error
                    attributes["error.type"] = error
                } else if let status, status >= 400 {
                    attributes["error.type"] = String(status)
                }
                if let details { attributes["proxy_status.details"] = details }
            }
            // Client spans: any 4xx/5xx or a failure to get an answer is an error (semconv).
            if let error {
                span.setStatus(SpanStatus(code: .error, message: details.map { error + ": " + $0 } ?? error))
            } else if let status, status >= 400 {
                span.setStatus(SpanStatus(code: .error))
            }
        }
        span.end()
    }

    /// Ends the server span from the finished record.
    func endServerSpan(_ exchange: Exchange) {
        guard let span = exchange.serverSpan else { return }
        exchange.serverSpan = nil
        guard span.isRecording else {
            span.end()
            return
        }
        let record = exchange.record
        let head = exchange.requestHead
        if let route = record.route { span.operationName = record.method + " " + route }
        let peerPort = self.context?.channel.remoteAddress?.port
        span.updateAttributes { attributes in
            attributes["http.request.method"] = record.method
            let path = record.path.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            attributes["url.path"] = String(path)
            attributes["url.scheme"] = self.scheme
            if let host = record.host {
                let authority = Self.splitHostPort(host)
                attributes["server.address"] = authority.host
                if let port = authority.port { attributes["server.port"] = port }
            }
            attributes["network.peer.address"] = self.clientIP
            if let peerPort { attributes["network.peer.port"] = peerPort }
            attributes["client.address"] = self.clientIP
            attributes["network.protocol.version"] = "\(head.version.major).\(head.version.minor)"
            if let agent = head.headers.first(name: "user-agent") { attributes["user_agent.original"] = agent }
            attributes["http.response.status_code"] = record.status
            attributes["http.response.body.size"] = record.bytes
            if let route = record.route { attributes["http.route"] = route }
            attributes["gatehouse.request_id"] = record.requestID
            if let cluster = record.cluster { attributes["gatehouse.cluster"] = cluster }
            if let upstream = record.upstream { attributes["gatehouse.upstream"] = upstream }
            if let status = record.upstreamStatus { attributes["gatehouse.upstream.status_code"] = status }
            attributes["gatehouse.retries"] = max(0, record.attempts.count - 1)
            if let failure = record.failure {
                attributes["proxy_status.error"] = failure.type.token
                attributes["error.type"] = failure.type.token
                if let details = failure.details { attributes["proxy_status.details"] = details }
            } else if record.status >= 500 {
                attributes["error.type"] = String(record.status)
            }
        }
        // Server spans: only 5xx is the server's error; a 4xx is the client's (semconv).
        if record.status >= 500 {
            let message = record.failure.map { "\($0.type.token): \($0.type.summary)" } ?? "upstream answered \(record.status)"
            span.setStatus(SpanStatus(code: .error, message: message))
        }
        span.end()
    }

    /// `host:port`, `[v6]:port` or a bare host.
    static func splitHostPort(_ text: String) -> (host: String, port: Int?) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            return (host, rest.hasPrefix(":") ? Int(rest.dropFirst()) : nil)
        }
        guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else { return (text, nil) }
        return (String(text[..<colon]), Int(text[text.index(after: colon)...]))
    }
}
