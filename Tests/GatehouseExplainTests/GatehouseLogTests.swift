import GatehouseErrors
import Testing

@testable import GatehouseExplain

@Suite("Gatehouse JSON access log")
struct GatehouseLogTests {
    static func line(status: Int, proxyStatus: String?, received: Int?) -> String {
        let error = proxyStatus.map { "\"\($0)\"" } ?? "null"
        let receivedStatus = received.map(String.init) ?? "null"
        return
            #"{"time":"2026-11-21T06:15:37.123Z","request_id":"6f1c","client":"127.0.0.1:53211","method":"GET","host":"shop.example.com","path":"/cart","status":\#(status),"bytes":512,"route":"routes[0]","cluster":"app","upstream":"127.0.0.1:3000","upstream_status":null,"connect_ms":null,"header_ms":null,"total_ms":0.41,"proxy_status":\#(error),"received_status":\#(receivedStatus)}"#
    }

    @Test func gatewayErrorLine() throws {
        let parsed = try #require(Parse.event(Self.line(status: 502, proxyStatus: "connection_refused", received: nil)))
        #expect(parsed.format == .gatehouse)
        guard case .failure(let failure) = parsed.event else {
            Issue.record("expected failure")
            return
        }
        #expect(failure.failureClass == .gatehouse(.connectionRefused))
        #expect(failure.upstream == "127.0.0.1:3000")
        #expect(failure.family == .gatehouse)
        #expect(failure.time == Parse.millis(2026, 11, 21, 6, 15, 37, 123))
    }

    @Test func passedThroughUpstreamErrorHasNoProxyStatus() throws {
        let findings = Parse.findings([Self.line(status: 502, proxyStatus: nil, received: 502)])
        let top = try #require(findings.first)
        #expect(top.cause == .upstreamReturned502)
        #expect(top.proxyStatusError == nil)
    }

    @Test func successIsNotAFinding() {
        #expect(Parse.findings([Self.line(status: 200, proxyStatus: nil, received: nil)]).isEmpty)
    }

    /// The brief's mapping from Gatehouse's `proxy_status` to cause ids.
    @Test(arguments: [
        ("connection_refused", Cause.upstreamNotListening), ("connection_timeout", .upstreamConnectTimeout),
        ("connection_read_timeout", .upstreamResponseTimeout), ("connection_terminated", .upstreamClosedBeforeResponse),
        ("http_protocol_error", .invalidResponseHeader), ("http_response_header_section_size", .responseHeaderTooLarge),
        ("http_response_transfer_coding", .invalidChunkedEncoding),
        ("http_response_incomplete", .upstreamClosedMidBody),
        ("destination_unavailable", .noHealthyUpstream), ("dns_error", .dnsNXDomain), ("dns_timeout", .dnsTimeout),
        ("connection_limit_reached", .upstreamConnectionLimit), ("proxy_loop_detected", .forwardingLoop),
        ("tls_certificate_error", .tlsUntrustedCertificate), ("tls_alert_received", .tlsClientCertificateRequired),
        ("tls_protocol_error", .tlsToPlaintextUpstream),
    ])
    func proxyStatusMapsToCause(_ token: String, _ cause: Cause) throws {
        let top = try #require(Parse.findings([Self.line(status: 502, proxyStatus: token, received: nil)]).first)
        #expect(top.cause == cause)
        #expect(top.proxyStatusError?.rawValue == token, "the logged Proxy-Status is kept as is")
    }

    @Test func everyGatewayTokenHasACause() {
        let notGatewayErrors: Set<ProxyStatusError> = [.httpRequestError, .proxyInternalResponse]
        for error in ProxyStatusError.allCases where !notGatewayErrors.contains(error) {
            #expect(Cause(gatehouseProxyStatus: error) != nil, "\(error.rawValue)")
        }
    }
}
