@testable import GatehouseExplain

/// Helpers that run the byte-level parsers on `String`s and copy the results out of the borrowed line.
enum Parse {
    /// The event of one line, through format detection as in production.
    static func event(_ text: String, year: Int = 2026) -> (format: LogFormat, event: LogEvent)? {
        text.withLogLine { FormatDetector.event($0, syslogYear: year) }
    }

    /// The failure of one line, or nil when the line is not a failure.
    static func failure(_ text: String) -> FailureEvent? {
        guard case .failure(let failure)? = event(text)?.event else { return nil }
        return failure
    }

    /// The findings for a set of lines, read in order.
    static func findings(_ lines: [String]) -> [ExplainFinding] {
        var explainer = LogExplainer(syslogYear: 2026)
        for line in lines { explainer.consume(line: line, source: "test") }
        return explainer.findings()
    }

    /// Milliseconds since the epoch for a UTC date, for expected times.
    static func millis(
        _ year: Int,
        _ month: Int,
        _ day: Int,
        _ hour: Int,
        _ minute: Int,
        _ second: Int,
        _ ms: Int = 0
    )
        -> Int64?
    {
        LogTime.millis(year: year, month: month, day: day, hour: hour, minute: minute, second: second, millis: ms)
    }
}

extension LogEvent {
    /// The context fact, when the line is one.
    var context: ContextEvent? {
        if case .context(let context, _, _) = self { return context }
        return nil
    }

    var isIgnored: Bool {
        if case .ignored = self { return true }
        return false
    }
}
