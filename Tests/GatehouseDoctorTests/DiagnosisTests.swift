import GatehouseCore
import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The pure judgements: verdict building, limit comparisons, DNS/TCP/TLS/HTTP wording, without sockets.
@Suite("doctor's judgements")
struct DiagnosisTests {
    @Test("the first failed step decides the verdict; warnings alone keep it healthy")
    func verdicts() {
        let refused = Finding(error: .connectionRefused, cause: "nothing listens on 10.0.0.3:80: connection refused")
        let steps = [
            DoctorStep(name: "dns", outcome: .ok, detail: "ok"),
            DoctorStep(name: "tcp", outcome: .failed, detail: "refused", finding: refused),
            DoctorStep(name: "fds", outcome: .failed, detail: "x", finding: Finding(error: .proxyInternalError, cause: "fds")),
        ]
        let verdict = VerdictBuilder.verdict(for: steps)
        #expect(!verdict.healthy)
        #expect(verdict.error == .connectionRefused)
        #expect(verdict.status == 502)
        #expect(verdict.step == "tcp")
        #expect(verdict.fix == ProxyStatusError.connectionRefused.fixHint)
        let warned = VerdictBuilder.verdict(for: [
            DoctorStep(name: "tls", outcome: .warning, detail: "x", finding: Finding(error: nil, cause: "expires in 3 days", fix: "Renew."))
        ])
        #expect(warned.healthy)
        #expect(warned.cause == "healthy, with 1 warning: expires in 3 days")
        #expect(warned.fix == "Renew.")
        #expect(VerdictBuilder.verdict(for: []).healthy)
    }

    @Test("timing: over a limit fails with the 504 it produces; close to it warns; the whole exchange counts connect")
    func timing() {
        let limits = ProbeLimits(source: .cluster("app"), timeouts: Cluster.Timeouts(connect: .seconds(2), responseHeader: .seconds(30)))
        let late = LimitChecks.timing(TimingObservation(connect: .milliseconds(3), firstByte: .milliseconds(31_200)), limits: limits)
        #expect(late.outcome == .failed)
        #expect(late.finding?.error == .connectionReadTimeout)
        #expect(late.finding?.cause == "first byte after 31.2 s; your response_header timeout is 30 s: this produces 504 connection_read_timeout")
        let near = LimitChecks.timing(TimingObservation(firstByte: .seconds(27)), limits: limits)
        #expect(near.outcome == .warning)
        #expect(near.finding?.error == nil)
        #expect(near.finding?.cause.contains("90% of your response_header timeout (30 s)") == true)
        let slowConnect = LimitChecks.timing(TimingObservation(dns: .milliseconds(1900), connect: .milliseconds(200)), limits: ProbeLimits())
        #expect(slowConnect.finding?.error == .connectionTimeout)
        #expect(slowConnect.finding?.cause.hasPrefix("resolving and connecting took 2.1 s; Gatehouse's default connect timeout is 2 s") == true)
        let fine = LimitChecks.timing(TimingObservation(connect: .milliseconds(1), firstByte: .milliseconds(12), response: .milliseconds(13)), limits: limits)
        #expect(fine.outcome == .ok)
        #expect(fine.detail == "connect 1.0 ms of 2 s · first byte 12 ms of 30 s · whole exchange 14 ms of 300 s")
    }

    @Test("keep-alive: the race, a thin margin, a safe margin, and what could not be measured")
    func keepAlive() {
        let limits = ProbeLimits(source: .cluster("app"), poolIdleTimeout: .seconds(30))
        let race = LimitChecks.keepAlive(.closedAfter(.seconds(5)), limits: limits)
        #expect(race.outcome == .failed)
        #expect(race.finding?.error == .connectionTerminated)
        #expect(race.finding?.cause == "upstream closes idle connections after 5.0 s; your pool idle_timeout is 30 s: the keep-alive race — set idle_timeout below 5.0 s")
        #expect(race.finding?.fix.hasPrefix("Set pool.idle_timeout below 5.0 s (e.g. 4s) in cluster 'app'") == true)
        let thin = LimitChecks.keepAlive(.closedAfter(.seconds(32)), limits: limits)
        #expect(thin.outcome == .warning)
        #expect(LimitChecks.keepAlive(.closedAfter(.seconds(60)), limits: limits).outcome == .ok)
        let unchecked = LimitChecks.keepAlive(.stillOpen(after: .seconds(10)), limits: limits)
        #expect(unchecked.outcome == .ok)
        #expect(unchecked.detail.contains("run with --keepalive-max 35s"))
        #expect(LimitChecks.keepAlive(.notReusable("HTTP/1.1, Connection: close"), limits: limits).outcome == .ok)
        #expect(LimitChecks.keepAlive(.disabled, limits: limits).outcome == .skipped)
        #expect(LimitChecks.keepAlive(.unsolicitedBytes(20), limits: limits).finding?.error == .httpProtocolError)
        #expect(LimitChecks.suggestedIdleTimeout(below: .milliseconds(997)) == "790ms")
        #expect(LimitChecks.suggestedIdleTimeout(below: .seconds(65)) == "52s")
    }

    @Test("DNS: EAI_NONAME is dns_error NXDOMAIN, EAI_AGAIN dns_timeout, a timeout dns_timeout")
    func dns() {
        let nxdomain = DNSDiagnosis.step(
            DNSOutcome(addresses: [], elapsed: .milliseconds(2), failure: .lookup(code: EAI_NONAME, message: "Name or service not known")),
            host: "nope.invalid")
        #expect(nxdomain.finding?.error == .dnsError)
        #expect(nxdomain.finding?.cause.contains("NXDOMAIN") == true)
        #expect(nxdomain.finding?.cause.contains("EAI_NONAME") == true)
        let again = DNSDiagnosis.step(
            DNSOutcome(addresses: [], elapsed: .seconds(5), failure: .lookup(code: EAI_AGAIN, message: "Temporary failure in name resolution")),
            host: "x.example")
        #expect(again.finding?.error == .dnsTimeout)
        #expect(again.finding?.cause.contains("timeout or SERVFAIL") == true)
        let timedOut = DNSDiagnosis.step(DNSOutcome(addresses: [], elapsed: .seconds(5), failure: .timedOut(.seconds(5))), host: "x.example")
        #expect(timedOut.finding?.error == .dnsTimeout)
        #expect(timedOut.finding?.status == 504)
    }

    @Test("TCP: all refused fails, one of two refused warns")
    func tcp() {
        let refused = TCPAttemptSummary(address: "[::1]:80", elapsed: .milliseconds(1), error: .connectionRefused, details: "Connection refused")
        let ok = TCPAttemptSummary(address: "127.0.0.1:80", elapsed: .milliseconds(1))
        #expect(TCPDiagnosis.step([refused], timeout: .seconds(5)).finding?.error == .connectionRefused)
        let mixed = TCPDiagnosis.step([refused, ok], timeout: .seconds(5))
        #expect(mixed.outcome == .warning)
        #expect(mixed.finding?.cause.hasPrefix("1 of 2 addresses fail") == true)
        let timedOut = TCPAttemptSummary(address: "10.0.0.3:80", elapsed: .seconds(5), error: .connectionTimeout)
        #expect(TCPDiagnosis.step([timedOut], timeout: .seconds(5)).finding?.cause.contains("a firewall drops the SYN") == true)
    }

    @Test("TLS: BoringSSL reasons sorted into verify failure, alert, protocol error")
    func tlsClassification() {
        let verify = "Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /x/handshake.cc:298"
        #expect(TLSDiagnosis.classify(errorText: verify) == .certificateVerifyFailed)
        let alert = "Error: 268436526 error:1000042e:SSL routines:OPENSSL_internal:TLSV1_ALERT_CERTIFICATE_REQUIRED at /x/s3_pkt.cc:1"
        #expect(TLSDiagnosis.classify(errorText: alert) == .alert("certificate_required"))
        let wrong = "Error: 268435708 error:100000fc:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER at /x/tls_record.cc:231"
        #expect(TLSDiagnosis.classify(errorText: wrong) == .protocolError("WRONG_VERSION_NUMBER"))
        let step = TLSDiagnosis.step(TLSObservation(host: "h", failure: .alert("certificate_required"), now: 0))
        #expect(step.finding?.error == .tlsAlertReceived)
        #expect(step.finding?.cause == "the upstream sent TLS alert certificate_required (116) during the handshake")
        #expect(step.finding?.fix.contains("client certificate") == true)
    }

    @Test("TLS: the reason for a verification failure comes from the presented chain")
    func tlsReasons() {
        let day = 86_400
        let now = 20_000 * day
        func observe(_ chain: [CertificateInfo], nameMatches: Bool? = true) -> String {
            var observation = TLSObservation(host: "shop.example", failure: .certificateVerifyFailed, chain: chain, now: now)
            observation.nameMatches = nameMatches
            return TLSDiagnosis.step(observation).finding?.cause ?? ""
        }
        let ca = CertificateInfo(subject: "CN=Root", issuer: "CN=Root", notBefore: 0, notAfter: now + 999 * day)
        let leaf = CertificateInfo(subject: "CN=shop.example", issuer: "CN=Root", notBefore: now - day, notAfter: now + 90 * day, dnsNames: ["shop.example"])
        var expired = leaf
        expired.notAfter = now - 3 * day
        #expect(observe([expired]) == "certificate expired: CN=shop.example expired on 2024-10-01, 3 days ago")
        var future = leaf
        future.notBefore = now + day
        #expect(observe([future]).hasPrefix("certificate not yet valid"))
        let selfSigned = CertificateInfo(subject: "CN=shop.example", issuer: "CN=shop.example", notBefore: 0, notAfter: now + day)
        #expect(observe([selfSigned]).hasPrefix("self-signed certificate: CN=shop.example signed itself"))
        #expect(observe([leaf]).hasPrefix("certificate signed by an unknown CA: CN=Root"))
        #expect(observe([leaf, ca]).hasPrefix("certificate signed by an unknown CA"))
        #expect(observe([selfSigned], nameMatches: false).hasSuffix("; it is not valid for shop.example either"))
        let healthy = TLSDiagnosis.step(TLSObservation(host: "shop.example", version: "TLSv1.3", chain: [leaf, ca], now: now))
        #expect(healthy.outcome == .ok)
        #expect(healthy.detail == "TLSv1.3 · CN=shop.example issued by CN=Root · valid until 2025-01-02 (90 days left) · name matches shop.example · chain: CN=Root")
    }

    @Test("HTTP: an upstream's own 502 is relayed, and its Proxy-Status names the failure behind it")
    func relayed() {
        let framing = ResponseFramingValidator.validate(Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".utf8), received: 46, closed: false, headerLimit: 32_768)
        let plain = HTTPDiagnosis.step(HTTPObservation(status: 502, reason: "Bad Gateway", framing: framing), limits: ProbeLimits())
        #expect(plain.outcome == .failed)
        #expect(plain.finding?.error == nil)
        #expect(plain.finding?.status == 502)
        #expect(plain.finding?.cause.contains("received-status=502") == true)
        let proxied = HTTPDiagnosis.step(
            HTTPObservation(
                status: 502, reason: "Bad Gateway",
                headers: [.init("Proxy-Status", "gatehouse; error=connection_refused; next-hop=\"10.0.0.3:8080\"")], framing: framing),
            limits: ProbeLimits())
        #expect(proxied.finding?.error == .connectionRefused)
        #expect(proxied.finding?.cause.contains("gatehouse failed with error=connection_refused") == true)
        #expect(proxied.finding?.fix.hasPrefix("At gatehouse: ") == true)
    }

    @Test("HTTP: a header section near the limit warns before it breaks")
    func headerNearLimit() {
        let head = "HTTP/1.1 200 OK\r\nSet-Cookie: " + String(repeating: "c", count: 3600) + "\r\nContent-Length: 0\r\n\r\n"
        let framing = ResponseFramingValidator.validate(Array(head.utf8), received: head.utf8.count, closed: false, headerLimit: 4096)
        let step = HTTPDiagnosis.step(HTTPObservation(status: 200, reason: "OK", framing: framing), limits: ProbeLimits(maxResponseHeaderBytes: 4096))
        #expect(step.outcome == .warning)
        #expect(step.finding?.cause.contains("of Gatehouse's default limits.max_response_header_bytes (4 KiB)") == true)
    }
}
