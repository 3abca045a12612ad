import Foundation

/// `gatehouse explain LOG...`: reads the logs, prints the report, and says by its exit code
/// whether there were gateway errors.
public enum ExplainRunner {
    /// Runs the analysis and writes the report to stdout (errors to stderr).
    ///
    /// - Parameters:
    ///   - paths: log files (plain or gzip, detected by content); `-` or no path reads stdin.
    ///   - json: print JSON instead of the text report.
    ///   - color: use ANSI colours in the text report.
    /// - Returns: 0 = no gateway errors found, 1 = findings, 2 = an input could not be read.
    public static func run(paths: [String], json: Bool, color: Bool) -> Int32 {
        let inputs = paths.isEmpty ? ["-"] : paths
        var explainer = LogExplainer()
        var unreadable = Set<String>()
        for path in inputs {
            explainer.beginSource(path)
            do {
                try InputReader.forEachLine(path: path) { explainer.consume($0) }
            } catch {
                unreadable.insert(path)
                writeError("gatehouse explain: cannot read \(path): \(error)")
            }
        }
        let summary = explainer.currentSummary
        if unreadable.count == Set(inputs).count { return 2 }
        for source in summary.sourceOrder
        where !unreadable.contains(source) && (summary.sourceLines[source] ?? 0) > 0
            && (summary.sources[source] ?? [:]).isEmpty
        {
            writeError("gatehouse explain: \(source): no nginx, HAProxy or Gatehouse log line recognised")
        }
        let findings = explainer.findings()
        let report =
            json
            ? ReportRenderer.json(findings, summary: summary)
            : ReportRenderer.text(findings, summary: summary, color: color)
        FileHandle.standardOutput.write(Data(report.utf8))
        if !unreadable.isEmpty { return 2 }
        return findings.isEmpty ? 0 : 1
    }

    static func writeError(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
