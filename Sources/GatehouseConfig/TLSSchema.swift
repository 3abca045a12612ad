import NIOSSL
import Yams

// The key tables of `listeners[].tls` and `clusters.X.tls`. Files are read here, while the walker still
// knows where each key was written: an unreadable file or a key that does not match its certificate is
// an error at that key's file:line:col.

/// `{cert: FILE, key: FILE}` while it is read.
struct CertificatePairDraft {
    var cert: Located<String>?
    var key: Located<String>?

    static let fields: [Field<CertificatePairDraft>] = [
        Field("cert", .nonEmptyText, required: true, doc: "PEM file: the certificate, then any intermediates.") {
            draft, value in draft.cert = value.nonEmptyString().map { value.at($0) }
        },
        Field("key", .nonEmptyText, required: true, doc: "PEM file: the certificate's private key (unencrypted).") {
            draft, value in draft.key = value.nonEmptyString().map { value.at($0) }
        },
    ]

    static func read(_ value: Value) -> CertificatePair? {
        var draft = CertificatePairDraft()
        value.walk(fields: Self.fields, into: &draft)
        guard let cert = draft.cert, let key = draft.key else { return nil }
        do {
            return try CertificatePair.load(certFile: cert.value, keyFile: key.value)
        } catch {
            value.walker.error("\(error)", at: error.isKey ? key.location : cert.location)
            return nil
        }
    }
}

/// `listeners[].tls` while it is read.
struct ListenerTLSDraft {
    var certificates: [CertificatePair]?
    var minimumVersion = ListenerTLS.MinimumVersion.tls12
    var alpn = ["h2", "http/1.1"]

    static let fields: [Field<ListenerTLSDraft>] = [
        Field(
            "certificates", .list(of: .mapping(CertificatePairDraft.fields), nonEmpty: true), required: true,
            doc: "Certificates chosen by the client's SNI name; the first is the default."
        ) { draft, value in
            guard let items = value.sequence(nonEmpty: true) else { return }
            let pairs = items.map(CertificatePairDraft.read)
            if !items.isEmpty, pairs.allSatisfy({ $0 != nil }) { draft.certificates = pairs.compactMap { $0 } }
        },
        Field(
            // Written unquoted, 1.2 is a YAML number: the schema takes both forms, as the parser does.
            "min_version", .anyOf(.choice(ListenerTLS.MinimumVersion.self), .number(1.2...1.3)),
            doc: "The lowest TLS version accepted from clients (default 1.2)."
        ) { $0.minimumVersion = $1.choice("TLS version", of: ListenerTLS.MinimumVersion.self) ?? $0.minimumVersion },
        Field(
            "alpn", .list(of: .words(ListenerTLS.supportedProtocols), nonEmpty: true),
            doc: "Protocols offered in ALPN, in order of preference (default [h2, http/1.1])."
        ) { draft, value in
            guard let items = value.sequence(nonEmpty: true) else { return }
            var protocols: [String] = []
            for item in items {
                guard let name = item.nonEmptyString() else { continue }
                guard ListenerTLS.supportedProtocols.contains(name) else {
                    item.error(
                        "unknown ALPN protocol '\(name)' (supported: \(ListenerTLS.supportedProtocols.joined(separator: ", ")))")
                    continue
                }
                protocols.append(name)
            }
            if !protocols.isEmpty { draft.alpn = protocols }
        },
    ]

    static func read(_ value: Value) -> ListenerTLS? {
        var draft = ListenerTLSDraft()
        value.walk(fields: Self.fields, into: &draft)
        guard let certificates = draft.certificates else { return nil }
        return ListenerTLS(certificates: certificates, minimumVersion: draft.minimumVersion, alpn: draft.alpn)
    }
}

/// `clusters.X.tls` while it is read: `true`, `false`, or a mapping.
struct UpstreamTLSDraft {
    var enabled = true
    var caFile: String?
    var trustRoots: [NIOSSLCertificate] = []
    var serverName: String?
    var verify = true
    var clientCertificate: CertificatePair?

    static let shape = ValueShape.anyOf(.boolean, .mapping(Self.fields))

    static let fields: [Field<UpstreamTLSDraft>] = [
        Field("enabled", .boolean, doc: "TLS to the servers (default true when the section is given).") {
            $0.enabled = $1.bool() ?? $0.enabled
        },
        Field("ca_file", .nonEmptyText, doc: "PEM file of the CAs trusted for the servers (default: the system trust store).") {
            draft, value in
            guard let file = value.nonEmptyString() else { return }
            do {
                draft.trustRoots = try CertificatePair.readCertificates(file)
                draft.caFile = file
            } catch {
                value.error("\(error)")
            }
        },
        Field(
            "server_name", .nonEmptyText,
            doc: "SNI name, and the name the certificate must be valid for (default: each server's host name)."
        ) { draft, value in
            guard let name = value.nonEmptyString() else { return }
            guard (try? ValueSyntax.checkHostName(name)) != nil else {
                value.error("expected a host name such as api.internal.example for \(value.subject), got '\(name)'")
                return
            }
            draft.serverName = name.lowercased()
        },
        Field("verify", .boolean, doc: "Verify the server's certificate and name (default true; false is insecure).") {
            $0.verify = $1.bool() ?? $0.verify
        },
        Field(
            "client_certificate", .mapping(CertificatePairDraft.fields),
            doc: "{cert, key} presented to servers that require mutual TLS."
        ) { $0.clientCertificate = CertificatePairDraft.read($1) },
    ]

    static func read(_ value: Value) -> UpstreamTLS? {
        if case .scalar = value.node {
            return value.bool() == true ? UpstreamTLS() : nil
        }
        var draft = UpstreamTLSDraft()
        value.walk(fields: Self.fields, into: &draft)
        guard draft.enabled else { return nil }
        return UpstreamTLS(
            caFile: draft.caFile, trustRoots: draft.trustRoots, serverName: draft.serverName,
            verify: draft.verify, clientCertificate: draft.clientCertificate)
    }
}
