import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import NIOCore
import NIOSSL
import Testing

/// TLS to the upstream against real TLS origins on 127.0.0.1 with certificates made by `openssl` in
/// the test: each broken certificate is one 502 whose Proxy-Status type and details say which.
@Suite("upstream TLS", .serialized, .timeLimit(.minutes(2)))
struct UpstreamTLSTests {
    /// A cluster `app` of one TLS origin serving `leaf`, trusting the test CA (unless `tls` says otherwise).
    private func proxy(
        _ leaf: TestPKI.Leaf, pki: TestPKI, tls: ((TestPKI) throws -> UpstreamTLS)? = nil,
        _ body: (TestGateway, TLSOrigin) async throws -> Void
    ) async throws {
        let files = pki.leaf(leaf)
        let origin = try await TLSOrigin.start(certificate: files.certificate, key: files.key)
        do {
            let settings = try tls?(pki) ?? UpstreamTLS(caFile: pki.caFile, trustRoots: CertificatePair.readCertificates(pki.caFile))
            try await withGateway(
                [], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)],
                app: { servers in Cluster(name: "app", servers: servers, tls: settings) }
            ) { gateway in try await body(gateway, origin) }
        } catch {
            try? await origin.stop()
            throw error
        }
        try await origin.stop()
    }

    /// Two TLS origins, one with the expired certificate and one with the valid one, and the
    /// settings that trust the test CA; both are stopped when `body` ends, whatever it throws.
    private func expiredAndValid(
        _ body: (_ expired: TLSOrigin, _ valid: TLSOrigin, _ settings: UpstreamTLS) async throws -> Void
    ) async throws {
        let pki = try await TestPKI.shared()
        let expired = try await TLSOrigin.start(certificate: pki.leaf(.expired).certificate, key: pki.leaf(.expired).key)
        let valid: TLSOrigin
        do {
            valid = try await TLSOrigin.start(certificate: pki.leaf(.valid).certificate, key: pki.leaf(.valid).key)
        } catch {
            try? await expired.stop()
            throw error
        }
        do {
            let settings = UpstreamTLS(caFile: pki.caFile, trustRoots: try CertificatePair.readCertificates(pki.caFile))
            try await body(expired, valid, settings)
        } catch {
            try? await expired.stop()
            try? await valid.stop()
            throw error
        }
        try await expired.stop()
        try await valid.stop()
    }

    private func get(_ gateway: TestGateway) async throws -> TestResponse {
        try await gateway.request("GET / HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n")
    }

    @Test("valid certificate from the configured CA → 200 through TLS")
    func valid() async throws {
        let pki = try await TestPKI.shared()
        try await self.proxy(.valid, pki: pki) { gateway, _ in
            let response = try await self.get(gateway)
            #expect(response.status == 200, "\(response.header("Proxy-Status") ?? "")")
            #expect(response.bodyText == "ok\n")
        }
    }

    @Test("pooled connections are TLS connections: three requests, one upstream connection and handshake")
    func pooled() async throws {
        let pki = try await TestPKI.shared()
        let origin = try await TLSOrigin.start(
            certificate: pki.leaf(.valid).certificate, key: pki.leaf(.valid).key, keepAlive: true)
        defer { Task { try? await origin.stop() } }
        let settings = UpstreamTLS(caFile: pki.caFile, trustRoots: try CertificatePair.readCertificates(pki.caFile))
        try await withGateway(
            [], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)],
            app: { servers in Cluster(name: "app", servers: servers, tls: settings) }
        ) { gateway in
            for _ in 0..<3 {
                let response = try await gateway.request("GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n")
                #expect(response.status == 200, "\(response.header("Proxy-Status") ?? "")")
            }
            let log = try await gateway.accessLog(atLeast: 3)
            #expect(log.map { $0["reused"] as? Bool } == [false, true, true], "\(log)")
            #expect(origin.connectionsAccepted == 1)
        }
    }

    @Test("expired certificate → 502 tls_certificate_error, details say expired")
    func expired() async throws {
        let pki = try await TestPKI.shared()
        try await self.proxy(.expired, pki: pki) { gateway, _ in
            let response = try await self.get(gateway)
            #expect(response.status == 502)
            let status = response.header("Proxy-Status") ?? ""
            #expect(status.contains("error=tls_certificate_error"), "\(status)")
            #expect(status.contains("certificate expired"), "\(status)")
            #expect(status.contains("2020-02-01"), "\(status)")
            let log = try await gateway.accessLog(atLeast: 1)
            #expect(log.last?["proxy_status"] as? String == "tls_certificate_error", "\(log)")
            #expect((log.last?["details"] as? String)?.contains("certificate expired") == true, "\(log)")
        }
    }

    @Test("certificate for another name → 502 tls_certificate_error, name mismatch")
    func wrongName() async throws {
        let pki = try await TestPKI.shared()
        try await self.proxy(.wrongName, pki: pki) { gateway, _ in
            let response = try await self.get(gateway)
            #expect(response.status == 502)
            let status = response.header("Proxy-Status") ?? ""
            #expect(status.contains("error=tls_certificate_error"), "\(status)")
            #expect(status.contains("name mismatch"), "\(status)")
            #expect(status.contains("wrong.example"), "\(status)")
        }
    }

    @Test("server_name set to the certificate's name → 200 (SNI and verification use it)")
    func serverName() async throws {
        let pki = try await TestPKI.shared()
        try await self.proxy(
            .wrongName, pki: pki,
            tls: { pki in
                UpstreamTLS(caFile: pki.caFile, trustRoots: try CertificatePair.readCertificates(pki.caFile), serverName: "wrong.example")
            }
        ) { gateway, _ in
            let response = try await self.get(gateway)
            #expect(response.status == 200, "\(response.header("Proxy-Status") ?? "")")
        }
    }

    @Test("certificate from a CA not trusted → 502 tls_certificate_error, unknown CA")
    func unknownCA() async throws {
        let pki = try await TestPKI.shared()
        try await self.proxy(.unknownCA, pki: pki) { gateway, _ in
            let response = try await self.get(gateway)
            #expect(response.status == 502)
            let status = response.header("Proxy-Status") ?? ""
            #expect(status.contains("error=tls_certificate_error"), "\(status)")
            #expect(status.contains("unknown CA"), "\(status)")
            #expect(status.contains("Gatehouse Other CA"), "\(status)")
        }
    }

    @Test("self-signed certificate → 502 tls_certificate_error, self-signed")
    func selfSigned() async throws {
        let pki = try await TestPKI.shared()
        try await self.proxy(.selfSigned, pki: pki) { gateway, _ in
            let response = try await self.get(gateway)
            let status = response.header("Proxy-Status") ?? ""
            #expect(response.status == 502)
            #expect(status.contains("error=tls_certificate_error") && status.contains("self-signed"), "\(status)")
        }
    }

    @Test("an upstream that wants a client certificate: none → 502 tls_alert_received; with client_certificate → 200")
    func mutualTLS() async throws {
        let pki = try await TestPKI.shared()
        let origin = try await TLSOrigin.start(
            certificate: pki.leaf(.valid).certificate, key: pki.leaf(.valid).key, clientCA: pki.caFile)
        defer { Task { try? await origin.stop() } }
        let roots = try CertificatePair.readCertificates(pki.caFile)
        let client = try CertificatePair.load(certFile: pki.leaf(.siteA).certificate, keyFile: pki.leaf(.siteA).key)
        for settings in [UpstreamTLS(trustRoots: roots), UpstreamTLS(trustRoots: roots, clientCertificate: client)] {
            try await withGateway(
                [], extraServers: [HostPort(host: "127.0.0.1", port: origin.port)],
                app: { servers in Cluster(name: "app", servers: servers, tls: settings) }
            ) { gateway in
                let response = try await self.get(gateway)
                let status = response.header("Proxy-Status") ?? ""
                if settings.clientCertificate == nil {
                    #expect(response.status == 502)
                    #expect(status.contains("error=tls_alert_received"), "\(status)")
                    #expect(status.contains("certificate_required") || status.contains("handshake_failure"), "\(status)")
                } else {
                    #expect(response.status == 200, "\(status)")
                }
            }
        }
    }

    @Test("verify: false accepts the expired certificate (and check warns)")
    func verifyOff() async throws {
        let pki = try await TestPKI.shared()
        try await self.proxy(.expired, pki: pki, tls: { _ in UpstreamTLS(verify: false) }) { gateway, _ in
            let response = try await self.get(gateway)
            #expect(response.status == 200, "\(response.header("Proxy-Status") ?? "")")
        }
    }

    @Test("tls on against a plain-HTTP port → 502 tls_protocol_error")
    func plainHTTPPort() async throws {
        let pki = try await TestPKI.shared()
        let settings = UpstreamTLS(caFile: pki.caFile, trustRoots: try CertificatePair.readCertificates(pki.caFile))
        try await withGateway(
            [.healthy(name: "plain")], app: { servers in Cluster(name: "app", servers: servers, tls: settings) }
        ) { gateway in
            let response = try await self.get(gateway)
            #expect(response.status == 502)
            let status = response.header("Proxy-Status") ?? ""
            #expect(status.contains("error=tls_protocol_error"), "\(status)")
            #expect(status.contains("does not speak TLS") || status.contains("during the TLS handshake"), "\(status)")
        }
    }

    @Test("a TLS failure is a connect failure: retried on the next server, which answers")
    func retriedOnAnotherServer() async throws {
        try await self.expiredAndValid { expired, valid, settings in
            try await withGateway(
                [], extraServers: [HostPort(host: "127.0.0.1", port: expired.port), HostPort(host: "127.0.0.1", port: valid.port)],
                retries: Cluster.Retries(attempts: 2, conditions: [.connectFailure]),
                app: { servers in Cluster(name: "app", servers: servers, tls: settings) }
            ) { gateway in
                // Round robin: of two requests one goes to the expired server first and is retried.
                for _ in 0..<2 {
                    let response = try await self.get(gateway)
                    #expect(response.status == 200, "\(response.header("Proxy-Status") ?? "")")
                }
            }
        }
    }

    @Test("health checks go over TLS: the expired server is unhealthy with the reason")
    func healthCheckOverTLS() async throws {
        try await self.expiredAndValid { expired, valid, settings in
            let check = Cluster.HealthCheck(
                kind: .http(path: "/"), interval: .milliseconds(100), timeout: .seconds(2), healthyThreshold: 1,
                unhealthyThreshold: 1)
            try await withGateway(
                [], extraServers: [HostPort(host: "127.0.0.1", port: expired.port), HostPort(host: "127.0.0.1", port: valid.port)],
                app: { servers in Cluster(name: "app", servers: servers, healthCheck: check, tls: settings) },
                admin: Admin(address: HostPort(host: "127.0.0.1", port: 0))
            ) { gateway in
                let bad = "127.0.0.1:\(expired.port)"
                let good = "127.0.0.1:\(valid.port)"
                _ = try await eventually("expired server unhealthy, valid one healthy") {
                    let view = try await gateway.upstreams()
                    return view.state(bad) == "unhealthy" && view.state(good) == "healthy"
                }
                let view = try await gateway.upstreams()
                let checkInfo = view.server(bad)?["health_check"] as? [String: Any]
                #expect(checkInfo?["last_error"] as? String == "tls_certificate_error", "\(view.document)")
                let last = checkInfo?["last"] as? String
                #expect(last?.contains("certificate expired") == true, "\(view.document)")
                let response = try await self.get(gateway)
                #expect(response.status == 200)
            }
        }
    }
}
