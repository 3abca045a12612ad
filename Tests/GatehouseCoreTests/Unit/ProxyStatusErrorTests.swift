import GatehouseErrors
import Testing

extension Unit {
    /// The RFC 9209 vocabulary: 32 unique tokens, each with DESIGN.md's status code.
    @Suite struct ProxyStatusErrorTests {
        struct Case: Sendable, CustomTestStringConvertible {
            var token: String
            var status: Int
            var testDescription: String { "\(self.token) → \(self.status)" }
        }

        /// DESIGN.md's table ("The error model"); `destination_not_found` → 404 is our choice (nginx's
        /// "no location matched"); the rows the table does not list follow Envoy's mapping.
        static let table: [Case] = [
            Case(token: "dns_timeout", status: 504),
            Case(token: "dns_error", status: 502),
            Case(token: "destination_not_found", status: 404),
            Case(token: "destination_unavailable", status: 503),
            Case(token: "destination_ip_prohibited", status: 502),
            Case(token: "destination_ip_unroutable", status: 502),
            Case(token: "connection_refused", status: 502),
            Case(token: "connection_terminated", status: 502),
            Case(token: "connection_timeout", status: 504),
            Case(token: "connection_read_timeout", status: 504),
            Case(token: "connection_write_timeout", status: 504),
            Case(token: "connection_limit_reached", status: 503),
            Case(token: "tls_protocol_error", status: 502),
            Case(token: "tls_certificate_error", status: 502),
            Case(token: "tls_alert_received", status: 502),
            Case(token: "http_request_error", status: 400),
            Case(token: "http_request_denied", status: 429),
            Case(token: "http_response_incomplete", status: 502),
            Case(token: "http_response_header_section_size", status: 502),
            Case(token: "http_response_header_size", status: 502),
            Case(token: "http_response_body_size", status: 502),
            Case(token: "http_response_trailer_section_size", status: 502),
            Case(token: "http_response_trailer_size", status: 502),
            Case(token: "http_response_transfer_coding", status: 502),
            Case(token: "http_response_content_coding", status: 502),
            Case(token: "http_response_timeout", status: 504),
            Case(token: "http_upgrade_failed", status: 502),
            Case(token: "http_protocol_error", status: 502),
            Case(token: "proxy_internal_response", status: 502),
            Case(token: "proxy_internal_error", status: 500),
            Case(token: "proxy_configuration_error", status: 500),
            Case(token: "proxy_loop_detected", status: 502),
        ]

        @Test(arguments: Self.table)
        func tokenMapsToItsStatus(_ testCase: Case) throws {
            let error = try #require(ProxyStatusError(rawValue: testCase.token))
            #expect(error.token == testCase.token)
            #expect(error.statusCode == testCase.status)
            #expect(!error.summary.isEmpty)
            #expect(!error.fixHint.isEmpty)
        }

        @Test func thereAreExactly32UniqueTokens() {
            #expect(ProxyStatusError.allCases.count == 32)
            #expect(Set(ProxyStatusError.allCases.map(\.token)).count == 32)
            #expect(Set(ProxyStatusError.allCases.map(\.token)) == Set(Self.table.map(\.token)))
            #expect(Self.table.count == 32)
        }

        @Test(arguments: [
            (ProxyStatusError.dnsError, ProxyStatusError.Hop.resolver), (.dnsTimeout, .resolver),
            (.connectionRefused, .upstream), (.httpResponseTimeout, .upstream), (.destinationUnavailable, .upstream),
            (.destinationNotFound, .gateway), (.proxyLoopDetected, .gateway), (.connectionLimitReached, .gateway),
            (.httpRequestError, .gateway), (.proxyInternalError, .gateway),
        ])
        func failingHop(_ error: ProxyStatusError, _ hop: ProxyStatusError.Hop) {
            #expect(error.failingHop == hop)
        }
    }
}
