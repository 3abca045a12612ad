import NIOHTTP1
import Testing

@testable import GatehouseCore

extension Unit {
    /// Proxy header semantics: hop-by-hop removal, `Via`, the forwarding chain, framing re-serialised.
    @Suite struct HeaderRewriterTests {
        static let untrusted = HeaderRewriter.Downstream(clientIP: "192.0.2.7", isTrusted: false)

        static func lines(_ headers: HTTPHeaders) -> [String] { headers.map { "\($0.name): \($0.value)" } }

        static func upstream(
            _ headers: [(String, String)], method: HTTPMethod = .GET, version: HTTPVersion = .http1_1,
            framing: BodyFraming = .none, host: String = "10.0.0.3:8080",
            downstream: HeaderRewriter.Downstream = Self.untrusted
        ) -> HTTPRequestHead {
            let head = HTTPRequestHead(
                version: version, method: method, uri: "/api/users", headers: HTTPHeaders(headers))
            return HeaderRewriter.upstreamRequestHead(
                head, framing: framing, path: "/users", host: host, requestID: "rid-1", downstream: downstream,
                gatewayName: "gatehouse")
        }

        @Test func untrustedClientHeadersAreReplacedAndHopByHopHeadersDropped() {
            let head = Self.upstream([
                ("Host", "shop.example.com"), ("User-Agent", "curl/8"), ("Connection", "keep-alive"),
                ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Trailer", "X-T"), ("Upgrade", "h2c"),
                ("Proxy-Connection", "keep-alive"), ("Proxy-Authorization", "Basic c2VjcmV0"),
                ("Proxy-Authenticate", "Basic"), ("Proxy-Status", "forged; error=dns_error"), ("Proxy-Anything", "x"),
                ("Expect", "100-continue"),
                ("X-Forwarded-For", "6.6.6.6"), ("Forwarded", "for=6.6.6.6"), ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "evil.example"), ("X-Request-Id", "client-chosen"), ("Accept", "*/*"),
            ])
            #expect(head.version == .http1_1)
            #expect(head.method == .GET)
            #expect(head.uri == "/users")
            #expect(
                Self.lines(head.headers) == [
                    "Host: 10.0.0.3:8080", "User-Agent: curl/8", "Accept: */*", "Via: 1.1 gatehouse",
                    "X-Forwarded-For: 192.0.2.7", "X-Forwarded-Proto: http", "X-Forwarded-Host: shop.example.com",
                    "Forwarded: for=192.0.2.7;host=shop.example.com;proto=http", "X-Request-Id: rid-1",
                ])
        }

        @Test func trustedProxyChainIsExtended() {
            let trusted = HeaderRewriter.Downstream(clientIP: "10.1.1.1", isTrusted: true, scheme: "http")
            let head = Self.upstream(
                [
                    ("Host", "shop.example.com"), ("X-Forwarded-For", "203.0.113.1"),
                    ("X-Forwarded-For", "198.51.100.2"),
                    ("Forwarded", "for=203.0.113.1;proto=https"), ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Proto", "http"),
                    ("X-Forwarded-Host", "public.example"), ("X-Forwarded-Host", "second.example"), ("Via", "1.1 edge"),
                ], downstream: trusted)
            #expect(head.headers["X-Forwarded-For"] == ["203.0.113.1, 198.51.100.2, 10.1.1.1"])
            #expect(
                head.headers["Forwarded"] == [
                    "for=203.0.113.1;proto=https, for=10.1.1.1;host=shop.example.com;proto=http"
                ])
            #expect(head.headers["X-Forwarded-Proto"] == ["https"])
            #expect(head.headers["X-Forwarded-Host"] == ["public.example"])
            #expect(head.headers["Via"] == ["1.1 edge, 1.1 gatehouse"])
        }

        @Test func viaIsExtendedEvenFromUntrustedClientsWithTheReceivedVersion() {
            let head = Self.upstream([("Via", "1.0 fred"), ("Via", "1.1 p.example (Squid)")], version: .http1_0)
            #expect(head.headers["Via"] == ["1.0 fred, 1.1 p.example (Squid), 1.0 gatehouse"])
            #expect(head.version == .http1_1)
            // No client Host (HTTP/1.0): the forwarded host is the one sent upstream.
            #expect(head.headers["X-Forwarded-Host"] == ["10.0.0.3:8080"])
        }

        @Test func connectionTokensRemoveTheHeadersTheyNameButNeverFraming() {
            let head = Self.upstream(
                [
                    ("Host", "a.example"), ("Connection", "close, X-Secret"), ("Connection", "Content-Length, host"),
                    ("X-Secret", "s"), ("x-secret", "t"), ("X-Other", "o"), ("Content-Length", "5"),
                ], method: .POST, framing: .length(5))
            #expect(head.headers["X-Secret"] == [])
            #expect(head.headers["Connection"] == [])
            #expect(head.headers["X-Other"] == ["o"])
            #expect(head.headers["Content-Length"] == ["5"])
            #expect(head.headers["Host"] == ["10.0.0.3:8080"])
        }

        struct FramingCase: Sendable, CustomTestStringConvertible {
            var method: HTTPMethod
            var framing: BodyFraming
            var contentLength: [String]
            var transferEncoding: [String]
            var testDescription: String { "\(self.method) \(self.framing)" }
        }

        static let framingCases: [FramingCase] = [
            FramingCase(method: .GET, framing: .none, contentLength: [], transferEncoding: []),
            FramingCase(method: .HEAD, framing: .none, contentLength: [], transferEncoding: []),
            FramingCase(method: .DELETE, framing: .none, contentLength: [], transferEncoding: []),
            FramingCase(method: .POST, framing: .none, contentLength: ["0"], transferEncoding: []),
            FramingCase(method: .PUT, framing: .none, contentLength: ["0"], transferEncoding: []),
            FramingCase(method: .PATCH, framing: .none, contentLength: ["0"], transferEncoding: []),
            FramingCase(method: .POST, framing: .length(12), contentLength: ["12"], transferEncoding: []),
            FramingCase(method: .GET, framing: .length(3), contentLength: ["3"], transferEncoding: []),
            FramingCase(method: .POST, framing: .chunked, contentLength: [], transferEncoding: ["chunked"]),
        ]

        /// The client's own framing headers are never copied: the validated framing is re-serialised.
        @Test(arguments: Self.framingCases)
        func framingIsReserialised(_ testCase: FramingCase) {
            let head = Self.upstream(
                [("Host", "a.example"), ("Content-Length", "999"), ("Transfer-Encoding", "gzip")],
                method: testCase.method,
                framing: testCase.framing)
            #expect(head.headers["Content-Length"] == testCase.contentLength)
            #expect(head.headers["Transfer-Encoding"] == testCase.transferEncoding)
        }

        @Test func ipv6ClientsAndHostsWithPortsAreQuotedInForwarded() {
            let client = HeaderRewriter.Downstream(clientIP: "2001:db8::1", isTrusted: false, scheme: "https")
            let head = Self.upstream([("Host", "shop.example.com:8443")], downstream: client)
            #expect(head.headers["Forwarded"] == ["for=\"[2001:db8::1]\";host=\"shop.example.com:8443\";proto=https"])
            #expect(head.headers["X-Forwarded-For"] == ["2001:db8::1"])
            #expect(head.headers["X-Forwarded-Proto"] == ["https"])
            #expect(head.headers["X-Forwarded-Host"] == ["shop.example.com:8443"])
        }

        // MARK: - Responses

        static func downstream(
            _ headers: [(String, String)], proxyStatus: String? = nil, keepAlive: Bool = true,
            clientVersion: HTTPVersion = .http1_1
        ) -> HTTPResponseHead {
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: HTTPHeaders(headers))
            return HeaderRewriter.downstreamResponseHead(
                head, requestID: "rid-1", gatewayName: "gatehouse", proxyStatus: proxyStatus, keepAlive: keepAlive,
                clientVersion: clientVersion)
        }

        @Test func responseHopByHopHeadersAreDroppedAndViaAndRequestIDAdded() {
            let head = Self.downstream([
                ("Content-Type", "text/plain"), ("Content-Length", "5"), ("Connection", "keep-alive, X-Hop"),
                ("X-Hop", "1"), ("Keep-Alive", "timeout=5"), ("Proxy-Status", "origin; error=x"), ("Via", "1.1 origin"),
                ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Upgrade", "h2c"),
            ])
            #expect(head.status == .ok)
            #expect(head.version == .http1_1)
            #expect(
                Self.lines(head.headers) == [
                    "Content-Type: text/plain", "Content-Length: 5", "Proxy-Status: origin; error=x", "Set-Cookie: a=1",
                    "Set-Cookie: b=2", "Via: 1.1 origin, 1.1 gatehouse", "X-Request-Id: rid-1",
                ])
        }

        @Test func upstreamRequestIDAndContentLengthAreKept() {
            let head = Self.downstream([
                ("X-Request-Id", "upstream-id"), ("Connection", "content-length"), ("Content-Length", "7"),
            ])
            #expect(head.headers["X-Request-Id"] == ["upstream-id"])
            #expect(head.headers["Content-Length"] == ["7"])
        }

        @Test func proxyStatusIsAddedWhenGiven() {
            let head = Self.downstream([], proxyStatus: "gatehouse; received-status=503")
            #expect(head.headers["Proxy-Status"] == ["gatehouse; received-status=503"])
            #expect(Self.downstream([("Content-Length", "0")]).headers["Proxy-Status"] == [])
        }

        /// RFC 9209 §2: the list grows from the origin outwards, so an upstream proxy's entry stays first.
        @Test func upstreamProxyStatusIsKeptAndOursAppended() {
            let head = Self.downstream(
                [("Proxy-Status", "envoy; error=connection_refused"), ("Proxy-Authenticate", "Basic")],
                proxyStatus: "gatehouse; received-status=502")
            #expect(
                head.headers["Proxy-Status"] == ["envoy; error=connection_refused", "gatehouse; received-status=502"])
            #expect(head.headers["Proxy-Authenticate"] == [])
        }

        struct ConnectionCase: Sendable, CustomTestStringConvertible {
            var keepAlive: Bool
            var clientVersion: HTTPVersion
            var connection: [String]
            var testDescription: String {
                "keepAlive \(self.keepAlive), HTTP/\(self.clientVersion.major).\(self.clientVersion.minor)"
            }
        }

        static let connectionCases: [ConnectionCase] = [
            ConnectionCase(keepAlive: true, clientVersion: .http1_1, connection: []),
            ConnectionCase(keepAlive: false, clientVersion: .http1_1, connection: ["close"]),
            ConnectionCase(keepAlive: true, clientVersion: .http1_0, connection: ["keep-alive"]),
            ConnectionCase(keepAlive: false, clientVersion: .http1_0, connection: ["close"]),
        ]

        @Test(arguments: Self.connectionCases)
        func connectionHeaderFollowsTheGatewaysDecision(_ testCase: ConnectionCase) {
            let head = Self.downstream(
                [("Connection", "keep-alive")], keepAlive: testCase.keepAlive, clientVersion: testCase.clientVersion)
            #expect(head.headers["Connection"] == testCase.connection)
            #expect(head.version == testCase.clientVersion)
        }

        // MARK: - Loops

        struct LoopCase: Sendable, CustomTestStringConvertible {
            var via: [String]
            var looped: Bool
            var testDescription: String { self.via.isEmpty ? "no Via" : self.via.joined(separator: " | ") }
        }

        static let loopCases: [LoopCase] = [
            LoopCase(via: [], looped: false),
            LoopCase(via: ["1.1 gatehouse"], looped: true),
            LoopCase(via: ["1.0 fred, 1.1 gatehouse"], looped: true),
            LoopCase(via: ["1.0 fred", "HTTP/1.1 gatehouse (Gatehouse)"], looped: true),
            LoopCase(via: ["1.1 gatehouse-2"], looped: false),
            LoopCase(via: ["1.1 edge (gatehouse)"], looped: false),
            LoopCase(via: ["gatehouse"], looped: false),
            LoopCase(via: ["1.1 other, 1.1 another"], looped: false),
        ]

        @Test(arguments: Self.loopCases)
        func loopsAreDetectedFromVia(_ testCase: LoopCase) {
            let headers = HTTPHeaders(testCase.via.map { ("Via", $0) })
            #expect(HeaderRewriter.hasLooped(headers, gatewayName: "gatehouse") == testCase.looped)
        }
    
        struct ConnectionFieldCase: Sendable, CustomTestStringConvertible {
            var fields: [String]
            var version: HTTPVersion
            var persistent: Bool
            var named: [String]
            var testDescription: String { "\(self.fields) \(self.version)" }
        }

        /// The one pass over `Connection` that replaced NIO's `isKeepAlive` for upstream responses
        /// and the rewriter's token list: the same answers as NIO's reading, case and spacing aside.
        static let connectionFieldCases: [ConnectionFieldCase] = [
            .init(fields: [], version: .http1_1, persistent: true, named: []),
            .init(fields: [], version: .http1_0, persistent: false, named: []),
            .init(fields: ["keep-alive"], version: .http1_1, persistent: true, named: []),
            .init(fields: ["Keep-Alive"], version: .http1_0, persistent: true, named: []),
            .init(fields: ["close"], version: .http1_1, persistent: false, named: ["close"]),
            .init(fields: ["keep-alive, CLOSE"], version: .http1_0, persistent: false, named: ["close"]),
            .init(fields: ["keep-alive", "close"], version: .http1_1, persistent: false, named: ["close"]),
            .init(fields: [" Upgrade ,\tX-Secret,, "], version: .http1_1, persistent: true, named: ["upgrade", "x-secret"]),
            .init(fields: ["keep-alivex"], version: .http1_0, persistent: false, named: ["keep-alivex"]),
            .init(fields: ["closed"], version: .http1_1, persistent: true, named: ["closed"]),
        ]

        @Test(arguments: Self.connectionFieldCases) func connectionOptionsReadLikeNIO(_ testCase: ConnectionFieldCase) {
            let headers = HTTPHeaders([("Content-Type", "text/plain")] + testCase.fields.map { ("Connection", $0) })
            let options = RequestFraming.connectionOptions(headers, version: testCase.version)
            #expect(options.persistent == testCase.persistent)
            #expect(options.named == testCase.named)
            // NIO's own reading, for the cases it agrees on by construction (its decoder-made
            // headers cache the answer; these are built by hand, so it scans as ours does).
            #expect(HTTPResponseHead(version: testCase.version, status: .ok, headers: headers).isKeepAlive == testCase.persistent)
        }

        @Test func forwardedHostWithAPortIsQuotedAndEscapedOnlyWhenItMustBe() {
            #expect(HeaderRewriter.forwardedValue("shop.example.com") == "shop.example.com")
            #expect(HeaderRewriter.forwardedValue("127.0.0.1:8080") == "\"127.0.0.1:8080\"")
            #expect(HeaderRewriter.forwardedValue("a\"b") == "\"a\\\"b\"")
            #expect(HeaderRewriter.forwardedValue("caf\u{e9}:1") == "\"caf:1\"")
        }
    }
}
