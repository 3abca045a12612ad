/// The formats `explain` recognises, detected per line (files can be concatenated, and syslog
/// files mix programs).
public enum LogFormat: String, Sendable, CaseIterable, Hashable {
    case nginxError = "nginx error log"
    case nginxAccess = "nginx access log"
    case haproxy = "HAProxy log"
    case gatehouse = "Gatehouse JSON log"
    case appServer = "application server log"
}

/// Detects a line's format from its first bytes and hands it to the matching parser.
///
/// Detection is a switch on the first byte plus a few fixed-position checks, so it costs less than
/// parsing; a line is never run through a regex or through every parser in turn.
enum FormatDetector {
    /// The event of a line and the format it was read as; nil when no format matches.
    static func event(_ line: LogLine, syslogYear: Int) -> (LogFormat, LogEvent)? {
        event(line, at: 0, syslogYear: syslogYear, time: nil, depth: 0)
    }

    static func event(
        _ line: LogLine,
        at start: Int,
        syslogYear: Int,
        time: Int64?,
        depth: Int
    ) -> (LogFormat, LogEvent)? {
        guard start < line.count else { return nil }
        let first = line[start]
        switch first {
        case UInt8(ascii: "{"):
            return JSONLineParser.parse(line, at: start).map {
                (isGatehouseJSON(line, at: start) ? .gatehouse : .nginxAccess, $0)
            }
        case UInt8(ascii: "<"):
            // Syslog priority `<134>` (and RFC 5424's version `1 `).
            guard let close = line.firstIndex(of: UInt8(ascii: ">"), from: start, to: start + 5) else { break }
            var next = close + 1
            if line[next] == UInt8(ascii: "1"), line[next + 1] == UInt8(ascii: " ") { next += 2 }
            return event(line, at: next, syslogYear: syslogYear, time: time, depth: depth + 1)
        case UInt8(ascii: "["):
            if line.matches("[WARNING]", at: start) || line.matches("[ALERT]", at: start)
                || line.matches("[NOTICE]", at: start)
            {
                return HAProxyParser.parseEvent(line, at: start, time: time).map { (.haproxy, $0) }
            }
            if let parsed = AppServerParser.parse(line, at: start) { return (.appServer, parsed) }
            if depth > 0, let parsed = NginxErrorParser.parse(line, at: start, time: time) {
                return (.nginxError, parsed)
            }
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            if NginxErrorParser.looksLikeErrorLine(line, at: start) {
                return NginxErrorParser.parse(line, at: start).map { (.nginxError, $0) }
            }
            if line[start + 4] == UInt8(ascii: "-"), line[start + 10] == UInt8(ascii: "T"), time == nil,
                let prefixTime = LogTime.slashDate(line, at: start)
            {
                // RFC 3339 syslog timestamp (rsyslog's high-precision format): `2026-11-21T04:44:04+00:00 host tag: `,
                // or a container runtime's prefix: `2026-11-21T04:44:04.123Z stdout F ` / `kubectl logs --timestamps`.
                var afterTime = line.tokenEnd(from: start) + 1
                if let parsed = syslogContent(
                    line,
                    at: afterTime,
                    syslogYear: syslogYear,
                    time: prefixTime,
                    depth: depth
                ) {
                    return parsed
                }
                if line.matches("stdout ", at: afterTime) || line.matches("stderr ", at: afterTime) {
                    afterTime = line.tokenEnd(from: line.tokenEnd(from: afterTime) + 1) + 1
                }
                return event(line, at: afterTime, syslogYear: syslogYear, time: prefixTime, depth: depth + 1)
            }
        default:
            if time == nil, depth < 3, let month = LogTime.month(line, at: start), month > 0,
                line[start + 3] == UInt8(ascii: " "),
                let prefixTime = LogTime.syslogDate(line, at: start, year: syslogYear)
            {
                return syslogContent(line, at: start + 16, syslogYear: syslogYear, time: prefixTime, depth: depth)
            }
            if HAProxyParser.looksLikeEvent(line, at: start) {
                return HAProxyParser.parseEvent(line, at: start, time: time).map { (.haproxy, $0) }
            }
        }
        if HAProxyParser.looksLikeTraffic(line, at: start), let parsed = HAProxyParser.parseTraffic(line, at: start) {
            return (.haproxy, parsed)
        }
        if NginxAccessParser.looksLikeAccessLine(line, at: start), let parsed = NginxAccessParser.parse(line, at: start)
        {
            return (.nginxAccess, parsed)
        }
        return AppServerParser.parseUnknown(line, at: start).map { (.appServer, $0) }
    }

    /// After a syslog timestamp: `host tag[pid]: content` (the host may be missing).
    static func syslogContent(
        _ line: LogLine,
        at index: Int,
        syslogYear: Int,
        time: Int64,
        depth: Int
    ) -> (LogFormat, LogEvent)? {
        var tagStart = index
        var tagEnd = line.tokenEnd(from: tagStart)
        if line[tagEnd - 1] != UInt8(ascii: ":") {
            tagStart = tagEnd + 1
            tagEnd = line.tokenEnd(from: tagStart)
        }
        guard line[tagEnd - 1] == UInt8(ascii: ":") else { return nil }
        let content = line.skipSpaces(from: tagEnd)
        if line.contains("haproxy", from: tagStart, to: tagEnd) {
            if HAProxyParser.looksLikeTraffic(line, at: content) {
                return HAProxyParser.parseTraffic(line, at: content).map { (.haproxy, $0) }
            }
            return HAProxyParser.parseEvent(line, at: content, time: time).map { (.haproxy, $0) }
        }
        return event(line, at: content, syslogYear: syslogYear, time: time, depth: depth + 1)
    }

    /// Gatehouse's lines carry `proxy_status` (null or a token); nginx JSON lines do not.
    static func isGatehouseJSON(_ line: LogLine, at start: Int) -> Bool {
        line.contains("\"proxy_status\"", from: start)
    }
}

/// Reads the application servers' own logs for the facts that explain a proxy's error: a worker
/// killed at its timeout (gunicorn `WORKER TIMEOUT`, php-fpm `execution timed out`, uWSGI
/// `HARAKIRI`, Puma, Unicorn) and a full process pool (php-fpm `pm.max_children`).
enum AppServerParser {
    /// A gunicorn (`[2026-11-21 04:44:41 +0000] [pid] [LEVEL] …`) or php-fpm (`[21-Nov-2026 04:44:30] LEVEL: …`) line.
    static func parse(_ line: LogLine, at start: Int) -> LogEvent? {
        let time: Int64?
        if line[start + 5] == UInt8(ascii: "-"), line[start + 8] == UInt8(ascii: "-") {
            time = LogTime.slashDate(line, at: start + 1)
        } else if line[start + 3] == UInt8(ascii: "-"), line[start + 7] == UInt8(ascii: "-") {
            time = LogTime.dashedDayDate(line, at: start + 1)
        } else {
            return nil
        }
        guard time != nil else { return nil }
        return classify(line, at: start, time: time) ?? .ignored
    }

    /// Lines of no known layout that still state one of the facts (uWSGI, Puma, Unicorn, journald copies).
    static func parseUnknown(_ line: LogLine, at start: Int) -> LogEvent? {
        classify(line, at: start, time: nil)
    }

    static func classify(_ line: LogLine, at start: Int, time: Int64?) -> LogEvent? {
        func has(_ needle: StaticString) -> Bool { line.contains(needle, from: start) }
        if has("WORKER TIMEOUT") || has("HARAKIRI") || has("execution timed out")
            || has("Terminating timed out worker") || (has(" timeout (") && has("killing"))
        {
            return .context(.appWorkerKilled, time: time, line: line.text())
        }
        if (has("reached") && has("max_children")) || (has("[pool ") && has("seems busy")) {
            return .context(.appPoolExhausted, time: time, line: line.text())
        }
        return nil
    }
}
