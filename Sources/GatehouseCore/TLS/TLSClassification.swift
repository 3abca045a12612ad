import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A certificate as reports and error details show it, taken out of NIOSSL's object on the event loop.
public struct CertificateInfo: Sendable, Hashable {
    /// `CN=shop.example.com, O=Shop`.
    public var subject: String
    public var issuer: String
    /// Validity, in seconds since the UNIX epoch.
    public var notBefore: Int
    public var notAfter: Int
    /// subjectAltName DNS names and IP addresses.
    public var dnsNames: [String]
    public var ipAddresses: [String]

    public init(
        subject: String, issuer: String, notBefore: Int, notAfter: Int, dnsNames: [String] = [],
        ipAddresses: [String] = []
    ) {
        self.subject = subject
        self.issuer = issuer
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
    }

    /// Issued by itself (the subject is the issuer): self-signed, unless it is a trusted root.
    public var selfIssued: Bool { self.subject == self.issuer }

    /// `DNS:a.example, IP:127.0.0.1`, or the subject when there is no subjectAltName.
    public var names: String {
        let names = self.dnsNames.map { "DNS:\($0)" } + self.ipAddresses.map { "IP:\($0)" }
        return names.isEmpty ? self.subject : names.joined(separator: ", ")
    }
}

/// How a TLS handshake with an upstream failed: the one classification of NIOSSL/BoringSSL errors that
/// the data path, the health checks and `gatehouse doctor` share.
public enum TLSFailureKind: Sendable, Hashable {
    /// BoringSSL could not verify the chain (CERTIFICATE_VERIFY_FAILED): expired, untrusted, self-signed…
    case certificateVerifyFailed
    /// The chain is trusted but not for this name.
    case hostnameMismatch
    /// The upstream sent this alert (`handshake_failure`, `certificate_required`…).
    case alert(String)
    /// Anything else in the protocol (`WRONG_VERSION_NUMBER`: not TLS on that port).
    case protocolError(String)
    /// No handshake within the time limit.
    case timedOut(Duration)
    /// The upstream closed or reset the connection during the handshake.
    case closed(String)

    /// The RFC 9209 type of the failure.
    public var proxyStatus: ProxyStatusError {
        switch self {
        case .certificateVerifyFailed, .hostnameMismatch: .tlsCertificateError
        case .alert: .tlsAlertReceived
        case .protocolError, .closed: .tlsProtocolError
        case .timedOut: .connectionTimeout
        }
    }

    /// Whether the reason says the peer does not speak TLS at all (a plain-HTTP port).
    public var isNotTLS: Bool {
        if case .protocolError(let reason) = self {
            return reason == "WRONG_VERSION_NUMBER" || reason == "PACKET_LENGTH_TOO_LONG" || reason == "HTTP_REQUEST"
        }
        return false
    }
}

/// Why a chain failed verification, judged from the presented certificates (leaf first) and the time.
public enum CertificateProblem: Sendable, Hashable {
    case expired(CertificateInfo)
    case notYetValid(CertificateInfo)
    /// An intermediate of the chain has expired.
    case chainExpired(CertificateInfo)
    case selfSigned(CertificateInfo)
    /// The top of the chain was issued by a CA that is not trusted.
    case unknownCA(CertificateInfo)
    /// No certificate to judge.
    case unknown

    /// Judges `chain` at `now` (seconds since the epoch). Dates first: an expired certificate from an
    /// unknown CA is reported as expired, the problem its owner can fix without asking anyone.
    public static func judge(chain: [CertificateInfo], now: Int) -> CertificateProblem {
        guard let leaf = chain.first else { return .unknown }
        if leaf.notAfter < now { return .expired(leaf) }
        if leaf.notBefore > now { return .notYetValid(leaf) }
        if let expired = chain.dropFirst().first(where: { $0.notAfter < now }) { return .chainExpired(expired) }
        if leaf.selfIssued, chain.count == 1 { return .selfSigned(leaf) }
        return .unknownCA(chain.last ?? leaf)
    }

    /// The reason as `details` and logs carry it: `certificate expired: CN=a expired on 2026-01-01 (3 days ago)`.
    public func summary(now: Int) -> String {
        switch self {
        case .expired(let certificate):
            let days = TLSClassification.days(from: certificate.notAfter, to: now)
            return "certificate expired: \(certificate.subject) expired on \(CivilDate.isoDate(epochSeconds: certificate.notAfter)), \(days) day\(days == 1 ? "" : "s") ago"
        case .notYetValid(let certificate):
            return "certificate not yet valid: \(certificate.subject) is valid from \(CivilDate.isoDate(epochSeconds: certificate.notBefore))"
        case .chainExpired(let certificate):
            return "certificate chain expired: \(certificate.subject) expired on \(CivilDate.isoDate(epochSeconds: certificate.notAfter))"
        case .selfSigned(let certificate):
            return "self-signed certificate: \(certificate.subject) signed itself, and no trusted CA vouches for it (unknown CA)"
        case .unknownCA(let certificate):
            return "certificate signed by an unknown CA: \(certificate.issuer) (issuer of \(certificate.subject)) is not a trusted CA"
        case .unknown:
            return "certificate verification failed (the chain could not be read)"
        }
    }
}

/// Sorts what NIOSSL reports into ``TLSFailureKind``. Pure apart from reading NIOSSL's error values.
public enum TLSClassification {
    /// The kind of a handshake error as NIOSSL raised it.
    public static func kind(of error: any Error) -> TLSFailureKind {
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname { return .hostnameMismatch }
        if let ioError = error as? IOError {
            return .closed(
                ioError.errnoCode == ECONNRESET ? "reset the connection" : String(cString: strerror(ioError.errnoCode)))
        }
        if let channelError = error as? ChannelError, channelError == .eof || channelError == .ioOnClosedChannel {
            return .closed("closed the connection")
        }
        if let boringError = error as? BoringSSLError { return Self.kind(boringError) }
        guard let sslError = error as? NIOSSLError else { return .protocolError("\(error)") }
        switch sslError {
        case .uncleanShutdown: return .closed("closed the connection")
        case .handshakeFailed(let boringError): return Self.kind(boringError)
        default:
            return .protocolError("\(sslError)")
        }
    }

    private static func kind(_ boringError: BoringSSLError) -> TLSFailureKind {
        let text: String
        switch boringError {
        case .sslError(let stack), .unknownError(let stack): text = stack.map(\.description).joined(separator: " ")
        default: text = "\(boringError)"
        }
        if text.contains("EOF during handshake") { return .closed("closed the connection") }
        return Self.kind(errorText: text)
    }

    /// The reason code of a BoringSSL error stack as NIOSSL describes it
    /// (`… error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at …`).
    public static func kind(errorText: String) -> TLSFailureKind {
        let reasons = errorText.split(separator: ":").map { $0.split(separator: " ").first.map(String.init) ?? "" }
            .filter { !$0.isEmpty && $0 == $0.uppercased() && $0.contains("_") }
        if reasons.contains("CERTIFICATE_VERIFY_FAILED") { return .certificateVerifyFailed }
        for reason in reasons {
            for prefix in ["SSLV3_ALERT_", "TLSV1_ALERT_", "TLSV13_ALERT_"] where reason.hasPrefix(prefix) {
                return .alert(reason.dropFirst(prefix.count).lowercased())
            }
        }
        return .protocolError(reasons.first ?? errorText)
    }

    /// TLS alert numbers (RFC 8446 §6, RFC 5246 §7.2), for `alert-id`.
    public static let alertIDs: [String: Int] = [
        "close_notify": 0, "unexpected_message": 10, "bad_record_mac": 20, "record_overflow": 22,
        "handshake_failure": 40, "bad_certificate": 42, "unsupported_certificate": 43, "certificate_revoked": 44,
        "certificate_expired": 45, "certificate_unknown": 46, "illegal_parameter": 47, "unknown_ca": 48,
        "access_denied": 49, "decode_error": 50, "decrypt_error": 51, "protocol_version": 70,
        "insufficient_security": 71, "internal_error": 80, "inappropriate_fallback": 86, "user_canceled": 90,
        "missing_extension": 109, "unsupported_extension": 110, "unrecognized_name": 112,
        "bad_certificate_status_response": 113, "unknown_psk_identity": 115, "certificate_required": 116,
        "no_application_protocol": 120,
    ]

    /// The data path's one-line reason for a failed handshake, for `details`: what the doctor says at
    /// more length. `leaf` is the certificate the upstream presented, when NIOSSL still holds it.
    public static func details(_ kind: TLSFailureKind, leaf: CertificateInfo?, serverName: String, now: Int) -> String {
        switch kind {
        case .certificateVerifyFailed:
            return CertificateProblem.judge(chain: leaf.map { [$0] } ?? [], now: now).summary(now: now)
        case .hostnameMismatch:
            let names = leaf.map { " (it is for \($0.names))" } ?? ""
            return "certificate name mismatch: the certificate is not valid for \(serverName)\(names)"
        case .alert(let name):
            let id = Self.alertIDs[name].map { " (alert \($0))" } ?? ""
            return "the upstream sent TLS alert \(name)\(id) during the handshake"
        case .protocolError(let reason):
            return kind.isNotTLS
                ? "the upstream does not speak TLS on this port (\(reason); plain HTTP?)"
                : "the TLS handshake failed: \(reason)"
        case .timedOut(let limit):
            return "no TLS handshake within \(ValueSyntax.format(limit))"
        case .closed(let how):
            return "the upstream \(how) during the TLS handshake (no TLS on this port, or it rejected the ClientHello)"
        }
    }

    /// A failed client handshake in the words of the error log (the client's side of the connection).
    public static func clientDetails(_ kind: TLSFailureKind) -> String {
        switch kind {
        case .certificateVerifyFailed, .hostnameMismatch: return "client certificate refused"
        case .alert(let name): return "the client sent TLS alert \(name) (it does not accept the certificate, or the TLS version)"
        case .protocolError(let reason) where kind.isNotTLS: return "not TLS (\(reason)): plain HTTP to the TLS port?"
        case .protocolError(let reason): return reason
        case .timedOut: return "no handshake in time"
        case .closed(let how): return "the client \(how) during the handshake"
        }
    }

    /// Whole days from one instant to another (rounded down).
    public static func days(from start: Int, to end: Int) -> Int {
        let seconds = end - start
        return seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
    }
}

extension CertificateInfo {
    /// Reads what reports show out of a NIOSSL certificate.
    public init(_ certificate: NIOSSLCertificate) {
        var dnsNames: [String] = []
        var ipAddresses: [String] = []
        for name in certificate._subjectAlternativeNames() {
            let bytes = Array(name.contents)
            switch name.nameType {
            case .dnsName: dnsNames.append(String(decoding: bytes, as: UTF8.self))
            case .ipAddress:
                if bytes.count == 4 {
                    ipAddresses.append(bytes.map(String.init).joined(separator: "."))
                } else if bytes.count == 16 {
                    ipAddresses.append(
                        stride(from: 0, to: 16, by: 2).map {
                            String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16)
                        }
                        .joined(separator: ":"))
                }
            default: break
            }
        }
        self.init(
            subject: Self.describe(certificate.subjectName), issuer: Self.describe(certificate.issuerName),
            notBefore: Int(certificate.notValidBefore), notAfter: Int(certificate.notValidAfter), dnsNames: dnsNames,
            ipAddresses: ipAddresses)
    }

    /// `CN=localhost, O=Acme` in the certificate's order.
    private static func describe(_ names: [SSLCertificateName]) -> String {
        let labels: [SSLCertificateNameType: String] = [
            .commonName: "CN", .organization: "O", .organizationalUnit: "OU", .country: "C", .state: "ST",
            .city: "L", .emailAddress: "emailAddress", .userId: "UID",
        ]
        let text = names.map { "\(labels[$0.type] ?? "?")=\($0.value)" }.joined(separator: ", ")
        return text.isEmpty ? "(empty name)" : text
    }
}
