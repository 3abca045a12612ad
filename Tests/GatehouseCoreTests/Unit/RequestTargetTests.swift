import NIOHTTP1
import Testing

@testable import GatehouseCore

extension Unit {
    /// `RequestTarget.parse`: the target reduced to the origin form that is forwarded.
    @Suite struct RequestTargetTests {
        @Test(
            arguments: [
                ("/", "/", nil),
                ("/a/b?c=d&e=%2F", "/a/b?c=d&e=%2F", nil),
                ("/a:b@c!$&'()*+,;=-._~", "/a:b@c!$&'()*+,;=-._~", nil),
                ("http://a.example/x?y", "/x?y", "a.example"),
                ("HTTP://a.example", "/", "a.example"),
                ("https://a.example:8443?q", "/?q", "a.example:8443"),
                ("http://[::1]:80/p", "/p", "[::1]:80"),
            ] as [(String, String, String?)])
        func acceptedTargets(_ uri: String, _ path: String, _ authority: String?) throws {
            let target = try RequestTarget.parse(uri, method: .GET, maxBytes: 8192)
            #expect(target.path == path)
            #expect(target.authority == authority)
        }

        @Test(arguments: [
            ("a/b", 400), ("/a#b", 400), ("/a b", 400), ("/a%2", 400), ("/a%gg", 400), ("/a\\b", 400),
            ("/{}", 400), ("/é", 400), ("*", 400), ("http://u@a/", 400), ("http:///x", 400), ("ftp://a/", 400),
            ("/" + String(repeating: "a", count: 100), 414),
        ])
        func refusedTargets(_ uri: String, _ status: Int) {
            let violation = #expect(throws: RequestFraming.Violation.self) {
                try RequestTarget.parse(uri, method: .GET, maxBytes: 64)
            }
            #expect(violation?.status == status, "\(uri)")
        }

        @Test func asteriskIsForOptionsOnly() throws {
            #expect(try RequestTarget.parse("*", method: .OPTIONS, maxBytes: 64).path == "*")
        }

        @Test func authoritiesCompareWithoutCaseOrDefaultPort() {
            #expect(RequestTarget.sameAuthority("A.example", "a.EXAMPLE"))
            #expect(RequestTarget.sameAuthority("a.example:80", "a.example"))
            #expect(RequestTarget.sameAuthority("a.example", " a.example:443 ", isHTTPS: true))
            #expect(!RequestTarget.sameAuthority("a.example:8080", "a.example"))
            #expect(!RequestTarget.sameAuthority("a.example", "b.example"))
            #expect(!RequestTarget.sameAuthority("a.example:443", "a.example"))
        }

        @Test func inspectionReportsExpectationsAndUpgrades() throws {
            let head = HTTPRequestHead(
                version: .http1_1, method: .POST, uri: "/",
                headers: ["Host": "a", "Expect": "100-Continue", "Upgrade": "websocket", "Content-Length": "3"])
            let facts = try RequestFraming.inspect(head)
            #expect(facts == .init(framing: .length(3), host: "a", expectsContinue: true, carriesUpgrade: true))
            let connect = HTTPRequestHead(version: .http1_1, method: .CONNECT, uri: "a:443", headers: ["Host": "a:443"])
            #expect(
                throws: RequestFraming.Violation("CONNECT (tunnelling) is not supported by this gateway", status: 501)
            ) {
                try RequestFraming.inspect(connect)
            }
        }

        @Test func framingTrailersAreForbidden() {
            #expect(RequestFraming.forbiddenTrailer(["X-Checksum": "1"]) == nil)
            for name in [
                "Content-Length", "transfer-encoding", "Host", "Connection", "Trailer", "X-Forwarded-For", "Proxy-X",
            ] {
                #expect(RequestFraming.forbiddenTrailer([name: "1"]) == name)
            }
        }
    }
}
