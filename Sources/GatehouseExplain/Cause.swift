public import GatehouseErrors

/// Why a gateway error happened: the stable cause ids of `shared/fixtures/logs/README.md` (the ones
/// every `truth.json` uses), plus a few from CAUSES.md that the table leaves out.
///
/// A cause is finer than its Proxy-Status error: `keepalive_race`, `app_worker_killed_timeout` and
/// `upstream_closed_before_response` are all `connection_terminated`, but each has its own fix.
public enum Cause: String, Sendable, CaseIterable, Hashable, Comparable {
    case upstreamNotListening = "upstream_not_listening"
    case upstreamConnectTimeout = "upstream_connect_timeout"
    case upstreamResponseTimeout = "upstream_response_timeout"
    case upstreamBodyTimeout = "upstream_body_timeout"
    case upstreamNotReadingRequest = "upstream_not_reading_request"
    case upstreamClosedBeforeResponse = "upstream_closed_before_response"
    case upstreamResetBeforeResponse = "upstream_reset_before_response"
    case appWorkerKilledTimeout = "app_worker_killed_timeout"
    case keepaliveRace = "keepalive_race"
    case upstreamClosedMidBody = "upstream_closed_mid_body"
    case upstreamResetMidBody = "upstream_reset_mid_body"
    case contentLengthMismatch = "content_length_mismatch"
    case invalidStatusLine = "invalid_status_line"
    case invalidResponseHeader = "invalid_response_header"
    case responseHeaderTooLarge = "response_header_too_large"
    case invalidChunkedEncoding = "invalid_chunked_encoding"
    case noHealthyUpstream = "no_healthy_upstream"
    case upstreamConnectionLimit = "upstream_connection_limit"
    case dnsNXDomain = "dns_nxdomain"
    case dnsTimeout = "dns_timeout"
    case noResolverConfigured = "no_resolver_configured"
    case tlsUntrustedCertificate = "tls_untrusted_certificate"
    case tlsExpiredCertificate = "tls_expired_certificate"
    case tlsHostnameMismatch = "tls_hostname_mismatch"
    case tlsClientCertificateRequired = "tls_client_certificate_required"
    case tlsToPlaintextUpstream = "tls_to_plaintext_upstream"
    case fastCGIPoolExhausted = "fastcgi_pool_exhausted"
    case fastCGISocketPermission = "fastcgi_socket_permission"
    case fastCGISocketMissing = "fastcgi_socket_missing"
    case forwardingLoop = "forwarding_loop"
    case upstreamReturned502 = "upstream_returned_502"
    // Not in the fixtures table (CAUSES.md ◇ entries and Gatehouse-only errors).
    case destinationUnroutable = "destination_unroutable"
    case destinationNotConfigured = "destination_not_configured"
    case proxyResourceExhaustion = "proxy_resource_exhaustion"
    case requestRateLimited = "request_rate_limited"
    case destinationProhibited = "destination_prohibited"
    case upgradeFailed = "upgrade_failed"
    case responseTooLarge = "response_too_large"
    case invalidContentCoding = "invalid_content_coding"
    case gatewayMisconfigured = "gateway_misconfigured"
    case unexplainedGatewayError = "unexplained_gateway_error"

    /// The Proxy-Status error type this cause is reported as (RFC 9209 §2.3); nil when the upstream
    /// itself answered 5xx (`received-status`, no `error`).
    public var proxyStatus: ProxyStatusError? {
        switch self {
        case .upstreamNotListening, .fastCGIPoolExhausted, .fastCGISocketMissing: return .connectionRefused
        case .upstreamConnectTimeout: return .connectionTimeout
        case .upstreamResponseTimeout, .upstreamBodyTimeout: return .connectionReadTimeout
        case .upstreamNotReadingRequest: return .connectionWriteTimeout
        case .upstreamClosedBeforeResponse, .upstreamResetBeforeResponse, .appWorkerKilledTimeout, .keepaliveRace,
            .upstreamResetMidBody:
            return .connectionTerminated
        case .upstreamClosedMidBody, .contentLengthMismatch: return .httpResponseIncomplete
        case .invalidStatusLine, .invalidResponseHeader: return .httpProtocolError
        case .responseHeaderTooLarge: return .httpResponseHeaderSectionSize
        case .invalidChunkedEncoding: return .httpResponseTransferCoding
        case .noHealthyUpstream: return .destinationUnavailable
        case .upstreamConnectionLimit: return .connectionLimitReached
        case .dnsNXDomain: return .dnsError
        case .dnsTimeout: return .dnsTimeout
        case .noResolverConfigured, .fastCGISocketPermission, .gatewayMisconfigured: return .proxyConfigurationError
        case .tlsUntrustedCertificate, .tlsExpiredCertificate, .tlsHostnameMismatch: return .tlsCertificateError
        case .tlsClientCertificateRequired: return .tlsAlertReceived
        case .tlsToPlaintextUpstream: return .tlsProtocolError
        case .forwardingLoop: return .proxyLoopDetected
        case .upstreamReturned502: return nil
        case .destinationUnroutable: return .destinationIPUnroutable
        case .destinationNotConfigured: return .destinationNotFound
        case .proxyResourceExhaustion: return .proxyInternalError
        case .requestRateLimited: return .httpRequestDenied
        case .destinationProhibited: return .destinationIPProhibited
        case .upgradeFailed: return .httpUpgradeFailed
        case .responseTooLarge: return .httpResponseBodySize
        case .invalidContentCoding: return .httpResponseContentCoding
        case .unexplainedGatewayError: return .connectionTerminated
        }
    }

    /// The most likely cause for a Proxy-Status error Gatehouse logged itself (its `proxy_status` field).
    public init?(gatehouseProxyStatus error: ProxyStatusError) {
        switch error {
        case .connectionRefused: self = .upstreamNotListening
        case .connectionTimeout: self = .upstreamConnectTimeout
        case .connectionReadTimeout, .httpResponseTimeout: self = .upstreamResponseTimeout
        case .connectionWriteTimeout: self = .upstreamNotReadingRequest
        case .connectionTerminated: self = .upstreamClosedBeforeResponse
        case .httpProtocolError: self = .invalidResponseHeader
        case .httpResponseHeaderSectionSize, .httpResponseHeaderSize: self = .responseHeaderTooLarge
        case .httpResponseTransferCoding: self = .invalidChunkedEncoding
        case .httpResponseIncomplete: self = .upstreamClosedMidBody
        case .destinationUnavailable: self = .noHealthyUpstream
        case .dnsError: self = .dnsNXDomain
        case .dnsTimeout: self = .dnsTimeout
        case .connectionLimitReached: self = .upstreamConnectionLimit
        case .proxyLoopDetected: self = .forwardingLoop
        case .tlsCertificateError: self = .tlsUntrustedCertificate
        case .tlsAlertReceived: self = .tlsClientCertificateRequired
        case .tlsProtocolError: self = .tlsToPlaintextUpstream
        case .destinationIPUnroutable: self = .destinationUnroutable
        case .destinationNotFound: self = .destinationNotConfigured
        case .destinationIPProhibited: self = .destinationProhibited
        case .proxyInternalError: self = .proxyResourceExhaustion
        case .proxyConfigurationError: self = .gatewayMisconfigured
        case .httpRequestDenied: self = .requestRateLimited
        case .httpUpgradeFailed: self = .upgradeFailed
        case .httpResponseBodySize, .httpResponseTrailerSectionSize, .httpResponseTrailerSize:
            self = .responseTooLarge
        case .httpResponseContentCoding: self = .invalidContentCoding
        // A client's malformed request and the gateway's own answers are not gateway errors.
        case .httpRequestError, .proxyInternalResponse: return nil
        }
    }

    /// Tie-break when two findings count the same: causes that explain other findings come first
    /// (every server down explains the refusals that took them down; a pool explains its timeouts).
    var rank: Int {
        switch self {
        case .forwardingLoop: return 0
        case .noHealthyUpstream, .fastCGIPoolExhausted, .upstreamConnectionLimit: return 1
        case .keepaliveRace, .appWorkerKilledTimeout: return 2
        case .dnsNXDomain, .dnsTimeout, .noResolverConfigured: return 3
        case .tlsUntrustedCertificate, .tlsExpiredCertificate, .tlsHostnameMismatch, .tlsClientCertificateRequired,
            .tlsToPlaintextUpstream:
            return 4
        case .unexplainedGatewayError: return 9
        default: return 5
        }
    }

    public static func < (lhs: Cause, rhs: Cause) -> Bool { lhs.rawValue < rhs.rawValue }
}
