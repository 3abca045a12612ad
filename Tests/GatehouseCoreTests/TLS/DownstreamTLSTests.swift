import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import NIOCore
import NIOSSL
import Testing

/// TLS termination on a listener, with a NIOSSL client on a real socket: the certificate follows the
/// SNI name, old TLS versions are refused (and counted), and a reload swaps the certificate for new
/// connections.
@Suite("downstream TLS", .serialized, .timeLimit(.minutes(2)))
struct DownstreamTLSTests {
    private func pair(_ pki: TestPKI, _ leaf: TestPKI.Leaf) throws -> CertificatePair {
        let files = pki.leaf(leaf)
        return try CertificatePair.load(certFile: files.certificate, keyFile: files.key)
    }

    private func fetch(
        _ gateway: TestGateway, pki: TestPKI, serverName: String?, maxVersion: TLSVersion? = nil
    ) async throws -> TLSClientResult {
        try await TLSTestClient.fetch(
            port: gateway.port, serverName: serverName, trustRoots: try NIOSSLCertificate.fromPEMFile(pki.caFile),
            maxVersion: maxVersion, group: gateway.group)
    }

    @Test("the certificate follows SNI: exact names, a wildcard, and the first as the default")
    func sniSelection() async throws {
        let pki = try await TestPKI.shared()
        let tls = ListenerTLS(certificates: [try self.pair(pki, .siteA), try self.pair(pki, .siteB), try self.pair(pki, .wildcard)])
        try await withGateway([.healthy(name: "app")], configure: { $0.listeners[0].tls = tls }) { gateway in
            let a = try await self.fetch(gateway, pki: pki, serverName: "a.test")
            #expect(a.names == ["a.test"], "\(a)")
            #expect(a.response.hasPrefix("HTTP/1.1 200"), "\(a)")
            #expect(a.alpn == "http/1.1")
            let b = try await self.fetch(gateway, pki: pki, serverName: "B.Test")
            #expect(b.names == ["b.test"], "\(b)")
            #expect(b.response.hasPrefix("HTTP/1.1 200"), "\(b)")
            let wild = try await self.fetch(gateway, pki: pki, serverName: "shop.wild.test")
            #expect(wild.names == ["*.wild.test"], "\(wild)")
            let unknown = try await self.fetch(gateway, pki: pki, serverName: "other.test")
            #expect(unknown.names == ["a.test"], "\(unknown)")
            let none = try await self.fetch(gateway, pki: pki, serverName: nil)
            #expect(none.names == ["a.test"], "\(none)")
        }
    }

    @Test("TLS 1.1 is refused (default min_version 1.2), logged and counted in /metrics")
    func oldVersionRefused() async throws {
        let pki = try await TestPKI.shared()
        let tls = ListenerTLS(certificates: [try self.pair(pki, .valid)])
        try await withGateway([.healthy(name: "app")], configure: { $0.listeners[0].tls = tls }) { gateway in
            let old = try await self.fetch(gateway, pki: pki, serverName: "localhost", maxVersion: .tlsv11)
            #expect(old.error != nil, "\(old)")
            #expect(old.response.isEmpty)
            let current = try await self.fetch(gateway, pki: pki, serverName: "localhost", maxVersion: .tlsv12)
            #expect(current.version == .tlsv12)
            #expect(current.response.hasPrefix("HTTP/1.1 200"), "\(current)")
            var exposition = ""
            _ = try await eventually("the failed handshake counted") {
                exposition = String(decoding: await gateway.proxy.metricsExposition(), as: UTF8.self)
                return exposition.contains("gatehouse_downstream_tls_handshake_failures_total{")
            }
            let line = exposition.split(separator: "\n").first { $0.hasPrefix("gatehouse_downstream_tls_handshake_failures_total{") }
            #expect(line?.contains("listener=\"test\"") == true, "\(line ?? "")")
            #expect(line?.hasSuffix(" 1") == true, "\(line ?? "")")
        }
    }

    @Test("min_version 1.3 refuses a TLS 1.2 client")
    func minimumVersion13() async throws {
        let pki = try await TestPKI.shared()
        let tls = ListenerTLS(certificates: [try self.pair(pki, .valid)], minimumVersion: .tls13)
        try await withGateway([.healthy(name: "app")], configure: { $0.listeners[0].tls = tls }) { gateway in
            let twelve = try await self.fetch(gateway, pki: pki, serverName: "localhost", maxVersion: .tlsv12)
            #expect(twelve.error != nil, "\(twelve)")
            let thirteen = try await self.fetch(gateway, pki: pki, serverName: "localhost")
            #expect(thirteen.version == .tlsv13)
            #expect(thirteen.response.hasPrefix("HTTP/1.1 200"), "\(thirteen)")
        }
    }

    @Test("a reload swaps the certificate for new connections")
    func reloadSwapsCertificate() async throws {
        let pki = try await TestPKI.shared()
        let before = ListenerTLS(certificates: [try self.pair(pki, .valid)])
        try await withGateway([.healthy(name: "app")], configure: { $0.listeners[0].tls = before }) { gateway in
            let first = try await self.fetch(gateway, pki: pki, serverName: "a.test")
            #expect(first.names.contains("localhost"), "\(first)")
            var configuration = gateway.proxy.snapshot.configuration
            configuration.listeners[0].tls = ListenerTLS(certificates: [try self.pair(pki, .siteA)])
            let report = try await gateway.proxy.reload(configuration)
            #expect(report.changes.contains { $0.contains("tls changed") }, "\(report.changes)")
            let second = try await self.fetch(gateway, pki: pki, serverName: "a.test")
            #expect(second.names == ["a.test"], "\(second)")
            #expect(second.response.hasPrefix("HTTP/1.1 200"), "\(second)")
        }
    }

    @Test("plain HTTP to the TLS port gets no HTTP answer and is counted as not TLS")
    func plainHTTPToTLSPort() async throws {
        let pki = try await TestPKI.shared()
        let tls = ListenerTLS(certificates: [try self.pair(pki, .valid)])
        try await withGateway([.healthy(name: "app")], configure: { $0.listeners[0].tls = tls }) { gateway in
            let client = try await gateway.client()
            try await client.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            let response = try? await client.response(timeout: .seconds(5))
            await client.close()
            #expect(response == nil || response?.status != 200)
            _ = try await eventually("the failed handshake counted") {
                let text = String(decoding: await gateway.proxy.metricsExposition(), as: UTF8.self)
                return text.contains("gatehouse_downstream_tls_handshake_failures_total{")
            }
        }
    }
}
