import GatehouseConfig
import GatehouseDoctor

/// The `/metrics` document in Prometheus text format 0.0.4, blackbox_exporter's names plus the cause.
///
/// Written by hand rather than through a metrics library: it is a rendering of the board's current
/// state (gauges of the last probe, counters kept by the board), so there is nothing to register or
/// update, and no dependency for six families. Label values are bounded: target names come from the
/// configuration, phases and results are fixed sets, causes are RFC 9209 tokens or `none`.
public enum MetricsExposition {
    /// The `Content-Type` of the document.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The phases of `probe_duration_seconds`, in blackbox_exporter's order.
    public static let phases = ["resolve", "connect", "tls", "processing", "transfer", "total"]

    public static func render(_ statuses: [TargetStatus]) -> String {
        let probed = statuses.compactMap { status in status.last.map { (status, $0) } }
        var out = ""
        family(
            &out, "probe_success", "gauge", "Whether the last probe of the target succeeded (1) or not (0).",
            probed.map { ([("target", $0.0.target.name)], $0.1.success ? "1" : "0") })
        family(
            &out, "probe_duration_seconds", "gauge",
            "Duration of the last probe by phase: resolve, connect, tls, processing (request sent to first byte), transfer (first to last byte), total.",
            probed.flatMap { status, result in
                zip(Self.phases, Self.durations(result)).map { phase, seconds in
                    ([("target", status.target.name), ("phase", phase)], Self.number(seconds))
                }
            })
        family(
            &out, "probe_http_status_code", "gauge", "Response status of the last probe (0 when no response arrived).",
            probed.map { ([("target", $0.0.target.name)], String($0.1.run.status ?? 0)) })
        family(
            &out, "gatehouse_monitor_target_up", "gauge",
            "Whether the target is up (1) or declared down after its retries (0); cause is the RFC 9209 type of the current failure, or none.",
            probed.map { status, _ in
                let cause = status.machine.cause?.label ?? "none"
                return ([("target", status.target.name), ("cause", cause)], status.machine.isDown ? "0" : "1")
            })
        family(
            &out, "gatehouse_monitor_probes_total", "counter", "Probes run, by result (success or failure).",
            statuses.flatMap { status in
                [
                    ([("target", status.target.name), ("result", "success")], String(status.successes)),
                    ([("target", status.target.name), ("result", "failure")], String(status.failures)),
                ]
            })
        return out
    }

    /// Seconds per phase; 0 for a phase that did not run (blackbox_exporter does the same).
    static func durations(_ result: ProbeResult) -> [Double] {
        let timing = result.run.timing
        let transfer: Duration? = timing.response.flatMap { end in timing.firstByte.map { end - $0 } }
        return [timing.dns, timing.connect, timing.tlsHandshake, timing.firstByte, transfer, result.run.total].map {
            $0.map(Self.seconds) ?? 0
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    private static func family(
        _ out: inout String, _ name: String, _ type: String, _ help: String, _ samples: [([(String, String)], String)]
    ) {
        out += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type)\n"
        for (labels, value) in samples {
            let rendered = labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
            out += "\(name){\(rendered)} \(value)\n"
        }
    }

    /// Label values escape `\`, `"` and line feeds (the format's only three).
    public static func escapeLabel(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }

    /// HELP text escapes `\` and line feeds.
    static func escapeHelp(_ text: String) -> String {
        text.replacing("\\", with: "\\\\").replacing("\n", with: "\\n")
    }

    /// A sample value: Swift's shortest round-trip form (`0.0123`, `1e-05`), which Prometheus parses.
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
