import Testing

@testable import GatehouseExplain

@Suite("nginx error.log")
struct NginxErrorParserTests {
    static let refused =
        #"2026/11/21 04:43:18 [error] 15470#15470: *4 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: www.demo.test, request: "POST /v1/items?page=2 HTTP/1.1", upstream: "http://127.0.0.1:20399/v1/items?page=2", host: "127.0.0.1:20280""#

    @Test func fieldsOfAnErrorLine() throws {
        let fields = try #require(
            Self.refused.withLogLine { line in
                NginxErrorParser.fields(line, at: 0).map { fields in
                    (
                        time: fields.time, level: line.string(fields.level), message: line.string(fields.message),
                        phase: fields.phase.map(line.string), request: fields.request.map(line.string),
                        upstream: fields.upstream.map(line.string), host: fields.host.map(line.string),
                        connection: fields.connection.map(line.string)
                    )
                }
            }
        )
        #expect(fields.time == Parse.millis(2026, 11, 21, 4, 43, 18))
        #expect(fields.level == "error")
        #expect(fields.connection == "15470#15470: *4")
        #expect(fields.message == "connect() failed (111: Connection refused) while connecting to upstream")
        #expect(fields.phase == "connecting to upstream")
        #expect(fields.request == "POST /v1/items?page=2 HTTP/1.1")
        #expect(fields.upstream == "http://127.0.0.1:20399/v1/items?page=2")
        #expect(fields.host == "127.0.0.1:20280")
    }

    @Test func refusedConnectionIsAFailureOnTheUpstreamAddress() throws {
        let failure = try #require(Parse.failure(Self.refused))
        #expect(failure.failureClass == .named(.upstreamNotListening))
        #expect(failure.upstream == "127.0.0.1:20399")
        #expect(failure.family == .nginx)
        #expect(failure.isNonIdempotent)
        #expect(failure.connectionKey != nil)
        #expect(!failure.duplicatesErrorLog)
    }

    @Test func fastCGIUnixSocketIsNormalised() throws {
        let failure = try #require(
            Parse.failure(
                #"2026/11/21 04:44:29 [crit] 16379#16379: *10 connect() to unix:/run/php/php8.2-fpm.sock failed (13: Permission denied) while connecting to upstream, client: 127.0.0.1, server: x, request: "GET /report.php HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "x""#
            )
        )
        #expect(failure.upstream == "unix:/run/php/php8.2-fpm.sock")
        #expect(failure.isFastCGI)
        #expect(failure.failureClass == .named(.fastCGISocketPermission))
    }

    @Test func resolverErrorsNameTheHost() throws {
        let failure = try #require(
            Parse.failure(
                #"2026/11/21 04:44:12 [error] 16139#16139: *4 api.internal.example could not be resolved (3: Host not found), client: 127.0.0.1, server: www.demo.test, request: "GET /v1/cart HTTP/1.1", host: "127.0.0.1:20280""#
            )
        )
        #expect(failure.failureClass == .named(.dnsNXDomain))
        #expect(failure.upstream == "api.internal.example")
    }

    /// CAUSES.md §4.1: message + phase → class.
    @Test(arguments: [
        (
            "connect() failed (111: Connection refused) while connecting to upstream",
            FailureClass.named(.upstreamNotListening)
        ),
        ("upstream timed out (110: Connection timed out) while connecting to upstream", .connectTimeout),
        ("connect() failed (113: No route to host) while connecting to upstream", .named(.destinationUnroutable)),
        ("no live upstreams while connecting to upstream", .noLiveUpstreams),
        (
            "connect() to unix:/run/php.sock failed (11: Resource temporarily unavailable) while connecting to upstream",
            .named(.fastCGIPoolExhausted)
        ),
        (
            "connect() to unix:/run/php.sock failed (2: No such file or directory) while connecting to upstream",
            .named(.fastCGISocketMissing)
        ),
        ("api.internal.example could not be resolved (110: Operation timed out)", .named(.dnsTimeout)),
        ("no resolver defined to resolve api.internal.example", .named(.noResolverConfigured)),
        (
            "upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream",
            .named(.tlsUntrustedCertificate)
        ),
        (
            "upstream SSL certificate verify error: (10:certificate has expired) while SSL handshaking to upstream",
            .named(.tlsExpiredCertificate)
        ),
        (
            #"upstream SSL certificate does not match "api.internal" while SSL handshaking to upstream"#,
            .named(.tlsHostnameMismatch)
        ),
        (
            "SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert handshake failure:SSL alert number 40) while SSL handshaking to upstream",
            .named(.tlsClientCertificateRequired)
        ),
        (
            "SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version number) while SSL handshaking to upstream",
            .named(.tlsToPlaintextUpstream)
        ),
        (
            "upstream timed out (110: Connection timed out) while sending request to upstream",
            .named(.upstreamNotReadingRequest)
        ),
        (
            "writev() failed (32: Broken pipe) while sending request to upstream",
            .terminatedBeforeResponse(.upstreamClosedBeforeResponse)
        ),
        ("upstream timed out (110: Connection timed out) while reading response header from upstream", .readTimeout),
        (
            "upstream prematurely closed connection while reading response header from upstream",
            .terminatedBeforeResponse(.upstreamClosedBeforeResponse)
        ),
        (
            "recv() failed (104: Connection reset by peer) while reading response header from upstream",
            .terminatedBeforeResponse(.upstreamResetBeforeResponse)
        ),
        (
            "upstream sent no valid HTTP/1.0 header while reading response header from upstream",
            .named(.invalidStatusLine)
        ),
        (
            #"upstream sent invalid header: "X-Note: a\x0D..." while reading response header from upstream"#,
            .named(.invalidResponseHeader)
        ),
        ("upstream sent too big header while reading response header from upstream", .named(.responseHeaderTooLarge)),
        ("upstream timed out (110: Connection timed out) while reading upstream", .named(.upstreamBodyTimeout)),
        ("upstream prematurely closed connection while reading upstream", .named(.upstreamClosedMidBody)),
        ("readv() failed (104: Connection reset by peer) while reading upstream", .named(.upstreamResetMidBody)),
        ("upstream sent invalid chunked response while reading upstream", .named(.invalidChunkedEncoding)),
        ("64 worker_connections are not enough while connecting to upstream", .workerConnectionsExhausted),
    ])
    func messageClassification(_ message: String, _ expected: FailureClass) throws {
        let line =
            #"2026/11/21 04:43:18 [error] 1#1: *4 "# + message
            + #", client: 10.0.0.1, server: s, request: "GET / HTTP/1.1", upstream: "http://10.0.0.2:80/", host: "s""#
        let failure = try #require(Parse.failure(line), "not a failure: \(message)")
        #expect(failure.failureClass == expected)
    }

    @Test(arguments: [
        // Start-up and client-side chatter, and PHP's own messages, are not gateway errors.
        "2026/11/21 04:43:18 [notice] 15468#15468: nginx/1.22.1",
        "2026/11/21 04:43:18 [info] 15470#15470: *2 client 127.0.0.1 closed keepalive connection",
        #"2026/11/21 04:43:18 [error] 1#1: *4 FastCGI sent in stderr: "PHP message: upstream timed out" while reading response header from upstream, client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", upstream: "fastcgi://unix:/run/php.sock:", host: "s""#,
        #"2026/11/21 04:43:18 [error] 1#1: *4 writev() failed (104: Connection reset by peer) while sending to client, client: 1.2.3.4, server: s, request: "GET / HTTP/1.1", upstream: "http://10.0.0.2:80/", host: "s""#,
    ])
    func linesThatAreNotGatewayErrors(_ line: String) throws {
        let parsed = try #require(Parse.event(line))
        #expect(parsed.format == .nginxError)
        #expect(parsed.event.isIgnored)
    }

    @Test func temporarilyDisabledIsContext() throws {
        let parsed = try #require(
            Parse.event(
                #"2026/11/21 04:44:07 [warn] 16077#16077: *4 upstream server temporarily disabled while connecting to upstream, client: 127.0.0.1, server: s, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:20399/", host: "h""#
            )
        )
        guard case .nginxServerDisabled? = parsed.event.context else {
            Issue.record("expected context, got \(parsed.event)")
            return
        }
    }

    @Test func upstreamThatIsTheProxyItselfIsMarked() throws {
        let failure = try #require(
            Parse.failure(
                #"2026/11/21 04:43:18 [error] 1#1: *9 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 127.0.0.1, server: s, request: "GET /x HTTP/1.0", upstream: "http://127.0.0.1:8080/x", host: "127.0.0.1:8080""#
            )
        )
        #expect(failure.upstreamIsSelf)
    }
}

@Suite("nginx access.log")
struct NginxAccessParserTests {
    static func line(
        status: Int,
        addr: String,
        upstreamStatus: String,
        connect: String,
        header: String,
        response: String
    )
        -> String
    {
        #"127.0.0.1 - - [21/Nov/2026:04:43:18 +0100] "GET /v1/cart HTTP/1.1" \#(status) 157 "-" "curl/7.88.1" upstream_addr="\#(addr)" upstream_status="\#(upstreamStatus)" upstream_connect_time="\#(connect)" upstream_header_time="\#(header)" upstream_response_time="\#(response)" request_time=0.000"#
    }

    @Test func upstreamListsSplitOnCommasAndColons() {
        let text = #"x="10.0.0.1:80, 10.0.0.2:80 : 10.0.0.3:80""#
        let elements = text.withLogLine { line in
            NginxAccessParser.elements(line, 3..<text.utf8.count - 1).map(line.string)
        }
        #expect(elements == ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"])
        let last = text.withLogLine { line in NginxAccessParser.last(line, 3..<text.utf8.count - 1).map(line.string) }
        #expect(last == "10.0.0.3:80")
    }

    @Test func generatedFailureWithListsAndDashes() throws {
        let failure = try #require(
            Parse.failure(
                Self.line(
                    status: 502,
                    addr: "127.0.0.1:20399, 127.0.0.1:20398",
                    upstreamStatus: "502, 502",
                    connect: "-, -",
                    header: "-, -",
                    response: "0.000, 0.000"
                )
            )
        )
        #expect(failure.failureClass == .connectFailed)
        #expect(failure.upstream == "127.0.0.1:20398")
        #expect(failure.duplicatesErrorLog)
        #expect(failure.time == Parse.millis(2026, 11, 21, 3, 43, 18), "+0100 is converted to UTC")
    }

    @Test func relayedFiveHundredTwoHasAHeaderTime() throws {
        let failure = try #require(
            Parse.failure(
                Self.line(
                    status: 502,
                    addr: "127.0.0.1:20301",
                    upstreamStatus: "502",
                    connect: "0.001",
                    header: "0.001",
                    response: "0.001"
                )
            )
        )
        #expect(failure.failureClass == .named(.upstreamReturned502))
        #expect(!failure.duplicatesErrorLog)
    }

    @Test func timingsDecideTheGeneratedClass() throws {
        let readTimeout = try #require(
            Parse.failure(
                Self.line(
                    status: 504,
                    addr: "10.0.0.1:80",
                    upstreamStatus: "504",
                    connect: "0.000",
                    header: "-",
                    response: "2.002"
                )
            )
        )
        #expect(readTimeout.failureClass == .readTimeout)
        #expect(readTimeout.durationMillis == 2002)
        let resolver = try #require(
            Parse.failure(
                Self.line(status: 502, addr: "-", upstreamStatus: "-", connect: "-", header: "-", response: "-")
            )
        )
        #expect(resolver.failureClass == .resolverFailed)
        let group = try #require(
            Parse.failure(
                Self.line(
                    status: 502,
                    addr: "app_backend",
                    upstreamStatus: "502",
                    connect: "-",
                    header: "-",
                    response: "0.000"
                )
            )
        )
        #expect(group.failureClass == .noLiveUpstreams)
        let http09 = try #require(
            Parse.failure(
                Self.line(
                    status: 9,
                    addr: "10.0.0.1:80",
                    upstreamStatus: "200",
                    connect: "0.000",
                    header: "0.001",
                    response: "0.2"
                )
            )
        )
        #expect(http09.failureClass == .named(.invalidStatusLine))
    }

    @Test func sameServerRetryIsTheKeepAliveSignature() throws {
        let sameServer = Parse.event(
            Self.line(
                status: 200,
                addr: "10.0.0.1:80, 10.0.0.1:80",
                upstreamStatus: "502, 200",
                connect: "0.000, 0.000",
                header: "-, 0.000",
                response: "0.583, 0.000"
            )
        )
        guard case .success(let hash, let retried)? = sameServer?.event else {
            Issue.record("expected success")
            return
        }
        #expect(retried)
        #expect(hash == "10.0.0.1:80".upstreamHash)
        let otherServer = Parse.event(
            Self.line(
                status: 200,
                addr: "10.0.0.1:80, 10.0.0.2:80",
                upstreamStatus: "502, 200",
                connect: "-, 0.000",
                header: "-, 0.000",
                response: "0.000, 0.001"
            )
        )
        guard case .success(_, let retriedElsewhere)? = otherServer?.event else {
            Issue.record("expected success")
            return
        }
        #expect(!retriedElsewhere)
    }

    @Test func plainCombinedHasNoUpstreamFields() throws {
        let parsed = try #require(
            Parse.event(
                #"203.0.113.9 - alice [21/Nov/2026:04:43:18 +0000] "GET / HTTP/1.1" 504 167 "-" "Mozilla/5.0 (X11)""#
            )
        )
        #expect(parsed.format == .nginxAccess)
        guard case .failure(let failure) = parsed.event else {
            Issue.record("expected failure")
            return
        }
        #expect(failure.failureClass == .opaque)
        // Without error.log nothing says why; with an error.log free of failures, nginx relayed it.
        #expect(
            Parse.findings([#"203.0.113.9 - - [21/Nov/2026:04:43:18 +0000] "GET / HTTP/1.1" 502 1 "-" "x""#]).first?
                .cause == .unexplainedGatewayError
        )
        let relayed = Parse.findings([
            "2026/11/21 04:43:17 [notice] 1#1: start worker processes",
            #"203.0.113.9 - - [21/Nov/2026:04:43:18 +0000] "GET / HTTP/1.1" 502 1 "-" "x""#,
        ])
        #expect(relayed.first?.cause == .upstreamReturned502)
        #expect(relayed.first?.proxyStatusError == nil)
    }

    @Test func jsonAccessLogUsesTheSameRules() throws {
        let failure = try #require(
            Parse.failure(
                #"{"time_local":"21/Nov/2026:04:43:18 +0000","request":"GET /x HTTP/1.1","status":"504","upstream_addr":"10.0.0.1:80","upstream_status":"504","upstream_connect_time":"0.001","upstream_header_time":"","upstream_response_time":"60.001"}"#
            )
        )
        #expect(failure.failureClass == .readTimeout)
        #expect(failure.upstream == "10.0.0.1:80")
    }
}
