import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import GatehouseMonitor
import Testing

/// The `/metrics` document: Prometheus text format 0.0.4, blackbox_exporter's names plus the cause.
@Suite("monitor metrics exposition")
struct MetricsTests {
    /// A board-like list: one target up, one down (refused), one never probed; a name that needs escaping.
    static func statuses() throws -> [TargetStatus] {
        let steps = [DoctorStep(name: "http", outcome: .ok, detail: "200 OK")]
        let timing = TimingObservation(
            dns: .milliseconds(2), connect: .milliseconds(1), firstByte: .milliseconds(30), response: .milliseconds(45))
        var up = TargetStatus(target: MonitorTarget(name: #"shop "front"\eu"#, url: try HTTPURL(parsing: "http://shop.example/")))
        up.last = ProbeResult(
            run: HopRun(steps: steps, timing: timing, total: .milliseconds(50), responded: true, status: 200),
            cause: nil, time: WallTime(seconds: 0))
        _ = up.machine.handle(.probeSucceeded)
        up.successes = 3

        var down = TargetStatus(target: MonitorTarget(name: "api", url: try HTTPURL(parsing: "http://127.0.0.1:9/"), retries: 1))
        let cause = ProbeCause(error: .connectionRefused, hop: .tcp, summary: "refused", fix: "start it")
        down.last = ProbeResult(
            run: HopRun(steps: [], timing: TimingObservation(), total: .microseconds(300), responded: false),
            cause: cause, time: WallTime(seconds: 0))
        _ = down.machine.handle(.probeFailed(cause))
        down.successes = 1
        down.failures = 2

        let fresh = TargetStatus(target: MonitorTarget(name: "new", url: try HTTPURL(parsing: "https://new.example/")))
        return [up, down, fresh]
    }

    @Test("families, HELP and TYPE lines, labels and values")
    func document() throws {
        let text = MetricsExposition.render(try Self.statuses())
        let lines = text.split(separator: "\n").map(String.init)
        #expect(text.hasSuffix("\n"))
        for (family, type) in [
            ("probe_success", "gauge"), ("probe_duration_seconds", "gauge"), ("probe_http_status_code", "gauge"),
            ("gatehouse_monitor_target_up", "gauge"), ("gatehouse_monitor_probes_total", "counter"),
        ] {
            let help = try #require(lines.firstIndex { $0.hasPrefix("# HELP \(family) ") }, "\(family) has no HELP")
            #expect(lines[help + 1] == "# TYPE \(family) \(type)")
            // Every sample of the family follows its TYPE line, before the next family's HELP.
            let samples = lines.indices.filter { lines[$0].hasPrefix(family + "{") }
            #expect(!samples.isEmpty)
            #expect(samples.allSatisfy { $0 > help + 1 && !lines[(help + 2)..<$0].contains { $0.hasPrefix("# HELP") } })
        }
        #expect(lines.contains(#"probe_success{target="shop \"front\"\\eu"} 1"#))
        #expect(lines.contains(#"probe_success{target="api"} 0"#))
        #expect(!text.contains(#"probe_success{target="new"}"#), "a target not probed yet has no last probe")
        #expect(lines.contains(#"probe_duration_seconds{target="shop \"front\"\\eu",phase="resolve"} 0.002"#))
        #expect(lines.contains(#"probe_duration_seconds{target="shop \"front\"\\eu",phase="processing"} 0.03"#))
        #expect(lines.contains(#"probe_duration_seconds{target="shop \"front\"\\eu",phase="transfer"} 0.015"#))
        #expect(lines.contains(#"probe_duration_seconds{target="shop \"front\"\\eu",phase="total"} 0.05"#))
        #expect(lines.contains(#"probe_duration_seconds{target="api",phase="tls"} 0"#))
        #expect(lines.contains(#"probe_duration_seconds{target="api",phase="total"} 0.0003"#))
        #expect(lines.filter { $0.hasPrefix("probe_duration_seconds{") }.count == 12)
        #expect(lines.contains(#"probe_http_status_code{target="api"} 0"#))
        #expect(lines.contains(#"probe_http_status_code{target="shop \"front\"\\eu"} 200"#))
        #expect(lines.contains(#"gatehouse_monitor_target_up{target="api",cause="connection_refused"} 0"#))
        #expect(lines.contains(#"gatehouse_monitor_target_up{target="shop \"front\"\\eu",cause="none"} 1"#))
        #expect(lines.contains(#"gatehouse_monitor_probes_total{target="api",result="failure"} 2"#))
        #expect(lines.contains(#"gatehouse_monitor_probes_total{target="new",result="success"} 0"#))
    }

    @Test("every sample line is name{label=\"value\",…} number")
    func syntax() throws {
        let text = MetricsExposition.render(try Self.statuses())
        let sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\} -?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$/
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.wholeMatch(of: sample) != nil, "\(line)")
        }
    }

    @Test("label values escape backslash, quote and line feed")
    func escaping() {
        #expect(MetricsExposition.escapeLabel("a\\b\"c\nd") == #"a\\b\"c\nd"#)
    }
}
