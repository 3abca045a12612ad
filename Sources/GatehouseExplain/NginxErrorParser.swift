/// Parses nginx error.log lines (`YYYY/MM/DD HH:MM:SS [level] pid#tid: *conn message, client: …,
/// request: "…", upstream: "…", host: "…"`) and classifies the message (CAUSES.md §4.1).
///
/// The message and the phase after ` while ` (nginx's `c->log->action`) decide the class; the
/// fields after the message say which upstream and request it was.
enum NginxErrorParser {
    /// The fields of one error line, as ranges into the line.
    struct Fields {
        /// Milliseconds since the epoch, when the line carries its date.
        var time: Int64?
        /// The level between brackets (`error`, `crit`, `warn` …).
        var level: Range<Int>
        /// `pid#tid: *conn`, to count the several lines of one request once.
        var connection: Range<Int>?
        /// The message up to `, client: ` (or the end of the line).
        var message: Range<Int>
        /// The text after ` while ` inside the message.
        var phase: Range<Int>?
        /// The quoted `request: "GET /x HTTP/1.1"`.
        var request: Range<Int>?
        /// The quoted `upstream: "http://10.0.0.1:80/x"`.
        var upstream: Range<Int>?
        /// The quoted `host: "…"` (the Host the client sent).
        var host: Range<Int>?
    }

    /// Where the request was when it failed.
    enum Phase {
        case connecting, tlsHandshake, sending, readingHeader, readingBody, upgraded, client, none, other
    }

    /// Whether the line starts like an nginx error line at `start` (`2026/11/21 04:43:18 [`).
    static func looksLikeErrorLine(_ line: LogLine, at start: Int) -> Bool {
        line[start + 4] == UInt8(ascii: "/") && line[start + 7] == UInt8(ascii: "/")
            && line[start + 20] == UInt8(ascii: "[") && line.int(start..<start + 4) != nil
    }

    /// Splits a line into fields. `start` is where the date (or, for syslog transport, the `[level]`) begins.
    static func fields(_ line: LogLine, at start: Int, time externalTime: Int64? = nil) -> Fields? {
        var index = start
        var time = externalTime
        if line[index] != UInt8(ascii: "[") {
            guard let parsed = LogTime.slashDate(line, at: index) else { return nil }
            time = parsed
            index += 20
        }
        guard line[index] == UInt8(ascii: "["),
            let levelEnd = line.firstIndex(of: UInt8(ascii: "]"), from: index, to: index + 10)
        else { return nil }
        let level = index + 1..<levelEnd
        index = levelEnd + 2
        var connection: Range<Int>?
        // `pid#tid: ` then an optional `*conn `.
        if let colon = line.firstIndex(of: UInt8(ascii: ":"), from: index, to: index + 24),
            line[colon + 1] == UInt8(ascii: " ")
        {
            var end = colon
            index = colon + 2
            if line[index] == UInt8(ascii: "*") {
                end = line.tokenEnd(from: index)
                index = end + 1
            }
            connection = levelEnd + 2..<end
        }
        guard index < line.count else { return nil }
        let clientMarker = line.find(", client: ", from: index)
        let messageEnd = clientMarker ?? line.count
        var fields = Fields(time: time, level: level, connection: connection, message: index..<messageEnd)
        if let whileIndex = line.find(" while ", from: index, to: messageEnd) {
            fields.phase = whileIndex + 7..<messageEnd
        }
        if let clientMarker {
            fields.request = quoted(line, after: "request: \"", from: clientMarker)
            fields.upstream = quoted(line, after: "upstream: \"", from: clientMarker)
            fields.host = quoted(line, after: "host: \"", from: clientMarker)
        }
        return fields
    }

    /// The range between `marker` and the next double quote.
    static func quoted(_ line: LogLine, after marker: StaticString, from: Int) -> Range<Int>? {
        guard let found = line.find(marker, from: from) else { return nil }
        let valueStart = found + marker.utf8CodeUnitCount
        guard let close = line.firstIndex(of: UInt8(ascii: "\""), from: valueStart) else { return nil }
        return valueStart..<close
    }

    /// The phase named after ` while `.
    static func phase(_ line: LogLine, _ range: Range<Int>?) -> Phase {
        guard let range else { return .none }
        let start = range.lowerBound
        if line.matches("connecting to upstream", at: start) { return .connecting }
        if line.matches("SSL handshaking to upstream", at: start) { return .tlsHandshake }
        if line.matches("sending request", at: start) { return .sending }
        if line.matches("reading response header from upstream", at: start) { return .readingHeader }
        if line.matches("reading upstream", at: start) { return .readingBody }
        if line.matches("proxying upgraded connection", at: start) { return .upgraded }
        if line.matches("requesting certificate status", at: start) { return .other }
        // `sending to client`, `reading client request headers`, `SSL handshaking` (client side), …
        return .client
    }

    /// The errno in `failed (111: Connection refused)` or `could not be resolved (3: Host not found)`.
    static func errno(_ line: LogLine, in range: Range<Int>) -> Int? {
        var from = range.lowerBound
        while let open = line.firstIndex(of: UInt8(ascii: "("), from: from, to: range.upperBound) {
            if let colon = line.firstIndex(of: UInt8(ascii: ":"), from: open + 1, to: min(open + 6, range.upperBound)),
                let value = line.int(open + 1..<colon)
            {
                return value
            }
            from = open + 1
        }
        return nil
    }

    /// The upstream as an address: `http://10.0.0.1:80/x` → `10.0.0.1:80`, `fastcgi://unix:/run/php.sock:` →
    /// `unix:/run/php.sock`, so error lines and access lines name it the same way.
    static func upstreamAddress(_ line: LogLine, _ range: Range<Int>) -> Range<Int> {
        var start = range.lowerBound
        if let scheme = line.find("://", from: start, to: range.upperBound) { start = scheme + 3 }
        if line.matches("unix:", at: start) {
            let end = line.firstIndex(of: UInt8(ascii: ":"), from: start + 5, to: range.upperBound) ?? range.upperBound
            return start..<max(start, end)
        }
        let end = line.firstIndex(of: UInt8(ascii: "/"), from: start, to: range.upperBound) ?? range.upperBound
        return start..<max(start, end)
    }

    /// Classifies one error line.
    static func parse(_ line: LogLine, at start: Int, time: Int64? = nil) -> LogEvent? {
        guard let fields = fields(line, at: start, time: time) else { return nil }
        // Debug, info and notice lines are start-up chatter and client-side events.
        let levelStart = fields.level.lowerBound
        if line[levelStart] == UInt8(ascii: "i") || line[levelStart] == UInt8(ascii: "n")
            || line[levelStart] == UInt8(ascii: "d")
        {
            return .ignored
        }
        let message = fields.message
        let phase = phase(line, fields.phase)
        let text = { line.text() }
        if line.contains("upstream server temporarily disabled", from: message.lowerBound, to: message.upperBound) {
            return .context(.nginxServerDisabled, time: fields.time, line: text())
        }
        guard let failureClass = classify(line, message: message, phase: phase) else { return .ignored }

        var upstream = "-"
        var isFastCGI = false
        var upstreamIsSelf = false
        if let upstreamField = fields.upstream {
            isFastCGI = line.matches("fastcgi://", at: upstreamField.lowerBound)
            let address = upstreamAddress(line, upstreamField)
            upstream = line.string(address)
            isFastCGI = isFastCGI || upstream.hasPrefix("unix:")
            if let host = fields.host, host.count == address.count, line.string(host) == upstream,
                line[host.lowerBound] == UInt8(ascii: "[")
                    || (line[host.lowerBound] >= 48 && line[host.lowerBound] <= 57)
            {
                // A literal IP:port the client used to reach this proxy is also the upstream: it dials itself.
                upstreamIsSelf = true
            }
        } else if let name = resolverName(line, message: message) {
            upstream = line.string(name)
        }
        var event = FailureEvent(
            family: .nginx,
            failureClass: failureClass,
            upstream: upstream,
            status: status(of: failureClass),
            time: fields.time,
            line: text()
        )
        if let request = fields.request {
            event.isNonIdempotent = isNonIdempotent(line, at: request.lowerBound)
            event.requestHash = line.hash(request)
        }
        if let connection = fields.connection { event.connectionKey = line.hash(connection) }
        event.isFastCGI = isFastCGI
        event.upstreamIsSelf = upstreamIsSelf
        return .failure(event)
    }

    /// The status nginx answers for a class (`ngx_http_upstream_next`: timeouts 504, the rest 502; the
    /// body was already on its way for mid-body failures, so the client got a truncated 200).
    static func status(of failureClass: FailureClass) -> Int {
        switch failureClass {
        case .readTimeout, .connectTimeout, .named(.upstreamNotReadingRequest): return 504
        case .named(.upstreamClosedMidBody), .named(.upstreamResetMidBody), .named(.upstreamBodyTimeout),
            .named(.invalidChunkedEncoding):
            return 200
        case .named(.invalidStatusLine): return 9  // relayed as HTTP/0.9: the access log says `009`
        case .named(.requestRateLimited): return 503
        default: return 502
        }
    }

    /// The host name in `NAME could not be resolved (…)` / `no resolver defined to resolve NAME`.
    static func resolverName(_ line: LogLine, message: Range<Int>) -> Range<Int>? {
        if let found = line.find(" could not be resolved", from: message.lowerBound, to: message.upperBound) {
            return message.lowerBound..<found
        }
        if let found = line.find("no resolver defined to resolve ", from: message.lowerBound, to: message.upperBound) {
            let start = found + 31
            return start..<line.tokenEnd(from: start)
        }
        return nil
    }

    /// POST, PATCH and LOCK: nginx does not retry them once sent (`proxy_next_upstream`).
    static func isNonIdempotent(_ line: LogLine, at index: Int) -> Bool {
        line.matches("POST ", at: index) || line.matches("PATCH ", at: index) || line.matches("LOCK ", at: index)
    }

    /// The class of a message (CAUSES.md §4.1 table), or nil when it is not a gateway error.
    static func classify(_ line: LogLine, message m: Range<Int>, phase: Phase) -> FailureClass? {
        func has(_ needle: StaticString) -> Bool { line.contains(needle, from: m.lowerBound, to: m.upperBound) }
        // PHP's own messages relayed by nginx can contain any words: never a gateway error by themselves.
        if has("FastCGI sent in stderr") || has("upstream sent more data than specified") { return nil }
        if has("no live upstreams") { return .noLiveUpstreams }
        if has(" could not be resolved (") {
            return errno(line, in: m) == 110 || has("timed out") ? .named(.dnsTimeout) : .named(.dnsNXDomain)
        }
        if has("no resolver defined to resolve") { return .named(.noResolverConfigured) }
        if has("worker_connections are not enough") { return .workerConnectionsExhausted }
        if has("limiting requests") || has("limiting connections") { return .named(.requestRateLimited) }
        switch phase {
        case .client, .other: return nil
        case .none:
            // Upstream errors always name their phase; the exceptions are handled above.
            return nil
        case .tlsHandshake:
            return classifyTLS(line, message: m, inHandshake: true) ?? .named(.tlsToPlaintextUpstream)
        case .connecting, .sending, .readingHeader, .readingBody, .upgraded:
            break
        }
        if has("upstream timed out") || (has("(110:") && has("timed out")) {
            switch phase {
            case .connecting: return .connectTimeout
            case .sending: return .named(.upstreamNotReadingRequest)
            case .readingBody, .upgraded: return .named(.upstreamBodyTimeout)
            default: return .readTimeout
            }
        }
        if let tls = classifyTLS(line, message: m, inHandshake: false) { return tls }
        if has("upstream sent no valid HTTP/1.0 header") || has("upstream sent invalid status") {
            return .named(.invalidStatusLine)
        }
        if has("upstream sent too big header") { return .named(.responseHeaderTooLarge) }
        if has("upstream sent invalid chunked response") { return .named(.invalidChunkedEncoding) }
        if has("upstream sent invalid header") || has("upstream sent duplicate header")
            || has("invalid \"Content-Length\"")
            || has("\"Content-Length\" and \"Transfer-Encoding\"") || has("unknown \"Transfer-Encoding\"")
            || has("upstream sent unexpected FastCGI") || has("upstream sent invalid FastCGI")
        {
            return .named(.invalidResponseHeader)
        }
        // A TLS upstream that just closes shows as an EOF from SSL_read() instead of "prematurely closed".
        if has("upstream prematurely closed") || has("unexpected eof") || has("peer closed connection") {
            return phase == .readingBody
                ? .named(.upstreamClosedMidBody) : .terminatedBeforeResponse(.upstreamClosedBeforeResponse)
        }
        guard let code = errno(line, in: m) else { return nil }
        let isUnix = has("unix:")
        switch code {
        case 104:  // ECONNRESET
            return phase == .readingBody
                ? .named(.upstreamResetMidBody) : .terminatedBeforeResponse(.upstreamResetBeforeResponse)
        case 32:  // EPIPE: the upstream closed before reading the request (a reused connection, or an upload limit)
            return .terminatedBeforeResponse(.upstreamClosedBeforeResponse)
        case 111: return .named(isUnix ? .fastCGISocketMissing : .upstreamNotListening)
        case 11: return .named(.fastCGIPoolExhausted)  // EAGAIN on a unix socket: listen backlog full
        case 13: return .named(isUnix ? .fastCGISocketPermission : .gatewayMisconfigured)
        case 2: return .named(.fastCGISocketMissing)
        case 113, 101: return .named(.destinationUnroutable)
        case 99, 24, 23: return .named(.proxyResourceExhaustion)
        case 110: return .connectTimeout
        default: return phase == .connecting ? .connectFailed : nil
        }
    }

    /// TLS messages from the upstream side (`ngx_event_openssl.c`, `ngx_http_upstream.c`).
    static func classifyTLS(_ line: LogLine, message m: Range<Int>, inHandshake: Bool) -> FailureClass? {
        func has(_ needle: StaticString) -> Bool { line.contains(needle, from: m.lowerBound, to: m.upperBound) }
        if let verify = line.find("upstream SSL certificate verify error: (", from: m.lowerBound, to: m.upperBound) {
            let codeStart = verify + 40
            let codeEnd = line.firstIndex(of: UInt8(ascii: ":"), from: codeStart, to: m.upperBound) ?? codeStart
            switch line.int(codeStart..<codeEnd) {
            case 9, 10: return .named(.tlsExpiredCertificate)  // not yet valid / has expired
            default: return .named(.tlsUntrustedCertificate)
            }
        }
        if has("upstream SSL certificate does not match") { return .named(.tlsHostnameMismatch) }
        guard has("SSL") else { return nil }
        if let alert = line.find("alert number ", from: m.lowerBound, to: m.upperBound) {
            let code = line.leadingInt(at: alert + 13)
            // 112 unrecognized_name: the upstream wants SNI (`proxy_ssl_server_name on`).
            return code == 112 ? .named(.tlsHostnameMismatch) : .named(.tlsClientCertificateRequired)
        }
        // Garbage instead of a TLS record: the upstream port speaks plain HTTP (only meaningful in the handshake).
        guard inHandshake else { return nil }
        if has("wrong version number") || has("packet length too long") || has("unknown protocol")
            || has("record layer failure") || has("http request") || has("peer closed connection in SSL handshake")
            || has("unexpected eof")
        {
            return .named(.tlsToPlaintextUpstream)
        }
        return nil
    }
}
