import GatehouseErrors

/// Renders a ``DoctorReport`` for people (one step per line, ✓ ✗ ! –, then `Verdict:` and `Fix:`) or
/// for machines (`--json`).
public enum DoctorRenderer {
    /// ANSI colours, only when asked for (a TTY): reports are often piped or pasted into tickets.
    struct Style {
        var enabled: Bool
        func wrap(_ text: String, _ code: String) -> String { self.enabled ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        func bold(_ text: String) -> String { self.wrap(text, "1") }
        func red(_ text: String) -> String { self.wrap(text, "1;31") }
        func yellow(_ text: String) -> String { self.wrap(text, "33") }
        func green(_ text: String) -> String { self.wrap(text, "32") }
        func dim(_ text: String) -> String { self.wrap(text, "2") }
    }

    /// The human report.
    public static func text(_ report: DoctorReport, color: Bool) -> String {
        let style = Style(enabled: color)
        var out = style.bold("gatehouse doctor") + " " + report.target + "\n"
        var currentGroup: String?
        for step in report.steps {
            // Hops of a single target need no heading (the first line names it); servers and this
            // machine's resources do.
            let group = step.server ?? (LocalResources.stepNames.contains(step.name) ? "this machine" : nil)
            if let group, group != currentGroup {
                out += "\n" + (step.server == nil ? style.dim(group) : style.bold(group)) + "\n"
            }
            currentGroup = group
            out += Self.line(step, style: style) + "\n"
        }
        if report.serverVerdicts.count > 1 {
            out += "\n"
            for entry in report.serverVerdicts {
                let mark = entry.verdict.healthy ? style.green("✓") : style.red("✗")
                let token = entry.verdict.error.map { " (\($0.token))" } ?? ""
                out += "  \(mark) \(entry.server): \(entry.verdict.healthy ? "healthy" : entry.verdict.cause + token)\n"
            }
        }
        let verdict = report.verdict
        let token = verdict.error.map { " (\($0.token))" } ?? (verdict.status.map { " (received-status=\($0))" } ?? "")
        let where_ = verdict.healthy ? "" : verdict.server.map { "\($0): " } ?? ""
        let words = where_ + verdict.cause + token
        out += "\n" + style.bold("Verdict:") + " " + (verdict.healthy ? style.green(words) : style.red(words)) + "\n"
        out += style.bold("Fix:") + " " + verdict.fix + "\n"
        return out
    }

    /// `  ✓ dns        0.4 ms  shop.example.com → 10.0.0.3`.
    static func line(_ step: DoctorStep, style: Style) -> String {
        let mark: String
        switch step.outcome {
        case .ok: mark = style.green("✓")
        case .warning: mark = style.yellow("!")
        case .failed: mark = style.red("✗")
        case .skipped: mark = style.dim("–")
        }
        let name = step.name + String(repeating: " ", count: max(0, 10 - step.name.count))
        let time = step.milliseconds.map { Format.observed(milliseconds: $0) } ?? ""
        let timeColumn = String(repeating: " ", count: max(0, 9 - time.count)) + time
        let detail = step.outcome == .skipped ? style.dim(step.detail) : step.detail
        return "  \(mark) \(name)\(timeColumn)  \(detail)"
    }

    /// `{"target": …, "steps": [{"name": "dns", "ok": true, "outcome": "ok", "ms": 0.4, "detail": …}, …],
    /// "verdict": {"healthy": …, "proxy_status_error": …, "status": 502, "cause": …, "fix": …}}`.
    public static func json(_ report: DoctorReport) -> String {
        var out = "{\"target\": \(Format.jsonString(report.target)), \"steps\": ["
        out += report.steps.map(Self.json(step:)).joined(separator: ", ")
        out += "], \"verdict\": " + Self.json(verdict: report.verdict)
        if !report.serverVerdicts.isEmpty {
            out += ", \"servers\": ["
            out += report.serverVerdicts.map { "{\"server\": \(Format.jsonString($0.server)), \"verdict\": \(Self.json(verdict: $0.verdict))}" }
                .joined(separator: ", ")
            out += "]"
        }
        return out + ", \"exit_code\": \(report.exitCode)}\n"
    }

    static func json(step: DoctorStep) -> String {
        var fields: [(String, String)] = [("name", Format.jsonString(step.name))]
        if let server = step.server { fields.append(("server", Format.jsonString(server))) }
        fields.append(("ok", step.outcome == .ok || step.outcome == .warning ? "true" : "false"))
        fields.append(("outcome", Format.jsonString(step.outcome.rawValue)))
        fields.append(("ms", step.milliseconds.map { Format.decimal($0, places: 3) } ?? "null"))
        fields.append(("detail", Format.jsonString(step.detail)))
        if let finding = step.finding {
            fields.append(("proxy_status_error", finding.error.map { Format.jsonString($0.token) } ?? "null"))
            fields.append(("fix", Format.jsonString(finding.fix)))
        }
        return "{" + fields.map { "\(Format.jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    static func json(verdict: Verdict) -> String {
        var fields: [(String, String)] = [
            ("healthy", verdict.healthy ? "true" : "false"),
            ("proxy_status_error", verdict.error.map { Format.jsonString($0.token) } ?? "null"),
            ("status", verdict.status.map(String.init) ?? "null"),
            ("cause", Format.jsonString(verdict.cause)),
            ("fix", Format.jsonString(verdict.fix)),
        ]
        if let step = verdict.step { fields.append(("step", Format.jsonString(step))) }
        if let server = verdict.server { fields.append(("server", Format.jsonString(server))) }
        return "{" + fields.map { "\(Format.jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}

extension DoctorRenderer {
    /// The hop lines of `steps` without colour, one per step (`✗ tcp  0.3 ms  127.0.0.1:9 refused…`):
    /// the "doctor summary" a monitor's alert carries.
    public static func summary(_ steps: [DoctorStep]) -> String {
        steps.map { Self.line($0, style: Style(enabled: false)).trimmed(" ") }.joined(separator: "\n")
    }

    /// A JSON string literal, escaped as every report of the doctor escapes it.
    public static func jsonString(_ value: String) -> String { Format.jsonString(value) }
}
