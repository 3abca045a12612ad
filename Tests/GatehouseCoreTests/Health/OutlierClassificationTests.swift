import GatehouseConfig
import GatehouseErrors
import Testing

@testable import GatehouseCore

extension HealthTests {
    @Suite("OutlierDetector.counts")
    struct OutlierClassificationTests {
        /// One finished exchange and the verdict passive health must reach on it.
        struct Row: Sendable, CustomTestStringConvertible {
            let error: ProxyStatusError?
            let status: Int
            let countServerErrors: Bool
            let expected: Bool?

            var testDescription: String {
                "\(self.error?.token ?? "no error") \(self.status) countServerErrors=\(self.countServerErrors)"
            }
        }

        static let rows: [Row] = [
            // Normal responses reset the run.
            Row(error: nil, status: 200, countServerErrors: false, expected: false),
            Row(error: nil, status: 200, countServerErrors: true, expected: false),
            Row(error: nil, status: 404, countServerErrors: true, expected: false),
            Row(error: nil, status: 499, countServerErrors: true, expected: false),
            // The server's own 5xx counts only when asked.
            Row(error: nil, status: 500, countServerErrors: false, expected: false),
            Row(error: nil, status: 500, countServerErrors: true, expected: true),
            Row(error: nil, status: 503, countServerErrors: true, expected: true),
            Row(error: nil, status: 599, countServerErrors: false, expected: false),
            // Upstream failures count, whatever the status the gateway answered with.
            Row(error: .connectionRefused, status: 502, countServerErrors: false, expected: true),
            Row(error: .connectionTimeout, status: 504, countServerErrors: false, expected: true),
            Row(error: .connectionTerminated, status: 502, countServerErrors: false, expected: true),
            Row(error: .connectionReadTimeout, status: 504, countServerErrors: true, expected: true),
            Row(error: .connectionWriteTimeout, status: 504, countServerErrors: false, expected: true),
            Row(error: .destinationIPUnroutable, status: 502, countServerErrors: false, expected: true),
            Row(error: .httpResponseIncomplete, status: 200, countServerErrors: false, expected: true),
            Row(error: .httpProtocolError, status: 502, countServerErrors: false, expected: true),
            Row(error: .httpResponseHeaderSectionSize, status: 502, countServerErrors: false, expected: true),
            Row(error: .httpResponseTransferCoding, status: 502, countServerErrors: false, expected: true),
            Row(error: .httpResponseTimeout, status: 504, countServerErrors: false, expected: true),
            Row(error: .tlsCertificateError, status: 502, countServerErrors: false, expected: true),
            Row(error: .tlsProtocolError, status: 502, countServerErrors: false, expected: true),
            // Not the server's fault: the gateway, the client, the resolver, or nothing to blame.
            Row(error: .httpRequestError, status: 400, countServerErrors: true, expected: nil),
            Row(error: .destinationNotFound, status: 404, countServerErrors: true, expected: nil),
            Row(error: .connectionLimitReached, status: 503, countServerErrors: true, expected: nil),
            Row(error: .httpRequestDenied, status: 429, countServerErrors: true, expected: nil),
            Row(error: .proxyInternalError, status: 500, countServerErrors: true, expected: nil),
            Row(error: .proxyLoopDetected, status: 502, countServerErrors: true, expected: nil),
            Row(error: .dnsError, status: 502, countServerErrors: true, expected: nil),
            Row(error: .dnsTimeout, status: 504, countServerErrors: true, expected: nil),
            Row(error: .destinationUnavailable, status: 503, countServerErrors: true, expected: nil),
            Row(error: .destinationIPProhibited, status: 502, countServerErrors: true, expected: nil),
            Row(error: .httpResponseBodySize, status: 502, countServerErrors: true, expected: nil),
            Row(error: .httpUpgradeFailed, status: 502, countServerErrors: true, expected: nil),
        ]

        @Test(arguments: Self.rows)
        func classifies(row: Row) {
            let configuration = Cluster.OutlierDetection(countServerErrors: row.countServerErrors)
            #expect(OutlierDetector.counts(row.error, status: row.status, configuration: configuration) == row.expected)
        }

        @Test(arguments: ProxyStatusError.allCases)
        func onlyUpstreamHopErrorsCount(error: ProxyStatusError) {
            for countServerErrors in [false, true] {
                let configuration = Cluster.OutlierDetection(countServerErrors: countServerErrors)
                for status in [200, 502] {
                    let verdict = OutlierDetector.counts(error, status: status, configuration: configuration)
                    // An error is never a success, and the status never changes the verdict on an error.
                    #expect(verdict != false)
                    if verdict == true {
                        #expect(error.failingHop == .upstream)
                    }
                    if error.failingHop != .upstream {
                        #expect(verdict == nil)
                    }
                }
            }
        }
    }
}
