import Foundation
import GatehouseErrors
import Testing

@testable import GatehouseCore

extension Unit {
    /// The `Proxy-Status` header and the negotiated error body of gateway-made responses.
    @Suite struct ErrorResponseTests {
        static let refused = ProxyFailure(
            type: .connectionRefused, phase: .connect, nextHop: "10.0.0.3:8080", details: "Connection refused")

        // MARK: - Proxy-Status

        @Test func proxyStatusHidesNextHopAndDetailsByDefault() {
            #expect(
                ProxyStatusHeader.value(for: Self.refused, gatewayName: "gatehouse", exposeDetails: false)
                    == "gatehouse; error=connection_refused")
        }

        @Test func proxyStatusShowsNextHopAndDetailsWhenExposed() {
            #expect(
                ProxyStatusHeader.value(for: Self.refused, gatewayName: "gatehouse", exposeDetails: true)
                    == #"gatehouse; error=connection_refused; next-hop="10.0.0.3:8080"; details="Connection refused""#)
            let bare = ProxyFailure(type: .destinationNotFound, phase: .route)
            #expect(
                ProxyStatusHeader.value(for: bare, gatewayName: "edge", exposeDetails: true)
                    == "edge; error=destination_not_found")
        }

        @Test func proxyStatusForAPassedThroughStatus() {
            #expect(
                ProxyStatusHeader.value(
                    receivedStatus: 503, nextHop: "app:80", gatewayName: "gatehouse", exposeDetails: false)
                    == "gatehouse; received-status=503")
            #expect(
                ProxyStatusHeader.value(
                    receivedStatus: 502, nextHop: "app:80", gatewayName: "gatehouse", exposeDetails: true)
                    == #"gatehouse; received-status=502; next-hop="app:80""#)
            #expect(
                ProxyStatusHeader.value(
                    receivedStatus: 500, nextHop: nil, gatewayName: "gatehouse", exposeDetails: true)
                    == "gatehouse; received-status=500")
        }

        struct QuoteCase: Sendable, CustomTestStringConvertible {
            var input: String
            var quoted: String
            var testDescription: String { self.quoted }
        }

        /// RFC 8941 sf-string: `"` and `\` escaped, printable ASCII kept, everything else dropped.
        @Test(arguments: [
            QuoteCase(input: "plain", quoted: #""plain""#),
            QuoteCase(input: "", quoted: #""""#),
            QuoteCase(input: #"say "hi""#, quoted: #""say \"hi\"""#),
            QuoteCase(input: #"C:\path"#, quoted: #""C:\\path""#),
            QuoteCase(input: "line1\r\nline2", quoted: #""line1line2""#),
            QuoteCase(input: "tab\there", quoted: #""tabhere""#),
            QuoteCase(input: "nul\u{0}del\u{7F}esc\u{1B}", quoted: #""nuldelesc""#),
            QuoteCase(input: "caf\u{E9} \u{2713}", quoted: #""caf ""#),
            QuoteCase(input: "~ !", quoted: #""~ !""#),
        ])
        func sfStringQuoting(_ testCase: QuoteCase) {
            #expect(ProxyStatusHeader.quoted(testCase.input) == testCase.quoted)
            let failure = ProxyFailure(type: .connectionTerminated, phase: .streamResponse, details: testCase.input)
            #expect(
                ProxyStatusHeader.value(for: failure, gatewayName: "gatehouse", exposeDetails: true)
                    == "gatehouse; error=connection_terminated; details=\(testCase.quoted)")
        }

        @Test func sfStringIsBounded() {
            #expect(ProxyStatusHeader.quoted(String(repeating: "a", count: 1000)).count == 256 + 2)
        }

        // MARK: - Negotiation

        struct AcceptCase: Sendable, CustomTestStringConvertible {
            var accept: String?
            var format: ErrorResponse.Format
            var testDescription: String { self.accept ?? "(no Accept)" }
        }

        static let acceptCases: [AcceptCase] = [
            AcceptCase(accept: nil, format: .text),
            AcceptCase(accept: "", format: .text),
            AcceptCase(accept: "*/*", format: .text),
            AcceptCase(accept: "text/html", format: .html),
            AcceptCase(accept: "application/xhtml+xml", format: .html),
            AcceptCase(accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", format: .html),
            AcceptCase(accept: "application/json", format: .problemJSON),
            AcceptCase(accept: "application/problem+json", format: .problemJSON),
            AcceptCase(accept: "application/*+json", format: .problemJSON),
            AcceptCase(accept: "Application/JSON", format: .problemJSON),
            AcceptCase(accept: "text/plain", format: .text),
            AcceptCase(accept: "application/json, text/html", format: .problemJSON),
            AcceptCase(accept: "text/html, application/json", format: .html),
            AcceptCase(accept: "text/html;q=0.5, application/json", format: .problemJSON),
            AcceptCase(accept: "application/json;q=0.4, text/html;q=0.9", format: .html),
            AcceptCase(accept: "text/html; q=0.8 , application/json ; q=0.9", format: .problemJSON),
            AcceptCase(accept: "text/plain, text/html", format: .text),
            AcceptCase(accept: "text/plain;q=0.1, text/html;q=0.2", format: .html),
            AcceptCase(accept: "text/html;q=0", format: .text),
            AcceptCase(accept: "application/json;q=0, */*", format: .text),
            AcceptCase(accept: "image/png, */*;q=0.5", format: .text),
            AcceptCase(accept: "text/html;level=1;q=0.7, application/json;q=0.6", format: .html),
            AcceptCase(accept: "text/html;Q=0.1, application/json;q=0.2", format: .problemJSON),
        ]

        @Test(arguments: Self.acceptCases)
        func formatIsNegotiatedFromAccept(_ testCase: AcceptCase) {
            #expect(ErrorResponse.negotiate(accept: testCase.accept) == testCase.format)
        }

        @Test(arguments: [
            (ErrorResponse.Format.html, "text/html; charset=utf-8"),
            (.problemJSON, "application/problem+json"),
            (.text, "text/plain; charset=utf-8"),
        ])
        func contentTypes(_ format: ErrorResponse.Format, _ contentType: String) {
            #expect(format.contentType == contentType)
        }

        // MARK: - Bodies

        static func problem(_ response: ErrorResponse) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8))
            return try #require(object as? [String: Any])
        }

        @Test func problemJSONBodyWithDetailsExposed() throws {
            let failure = ProxyFailure(
                type: .connectionRefused, phase: .connect, nextHop: "10.0.0.3:8080", details: "said \"no\" \\ twice\n")
            let response = ErrorResponse(
                failure: failure, requestID: "rid-\"1\"", format: .problemJSON, exposeDetails: true)
            #expect(response.status == 502)
            #expect(response.format == .problemJSON)
            #expect(response.body.hasSuffix("}\n"))
            let json = try Self.problem(response)
            #expect(json["type"] as? String == "urn:gatehouse:proxy-status:connection_refused")
            #expect(json["title"] as? String == "Bad Gateway")
            #expect(json["status"] as? Int == 502)
            #expect(json["detail"] as? String == ProxyStatusError.connectionRefused.summary)
            #expect(json["proxy_status"] as? String == "connection_refused")
            #expect(json["failing_hop"] as? String == "upstream")
            #expect(json["request_id"] as? String == "rid-\"1\"")
            #expect(json["next_hop"] as? String == "10.0.0.3:8080")
            #expect(json["details"] as? String == "said \"no\" \\ twice\n")
            #expect(json.count == 9)
        }

        @Test func problemJSONBodyHidesNextHopAndDetails() throws {
            let failure = ProxyFailure(
                type: .dnsTimeout, phase: .connect, nextHop: "app.internal:3000", details: "EAI_AGAIN")
            let response = ErrorResponse(failure: failure, requestID: "abc", format: .problemJSON, exposeDetails: false)
            #expect(response.status == 504)
            let json = try Self.problem(response)
            #expect(json["title"] as? String == "Gateway Timeout")
            #expect(json["failing_hop"] as? String == "resolver")
            #expect(json["request_id"] as? String == "abc")
            #expect(json["next_hop"] == nil)
            #expect(json["details"] == nil)
            #expect(!response.body.contains("app.internal"))
            #expect(
                Set(json.keys) == ["type", "title", "status", "detail", "proxy_status", "failing_hop", "request_id"])
        }

        @Test(arguments: ProxyStatusError.allCases)
        func problemJSONIsValidForEveryType(_ type: ProxyStatusError) throws {
            let failure = ProxyFailure(type: type, phase: .connect, nextHop: "h:1", details: "d")
            let json = try Self.problem(
                ErrorResponse(failure: failure, requestID: "r", format: .problemJSON, exposeDetails: true))
            #expect(json["status"] as? Int == type.statusCode)
            #expect(json["proxy_status"] as? String == type.token)
            #expect(json["failing_hop"] as? String == type.failingHop.rawValue)
        }

        @Test func textBody() {
            let response = ErrorResponse(failure: Self.refused, requestID: "rid-1", format: .text, exposeDetails: true)
            #expect(
                response.body == """
                    502 Bad Gateway
                    \(ProxyStatusError.connectionRefused.summary)
                    proxy-status: connection_refused
                    request-id: rid-1
                    next-hop: 10.0.0.3:8080
                    details: Connection refused

                    """)
            let hidden = ErrorResponse(failure: Self.refused, requestID: "rid-1", format: .text, exposeDetails: false)
            #expect(!hidden.body.contains("10.0.0.3") && !hidden.body.contains("details"))
            #expect(hidden.body.hasSuffix("request-id: rid-1\n"))
        }

        @Test func htmlPageEscapesAndMarksTheFailingHop() {
            let failure = ProxyFailure(
                type: .connectionRefused, phase: .connect, nextHop: "<b>host</b>:80",
                details: "<script>alert('x')</script> & \"more\"")
            let response = ErrorResponse(failure: failure, requestID: "<rid>", format: .html, exposeDetails: true)
            let body = response.body
            #expect(response.status == 502)
            #expect(!body.contains("<script>"))
            #expect(!body.contains("<b>"))
            #expect(body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;"))
            #expect(body.contains("<li class=\"bad\">✗ Upstream &lt;b&gt;host&lt;/b&gt;:80</li>"))
            #expect(body.contains("<li class=\"ok\">✓ Gateway</li>"))
            #expect(body.contains("<code>&lt;rid&gt;</code>"))
            #expect(body.contains("<title>502 Bad Gateway</title>"))
            #expect(body.contains("<code>connection_refused</code>"))
        }

        @Test func htmlPageMarksTheResolverOrTheGateway() {
            let dns = ErrorResponse(
                failure: ProxyFailure(type: .dnsError, phase: .connect, nextHop: "app:1"), requestID: "r",
                format: .html,
                exposeDetails: false)
            #expect(dns.body.contains("<li class=\"bad\">✗ DNS</li>"))
            #expect(dns.body.contains("<li class=\"ok\">✓ Upstream</li>"))
            #expect(!dns.body.contains("app:1"))
            let loop = ErrorResponse(
                failure: ProxyFailure(type: .proxyLoopDetected, phase: .route), requestID: "r", format: .html,
                exposeDetails: true)
            #expect(loop.body.contains("<li class=\"bad\">✗ Gateway</li>"))
            #expect(!loop.body.contains("DNS"))
            #expect(!loop.body.contains("Details:"))
        }
    }
}
