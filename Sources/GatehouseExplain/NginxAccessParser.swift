/// Parses nginx access lines: `combined` (`$remote_addr - $remote_user [$time_local] "$request"
/// $status $body_bytes_sent "$http_referer" "$http_user_agent"`) followed by any `key=value` /
/// `key="value"` fields, such as the `$upstream_*` ones of the fixtures' `log_format diag`.
///
/// Who produced a 5xx is read from the upstream fields (CAUSES.md §1 and §4.7): a number in
/// `$upstream_header_time` means the upstream sent the 5xx; `-` means nginx generated it.
enum NginxAccessParser {
    /// The fields the classifier needs, as ranges into the line (nil when the format lacks them).
    struct Fields {
        var status: Int
        var time: Int64?
        var request: Range<Int>?
        var upstreamAddress: Range<Int>?
        var upstreamStatus: Range<Int>?
        var connectTime: Range<Int>?
        var headerTime: Range<Int>?
        var responseTime: Range<Int>?
        var requestTime: Range<Int>?
    }

    /// Whether the line starts like `ADDR - USER [`, the first fields of `combined`.
    static func looksLikeAccessLine(_ line: LogLine, at start: Int) -> Bool {
        let addressEnd = line.tokenEnd(from: start)
        guard addressEnd < line.count, addressEnd > start else { return false }
        let userEnd = line.tokenEnd(from: line.tokenEnd(from: addressEnd + 1) + 1)
        return line[userEnd + 1] == UInt8(ascii: "[")
    }

    /// Parses one access line starting at `start`.
    static func parse(_ line: LogLine, at start: Int) -> LogEvent? {
        guard let fields = fields(line, at: start) else { return nil }
        return event(line, fields)
    }

    /// Splits a `combined`-style line into fields.
    static func fields(_ line: LogLine, at start: Int) -> Fields? {
        guard let open = line.firstIndex(of: UInt8(ascii: "["), from: start),
            let close = line.firstIndex(of: UInt8(ascii: "]"), from: open),
            line[close + 2] == UInt8(ascii: "\""),
            let requestEnd = line.firstIndex(of: UInt8(ascii: "\""), from: close + 3)
        else { return nil }
        let statusStart = requestEnd + 2
        let statusEnd = line.tokenEnd(from: statusStart)
        guard let status = line.int(statusStart..<statusEnd) else { return nil }
        var fields = Fields(status: status, time: LogTime.clfDate(line, at: open + 1), request: close + 3..<requestEnd)
        // Plain `combined` ends with the user agent; custom formats add named fields after it.
        let rest = statusEnd
        fields.upstreamAddress = value(line, "upstream_addr=", from: rest) ?? value(line, " ua=", from: rest)
        fields.upstreamStatus = value(line, "upstream_status=", from: rest) ?? value(line, " us=", from: rest)
        fields.connectTime = value(line, "upstream_connect_time=", from: rest) ?? value(line, " uct=", from: rest)
        fields.headerTime = value(line, "upstream_header_time=", from: rest) ?? value(line, " uht=", from: rest)
        fields.responseTime = value(line, "upstream_response_time=", from: rest) ?? value(line, " urt=", from: rest)
        fields.requestTime = value(line, "request_time=", from: rest) ?? value(line, " rt=", from: rest)
        return fields
    }

    /// The value after `key`: up to the closing quote when quoted, else up to the next space.
    static func value(_ line: LogLine, _ key: StaticString, from: Int) -> Range<Int>? {
        guard let found = line.find(key, from: from) else { return nil }
        let start = found + key.utf8CodeUnitCount
        if line[start] == UInt8(ascii: "\"") {
            let end = line.firstIndex(of: UInt8(ascii: "\""), from: start + 1) ?? line.count
            return start + 1..<end
        }
        return start..<line.tokenEnd(from: start)
    }

    /// The elements of an `$upstream_*` list: `"10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80"` (`, ` between
    /// tries, ` : ` between internal redirects).
    static func elements(_ line: LogLine, _ range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = range.lowerBound
        var index = range.lowerBound
        while index < range.upperBound {
            let byte = line[index]
            let isSeparator =
                byte == UInt8(ascii: ",") || (byte == UInt8(ascii: ":") && line[index - 1] == UInt8(ascii: " "))
            if isSeparator {
                var end = index
                while end > start, line[end - 1] == UInt8(ascii: " ") { end -= 1 }
                result.append(start..<end)
                start = line.skipSpaces(from: index + 1)
                index = start
                continue
            }
            index += 1
        }
        if start < range.upperBound { result.append(start..<range.upperBound) }
        return result
    }

    /// The last element of an `$upstream_*` list (the try that decided the response).
    static func last(_ line: LogLine, _ range: Range<Int>?) -> Range<Int>? {
        guard let range else { return nil }
        var index = range.upperBound - 1
        while index >= range.lowerBound {
            let byte = line[index]
            if byte == UInt8(ascii: ",") || (byte == UInt8(ascii: ":") && line[index - 1] == UInt8(ascii: " ")) {
                return min(line.skipSpaces(from: index + 1), range.upperBound)..<range.upperBound
            }
            index -= 1
        }
        return range
    }

    /// Whether a field is nginx's "no value" dash (or empty, as `escape=json` writes it).
    static func isDash(_ line: LogLine, _ range: Range<Int>?) -> Bool {
        guard let range else { return false }
        return range.isEmpty || (range.count == 1 && line[range.lowerBound] == UInt8(ascii: "-"))
    }

    /// Turns the fields of an access line into an event (shared with nginx JSON access logs).
    static func event(_ line: LogLine, _ fields: Fields) -> LogEvent {
        let status = fields.status
        let lastAddress = last(line, fields.upstreamAddress)
        // HTTP/0.9 relay of an upstream that sent no status line: nginx logs `009`.
        let isGatewayStatus = status == 502 || status == 503 || status == 504 || status == 9
        guard isGatewayStatus else {
            guard let lastAddress, !isDash(line, lastAddress), status < 500 else { return .ignored }
            return .success(upstream: line.hash(lastAddress), retriedOnSameServer: retriedOnSameServer(line, fields))
        }
        let hasUpstreamFields = fields.upstreamAddress != nil || fields.upstreamStatus != nil
        let lastStatus = last(line, fields.upstreamStatus)
        let lastConnect = last(line, fields.connectTime)
        let lastHeader = last(line, fields.headerTime)
        var failureClass: FailureClass
        var duplicatesErrorLog = true
        let address = lastAddress.map { line.string($0) } ?? "-"
        if status == 9 {
            failureClass = .named(.invalidStatusLine)
        } else if !hasUpstreamFields {
            failureClass = .opaque
        } else if lastAddress == nil || isDash(line, lastAddress) {
            // No upstream at all: the name did not resolve (502), or nginx's own limit_req/limit_conn (503).
            failureClass = status == 503 ? .named(.requestRateLimited) : .resolverFailed
        } else if !address.contains(":") {
            // `upstream_addr` is the upstream{} group's name when no server could be picked.
            failureClass = .noLiveUpstreams
        } else if let lastHeader, !isDash(line, lastHeader),
            lastStatus.flatMap({ line.int($0) }).map({ $0 >= 500 }) ?? false
        {
            failureClass = .named(.upstreamReturned502)
            duplicatesErrorLog = false
        } else if isDash(line, lastConnect) {
            failureClass = status == 504 ? .connectTimeout : .connectFailed
        } else if lastHeader == nil {
            failureClass = .opaque
        } else {
            failureClass = status == 504 ? .readTimeout : .terminatedBeforeResponse(.upstreamClosedBeforeResponse)
        }
        var event = FailureEvent(
            family: .nginx,
            failureClass: failureClass,
            upstream: address,
            status: status,
            time: fields.time,
            line: line.text()
        )
        event.duplicatesErrorLog = duplicatesErrorLog
        event.isFastCGI = address.hasPrefix("unix:")
        event.durationMillis = last(line, fields.responseTime).flatMap { line.secondsAsMillis($0) }
        if failureClass == .resolverFailed || failureClass == .opaque {
            event.durationMillis = fields.requestTime.flatMap { line.secondsAsMillis($0) }
        }
        if let request = fields.request {
            event.isNonIdempotent = NginxErrorParser.isNonIdempotent(line, at: request.lowerBound)
            event.requestHash = line.hash(request)
        }
        return .failure(event)
    }

    /// `upstream_status="502, 200"` with the same address twice: nginx retried on a fresh connection
    /// after a cached keep-alive connection failed (`u->peer.tries++` for cached peers), the keep-alive race's
    /// signature for idempotent requests.
    static func retriedOnSameServer(_ line: LogLine, _ fields: Fields) -> Bool {
        guard let statusRange = fields.upstreamStatus, let addressRange = fields.upstreamAddress,
            line.firstIndex(of: UInt8(ascii: ","), from: statusRange.lowerBound, to: statusRange.upperBound) != nil
        else { return false }
        let statuses = elements(line, statusRange)
        let addresses = elements(line, addressRange)
        guard statuses.count >= 2, addresses.count == statuses.count, let first = statuses.first,
            let firstStatus = line.int(first), firstStatus == 502 || firstStatus == 504
        else { return false }
        let firstAddress = line.string(addresses[0])
        return addresses.dropFirst().allSatisfy { line.string($0) == firstAddress }
    }
}
