import GatehouseErrors

/// Renders findings as the human report (default) or as JSON (`--json`).
public enum ReportRenderer {
    // MARK: - Text

    /// ANSI styles, used only when colour was asked for (never guessed: the output is often piped).
    struct Style {
        var enabled: Bool
        func wrap(_ text: String, _ code: String) -> String { enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        func bold(_ text: String) -> String { wrap(text, "1") }
        func red(_ text: String) -> String { wrap(text, "1;31") }
        func yellow(_ text: String) -> String { wrap(text, "33") }
        func green(_ text: String) -> String { wrap(text, "32") }
        func dim(_ text: String) -> String { wrap(text, "2") }
    }

    /// The readable report: a header, one block per finding, and a one-line verdict.
    public static func text(_ findings: [ExplainFinding], summary: LogExplainer.Summary, color: Bool) -> String {
        let style = Style(enabled: color)
        var out = style.bold("gatehouse explain") + ": " + header(summary) + "\n"
        let total = findings.reduce(0) { $0 + $1.count }
        if findings.isEmpty {
            out += "\nNo 502/503/504 or truncated responses in these logs.\n"
        } else {
            out +=
                "\(total) gateway error\(total == 1 ? "" : "s") in \(findings.count) cause\(findings.count == 1 ? "" : "s"), most significant first.\n"
        }
        for (index, finding) in findings.enumerated() {
            let status =
                finding.proxyStatusError.map { "Proxy-Status " + $0.rawValue }
                ?? "no Proxy-Status error (received-status)"
            out += "\n" + style.bold("\(index + 1). \(finding.explanation)") + "\n"
            out += "   Cause: " + style.red(finding.cause.rawValue) + " · " + status + " · "
            out += "\(finding.count) request\(finding.count == 1 ? "" : "s")"
            if !finding.statuses.isEmpty { out += " (" + statusText(finding.statuses) + ")" }
            out += "\n"
            if let first = finding.first, let last = finding.last {
                out += "   First \(first) · last \(last)"
                if let peak = finding.peak {
                    out += " · peak \(peak.count) in \(duration(peak.seconds)) from \(peak.start)"
                }
                out += "\n"
            }
            if !finding.upstreams.isEmpty { out += "   Upstreams: " + finding.upstreams.joined(separator: ", ") + "\n" }
            for reason in finding.reasons { out += "   Why: " + reason + "\n" }
            out += "   Evidence: " + style.dim(finding.evidence) + "\n"
            for line in finding.related { out += "   Context:  " + style.dim(line) + "\n" }
            out += "   " + style.green("Fix:") + " " + finding.fix + "\n"
        }
        out += "\n" + style.bold("Verdict:") + " " + verdict(findings) + "\n"
        return out
    }

    /// One line: what happened, how often, and the first thing to do.
    public static func verdict(_ findings: [ExplainFinding]) -> String {
        guard let top = findings.first else { return "no gateway errors found." }
        let total = findings.reduce(0) { $0 + $1.count }
        var text = "\(total) gateway error\(total == 1 ? "" : "s"); "
        text += findings.count == 1 ? "cause: " : "main cause (\(top.count)): "
        text += top.cause.rawValue + " (" + (top.proxyStatusError?.rawValue ?? "upstream's own 5xx") + ")"
        if let upstream = top.upstreams.first { text += " on " + upstream }
        return text + ". " + top.explanation
    }

    static func header(_ summary: LogExplainer.Summary) -> String {
        let formats = LogFormat.allCases.compactMap { format in
            summary.linesByFormat[format].map { "\(format.rawValue) \($0)" }
        }
        var text =
            "\(summary.lines) line\(summary.lines == 1 ? "" : "s") from \(summary.sourceOrder.count) input\(summary.sourceOrder.count == 1 ? "" : "s")"
        if !formats.isEmpty { text += " (" + formats.joined(separator: ", ") + ")" }
        if summary.unrecognisedLines > 0 { text += "; \(summary.unrecognisedLines) not recognised" }
        return text + "."
    }

    static func statusText(_ statuses: [Int: Int]) -> String {
        statuses.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { status, count in
            let label: String
            switch status {
            case -1: label = "no response"
            case 9: label = "HTTP/0.9 relay (009)"
            case 200: label = "200 truncated"
            default: label = String(status)
            }
            return count == 1 ? label : "\(label) ×\(count)"
        }.joined(separator: ", ")
    }

    static func duration(_ seconds: Int) -> String {
        seconds == 60
            ? "1 min"
            : seconds % 3600 == 0 ? "\(seconds / 3600) h" : seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds) s"
    }

    // MARK: - JSON

    /// `{"findings": [{"proxy_status_error": …, "cause": …, "count": …, "first": …, "last": …,
    /// "upstreams": […], "evidence": …, "fix": …, …}], "summary": {…}, "verdict": …}`.
    public static func json(_ findings: [ExplainFinding], summary: LogExplainer.Summary) -> String {
        var out = "{\"findings\": ["
        for (index, finding) in findings.enumerated() {
            if index > 0 { out += ", " }
            var fields: [(String, String)] = [
                ("proxy_status_error", finding.proxyStatusError.map { quote($0.rawValue) } ?? "null"),
                ("cause", quote(finding.cause.rawValue)),
                ("count", String(finding.count)),
                ("first", finding.first.map(quote) ?? "null"),
                ("last", finding.last.map(quote) ?? "null"),
                ("upstreams", array(finding.upstreams)),
                ("evidence", quote(finding.evidence)),
                ("fix", quote(finding.fix)),
                ("explanation", quote(finding.explanation)),
            ]
            if let peak = finding.peak {
                fields.append(
                    (
                        "peak",
                        "{\"start\": \(quote(peak.start)), \"seconds\": \(peak.seconds), \"count\": \(peak.count)}"
                    )
                )
            }
            let statuses = finding.statuses.sorted { $0.key < $1.key }.map { "\(quote(String($0.key))): \($0.value)" }
            fields.append(("statuses", "{" + statuses.joined(separator: ", ") + "}"))
            fields.append(("why", array(finding.reasons)))
            fields.append(("related", array(finding.related)))
            fields.append(("logs", array(finding.families.map(\.rawValue))))
            out += "{" + fields.map { "\(quote($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
        }
        out += "], \"summary\": {\"lines\": \(summary.lines), \"unrecognised_lines\": \(summary.unrecognisedLines), "
        let formats = LogFormat.allCases.compactMap { format in
            summary.linesByFormat[format].map { "\(quote(format.rawValue)): \($0)" }
        }
        out += "\"formats\": {" + formats.joined(separator: ", ") + "}, "
        out += "\"gateway_errors\": \(findings.reduce(0) { $0 + $1.count })}, "
        out += "\"verdict\": \(quote(verdict(findings)))}\n"
        return out
    }

    static func array(_ values: [String]) -> String {
        "[" + values.map(quote).joined(separator: ", ") + "]"
    }

    /// A JSON string literal (log lines carry control bytes and odd UTF-8).
    static func quote(_ value: String) -> String {
        JSONText.quoted(value)
    }
}
