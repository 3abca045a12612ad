import GatehouseDoctor
import GatehouseErrors
import Testing

/// The report as people and machines read it.
@Suite("doctor's report")
struct RendererTests {
    private let report: DoctorReport = {
        let finding = Finding(error: .connectionRefused, cause: "nothing listens on 127.0.0.1:9: connection refused")
        let steps = [
            DoctorStep(name: "dns", outcome: .ok, detail: "127.0.0.1 is an IP address: nothing to resolve"),
            DoctorStep(name: "tcp", outcome: .failed, milliseconds: 0.25, detail: "127.0.0.1:9 refused after 0.3 ms", finding: finding),
            DoctorStep.skipped("http", server: nil, reason: "tcp failed"),
            DoctorStep(name: "load", outcome: .warning, detail: "load \"9\"", finding: Finding(error: nil, cause: "busy", fix: "Calm down.")),
        ]
        return DoctorReport(target: "http://127.0.0.1:9/", steps: steps, verdict: VerdictBuilder.verdict(for: steps))
    }()

    @Test("text: a mark per step, timings, then Verdict and Fix lines")
    func text() {
        let text = DoctorRenderer.text(self.report, color: false)
        #expect(
            text == """
                gatehouse doctor http://127.0.0.1:9/
                  ✓ dns                  127.0.0.1 is an IP address: nothing to resolve
                  ✗ tcp          0.3 ms  127.0.0.1:9 refused after 0.3 ms
                  – http                 not run: tcp failed

                this machine
                  ! load                 load "9"

                Verdict: nothing listens on 127.0.0.1:9: connection refused (connection_refused)
                Fix: Start the upstream service, or fix the port in the cluster's server address.

                """)
        #expect(!text.contains("\u{1B}["))
        #expect(DoctorRenderer.text(self.report, color: true).contains("\u{1B}[1;31m✗\u{1B}[0m"))
    }

    @Test("JSON: target, steps with name/ok/ms/detail, and the verdict with token, status, cause, fix")
    func json() {
        let json = DoctorRenderer.json(self.report)
        #expect(json.hasPrefix("{\"target\": \"http://127.0.0.1:9/\", \"steps\": [{\"name\": \"dns\", \"ok\": true, \"outcome\": \"ok\", \"ms\": null,"))
        #expect(json.contains("{\"name\": \"tcp\", \"ok\": false, \"outcome\": \"failed\", \"ms\": 0.250, \"detail\": \"127.0.0.1:9 refused after 0.3 ms\", \"proxy_status_error\": \"connection_refused\""))
        #expect(json.contains("\"detail\": \"load \\\"9\\\"\""))
        #expect(json.contains("\"verdict\": {\"healthy\": false, \"proxy_status_error\": \"connection_refused\", \"status\": 502, \"cause\": \"nothing listens on 127.0.0.1:9: connection refused\""))
        #expect(json.hasSuffix("\"exit_code\": 1}\n"))
    }
}
