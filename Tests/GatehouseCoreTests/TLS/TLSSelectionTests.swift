import GatehouseCore
import GatehouseErrors
import Testing

/// The pure parts of TLS: which certificate a listener presents for an SNI name, and how a handshake
/// failure is classified (shared by the data path, the health checks and `gatehouse doctor`).
@Suite("TLS selection and classification")
struct TLSSelectionTests {
    let selector = CertificateSelector(names: [["a.test"], ["b.test", "www.b.test"], ["*.wild.test"], ["x.wild.test"]])

    @Test("exact names, case and trailing dot ignored")
    func exact() {
        #expect(self.selector.select("a.test") == 0)
        #expect(self.selector.select("WWW.B.TEST") == 1)
        #expect(self.selector.select("b.test.") == 1)
    }

    @Test("an exact name beats a wildcard that comes first; a wildcard covers one label only")
    func wildcard() {
        #expect(self.selector.select("x.wild.test") == 3)
        #expect(self.selector.select("shop.wild.test") == 2)
        #expect(self.selector.select("a.b.wild.test") == 0)
        #expect(self.selector.select("wild.test") == 0)
    }

    @Test("no name or an unknown name: the first certificate")
    func fallback() {
        #expect(self.selector.select(nil) == 0)
        #expect(self.selector.select("") == 0)
        #expect(self.selector.select("other.test") == 0)
        #expect(self.selector.select("localhost") == 0)
    }

    @Test("BoringSSL reasons → RFC 9209 types")
    func classification() {
        let verify = "handshakeFailed(sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at x.cc:1]))"
        #expect(TLSClassification.kind(errorText: verify) == .certificateVerifyFailed)
        #expect(TLSClassification.kind(errorText: verify).proxyStatus == .tlsCertificateError)
        let alert = "error:10000410:SSL routines:OPENSSL_internal:SSLV3_ALERT_HANDSHAKE_FAILURE"
        #expect(TLSClassification.kind(errorText: alert) == .alert("handshake_failure"))
        #expect(TLSClassification.kind(errorText: alert).proxyStatus == .tlsAlertReceived)
        let plain = "error:100000f7:SSL routines:OPENSSL_internal:WRONG_VERSION_NUMBER"
        #expect(TLSClassification.kind(errorText: plain).isNotTLS)
        #expect(TLSClassification.kind(errorText: plain).proxyStatus == .tlsProtocolError)
        #expect(TLSFailureKind.timedOut(.seconds(2)).proxyStatus == .connectionTimeout)
    }

    @Test("why a chain failed: dates first, then self-signed, then unknown CA")
    func certificateProblems() {
        let now = 1_800_000_000
        let leaf = CertificateInfo(subject: "CN=a", issuer: "CN=CA", notBefore: now - 100, notAfter: now + 100)
        var expired = leaf
        expired.notAfter = now - 86_400 * 3
        #expect(CertificateProblem.judge(chain: [expired], now: now) == .expired(expired))
        #expect(CertificateProblem.judge(chain: [expired], now: now).summary(now: now).contains("3 days ago"))
        var future = leaf
        future.notBefore = now + 10
        #expect(CertificateProblem.judge(chain: [future], now: now) == .notYetValid(future))
        let selfSigned = CertificateInfo(subject: "CN=a", issuer: "CN=a", notBefore: now - 1, notAfter: now + 1)
        #expect(CertificateProblem.judge(chain: [selfSigned], now: now) == .selfSigned(selfSigned))
        #expect(CertificateProblem.judge(chain: [leaf], now: now) == .unknownCA(leaf))
        #expect(CertificateProblem.judge(chain: [leaf], now: now).summary(now: now).contains("unknown CA: CN=CA"))
        #expect(CertificateProblem.judge(chain: [], now: now) == .unknown)
    }
}
