import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import GatehouseOrigins
import Testing

/// The TLS hop against a NIOSSL server with certificates made in the test by `openssl`: each bad
/// certificate gives `tls_certificate_error` with its own reason; a CA passed with `--ca-file` is trusted.
@Suite("doctor's TLS hop", .timeLimit(.minutes(1)))
struct TLSDoctorTests {
    /// Serves `leaf` over TLS on 127.0.0.1 and diagnoses `https://127.0.0.1:PORT/`.
    private func diagnoseTLS(_ leaf: TestCertificates.Leaf, trustCA: Bool) async throws -> DoctorReport {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        let files = certificates.leaf(leaf)
        let server = try await TLSTestServer.start(certificate: files.certificate, key: files.key)
        let report = await diagnose(
            port: server.port, scheme: .https, keepAliveMax: .zero, caFile: trustCA ? certificates.caFile : nil)
        try await server.stop()
        return report
    }

    @Test("self-signed certificate → tls_certificate_error, reason self-signed")
    func selfSigned() async throws {
        let report = try await self.diagnoseTLS(.selfSigned, trustCA: false)
        #expect(report.verdict.error == .tlsCertificateError, "\(report.dump)")
        #expect(report.verdict.step == "tls")
        #expect(report.verdict.cause.hasPrefix("self-signed certificate: CN=localhost"))
        #expect(report.step("http")?.outcome == .skipped)
    }

    @Test("expired certificate (from a trusted CA) → tls_certificate_error, reason expired")
    func expired() async throws {
        let report = try await self.diagnoseTLS(.expired, trustCA: true)
        #expect(report.verdict.error == .tlsCertificateError, "\(report.dump)")
        #expect(report.verdict.cause.hasPrefix("certificate expired: CN=localhost expired on 2020-02-01"))
        #expect(report.verdict.fix.contains("Renew"))
    }

    @Test("expired and untrusted: expiry is still the reason given first")
    func expiredUntrusted() async throws {
        let report = try await self.diagnoseTLS(.expired, trustCA: false)
        #expect(report.verdict.error == .tlsCertificateError, "\(report.dump)")
        #expect(report.verdict.cause.hasPrefix("certificate expired"))
    }

    @Test("certificate for another name → tls_certificate_error, reason name mismatch")
    func wrongName() async throws {
        let report = try await self.diagnoseTLS(.wrongName, trustCA: true)
        #expect(report.verdict.error == .tlsCertificateError, "\(report.dump)")
        #expect(report.verdict.cause.hasPrefix("certificate name mismatch: the certificate is not valid for 127.0.0.1"))
        #expect(report.verdict.cause.contains("DNS:wrong.example"), "\(report.dump)")
    }

    @Test("certificate from a CA the doctor was not given → tls_certificate_error, reason unknown CA")
    func unknownCA() async throws {
        let report = try await self.diagnoseTLS(.valid, trustCA: false)
        #expect(report.verdict.error == .tlsCertificateError, "\(report.dump)")
        #expect(report.verdict.cause.hasPrefix("certificate signed by an unknown CA: CN=Gatehouse Doctor Test CA"))
        #expect(report.verdict.fix.contains("--ca-file"))
    }

    @Test("the same chain with --ca-file → the TLS hop passes and the request is made over it")
    func trustedWithCAFile() async throws {
        let report = try await self.diagnoseTLS(.valid, trustCA: true)
        #expect(report.verdict.healthy, "\(report.dump)")
        let tls = try #require(report.step("tls"))
        #expect(tls.outcome == .ok)
        #expect(tls.detail.contains("TLSv1."))
        #expect(tls.detail.contains("CN=localhost issued by CN=Gatehouse Doctor Test CA"))
        #expect(tls.detail.contains("name matches 127.0.0.1"))
        #expect(report.step("http")?.detail.hasPrefix("200 OK") == true)
    }

    @Test("a certificate expiring within 14 days is a warning, not a failure")
    func expiringSoon() async throws {
        let report = try await self.diagnoseTLS(.expiringSoon, trustCA: true)
        #expect(report.step("tls")?.outcome == .warning, "\(report.dump)")
        #expect(report.verdict.healthy)
        #expect(report.verdict.cause.contains("expires in 4 days") || report.verdict.cause.contains("expires in 5 days"))
    }

    @Test("plain HTTP on the port → tls_protocol_error ('does not speak TLS')")
    func plainHTTPOnTLSPort() async throws {
        let report = try await withOrigin(.healthy(name: "plain")) { origin in
            await diagnose(port: origin.port, scheme: .https)
        }
        #expect(report.verdict.error == .tlsProtocolError, "\(report.dump)")
        #expect(report.verdict.cause.contains("does not speak TLS"))
    }
}
