import GatehouseCore
import GatehouseErrors

// `CertificateInfo`, `TLSFailureKind` and the classification of NIOSSL's errors live in GatehouseCore
// (TLS/TLSClassification.swift): the gateway's data path and health checks classify with the same code.
public typealias CertificateInfo = GatehouseCore.CertificateInfo
public typealias TLSFailureKind = GatehouseCore.TLSFailureKind

/// What the TLS hop showed: the real handshake (verification on, as a gateway does it) and the chain the
/// upstream presented (from a second, inspecting handshake that accepts any chain).
public struct TLSObservation: Sendable, Hashable {
    /// The name checked against the certificate (the host, or the IP for an IP target).
    public var host: String
    public var handshake: Duration?
    /// `TLSv1.3`.
    public var version: String?
    public var failure: TLSFailureKind?
    /// The underlying error, for the details.
    public var failureDetail: String?
    /// Presented chain, leaf first; empty when it could not be obtained.
    public var chain: [CertificateInfo]
    /// Now, in seconds since the UNIX epoch.
    public var now: Int
    /// A CA file was given (`--ca-file`), for the wording of fixes.
    public var caFile: String?
    /// Whether the presented certificate is valid for `host` (from the inspecting handshake), if known.
    public var nameMatches: Bool?

    public init(
        host: String, handshake: Duration? = nil, version: String? = nil, failure: TLSFailureKind? = nil,
        failureDetail: String? = nil, chain: [CertificateInfo] = [], now: Int, caFile: String? = nil
    ) {
        self.host = host
        self.handshake = handshake
        self.version = version
        self.failure = failure
        self.failureDetail = failureDetail
        self.chain = chain
        self.now = now
        self.caFile = caFile
    }
}

/// Judges the TLS hop: which RFC 9209 type and which reason. Pure.
public enum TLSDiagnosis {
    /// A certificate expiring within this many days is a warning.
    public static let expiryWarningDays = 14

    /// The `tls` step.
    public static func step(_ observed: TLSObservation) -> StepResult {
        guard let failure = observed.failure else { return Self.healthy(observed) }
        let cause: String
        let error: ProxyStatusError
        var fix: String?
        switch failure {
        case .certificateVerifyFailed:
            error = failure.proxyStatus
            let problem = Self.verificationProblem(observed)
            fix = problem.fix
            cause =
                observed.nameMatches == false
                ? problem.cause + "; it is not valid for \(observed.host) either" : problem.cause
        case .hostnameMismatch:
            error = failure.proxyStatus
            let names = observed.chain.first.map { " (it is for \($0.names))" } ?? ""
            cause = "certificate name mismatch: the certificate is not valid for \(observed.host)\(names)"
            fix = "Use a certificate whose subjectAltName includes \(observed.host), or connect with a name the certificate has."
        case .alert(let name):
            error = failure.proxyStatus
            let id = Self.alertIDs[name].map { " (\($0))" } ?? ""
            cause = "the upstream sent TLS alert \(name)\(id) during the handshake"
            fix = Self.alertFix(name)
        case .protocolError(let reason):
            error = failure.proxyStatus
            if failure.isNotTLS {
                cause = "the upstream does not speak TLS on this port: its answer is not a TLS record (\(reason); plain HTTP?)"
                fix = "Use http:// for this upstream, or the port where it serves TLS."
            } else {
                cause = "the TLS handshake failed: \(reason)"
            }
        case .timedOut(let limit):
            error = failure.proxyStatus
            cause = "no TLS handshake within \(Format.limit(limit)): the upstream accepted the connection but did not answer the ClientHello"
            fix = "Check that the upstream serves TLS on this port and is not overloaded."
        case .closed(let how):
            error = failure.proxyStatus
            cause = "the upstream \(how) during the TLS handshake (no TLS on this port, or it rejected the ClientHello)"
        }
        // NIOSSL's own words help only where the report has no better ones.
        var detail = cause
        switch failure {
        case .protocolError, .closed: detail += observed.failureDetail.map { " [\($0)]" } ?? ""
        default: break
        }
        return StepResult(.failed, detail, finding: Finding(error: error, cause: cause, fix: fix))
    }

    private static func healthy(_ observed: TLSObservation) -> StepResult {
        var parts: [String] = []
        if let version = observed.version { parts.append(version) }
        guard let leaf = observed.chain.first else {
            parts.append("certificate verified for \(observed.host)")
            return StepResult(.ok, parts.joined(separator: " · "))
        }
        parts.append("\(leaf.subject) issued by \(leaf.issuer)")
        let days = Self.days(from: observed.now, to: leaf.notAfter)
        parts.append("valid until \(Format.date(leaf.notAfter)) (\(days) day\(days == 1 ? "" : "s") left)")
        parts.append("name matches \(observed.host)")
        if observed.chain.count > 1 {
            parts.append("chain: " + observed.chain.dropFirst().map(\.subject).joined(separator: " → "))
        }
        let detail = parts.joined(separator: " · ")
        if days < Self.expiryWarningDays {
            let cause = "the upstream's certificate expires in \(days) day\(days == 1 ? "" : "s") (\(Format.date(leaf.notAfter))): then every request fails with 502 tls_certificate_error"
            return StepResult(
                .warning, detail + " — " + cause,
                finding: Finding(error: nil, cause: cause, fix: "Renew the upstream's certificate now (and check that its automatic renewal runs)."))
        }
        return StepResult(.ok, detail)
    }

    /// Why verification failed, from the presented chain: expired, not yet valid, self-signed, unknown CA.
    static func verificationProblem(_ observed: TLSObservation) -> (cause: String, fix: String) {
        let trust =
            observed.caFile == nil
            ? "pass the CA with --ca-file (and make the gateway trust it)" : "check that \(observed.caFile ?? "") holds the CA that signed it"
        let problem = CertificateProblem.judge(chain: observed.chain, now: observed.now)
        let cause = problem.summary(now: observed.now)
        switch problem {
        case .unknown:
            return (cause, "Check the upstream's certificate chain: openssl s_client -showcerts.")
        case .expired:
            return (cause, "Renew the upstream's certificate and reload the upstream.")
        case .notYetValid:
            return (cause, "Check the clocks of this host and the upstream (NTP), or the certificate's dates.")
        case .chainExpired:
            return (cause, "Have the upstream send a current intermediate certificate.")
        case .selfSigned:
            return (cause, "Use a certificate from a CA the gateway trusts, or trust this one explicitly: \(trust).")
        case .unknownCA:
            return (cause, "Trust that CA: \(trust); or have the upstream send its intermediate certificates.")
        }
    }

    /// The reason code of a BoringSSL error stack as NIOSSL describes it
    /// (`… error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at …`).
    public static func classify(errorText: String) -> TLSFailureKind {
        TLSClassification.kind(errorText: errorText)
    }

    /// TLS alert numbers (RFC 8446 §6, RFC 5246 §7.2), for `alert-id`.
    static var alertIDs: [String: Int] { TLSClassification.alertIDs }

    private static func alertFix(_ name: String) -> String {
        switch name {
        case "certificate_required", "bad_certificate", "certificate_unknown", "unknown_ca":
            return "The upstream wants a client certificate it trusts (mutual TLS): configure one for the gateway, or turn client verification off upstream."
        case "handshake_failure", "protocol_version", "insufficient_security":
            return "No TLS version or cipher in common: check the upstream's TLS settings (TLS 1.2 or 1.3 with modern ciphers)."
        case "unrecognized_name":
            return "The upstream does not know the SNI name sent: connect with the name it serves."
        default:
            return ProxyStatusError.tlsAlertReceived.fixHint
        }
    }

    /// Whole days from one instant to another (rounded down).
    static func days(from start: Int, to end: Int) -> Int {
        TLSClassification.days(from: start, to: end)
    }
}

extension Format {
    /// `2026-11-21` (UTC) from seconds since the epoch.
    static func date(_ epochSeconds: Int) -> String {
        CivilDate.isoDate(epochSeconds: epochSeconds)
    }
}

