import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A certificate chain and its private key, read from PEM files and checked when the file is loaded:
/// readable, parseable, and the key belongs to the certificate. A reload reads the files again, so a
/// renewed certificate is picked up by the next configuration generation.
public struct CertificatePair: Sendable, Equatable {
    public var certFile: String
    public var keyFile: String
    /// Leaf first, then any intermediates as they were in the file.
    public var chain: [NIOSSLCertificate]
    public var key: NIOSSLPrivateKey
    /// The names the leaf is valid for, lower-cased: its subjectAltName DNS names, or its CN when it has none.
    /// `*.example.com` stays a wildcard.
    public var names: [String]
    /// The leaf's validity, in seconds since the UNIX epoch.
    public var notBefore: Int
    public var notAfter: Int

    public init(
        certFile: String, keyFile: String, chain: [NIOSSLCertificate], key: NIOSSLPrivateKey, names: [String],
        notBefore: Int, notAfter: Int
    ) {
        self.certFile = certFile
        self.keyFile = keyFile
        self.chain = chain
        self.key = key
        self.names = names
        self.notBefore = notBefore
        self.notAfter = notAfter
    }

    /// Reads and checks both files; the error says which file and what is wrong with it.
    public static func load(certFile: String, keyFile: String) throws(TLSFileError) -> CertificatePair {
        let chain = try Self.readCertificates(certFile)
        try Self.checkReadable(keyFile, what: "key")
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw TLSFileError(file: keyFile, isKey: true, reason: "not a PEM private key (or an encrypted one, which is not supported)")
        }
        guard let leaf = chain.first else {
            throw TLSFileError(file: certFile, isKey: false, reason: "no certificate in the file")
        }
        // BoringSSL refuses a key that does not belong to the certificate when both are set on a context.
        do {
            _ = try NIOSSLContext(
                configuration: .makeServerConfiguration(
                    certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw TLSFileError(
                file: keyFile, isKey: true, reason: "the key does not belong to the certificate in \(certFile)")
        }
        return CertificatePair(
            certFile: certFile, keyFile: keyFile, chain: chain, key: key, names: Self.names(of: leaf),
            notBefore: Int(leaf.notValidBefore), notAfter: Int(leaf.notValidAfter))
    }

    /// Every certificate of a PEM file (a CA bundle, or a leaf and its intermediates).
    public static func readCertificates(_ file: String) throws(TLSFileError) -> [NIOSSLCertificate] {
        try Self.checkReadable(file, what: "certificate")
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(file)
        } catch {
            throw TLSFileError(file: file, isKey: false, reason: "not a PEM certificate file")
        }
        guard !certificates.isEmpty else { throw TLSFileError(file: file, isKey: false, reason: "no certificate in the file") }
        return certificates
    }

    /// The DNS names of a certificate's subjectAltName, or its common name when it has none (as clients
    /// that still accept CN do).
    public static func names(of certificate: NIOSSLCertificate) -> [String] {
        var names: [String] = []
        for name in certificate._subjectAlternativeNames() where name.nameType == .dnsName {
            names.append(String(decoding: Array(name.contents), as: UTF8.self).lowercased())
        }
        if names.isEmpty, let common = certificate.subjectName.first(where: { $0.type == .commonName }) {
            names.append(common.value.lowercased())
        }
        return names
    }

    private static func checkReadable(_ file: String, what: String) throws(TLSFileError) {
        guard access(file, R_OK) == 0 else {
            throw TLSFileError(
                file: file, isKey: what == "key", reason: "cannot read the \(what) file: \(String(cString: strerror(errno)))")
        }
    }
}

/// Why a certificate, key or CA file could not be used.
public struct TLSFileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    /// Whether the file is the key (else a certificate or CA file), so the message points at the right key.
    public var isKey: Bool
    public var reason: String

    public var description: String { "'\(self.file)': \(self.reason)" }
}

/// `listeners[].tls`: TLS termination for the listener's downstream connections.
public struct ListenerTLS: Sendable, Equatable {
    /// The lowest TLS version accepted from clients.
    public enum MinimumVersion: String, Sendable, Equatable, CaseIterable {
        case tls12 = "1.2"
        case tls13 = "1.3"
    }

    /// The ALPN protocols the gateway can serve after the handshake; `alpn` may only name these.
    /// (HTTP/2 joins the list with its downstream pipeline.)
    public static let supportedProtocols = ["h2", "http/1.1"]

    /// Chosen by the client's SNI name (most specific match); the first is the default when the client
    /// sends no name or a name no certificate has.
    public var certificates: [CertificatePair]
    public var minimumVersion: MinimumVersion
    /// Advertised in ALPN, in order of preference.
    public var alpn: [String]

    public init(certificates: [CertificatePair], minimumVersion: MinimumVersion = .tls12, alpn: [String] = ["h2", "http/1.1"]) {
        self.certificates = certificates
        self.minimumVersion = minimumVersion
        self.alpn = alpn
    }
}

/// `clusters.X.tls`: TLS to the cluster's servers.
public struct UpstreamTLS: Sendable, Equatable {
    /// The CA file given (`ca_file`); nil = the system trust store.
    public var caFile: String?
    /// The certificates of `ca_file`, read at load.
    public var trustRoots: [NIOSSLCertificate]
    /// The SNI name and the name the certificate must be valid for; nil = each server's host (none for IP literals,
    /// whose certificate is then checked against the IP address).
    public var serverName: String?
    /// Whether the server's certificate is verified (chain and name). Off is for tests and emergencies.
    public var verify: Bool
    /// A client certificate for upstreams that require mutual TLS.
    public var clientCertificate: CertificatePair?

    public init(
        caFile: String? = nil, trustRoots: [NIOSSLCertificate] = [], serverName: String? = nil, verify: Bool = true,
        clientCertificate: CertificatePair? = nil
    ) {
        self.caFile = caFile
        self.trustRoots = trustRoots
        self.serverName = serverName
        self.verify = verify
        self.clientCertificate = clientCertificate
    }
}
