import Foundation
import GatehouseConfig
@testable import GatehouseCore
import GatehouseOrigins
import Testing

/// `listeners[].tls` and `clusters.X.tls` as `gatehouse check` sees them: the files are read at load,
/// so a missing file, a key of another certificate or an expired certificate is reported at the key's
/// file:line:col.
@Suite("TLS configuration")
struct TLSConfigTests {
    private func yaml(listenerTLS: String, clusterTLS: String = "") -> String {
        """
        listeners:
          - name: public
            address: 127.0.0.1:0
            tls:
        \(listenerTLS)
        clusters:
          app:
            servers:
              - address: 127.0.0.1:8443
        \(clusterTLS)
        routes:
          - cluster: app
        """
    }

    private func certificates(_ pairs: [(String, String)]) -> String {
        "      certificates:\n" + pairs.map { "        - cert: \($0.0)\n          key: \($0.1)" }.joined(separator: "\n")
    }

    private func errors(_ yaml: String) -> [String] {
        do {
            _ = try ConfigurationLoader.parse(yaml: yaml, file: "gatehouse.yaml")
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test("valid certificates, min_version, alpn and a cluster's tls load")
    func valid() async throws {
        let pki = try await TestPKI.shared()
        let text = self.yaml(
            listenerTLS: self.certificates([pki.leaf(.siteA), pki.leaf(.siteB)]) + "\n      min_version: \"1.3\"\n      alpn: [http/1.1]",
            clusterTLS: "    tls:\n      ca_file: \(pki.caFile)\n      server_name: api.internal.test")
        let configuration = try ConfigurationLoader.parse(yaml: text, file: "gatehouse.yaml")
        let tls = try #require(configuration.listeners[0].tls)
        #expect(tls.certificates.map(\.names) == [["a.test"], ["b.test"]])
        #expect(tls.minimumVersion == .tls13)
        let upstream = try #require(configuration.clusters[0].tls)
        #expect(upstream.serverName == "api.internal.test")
        #expect(upstream.verify)
        #expect(upstream.trustRoots.count == 1)
    }

    @Test("`tls: true` turns upstream TLS on with the system trust store")
    func tlsTrue() async throws {
        let pki = try await TestPKI.shared()
        let configuration = try ConfigurationLoader.parse(
            yaml: self.yaml(listenerTLS: self.certificates([pki.leaf(.valid)]), clusterTLS: "    tls: true"),
            file: "gatehouse.yaml")
        #expect(configuration.clusters[0].tls == UpstreamTLS())
    }

    @Test("a missing certificate file is an error at its cert key")
    func missingFile() async throws {
        let pki = try await TestPKI.shared()
        let errors = self.errors(self.yaml(listenerTLS: self.certificates([("/nonexistent/cert.pem", pki.leaf(.valid).key)])))
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("gatehouse.yaml:6:17: '/nonexistent/cert.pem': cannot read the certificate file") == true, "\(errors)")
    }

    @Test("a key that belongs to another certificate is an error at its key key")
    func mismatchedKey() async throws {
        let pki = try await TestPKI.shared()
        let errors = self.errors(self.yaml(listenerTLS: self.certificates([(pki.leaf(.siteA).certificate, pki.leaf(.siteB).key)])))
        #expect(errors.count == 1)
        #expect(errors.first?.hasPrefix("gatehouse.yaml:7:16:") == true, "\(errors)")
        #expect(errors.first?.contains("does not belong to the certificate") == true, "\(errors)")
    }

    @Test("a file that is not PEM, and a bad ca_file, are errors")
    func notPEM() async throws {
        let pki = try await TestPKI.shared()
        let junk = pki.directory + "/junk.pem"
        try "not a certificate\n".write(toFile: junk, atomically: true, encoding: .utf8)
        let errors = self.errors(
            self.yaml(listenerTLS: self.certificates([(junk, pki.leaf(.valid).key)]), clusterTLS: "    tls:\n      ca_file: \(junk)"))
        #expect(errors.count == 2, "\(errors)")
        #expect(errors.allSatisfy { $0.contains("not a PEM certificate file") }, "\(errors)")
    }

    @Test("an unknown key under tls gets a suggestion")
    func unknownKey() async throws {
        let pki = try await TestPKI.shared()
        let errors = self.errors(
            self.yaml(listenerTLS: self.certificates([pki.leaf(.valid)]), clusterTLS: "    tls:\n      verfy: false"))
        #expect(errors.first?.contains("did you mean 'verify'?") == true, "\(errors)")
    }

    @Test("lints: an expired listener certificate, one expiring soon, and verify: false")
    func lints() async throws {
        let pki = try await TestPKI.shared()
        let (configuration, locations) = try ConfigurationLoader.parseWithLocations(
            yaml: self.yaml(
                listenerTLS: self.certificates([pki.leaf(.expired), pki.leaf(.expiringSoon)]),
                clusterTLS: "    tls:\n      verify: false"),
            file: "gatehouse.yaml")
        let lints = ConfigLints.check(configuration, locations)
        let expiry = lints.filter { $0.rule == .certificateExpiry }
        #expect(expiry.count == 2, "\(lints)")
        #expect(expiry.first?.description.hasPrefix("gatehouse.yaml:6:11: warning:") == true, "\(expiry)")
        #expect(expiry.first?.reason.contains("expired on 2020-02-01") == true, "\(expiry)")
        #expect(expiry.last?.reason.contains("expires in") == true, "\(expiry)")
        let verify = lints.filter { $0.rule == .tlsVerifyOff }
        #expect(verify.count == 1)
        #expect(verify.first?.reason.hasPrefix("INSECURE") == true)
    }
}

/// `/admin/config` shows the TLS settings as the gateway uses them: files, names and expiry, never a key.
@Suite("TLS in /admin/config")
struct TLSConfigurationJSONTests {
    @Test("listener and cluster tls are rendered, without key material")
    func rendered() async throws {
        let pki = try await TestPKI.shared()
        let files = pki.leaf(.siteA)
        let pair = try CertificatePair.load(certFile: files.certificate, keyFile: files.key)
        var configuration = GatehouseConfiguration(
            listeners: [Listener(name: "public", address: HostPort(host: "127.0.0.1", port: 0), tls: ListenerTLS(certificates: [pair]))],
            clusters: [
                Cluster(
                    name: "app", servers: [Cluster.Server(address: HostPort(host: "127.0.0.1", port: 1))],
                    tls: UpstreamTLS(serverName: "api.test", verify: false))
            ],
            routes: [Route(name: "all", match: .init(), cluster: "app")])
        configuration.exposeDetails = false
        let json = try JSONObject.parse(Array(ConfigurationJSON.render(configuration).utf8))
        let listener = (json["listeners"] as? [[String: Any]])?.first
        let tls = listener?["tls"] as? [String: Any]
        let certificate = (tls?["certificates"] as? [[String: Any]])?.first
        #expect(certificate?["names"] as? [String] == ["a.test"])
        #expect(certificate?["key"] as? String == files.key)
        #expect(tls?["min_version"] as? String == "1.2")
        let cluster = (json["clusters"] as? [String: Any])?["app"] as? [String: Any]
        let upstream = cluster?["tls"] as? [String: Any]
        #expect(upstream?["server_name"] as? String == "api.test")
        #expect(upstream?["verify"] as? Bool == false)
        #expect(!ConfigurationJSON.render(configuration).contains("PRIVATE KEY"))
    }
}
