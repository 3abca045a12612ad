import Foundation

/// The log analyser behind `gatehouse explain`: feed it lines from any mix of nginx, HAProxy,
/// Gatehouse and application-server logs, in any order, then ask for the findings.
///
/// Memory is bounded whatever the input size: lines are classified as they arrive and only
/// counters, time buckets and one evidence line per (cause, upstream) group are kept. The cause of
/// ambiguous lines is decided in `findings()`, once every file has been read, because the line
/// that decides it (a gunicorn `WORKER TIMEOUT`, an nginx retry, a HAProxy `is DOWN`) may come
/// later or from another file.
public struct LogExplainer: Sendable {
    /// What was read, for the report's header.
    public struct Summary: Sendable, Equatable {
        /// Lines read, recognised or not.
        public var lines = 0
        /// Lines that matched no known format.
        public var unrecognisedLines = 0
        /// Lines per detected format.
        public var linesByFormat: [LogFormat: Int] = [:]
        /// Lines per source (file path, or `-` for stdin) and format.
        public var sources: [String: [LogFormat: Int]] = [:]
        /// Source names in the order they were first read.
        public var sourceOrder: [String] = []
        /// Lines read per source.
        public var sourceLines: [String: Int] = [:]
    }

    var aggregator = Aggregator()
    public private(set) var summary = Summary()
    var syslogYear: Int
    var yearSetBy: Int64?
    var currentSource = ""
    var currentSourceCounts: [LogFormat: Int] = [:]
    var currentSourceLines = 0

    /// - Parameter syslogYear: the year for traditional syslog timestamps (`Nov 21 04:44:04`) until a
    ///   line with a full date is read; the current year by default.
    public init(syslogYear: Int? = nil) {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        self.syslogYear = syslogYear ?? LogTime.year(of: now)
    }

    /// Reads one line (without its newline) from `source` (a file name; it only labels the summary).
    public mutating func consume(line: String, source: String = "-") {
        if source != currentSource { beginSource(source) }
        line.withLogLine { consume($0) }
    }

    /// Starts counting the lines that follow under `source`.
    public mutating func beginSource(_ source: String) {
        flushSource()
        currentSource = source
        currentSourceCounts = summary.sources[source] ?? [:]
        currentSourceLines = summary.sourceLines[source] ?? 0
        if summary.sources[source] == nil { summary.sourceOrder.append(source) }
    }

    mutating func flushSource() {
        guard !currentSource.isEmpty || !currentSourceCounts.isEmpty else { return }
        summary.sources[currentSource] = currentSourceCounts
        summary.sourceLines[currentSource] = currentSourceLines
    }

    /// Reads one line of bytes: the streaming path (no `String` per line).
    mutating func consume(_ line: LogLine) {
        summary.lines += 1
        currentSourceLines += 1
        guard line.count > 0 else { return }
        guard let (format, event) = FormatDetector.event(line, syslogYear: syslogYear) else {
            summary.unrecognisedLines += 1
            return
        }
        summary.linesByFormat[format, default: 0] += 1
        currentSourceCounts[format, default: 0] += 1
        if case .failure(let failure) = event, let time = failure.time {
            // Traditional syslog omits the year: take it from the dated lines around it.
            if yearSetBy.map({ abs($0 - time) > 86_400_000 }) ?? true {
                syslogYear = LogTime.year(of: time)
                yearSetBy = time
            }
        }
        aggregator.record(event, line: line)
    }

    /// The findings, most significant (most failed requests) first; empty when the logs show no gateway error.
    public func findings() -> [ExplainFinding] {
        let sawErrorLog = (summary.linesByFormat[.nginxError] ?? 0) > 0
        let classifier = Classifier(aggregator: aggregator, sawNginxErrorLog: sawErrorLog)
        return FindingBuilder.findings(from: classifier.resolvedGroups())
    }

    /// The summary including the source being read.
    public var currentSummary: Summary {
        var copy = summary
        if !currentSource.isEmpty || !currentSourceCounts.isEmpty {
            copy.sources[currentSource] = currentSourceCounts
            copy.sourceLines[currentSource] = currentSourceLines
        }
        return copy
    }
}
