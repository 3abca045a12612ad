import Foundation
import GatehouseErrors
import Testing

@testable import GatehouseCore

extension Unit {
    /// The access-log line: valid JSON with every field, times and durations formatted without Foundation.
    @Suite struct RequestRecordTests {
        static func parse(_ line: String) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any])
        }

        static let fields: Set<String> = [
            "time", "request_id", "client", "method", "host", "path", "protocol", "status", "bytes", "route", "cluster", "upstream",
            "upstream_status", "connect_ms", "header_ms", "total_ms", "reused", "proxy_status", "received_status",
        ]

        @Test func fullRecordIsOneJSONLineWithEveryField() throws {
            var record = RequestRecord()
            record.startSeconds = 1_795_241_737
            record.startNanoseconds = 123_456_789
            record.requestID = "0123456789abcdef0123456789abcdef"
            record.client = "192.0.2.7:51234"
            record.method = "POST"
            record.host = "shop.example.com"
            record.path = "/api/users?name=\"a\\b\"\n"
            record.status = 502
            record.bytes = 1234
            record.route = "shop-api"
            record.cluster = "app"
            record.upstream = "10.0.0.3:8080"
            record.upstreamStatus = 503
            record.connectMilliseconds = 1.5
            record.headerMilliseconds = 12.3456
            record.totalMilliseconds = 20
            record.reusedConnection = true
            record.failure = ProxyFailure(
                type: .connectionRefused, phase: .connect, details: "Connection \"refused\"\t")
            record.receivedStatus = 503

            let line = record.jsonLine()
            #expect(line.hasSuffix("}\n"))
            #expect(line.dropLast().contains("\n") == false)
            let json = try Self.parse(line)
            #expect(Set(json.keys) == Self.fields.union(["details"]))
            #expect(json["time"] as? String == "2026-11-21T06:15:37.123Z")
            #expect(json["request_id"] as? String == "0123456789abcdef0123456789abcdef")
            #expect(json["client"] as? String == "192.0.2.7:51234")
            #expect(json["method"] as? String == "POST")
            #expect(json["host"] as? String == "shop.example.com")
            #expect(json["path"] as? String == "/api/users?name=\"a\\b\"\n")
            #expect(json["status"] as? Int == 502)
            #expect(json["bytes"] as? Int == 1234)
            #expect(json["route"] as? String == "shop-api")
            #expect(json["cluster"] as? String == "app")
            #expect(json["upstream"] as? String == "10.0.0.3:8080")
            #expect(json["upstream_status"] as? Int == 503)
            #expect(json["connect_ms"] as? Double == 1.5)
            #expect(json["header_ms"] as? Double == 12.346)
            #expect(json["total_ms"] as? Double == 20)
            #expect(json["reused"] as? Bool == true)
            #expect(json["proxy_status"] as? String == "connection_refused")
            #expect(json["received_status"] as? Int == 503)
            #expect(json["details"] as? String == "Connection \"refused\"\t")
            // The raw text keeps the three decimals.
            #expect(line.contains(#""connect_ms":1.500,"header_ms":12.346,"total_ms":20.000"#))
        }

        @Test func emptyRecordHasNullWhereAbsent() throws {
            let line = RequestRecord().jsonLine()
            let json = try Self.parse(line)
            #expect(Set(json.keys) == Self.fields)
            for key in [
                "host", "route", "cluster", "upstream", "upstream_status", "connect_ms", "header_ms", "proxy_status",
                "received_status",
            ] {
                #expect(json[key] is NSNull, "\(key) should be null")
            }
            #expect(json["time"] as? String == "1970-01-01T00:00:00.000Z")
            #expect(json["request_id"] as? String == "")
            #expect(json["status"] as? Int == 0)
            #expect(json["bytes"] as? Int == 0)
            #expect(json["total_ms"] as? Double == 0)
            #expect(json["reused"] as? Bool == false)
            #expect(line.contains(#""total_ms":0.000"#))
        }

        @Test func controlCharactersAndUnicodeAreEscapedValidly() throws {
            var record = RequestRecord()
            record.path = "/\u{0}\u{1}\u{1F}\u{7F}/caf\u{E9}/\u{1F600}"
            record.method = "GET"
            let line = record.jsonLine()
            #expect(line.contains(#"\u0000\u0001\u001f\u007f"#))
            let json = try Self.parse(line)
            #expect(json["path"] as? String == "/\u{0}\u{1}\u{1F}\u{7F}/caf\u{E9}/\u{1F600}")
        }

        @Test func failureWithoutDetailsHasNoDetailsKey() throws {
            var record = RequestRecord()
            record.failure = ProxyFailure(type: .destinationNotFound, phase: .route)
            let json = try Self.parse(record.jsonLine())
            #expect(json["proxy_status"] as? String == "destination_not_found")
            #expect(json["details"] == nil)
        }

        struct InstantCase: Sendable, CustomTestStringConvertible {
            var seconds: Int
            var nanoseconds: Int
            var text: String
            var testDescription: String { self.text }
        }

        /// Expected values computed independently (Python's `datetime`), not with the code under test.
        static let instants: [InstantCase] = [
            InstantCase(seconds: 0, nanoseconds: 0, text: "1970-01-01T00:00:00.000Z"),
            InstantCase(seconds: 951_782_400, nanoseconds: 0, text: "2000-02-29T00:00:00.000Z"),
            InstantCase(seconds: 951_868_799, nanoseconds: 999_999_999, text: "2000-02-29T23:59:59.999Z"),
            InstantCase(seconds: 1_795_241_737, nanoseconds: 123_000_000, text: "2026-11-21T06:15:37.123Z"),
            InstantCase(seconds: 1_795_241_737, nanoseconds: 123_999_999, text: "2026-11-21T06:15:37.123Z"),
            InstantCase(seconds: 946_684_799, nanoseconds: 1_000_000, text: "1999-12-31T23:59:59.001Z"),
            InstantCase(seconds: 946_684_800, nanoseconds: 10_000_000, text: "2000-01-01T00:00:00.010Z"),
            InstantCase(seconds: 1_709_164_800, nanoseconds: 0, text: "2024-02-29T00:00:00.000Z"),
            InstantCase(seconds: 68_169_600, nanoseconds: 0, text: "1972-02-29T00:00:00.000Z"),
            InstantCase(seconds: 4_107_542_399, nanoseconds: 0, text: "2100-02-28T23:59:59.000Z"),
            InstantCase(seconds: 4_107_542_400, nanoseconds: 0, text: "2100-03-01T00:00:00.000Z"),
            InstantCase(seconds: 1_234_567_890, nanoseconds: 45_000_000, text: "2009-02-13T23:31:30.045Z"),
            InstantCase(seconds: 253_402_300_799, nanoseconds: 999_000_000, text: "9999-12-31T23:59:59.999Z"),
            InstantCase(seconds: -1, nanoseconds: 0, text: "1969-12-31T23:59:59.000Z"),
            InstantCase(seconds: -86_400, nanoseconds: 500_000_000, text: "1969-12-31T00:00:00.500Z"),
            InstantCase(seconds: -2_208_988_800, nanoseconds: 0, text: "1900-01-01T00:00:00.000Z"),
        ]

        @Test(arguments: Self.instants)
        func iso8601(_ testCase: InstantCase) {
            #expect(
                RequestRecord.iso8601(seconds: testCase.seconds, nanoseconds: testCase.nanoseconds) == testCase.text)
        }

        @Test(arguments: [
            (0.0, "0.000"), (1.5, "1.500"), (12.3456, "12.346"), (0.0004, "0.000"), (0.0006, "0.001"), (0.01, "0.010"),
            (0.1, "0.100"), (999.9999, "1000.000"), (1234.5, "1234.500"), (60_000, "60000.000"),
        ])
        func milliseconds(_ value: Double, _ text: String) {
            #expect(RequestRecord.milliseconds(value) == text)
        }

        @Test(arguments: [nil, -0.5, Double.nan, Double.infinity, -Double.infinity])
        func millisecondsWithoutAValueAreNull(_ value: Double?) {
            #expect(RequestRecord.milliseconds(value) == "null")
        }

        @Test func stampStartUsesTheWallClock() {
            var record = RequestRecord()
            record.stampStart()
            let now = Int(Date().timeIntervalSince1970)
            #expect(abs(record.startSeconds - now) <= 2)
            #expect((0..<1_000_000_000).contains(record.startNanoseconds))
        }
    }
}
