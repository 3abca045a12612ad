import GatehouseConfig
import GatehouseErrors

/// What the HTTP exchange showed, in plain values (no NIO types), for the pure judgement.
public struct HTTPObservation: Sendable, Hashable {
    /// A response header as received.
    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var status: Int?
    public var reason: String?
    public var headers: [Header]
    public var firstByte: Duration?
    public var complete: Duration?
    public var bodyBytes: Int
    /// The classified failure of the exchange, if it failed, and the underlying error in words.
    public var failure: ProxyStatusError?
    public var failureDetails: String?
    /// The failure came before the response head.
    public var failedBeforeHead: Bool
    /// The upstream reset the connection (RST), rather than closing it.
    public var reset: Bool
    public var framing: ResponseFramingReport
    public var stoppedEarly: String?
    /// The doctor's time limit (`--timeout`).
    public var timeout: Duration

    public init(
        status: Int? = nil, reason: String? = nil, headers: [Header] = [], firstByte: Duration? = nil,
        complete: Duration? = nil, bodyBytes: Int = 0, failure: ProxyStatusError? = nil, failureDetails: String? = nil,
        failedBeforeHead: Bool = false, reset: Bool = false, framing: ResponseFramingReport, stoppedEarly: String? = nil,
        timeout: Duration = .seconds(5)
    ) {
        self.status = status
        self.reason = reason
        self.headers = headers
        self.firstByte = firstByte
        self.complete = complete
        self.bodyBytes = bodyBytes
        self.failure = failure
        self.failureDetails = failureDetails
        self.failedBeforeHead = failedBeforeHead
        self.reset = reset
        self.framing = framing
        self.stoppedEarly = stoppedEarly
        self.timeout = timeout
    }
}

/// Judges the HTTP exchange. Pure.
public enum HTTPDiagnosis {
    /// The `http` step.
    public static func step(_ observed: HTTPObservation, limits: ProbeLimits) -> StepResult {
        if let error = observed.failure { return Self.failed(error, observed, limits: limits) }
        let status = observed.status ?? 0
        var parts = ["\(status) \(observed.reason ?? "")".trimmed(" ")]
        if let firstByte = observed.firstByte { parts.append("first byte after \(Format.observed(firstByte))") }
        parts.append("\(Format.bytes(observed.bodyBytes)) body" + (observed.framing.framing.map { " (\($0))" } ?? ""))
        if let size = observed.framing.headerSectionSize {
            parts.append("header section \(Format.bytes(size)) of \(Format.bytes(limits.maxResponseHeaderBytes)) allowed")
        }
        if let stopped = observed.stoppedEarly { parts.append(stopped) }
        let detail = parts.joined(separator: " · ")

        if status >= 500 {
            return Self.upstreamError(status, observed, detail: detail)
        }
        if let problem = observed.framing.problems.first {
            let cause = "\(problem.message): Gatehouse passes this response, stricter proxies reject it (\(problem.error.token))"
            return StepResult(.warning, detail + " — " + cause, finding: Finding(error: nil, cause: cause, fix: problem.error.fixHint))
        }
        if let size = observed.framing.headerSectionSize, Double(size) >= Double(limits.maxResponseHeaderBytes) * 0.8 {
            let knob = limits.whose("limits.max_response_header_bytes")
            let cause =
                "the header section is \(Format.bytes(size)), \(Format.percent(Double(size), of: Double(limits.maxResponseHeaderBytes))) of \(knob) (\(Format.bytes(limits.maxResponseHeaderBytes))): a few more cookies produce 502 http_response_header_section_size"
            return StepResult(
                .warning, detail + " — " + cause,
                finding: Finding(error: nil, cause: cause, fix: ProxyStatusError.httpResponseHeaderSectionSize.fixHint))
        }
        return StepResult(.ok, detail)
    }

    private static func failed(_ error: ProxyStatusError, _ observed: HTTPObservation, limits: ProbeLimits) -> StepResult {
        // The validator's wording when it saw the same kind of problem (or, for a protocol error, any).
        let problem =
            observed.framing.problems.first { $0.error == error }
            ?? (error == .httpProtocolError ? observed.framing.problems.first : nil)
        var cause: String
        switch error {
        case .connectionReadTimeout where observed.failedBeforeHead:
            cause =
                "no response within \(Format.limit(observed.timeout)) (--timeout) after the request was sent; \(limits.whose("response_header timeout")) is \(Format.limit(limits.timeouts.responseHeader))"
        case .connectionReadTimeout:
            cause =
                "the response stalled: \(observed.status.map { "\($0) head and " } ?? "")\(Format.bytes(observed.bodyBytes)) of body, then nothing for \(Format.limit(observed.timeout))"
        case .connectionTerminated:
            if observed.reset {
                // nginx's words: recv() while waiting for the head, readv() while reading the body.
                cause =
                    observed.failedBeforeHead
                    ? "upstream reset the connection before sending a response: recv() failed (104: Connection reset by peer)"
                    : "upstream reset the connection in the middle of the response: readv() failed (104: Connection reset by peer)"
            } else {
                cause = problem?.message ?? "upstream prematurely closed connection while reading response header from upstream"
            }
        case .httpResponseHeaderSectionSize:
            let measured =
                observed.framing.problems.first { $0.error == .httpResponseHeaderSectionSize }?.message
                ?? "upstream sent too big header"
            cause =
                "\(measured); \(limits.whose("limits.max_response_header_bytes")) is \(Format.bytes(limits.maxResponseHeaderBytes))"
        case .httpResponseIncomplete:
            cause =
                problem?.message
                ?? "upstream prematurely closed connection while reading upstream: \(Format.bytes(observed.bodyBytes)) of body received"
        case .httpResponseTransferCoding:
            cause = problem?.message ?? "upstream sent invalid chunked response"
        case .httpProtocolError:
            cause = problem?.message ?? "upstream sent an invalid response: \(observed.failureDetails ?? "malformed HTTP")"
        default:
            cause = observed.failureDetails.map { "\(error.summary) (\($0))" } ?? error.summary
        }
        if error == .httpProtocolError || error == .httpResponseTransferCoding,
            let details = observed.failureDetails, !cause.contains(details)
        {
            cause += " [decoder: \(details)]"
        }
        return StepResult(.failed, cause, finding: Finding(error: error, cause: cause))
    }

    /// A 5xx the upstream sent itself: not this hop's failure but the next one's. When that upstream is a
    /// proxy speaking RFC 9209, its `Proxy-Status` names the failure behind it.
    private static func upstreamError(_ status: Int, _ observed: HTTPObservation, detail: String) -> StepResult {
        let header = observed.headers.first { $0.name.lowercased() == "proxy-status" }?.value
        if let header, let (proxy, token) = Self.proxyStatusError(header) {
            let known = ProxyStatusError(rawValue: token)
            let cause =
                "the upstream answered \(status) itself; its Proxy-Status says \(proxy) failed with error=\(token)"
                + (known.map { ": \($0.summary)" } ?? "")
            let fix = (known?.fixHint).map { "At \(proxy): \($0)" } ?? "Diagnose the hop behind \(proxy)."
            return StepResult(
                .failed, detail + " — " + cause, finding: Finding(error: known, cause: cause, fix: fix, status: status))
        }
        let cause =
            "the upstream answered \(status) itself (received-status=\(status)): the failure is behind it, not on this hop"
        return StepResult(
            .failed, detail + " — " + cause,
            finding: Finding(
                error: nil, cause: cause,
                fix: "Diagnose the next hop: the upstream's own error log, or gatehouse doctor on the server behind it.",
                status: status))
    }

    /// The first `Proxy-Status` member with an `error` parameter: (proxy name, error token). The one
    /// that made the error is the one nearest the failure; members after it only relayed it.
    static func proxyStatusError(_ header: String) -> (String, String)? {
        let entry = ProxyStatusField.parse(header).first { $0.error != nil }
        return entry.flatMap { entry in entry.error.map { (entry.proxy, $0) } }
    }
}
