import GatehouseErrors

/// Parses one-object-per-line JSON logs: Gatehouse's own access log, and nginx access logs written
/// with `log_format … escape=json` (same `$upstream_*` fields as the text format).
///
/// The scanner only walks the top-level members and hands out byte ranges; values are decoded only
/// for the few keys the classifier reads.
enum JSONLineParser {
    /// The kind of a member's value.
    enum ValueKind { case string, literal, nested }

    /// Calls `body(key, value, kind)` for every top-level member of the object at `start`; false if
    /// the line is not a JSON object. String ranges exclude the quotes (escapes are left as they are).
    static func members(
        _ line: LogLine,
        at start: Int,
        _ body: (Range<Int>, Range<Int>, ValueKind) -> Void
    ) -> Bool {
        guard line[start] == UInt8(ascii: "{") else { return false }
        var index = start + 1
        while true {
            index = skipWhitespace(line, index)
            if line[index] == UInt8(ascii: "}") { return true }
            guard line[index] == UInt8(ascii: "\""), let keyEnd = stringEnd(line, index) else { return false }
            let key = index + 1..<keyEnd
            index = skipWhitespace(line, keyEnd + 1)
            guard line[index] == UInt8(ascii: ":") else { return false }
            index = skipWhitespace(line, index + 1)
            let valueStart = index
            switch line[index] {
            case UInt8(ascii: "\""):
                guard let end = stringEnd(line, index) else { return false }
                body(key, valueStart + 1..<end, .string)
                index = end + 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard let end = nestedEnd(line, index) else { return false }
                body(key, valueStart..<end, .nested)
                index = end
            default:
                while index < line.count, line[index] != UInt8(ascii: ","), line[index] != UInt8(ascii: "}"),
                    line[index] != UInt8(ascii: " ")
                {
                    index += 1
                }
                guard index > valueStart else { return false }
                body(key, valueStart..<index, .literal)
            }
            index = skipWhitespace(line, index)
            if line[index] == UInt8(ascii: ",") {
                index += 1
            } else {
                return line[index] == UInt8(ascii: "}")
            }
        }
    }

    static func skipWhitespace(_ line: LogLine, _ index: Int) -> Int {
        var position = index
        while position < line.count, line[position] == UInt8(ascii: " ") || line[position] == UInt8(ascii: "\t") {
            position += 1
        }
        return position
    }

    /// The index of the quote closing the string that opens at `index`.
    static func stringEnd(_ line: LogLine, _ index: Int) -> Int? {
        var position = index + 1
        while position < line.count {
            switch line[position] {
            case UInt8(ascii: "\\"): position += 2
            case UInt8(ascii: "\""): return position
            default: position += 1
            }
        }
        return nil
    }

    /// The index after the object or array that opens at `index` (strings inside are skipped whole).
    static func nestedEnd(_ line: LogLine, _ index: Int) -> Int? {
        var depth = 0
        var position = index
        while position < line.count {
            switch line[position] {
            case UInt8(ascii: "\""):
                guard let end = stringEnd(line, position) else { return nil }
                position = end
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return position + 1 }
            default: break
            }
            position += 1
        }
        return nil
    }

    /// Whether the key range spells `name`.
    static func key(_ line: LogLine, _ range: Range<Int>, is name: StaticString) -> Bool {
        range.count == name.utf8CodeUnitCount && line.matches(name, at: range.lowerBound)
    }

    /// Classifies a JSON line: Gatehouse's access log, or an nginx access log in JSON.
    static func parse(_ line: LogLine, at start: Int) -> LogEvent? {
        var gatehouse = GatehouseFields()
        var nginx = NginxAccessParser.Fields(status: 0)
        var hasStatus = false
        var isGatehouse = false
        let isObject = members(line, at: start) { key, value, kind in
            let isNull = kind == .literal && line.matches("null", at: value.lowerBound)
            func take() -> Range<Int>? { isNull ? nil : value }
            if Self.key(line, key, is: "status") {
                nginx.status = line.int(value) ?? 0
                hasStatus = true
            } else if Self.key(line, key, is: "proxy_status") {
                isGatehouse = true
                gatehouse.proxyStatus = take()
            } else if Self.key(line, key, is: "received_status") {
                isGatehouse = true
                gatehouse.receivedStatus = isNull ? nil : line.int(value)
            } else if Self.key(line, key, is: "upstream") {
                gatehouse.upstream = take()
            } else if Self.key(line, key, is: "cluster") {
                gatehouse.cluster = take()
            } else if Self.key(line, key, is: "method") || Self.key(line, key, is: "request_method") {
                gatehouse.method = take()
            } else if Self.key(line, key, is: "request") {
                nginx.request = take()
            } else if Self.key(line, key, is: "time") || Self.key(line, key, is: "time_iso8601")
                || Self.key(line, key, is: "@timestamp")
            {
                nginx.time = LogTime.slashDate(line, at: value.lowerBound)
            } else if Self.key(line, key, is: "time_local") {
                nginx.time = LogTime.clfDate(line, at: value.lowerBound)
            } else if Self.key(line, key, is: "upstream_addr") {
                nginx.upstreamAddress = take()
            } else if Self.key(line, key, is: "upstream_status") {
                nginx.upstreamStatus = take()
            } else if Self.key(line, key, is: "upstream_connect_time") {
                nginx.connectTime = take()
            } else if Self.key(line, key, is: "upstream_header_time") {
                nginx.headerTime = take()
            } else if Self.key(line, key, is: "upstream_response_time") {
                nginx.responseTime = take()
            } else if Self.key(line, key, is: "request_time") {
                nginx.requestTime = take()
            } else if Self.key(line, key, is: "total_ms") {
                gatehouse.totalMillis = isNull ? nil : line.secondsAsMillis(value).map { $0 / 1000 }
            }
        }
        guard isObject, hasStatus else { return nil }
        if !isGatehouse {
            // nginx `escape=json`: an empty `$upstream_addr` is logged as "" instead of `-`.
            return NginxAccessParser.event(line, nginx)
        }
        return gatehouseEvent(line, gatehouse, status: nginx.status, time: nginx.time)
    }

    /// The members of a Gatehouse access-log line that `explain` reads.
    struct GatehouseFields {
        var proxyStatus: Range<Int>?
        var receivedStatus: Int?
        var upstream: Range<Int>?
        var cluster: Range<Int>?
        var method: Range<Int>?
        var totalMillis: Int?
    }

    /// A Gatehouse line: `proxy_status` is the error Gatehouse classified itself; a null one with a
    /// 5xx `received_status` is the upstream's own error, passed through.
    static func gatehouseEvent(_ line: LogLine, _ fields: GatehouseFields, status: Int, time: Int64?) -> LogEvent {
        let upstreamRange = fields.upstream ?? fields.cluster
        let upstream = upstreamRange.map { line.string($0) } ?? "-"
        let failureClass: FailureClass
        if let tokenRange = fields.proxyStatus {
            guard let error = ProxyStatusError(rawValue: line.string(tokenRange)),
                Cause(gatehouseProxyStatus: error) != nil
            else { return .ignored }
            failureClass = .gatehouse(error)
        } else if let received = fields.receivedStatus ?? (status >= 500 ? status : nil), (502...504).contains(received)
        {
            failureClass = .named(.upstreamReturned502)
        } else {
            guard let upstreamRange, status < 500 else { return .ignored }
            return .success(upstream: line.hash(upstreamRange), retriedOnSameServer: false)
        }
        var event = FailureEvent(
            family: .gatehouse,
            failureClass: failureClass,
            upstream: upstream,
            status: status,
            time: time,
            line: line.text()
        )
        event.durationMillis = fields.totalMillis
        if let method = fields.method {
            event.isNonIdempotent =
                line.matches("POST", at: method.lowerBound) || line.matches("PATCH", at: method.lowerBound)
        }
        return .failure(event)
    }
}
