import Testing

@testable import GatehouseExplain

@Suite("HAProxy log")
struct HAProxyParserTests {
    static let refused =
        #"127.0.0.1:42340 [21/Nov/2026:04:43:19.231] fe_main be_app/app1 0/0/-1/-1/3006 503 217 - - SC-- 1/1/0/0/3 0/0 "GET /v1/items?page=2 HTTP/1.1""#

    @Test func trafficFieldsWithMinusOneTimers() throws {
        let traffic = try #require(
            Self.refused.withLogLine { line in
                HAProxyParser.traffic(line, at: 0).map {
                    (
                        time: $0.time, frontend: line.string($0.frontend), backend: line.string($0.backend),
                        server: line.string($0.server), connect: $0.connectMillis, response: $0.responseMillis,
                        total: $0.totalMillis, status: $0.status, state: line.string($0.state),
                        feconn: $0.frontendConnections, retries: $0.retries, request: $0.request.map(line.string)
                    )
                }
            }
        )
        #expect(traffic.time == Parse.millis(2026, 11, 21, 4, 43, 19, 231))
        #expect(traffic.frontend == "fe_main")
        #expect(traffic.backend == "be_app")
        #expect(traffic.server == "app1")
        #expect(traffic.connect == -1)
        #expect(traffic.response == -1)
        #expect(traffic.total == 3006)
        #expect(traffic.status == 503)
        #expect(traffic.state == "SC--")
        #expect(traffic.feconn == 1)
        #expect(traffic.retries == 3)
        #expect(traffic.request == "GET /v1/items?page=2 HTTP/1.1")
    }

    @Test func refusedConnectionHasNoDurationAndIsRetried() throws {
        let failure = try #require(Parse.failure(Self.refused))
        #expect(failure.failureClass == .connectFailed)
        #expect(failure.upstream == "be_app/app1")
        #expect(failure.durationMillis == nil, "Tc = -1: the connection never became ready")
        #expect(failure.retried)
    }

    @Test func rsyslogPrefixIsStripped() throws {
        let parsed = try #require(Parse.event("Nov 21 04:43:47 edge-lb-2 haproxy[15847]: " + Self.refused))
        #expect(parsed.format == .haproxy)
        guard case .failure(let failure) = parsed.event else {
            Issue.record("expected failure")
            return
        }
        #expect(failure.line.hasPrefix("Nov 21"), "the evidence keeps the whole line")
        #expect(failure.time == Parse.millis(2026, 11, 21, 4, 43, 19, 231), "the accept date wins over the syslog time")
    }

    /// CAUSES.md §4.2: termination state → class.
    @Test(arguments: [
        ("be_app/app1 0/0/-1/-1/3006 503 217 - - SC--", FailureClass.connectFailed),
        ("be_app/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC--", .noServer),
        ("be_app/app1 0/0/-1/-1/4004 503 217 - - sC--", .connectTimeout),
        ("be_app/<NOSRV> 0/1002/-1/-1/1002 503 217 - - sQ--", .named(.upstreamConnectionLimit)),
        ("be_app/app1 0/0/0/-1/591 502 209 - - SH--", .terminatedBeforeResponse(.upstreamClosedBeforeResponse)),
        ("be_app/app1 0/0/0/-1/2001 504 198 - - sH--", .readTimeout),
        ("be_app/app1 0/0/0/1/201 200 1110 - - SD--", .diedMidBody),
        ("be_app/app1 0/0/0/1/2003 200 1110 - - sD--", .named(.upstreamBodyTimeout)),
        ("be_app/app1 0/0/0/-1/2003 -1 0 - - sD--", .named(.upstreamNotReadingRequest)),
        ("be_app/app1 0/0/0/-1/3 502 209 - - PH--", .invalidResponse),
        ("be_app/app1 0/0/0/1/1 502 143 - - ----", .named(.upstreamReturned502)),
        ("fe_main/<NOSRV> -1/-1/-1/-1/0 503 217 - - SC--", .named(.destinationNotConfigured)),
    ])
    func terminationStates(_ middle: String, _ expected: FailureClass) throws {
        let line = #"10.0.0.1:4242 [21/Nov/2026:04:43:19.231] fe_main "# + middle + #" 1/1/0/0/0 0/0 "GET / HTTP/1.1""#
        let failure = try #require(Parse.failure(line), "not a failure: \(middle)")
        #expect(failure.failureClass == expected)
    }

    @Test func normalAndClientSideEndsAreNotFailures() throws {
        let ok = try #require(
            Parse.event(
                #"127.0.0.1:1 [21/Nov/2026:04:43:19.231] fe_main be_ok/ok1 0/0/0/0/0 200 119 - - ---- 1/1/0/0/0 0/0 "GET /ok HTTP/1.1""#
            )
        )
        guard case .success(let hash, _) = ok.event else {
            Issue.record("expected success")
            return
        }
        #expect(hash == "be_ok/ok1".upstreamHash)
        let clientAbort = try #require(
            Parse.event(
                #"127.0.0.1:1 [21/Nov/2026:04:43:19.231] fe_main be_app/app1 0/0/0/-1/9000 -1 0 - - CH-- 1/1/0/0/0 0/0 "GET /x HTTP/1.1""#
            )
        )
        #expect(clientAbort.event.isIgnored)
    }

    @Test func eventLinesInEveryTransport() throws {
        let lines = [
            #"Server be_app/app1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 1 active and 0 backup servers left."#,
            #"[WARNING]  (16255) : Server be_app/app1 is DOWN, reason: Layer6 invalid response, info: "Server presented an SSL certificate different from the configured one", check duration: 4ms."#,
            "Nov 21 04:44:04 edge-lb-2 haproxy[16076]: Server be_app/app1 is going DOWN for maintenance (DNS NX status). 0 active and 0 backup servers left.",
        ]
        let reasons: [DownReason] = [.connectionRefused, .tlsCertificateMismatch, .dnsNXDomain]
        for (line, expected) in zip(lines, reasons) {
            let parsed = try #require(Parse.event(line))
            #expect(parsed.format == .haproxy)
            guard case .haproxyServerDown(let backend, let reason)? = parsed.event.context else {
                Issue.record("expected a server-down event: \(line)")
                continue
            }
            #expect(backend == "be_app")
            #expect(reason == expected)
        }
        guard
            case .haproxyNoServerAvailable(let backend)? = Parse.event(
                "[ALERT]    (16076) : backend 'be_app' has no server available!"
            )?.event.context
        else {
            Issue.record("expected no-server event")
            return
        }
        #expect(backend == "be_app")
        guard
            case .haproxyUnixSocketBacklog(let socketBackend)? = Parse.event(
                "Connect() failed for backend be_php: can't connect to destination unix socket, check backlog size on the server."
            )?
            .event.context
        else {
            Issue.record("expected unix-socket event")
            return
        }
        #expect(socketBackend == "be_php")
    }

    @Test func noServerTakesItsCauseFromTheEventLines() {
        let traffic =
            #"127.0.0.1:1 [21/Nov/2026:04:44:07.784] fe_main be_app/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1""#
        let down =
            #"Server be_app/app1 is DOWN, reason: Layer6 invalid response, info: "SSL handshake failure", check duration: 3ms."#
        #expect(Parse.findings([down, traffic]).first?.cause == .tlsExpiredCertificate)
        #expect(
            Parse.findings(["Server be_app/app1 is going DOWN for maintenance (DNS timeout status).", traffic]).first?
                .cause == .dnsTimeout
        )
        #expect(
            Parse.findings(["backend be_app has no server available!", traffic]).first?.cause == .noHealthyUpstream
        )
        #expect(Parse.findings([traffic]).first?.cause == .noResolverConfigured)
    }

    @Test func vagueHealthCheckYieldsToNginxsPreciseReason() throws {
        let traffic =
            #"127.0.0.1:1 [21/Nov/2026:04:44:15.119] fe_main be_app/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1""#
        let nginx =
            #"2026/11/21 04:44:14 [error] 16206#16206: *4 upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: s, request: "GET / HTTP/1.1", upstream: "https://127.0.0.1:20301/", host: "h""#
        let down =
            #"Server be_app/app1 is DOWN, reason: Layer6 invalid response, info: "SSL handshake failure", check duration: 3ms."#
        let findings = Parse.findings([nginx, down, traffic, traffic, traffic])
        #expect(findings.map(\.cause) == [.tlsUntrustedCertificate])
        #expect(findings.first?.count == 4)
    }
}
