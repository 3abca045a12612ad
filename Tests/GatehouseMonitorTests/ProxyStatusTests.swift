import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import GatehouseMonitor
import Testing

/// Reading `Proxy-Status` (RFC 9209 over RFC 8941 lists) and turning an unexpected response into a cause.
@Suite("Proxy-Status")
struct ProxyStatusTests {
    struct Parse: Sendable, CustomTestStringConvertible {
        var field: String
        var entries: [ProxyStatusEntry]
        var testDescription: String { self.field }
    }

    static let parses: [Parse] = [
        Parse(field: "", entries: []),
        Parse(
            field: #"gatehouse; error=connection_refused; next-hop="10.0.0.3:8080"; details="connect to [IPv4]10.0.0.3/10.0.0.3:8080: Connection refused""#,
            entries: [
                ProxyStatusEntry(
                    proxy: "gatehouse", error: "connection_refused", nextHop: "10.0.0.3:8080",
                    details: "connect to [IPv4]10.0.0.3/10.0.0.3:8080: Connection refused")
            ]),
        Parse(
            field: #"gatehouse; received-status=502; next-hop="app:3000""#,
            entries: [ProxyStatusEntry(proxy: "gatehouse", nextHop: "app:3000", receivedStatus: 502)]),
        Parse(
            field: "inner; error=connection_timeout, outer; received-status=504",
            entries: [
                ProxyStatusEntry(proxy: "inner", error: "connection_timeout"),
                ProxyStatusEntry(proxy: "outer", receivedStatus: 504),
            ]),
        Parse(
            // Commas and semicolons inside a string, and escaped quotes, do not split anything.
            field: #"gatehouse; error=http_protocol_error; details="bad \"header\", line 3; col 2", cdn"#,
            entries: [
                ProxyStatusEntry(proxy: "gatehouse", error: "http_protocol_error", details: #"bad "header", line 3; col 2"#),
                ProxyStatusEntry(proxy: "cdn"),
            ]),
        Parse(
            field: #""example.net"; error=dns_error; rcode="NXDOMAIN""#,
            entries: [ProxyStatusEntry(proxy: "example.net", error: "dns_error")]),
        Parse(field: "cdn; fwd=miss; collapsed; received-status=200", entries: [ProxyStatusEntry(proxy: "cdn", receivedStatus: 200)]),
        Parse(field: "  Gatehouse ;ERROR=connection_refused ,nginx", entries: [
            ProxyStatusEntry(proxy: "Gatehouse", error: "connection_refused"), ProxyStatusEntry(proxy: "nginx"),
        ]),
        Parse(
            // A broken member is skipped up to the next comma; the rest is still read.
            field: #"gatehouse; error=, nginx; error=connection_refused, ;;, "unterminated"#,
            entries: [ProxyStatusEntry(proxy: "gatehouse"), ProxyStatusEntry(proxy: "nginx", error: "connection_refused")]),
    ]

    @Test(arguments: Self.parses)
    func parse(_ parse: Parse) {
        #expect(ProxyStatusField.parse(parse.field) == parse.entries)
    }

    @Test("several field lines combine in order")
    func lines() {
        let entries = ProxyStatusField.parse(["inner; error=connection_refused", "outer; received-status=502"])
        #expect(entries.map(\.proxy) == ["inner", "outer"])
        #expect(entries.first?.errorType == .connectionRefused)
        #expect(ProxyStatusEntry(proxy: "x", error: "not_a_type").errorType == nil)
    }

    struct Explanation: Sendable, CustomTestStringConvertible {
        var status: Int
        var field: String?
        var hop: ProbeCause.Hop
        var error: ProxyStatusError?
        var proxy: String?
        var words: String
        var testDescription: String { "\(self.status) \(self.field ?? "(no Proxy-Status)") → \(self.hop.rawValue)" }
    }

    static let explanations: [Explanation] = [
        Explanation(
            status: 502, field: #"gatehouse; error=connection_refused; next-hop="127.0.0.1:4000""#, hop: .behindGateway,
            error: .connectionRefused, proxy: "gatehouse",
            words: "the origin behind gateway 'gatehouse' (127.0.0.1:4000) is down (error=connection_refused)"),
        Explanation(
            status: 503, field: "gatehouse; error=destination_unavailable", hop: .behindGateway, error: .destinationUnavailable,
            proxy: "gatehouse", words: "is down"),
        Explanation(
            status: 502, field: "gatehouse; error=http_protocol_error", hop: .behindGateway, error: .httpProtocolError,
            proxy: "gatehouse", words: "the origin behind gateway 'gatehouse' failed"),
        Explanation(
            status: 502, field: nil, hop: .response, error: nil, proxy: nil, words: "502 with no Proxy-Status: unexplained"),
        Explanation(
            status: 502, field: #"gatehouse; received-status=502; next-hop="app:3000""#, hop: .origin, error: nil,
            proxy: "gatehouse", words: "the origin answered 502 itself"),
        Explanation(
            status: 500, field: "gatehouse; error=proxy_configuration_error", hop: .gateway, error: .proxyConfigurationError,
            proxy: "gatehouse", words: "gateway 'gatehouse' is misconfigured"),
        Explanation(
            status: 404, field: "gatehouse; error=destination_not_found", hop: .gateway, error: .destinationNotFound,
            proxy: "gatehouse", words: "gateway 'gatehouse' is misconfigured"),
        Explanation(
            status: 429, field: "gatehouse; error=http_request_denied", hop: .gateway, error: .httpRequestDenied,
            proxy: "gatehouse", words: "refused the request itself"),
        Explanation(
            // The nearest proxy (last) only relayed; the inner one made the error.
            status: 504, field: "inner; error=connection_timeout, outer; received-status=504", hop: .behindGateway,
            error: .connectionTimeout, proxy: "inner", words: "the origin behind gateway 'inner' is down"),
        Explanation(
            status: 502, field: "cdn; error=origin_on_fire", hop: .behindGateway, error: nil, proxy: "cdn",
            words: "error=origin_on_fire, a type RFC 9209 does not define"),
        Explanation(status: 404, field: nil, hop: .response, error: nil, proxy: nil, words: "status 404, expected 200-399"),
        Explanation(status: 404, field: "cdn; fwd=miss", hop: .response, error: nil, proxy: nil, words: "status 404, expected"),
    ]

    @Test(arguments: Self.explanations)
    func explain(_ row: Explanation) {
        let cause = ProbeEvaluator.explain(
            status: row.status, proxyStatus: row.field.map { ProxyStatusField.parse($0) } ?? [], expected: .success)
        #expect(cause.hop == row.hop)
        #expect(cause.error == row.error)
        #expect(cause.proxy == row.proxy)
        #expect(cause.status == row.status)
        #expect(cause.summary.contains(row.words), "\(cause.summary)")
        #expect(cause.label == (row.error?.token ?? "none"))
    }

    @Test("a probe: hop failures come from doctor's verdict, responses from the expectations")
    func evaluate() throws {
        let url = try HTTPURL(parsing: "http://127.0.0.1:8080/health")
        let target = MonitorTarget(name: "app", url: url, expectStatus: StatusExpectation(ranges: [200...299]), bodyMatch: "ok")
        let refused = HopRun(
            steps: [
                DoctorStep(name: "dns", outcome: .ok, detail: "literal"),
                DoctorStep(
                    name: "tcp", outcome: .failed, detail: "refused",
                    finding: Finding(error: .connectionRefused, cause: "nothing listens on 127.0.0.1:8080")),
                .skipped("http", server: nil, reason: "tcp failed"),
            ], responded: false)
        let cause = try #require(ProbeEvaluator.cause(of: refused, target: target))
        #expect(cause.hop == .tcp)
        #expect(cause.error == .connectionRefused)
        #expect(cause.summary == "nothing listens on 127.0.0.1:8080")
        #expect(cause.short == "connection_refused at tcp")

        let steps = [DoctorStep(name: "http", outcome: .ok, detail: "200 OK")]
        let good = HopRun(steps: steps, responded: true, status: 200, body: Array("status: ok\n".utf8))
        #expect(ProbeEvaluator.cause(of: good, target: target) == nil)
        let wrongBody = HopRun(steps: steps, responded: true, status: 200, body: Array("maintenance".utf8))
        #expect(ProbeEvaluator.cause(of: wrongBody, target: target)?.hop == .body)
        let redirect = HopRun(steps: steps, responded: true, status: 301, body: Array("ok".utf8))
        #expect(ProbeEvaluator.cause(of: redirect, target: target)?.summary == "status 301, expected 2xx")
        let proxied = HopRun(
            steps: steps, responded: true, status: 502,
            headers: [.init("Proxy-Status", "gatehouse; error=connection_refused")])
        #expect(ProbeEvaluator.cause(of: proxied, target: target)?.hop == .behindGateway)
    }
}
