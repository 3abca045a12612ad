import NIOHTTP1
import Testing

@testable import GatehouseCore

extension Unit {
    /// `RequestFraming.validate`: the framing every request must have before anything is forwarded.
    @Suite struct RequestFramingTests {
        static func head(_ headers: [(String, String)], version: HTTPVersion = .http1_1, method: HTTPMethod = .POST)
            -> HTTPRequestHead
        {
            HTTPRequestHead(version: version, method: method, uri: "/", headers: HTTPHeaders(headers))
        }

        struct Accepted: Sendable, CustomTestStringConvertible {
            var name: String
            var headers: [(String, String)]
            var version: HTTPVersion
            var framing: BodyFraming
            var testDescription: String { self.name }

            init(_ name: String, _ headers: [(String, String)], _ framing: BodyFraming, version: HTTPVersion = .http1_1)
            {
                self.name = name
                self.headers = headers
                self.framing = framing
                self.version = version
            }
        }

        static let accepted: [Accepted] = [
            Accepted("no body headers", [("Host", "a.example")], .none),
            Accepted("Content-Length: 0", [("Host", "a"), ("Content-Length", "0")], .none),
            Accepted("Content-Length: 42", [("Host", "a"), ("Content-Length", "42")], .length(42)),
            Accepted("leading zeros", [("Host", "a"), ("Content-Length", "007")], .length(7)),
            Accepted(
                "18 digits", [("Host", "a"), ("Content-Length", "999999999999999999")], .length(999_999_999_999_999_999)
            ),
            Accepted("lower-case name", [("host", "a"), ("content-length", "5")], .length(5)),
            Accepted("chunked", [("Host", "a"), ("Transfer-Encoding", "chunked")], .chunked),
            Accepted("Chunked, any case", [("Host", "a"), ("transfer-encoding", "ChUnKeD")], .chunked),
            Accepted("HTTP/1.0 without Host", [], .none, version: .http1_0),
            Accepted("HTTP/1.0 with a length", [("Content-Length", "3")], .length(3), version: .http1_0),
            Accepted("Host with port", [("Host", "shop.example.com:8080")], .none),
            Accepted("IPv6 Host", [("Host", "[::1]:8080")], .none),
            Accepted("tab and obs-text in a value", [("Host", "a"), ("X-Note", "caf\u{E9}\tok")], .none),
            Accepted("every tchar in a name", [("Host", "a"), ("!#$%&'*+-.^_`|~09azAZ", "v")], .none),
        ]

        @Test(arguments: Self.accepted)
        func acceptedRequestsReportTheirFraming(_ testCase: Accepted) throws {
            #expect(
                try RequestFraming.validate(Self.head(testCase.headers, version: testCase.version)) == testCase.framing)
        }

        struct Refused: Sendable, CustomTestStringConvertible {
            var name: String
            var headers: [(String, String)]
            var version: HTTPVersion
            var status: Int
            /// A fragment the reason must contain.
            var reason: String
            var testDescription: String { self.name }

            init(
                _ name: String, _ headers: [(String, String)], _ reason: String, status: Int = 400,
                version: HTTPVersion = .http1_1
            ) {
                self.name = name
                self.headers = headers
                self.reason = reason
                self.status = status
                self.version = version
            }
        }

        static let refused: [Refused] = [
            Refused("HTTP/1.1 without Host", [("Content-Length", "1")], "without Host"),
            Refused("two Host headers", [("Host", "a"), ("Host", "b")], "several Host"),
            Refused("empty Host", [("Host", "")], "invalid Host"),
            Refused("Host with a space", [("Host", "a b")], "invalid Host"),
            Refused("Host with a slash", [("Host", "a/b")], "invalid Host"),
            Refused("Host with an @", [("Host", "user@a")], "invalid Host"),
            Refused(
                "two Content-Length", [("Host", "a"), ("Content-Length", "5"), ("Content-Length", "5")],
                "several Content-Length"),
            Refused("Content-Length list", [("Host", "a"), ("Content-Length", "5, 5")], "not a single decimal"),
            Refused("signed Content-Length", [("Host", "a"), ("Content-Length", "+5")], "not a single decimal"),
            Refused("negative Content-Length", [("Host", "a"), ("Content-Length", "-1")], "not a single decimal"),
            Refused("hex Content-Length", [("Host", "a"), ("Content-Length", "0x10")], "not a single decimal"),
            Refused("empty Content-Length", [("Host", "a"), ("Content-Length", "")], "not a single decimal"),
            Refused(
                "19-digit Content-Length", [("Host", "a"), ("Content-Length", "1000000000000000000")],
                "not a single decimal"),
            Refused(
                "Content-Length and Transfer-Encoding",
                [("Host", "a"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked")], "both"),
            Refused(
                "Transfer-Encoding then Content-Length",
                [("Host", "a"), ("Transfer-Encoding", "chunked"), ("Content-Length", "5")], "both"),
            Refused(
                "two Transfer-Encoding",
                [("Host", "a"), ("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")],
                "several Transfer-Encoding"),
            Refused(
                "gzip, chunked", [("Host", "a"), ("Transfer-Encoding", "gzip, chunked")], "unsupported", status: 501),
            Refused(
                "chunked, chunked", [("Host", "a"), ("Transfer-Encoding", "chunked, chunked")], "unsupported",
                status: 501),
            Refused("identity", [("Host", "a"), ("Transfer-Encoding", "identity")], "unsupported", status: 501),
            Refused("Transfer-Encoding in HTTP/1.0", [("Transfer-Encoding", "chunked")], "HTTP/1.0", version: .http1_0),
            Refused("space in a header name", [("Host", "a"), ("X Bad", "v")], "header name"),
            Refused("colon in a header name", [("Host", "a"), ("X:Bad", "v")], "header name"),
            Refused("CR in a value", [("Host", "a"), ("X-Note", "a\rb")], "control"),
            Refused("LF in a value", [("Host", "a"), ("X-Note", "a\nInjected: 1")], "control"),
            Refused("NUL in a value", [("Host", "a"), ("X-Note", "a\u{0}b")], "control"),
            Refused("DEL in a value", [("Host", "a"), ("X-Note", "a\u{7F}b")], "control"),
        ]

        @Test(arguments: Self.refused)
        func ambiguousOrInvalidRequestsAreRefused(_ testCase: Refused) {
            let head = Self.head(testCase.headers, version: testCase.version)
            let violation = #expect(throws: RequestFraming.Violation.self) { try RequestFraming.validate(head) }
            #expect(violation?.status == testCase.status)
            #expect(violation?.reason.contains(testCase.reason) == true, "reason: \(violation?.reason ?? "none")")
        }

        @Test func reasonsNeverEchoControlCharacters() throws {
            let head = Self.head([("Host", "a"), ("Content-Length", "1\u{1B}[31m")])
            let violation = try #require(throws: RequestFraming.Violation.self) { try RequestFraming.validate(head) }
            // ESC is refused as a control character in the value before Content-Length is parsed.
            #expect(!violation.reason.unicodeScalars.contains { $0.value < 0x20 })
            #expect(RequestFraming.printable("a\u{1B}b\u{7F}c\u{E9}") == "a?b?c?")
            #expect(RequestFraming.printable(String(repeating: "x", count: 100)).count == 64)
        }
    }
}
