/// Parses HAProxy logs: `option httplog` traffic lines (HAProxy manual §8.2.3) and the event lines
/// HAProxy writes to the same log or to stderr (`Server B/S is DOWN …`, `backend B has no server
/// available!`, `Connect() failed for backend B: …`). Any syslog prefix has been removed already.
///
/// The termination state's first two characters say who ended the session and in which phase
/// (§8.5); CAUSES.md §4.2 maps them to causes.
enum HAProxyParser {
    /// The fields of one traffic line, as ranges into the line.
    struct Traffic {
        var time: Int64?
        var frontend: Range<Int>
        var backend: Range<Int>
        var server: Range<Int>
        /// `Tc`: milliseconds to connect; -1 = never connected.
        var connectMillis: Int
        /// `Tr`: milliseconds to the response headers; -1 = none received.
        var responseMillis: Int
        /// `Ta` (`Tt` before 1.7): total active time.
        var totalMillis: Int
        /// Milliseconds before the connection was ready: `TR + Tw + Tc`, ignoring -1s.
        var setupMillis: Int
        /// The status sent to the client, -1 when none was.
        var status: Int
        /// The termination state (`SC--`, `sH--`, `----` …).
        var state: Range<Int>
        /// `feconn`: the frontend's concurrent connections.
        var frontendConnections: Int?
        /// `retries`: connection attempts HAProxy had to repeat.
        var retries: Int
        /// The quoted request line.
        var request: Range<Int>?
    }

    /// Whether the line starts like a traffic line: `client:port [dd/Mon/yyyy:`.
    static func looksLikeTraffic(_ line: LogLine, at start: Int) -> Bool {
        let clientEnd = line.tokenEnd(from: start)
        return line[clientEnd + 1] == UInt8(ascii: "[") && line[clientEnd + 4] == UInt8(ascii: "/")
            && line.firstIndex(of: UInt8(ascii: ":"), from: start, to: clientEnd) != nil
    }

    /// Whether the line is one of HAProxy's event lines (raw transport, no prefix).
    static func looksLikeEvent(_ line: LogLine, at start: Int) -> Bool {
        line.matches("Server ", at: start) || line.matches("backend ", at: start)
            || line.matches("Connect() failed for backend ", at: start)
            || line.matches("Health check for ", at: start) || line.matches("Proxy ", at: start)
    }

    /// Splits a traffic line into fields.
    static func traffic(_ line: LogLine, at start: Int) -> Traffic? {
        let clientEnd = line.tokenEnd(from: start)
        guard line[clientEnd + 1] == UInt8(ascii: "["),
            let dateEnd = line.firstIndex(of: UInt8(ascii: "]"), from: clientEnd + 2)
        else { return nil }
        let time = LogTime.clfDate(line, at: clientEnd + 2)
        var index = dateEnd + 2
        func nextToken() -> Range<Int> {
            let end = line.tokenEnd(from: index)
            defer { index = line.skipSpaces(from: end) }
            return index..<end
        }
        var frontend = nextToken()
        if frontend.count > 1, line[frontend.upperBound - 1] == UInt8(ascii: "~") {
            frontend = frontend.lowerBound..<frontend.upperBound - 1  // `~` marks an SSL frontend
        }
        let backendServer = nextToken()
        guard
            let slash = line.firstIndex(
                of: UInt8(ascii: "/"),
                from: backendServer.lowerBound,
                to: backendServer.upperBound
            )
        else { return nil }
        let timers = nextToken()
        var timerValues = (0, 0, 0, 0, 0)
        var timerCount = 0
        var fieldStart = timers.lowerBound
        for position in timers.lowerBound...timers.upperBound
        where position == timers.upperBound || line[position] == UInt8(ascii: "/") {
            guard let value = line.signedInt(fieldStart..<position) else { return nil }
            switch timerCount {
            case 0: timerValues.0 = value
            case 1: timerValues.1 = value
            case 2: timerValues.2 = value
            case 3: timerValues.3 = value
            case 4: timerValues.4 = value
            default: return nil
            }
            timerCount += 1
            fieldStart = position + 1
        }
        // `option httplog` has five timers; `tcplog` (three) has no HTTP status to explain.
        guard timerCount == 5, let status = line.signedInt(nextToken()) else { return nil }
        _ = nextToken()  // bytes read
        _ = nextToken()  // captured request cookie
        _ = nextToken()  // captured response cookie
        let state = nextToken()
        guard state.count >= 2 else { return nil }
        let connections = nextToken()
        var frontendConnections: Int?
        var retries = 0
        if let lastSlash = (connections.lowerBound..<connections.upperBound).last(where: {
            line[$0] == UInt8(ascii: "/")
        }) {
            retries = line.signedInt(lastSlash + 1..<connections.upperBound) ?? 0
        }
        if let firstSlash = line.firstIndex(
            of: UInt8(ascii: "/"),
            from: connections.lowerBound,
            to: connections.upperBound
        ),
            let secondSlash = line.firstIndex(of: UInt8(ascii: "/"), from: firstSlash + 1, to: connections.upperBound)
        {
            frontendConnections = line.int(firstSlash + 1..<secondSlash)
        }
        var request: Range<Int>?
        if let open = line.firstIndex(of: UInt8(ascii: "\""), from: index),
            let close = line.firstIndex(of: UInt8(ascii: "\""), from: open + 1)
        {
            request = open + 1..<close
        }
        let setup = max(0, timerValues.0) + max(0, timerValues.1) + max(0, timerValues.2)
        return Traffic(
            time: time,
            frontend: frontend,
            backend: backendServer.lowerBound..<slash,
            server: slash + 1..<backendServer.upperBound,
            connectMillis: timerValues.2,
            responseMillis: timerValues.3,
            totalMillis: timerValues.4,
            setupMillis: setup,
            status: status,
            state: state,
            frontendConnections: frontendConnections,
            retries: retries,
            request: request
        )
    }

    /// Classifies a traffic line (CAUSES.md §4.2).
    static func parseTraffic(_ line: LogLine, at start: Int) -> LogEvent? {
        guard let traffic = traffic(line, at: start) else { return nil }
        let first = line[traffic.state.lowerBound]
        let second = line[traffic.state.lowerBound + 1]
        let status = traffic.status
        let noServer = line.matches("<NOSRV>", at: traffic.server.lowerBound)
        let upstreamRange = noServer ? traffic.backend : traffic.backend.lowerBound..<traffic.server.upperBound
        let isGatewayStatus = status == 502 || status == 503 || status == 504
        let failureClass: FailureClass
        switch (first, second) {
        case (UInt8(ascii: "-"), _), (UInt8(ascii: "C"), _), (UInt8(ascii: "c"), _):
            // Normal end, or the client went away: the server (if any) answered.
            if first == UInt8(ascii: "-"), isGatewayStatus, !noServer {
                failureClass = .named(.upstreamReturned502)
            } else if !noServer, status > 0, status < 500 {
                return .success(upstream: line.hash(upstreamRange), retriedOnSameServer: false)
            } else {
                return .ignored
            }
        case (UInt8(ascii: "S"), UInt8(ascii: "C")):
            if noServer {
                let sameName = line.string(traffic.frontend) == line.string(traffic.backend)
                failureClass = sameName ? .named(.destinationNotConfigured) : .noServer
            } else {
                failureClass = .connectFailed
            }
        case (UInt8(ascii: "s"), UInt8(ascii: "C")): failureClass = .connectTimeout
        case (UInt8(ascii: "s"), UInt8(ascii: "Q")), (UInt8(ascii: "S"), UInt8(ascii: "Q")):
            failureClass = .named(.upstreamConnectionLimit)
        case (UInt8(ascii: "S"), UInt8(ascii: "H")):
            failureClass = .terminatedBeforeResponse(.upstreamClosedBeforeResponse)
        case (UInt8(ascii: "s"), UInt8(ascii: "H")): failureClass = .readTimeout
        case (UInt8(ascii: "S"), UInt8(ascii: "D")): failureClass = .diedMidBody
        case (UInt8(ascii: "s"), UInt8(ascii: "D")):
            // No status at all means HAProxy was still sending the request body: the server stopped reading it.
            failureClass = status == -1 ? .named(.upstreamNotReadingRequest) : .named(.upstreamBodyTimeout)
        case (UInt8(ascii: "P"), UInt8(ascii: "H")): failureClass = .invalidResponse
        case (UInt8(ascii: "P"), UInt8(ascii: "D")): failureClass = .named(.invalidChunkedEncoding)
        case (UInt8(ascii: "P"), UInt8(ascii: "C")), (UInt8(ascii: "R"), _), (UInt8(ascii: "I"), _):
            failureClass = .named(.proxyResourceExhaustion)
        case (UInt8(ascii: "D"), _): failureClass = .named(.noHealthyUpstream)
        default:
            return .ignored
        }
        var event = FailureEvent(
            family: .haproxy,
            failureClass: failureClass,
            upstream: line.string(upstreamRange),
            status: status,
            time: traffic.time,
            line: line.text()
        )
        if traffic.connectMillis >= 0, traffic.totalMillis >= 0 {
            event.durationMillis = max(0, traffic.totalMillis - traffic.setupMillis)
        }
        event.concurrency = traffic.frontendConnections
        event.retried = traffic.retries > 0
        if let request = traffic.request {
            event.isNonIdempotent = NginxErrorParser.isNonIdempotent(line, at: request.lowerBound)
            event.requestHash = line.hash(request)
        }
        return .failure(event)
    }

    /// Parses an event line (raw, after a syslog prefix, or after `[WARNING]  (pid) : ` on stderr).
    static func parseEvent(_ line: LogLine, at start: Int, time: Int64?) -> LogEvent? {
        var index = start
        if line[index] == UInt8(ascii: "[") {
            // `[WARNING]  (16076) : ` / `[ALERT]    (16076) : ` / older `[WARNING] 324/123456 (1234) : `.
            guard let close = line.firstIndex(of: UInt8(ascii: "]"), from: index, to: index + 12),
                let separator = line.find(" : ", from: close, to: close + 40)
            else { return nil }
            index = separator + 3
        }
        let rest = index..<line.count
        func has(_ needle: StaticString) -> Bool { line.contains(needle, from: rest.lowerBound) }
        if line.matches("Server ", at: index) || line.matches("Health check for server ", at: index) {
            let nameStart = line.matches("Server ", at: index) ? index + 7 : index + 24
            let nameEnd = line.tokenEnd(from: nameStart)
            guard let slash = line.firstIndex(of: UInt8(ascii: "/"), from: nameStart, to: nameEnd) else {
                return .ignored
            }
            guard has(" is DOWN") || has(" is going DOWN") || has(" failed, reason") else { return .ignored }
            let backend = line.string(nameStart..<slash)
            return .context(
                .haproxyServerDown(backend: backend, reason: downReason(line, from: index)),
                time: time,
                line: line.text()
            )
        }
        if line.matches("backend ", at: index) || line.matches("proxy ", at: index), has(" has no server available") {
            let nameStart = line.tokenEnd(from: index) + 1
            var name = line.string(nameStart..<line.tokenEnd(from: nameStart))
            name = name.trimmingQuotes()
            return .context(.haproxyNoServerAvailable(backend: name), time: time, line: line.text())
        }
        if line.matches("Connect() failed for backend ", at: index) {
            let nameStart = index + 29
            let nameEnd = line.firstIndex(of: UInt8(ascii: ":"), from: nameStart) ?? line.count
            guard has("unix socket") else { return .ignored }
            return .context(
                .haproxyUnixSocketBacklog(backend: line.string(nameStart..<nameEnd)),
                time: time,
                line: line.text()
            )
        }
        return .ignored
    }

    /// The reason in a `Server … is DOWN, reason: …, info: "…"` or `is going DOWN for maintenance (…)` line.
    static func downReason(_ line: LogLine, from index: Int) -> DownReason {
        func has(_ needle: StaticString) -> Bool { line.contains(needle, from: index) }
        if has("DNS NX") { return .dnsNXDomain }
        if has("DNS timeout") { return .dnsTimeout }
        if has("DNS") { return .dnsOther }
        if has("Layer4 connection problem") { return has("refused") ? .connectionRefused : .layer4Other }
        if has("Layer4 timeout") { return .layer4Timeout }
        if has("Layer6") {
            if has("different from the configured") { return .tlsCertificateMismatch }
            return has("handshake") ? .tlsHandshakeFailure : .layer6Other
        }
        if has("Layer7 wrong status") { return .layer7Status }
        if has("Layer7 timeout") { return .layer7Timeout }
        if has("Layer7") { return .layer7Other }
        if has("Socket error") { return .layer4Other }
        if has("for maintenance") { return .maintenance }
        return .other
    }
}

extension String {
    /// The string without surrounding single or double quotes (`'be_app'` → `be_app`).
    func trimmingQuotes() -> String {
        var result = Substring(self)
        while let first = result.first, first == "'" || first == "\"" { result = result.dropFirst() }
        while let last = result.last, last == "'" || last == "\"" { result = result.dropLast() }
        return String(result)
    }
}
