/// The RFC 9209 §2.3 Proxy-Status error types: the single vocabulary every Gatehouse failure is
/// classified into, once, where it happens.
///
/// The status code, the `Proxy-Status` header, the error page, the log fields, the metric labels,
/// `doctor`'s verdict and `explain`'s verdict are all derived from one of these values.
/// See <https://www.rfc-editor.org/rfc/rfc9209#section-2.3>.
public enum ProxyStatusError: String, Sendable, CaseIterable, Hashable, Codable {
    case dnsTimeout = "dns_timeout"
    case dnsError = "dns_error"
    case destinationNotFound = "destination_not_found"
    case destinationUnavailable = "destination_unavailable"
    case destinationIPProhibited = "destination_ip_prohibited"
    case destinationIPUnroutable = "destination_ip_unroutable"
    case connectionRefused = "connection_refused"
    case connectionTerminated = "connection_terminated"
    case connectionTimeout = "connection_timeout"
    case connectionReadTimeout = "connection_read_timeout"
    case connectionWriteTimeout = "connection_write_timeout"
    case connectionLimitReached = "connection_limit_reached"
    case tlsProtocolError = "tls_protocol_error"
    case tlsCertificateError = "tls_certificate_error"
    case tlsAlertReceived = "tls_alert_received"
    case httpRequestError = "http_request_error"
    case httpRequestDenied = "http_request_denied"
    case httpResponseIncomplete = "http_response_incomplete"
    case httpResponseHeaderSectionSize = "http_response_header_section_size"
    case httpResponseHeaderSize = "http_response_header_size"
    case httpResponseBodySize = "http_response_body_size"
    case httpResponseTrailerSectionSize = "http_response_trailer_section_size"
    case httpResponseTrailerSize = "http_response_trailer_size"
    case httpResponseTransferCoding = "http_response_transfer_coding"
    case httpResponseContentCoding = "http_response_content_coding"
    case httpResponseTimeout = "http_response_timeout"
    case httpUpgradeFailed = "http_upgrade_failed"
    case httpProtocolError = "http_protocol_error"
    case proxyInternalResponse = "proxy_internal_response"
    case proxyInternalError = "proxy_internal_error"
    case proxyConfigurationError = "proxy_configuration_error"
    case proxyLoopDetected = "proxy_loop_detected"

    /// The RFC 9209 token, as it appears in `Proxy-Status: gatehouse; error=<token>`.
    public var token: String { self.rawValue }

    /// The status code a gateway answers with for this error (DESIGN.md's table; Envoy's
    /// `recommendedHttpStatusCode` for the rest).
    public var statusCode: Int {
        switch self {
        case .dnsTimeout, .connectionTimeout, .connectionReadTimeout, .connectionWriteTimeout,
            .httpResponseTimeout:
            return 504
        case .destinationUnavailable, .connectionLimitReached:
            return 503
        case .destinationNotFound:
            // What an nginx user expects when no `location` matches (Envoy also answers 404 for NoRouteFound).
            return 404
        case .proxyInternalError, .proxyConfigurationError:
            return 500
        case .httpRequestDenied:
            return 429
        case .httpRequestError:
            return 400
        case .dnsError, .destinationIPProhibited, .destinationIPUnroutable, .connectionRefused,
            .connectionTerminated, .tlsProtocolError, .tlsCertificateError, .tlsAlertReceived,
            .httpResponseIncomplete, .httpResponseHeaderSectionSize, .httpResponseHeaderSize,
            .httpResponseBodySize, .httpResponseTrailerSectionSize, .httpResponseTrailerSize,
            .httpResponseTransferCoding, .httpResponseContentCoding, .httpUpgradeFailed,
            .httpProtocolError, .proxyInternalResponse, .proxyLoopDetected:
            return 502
        }
    }

    /// Which hop failed, for the error page's hop chain and the logs.
    public var failingHop: Hop {
        switch self {
        case .proxyInternalResponse, .proxyInternalError, .proxyConfigurationError, .proxyLoopDetected,
            .httpRequestDenied, .destinationNotFound, .httpRequestError, .connectionLimitReached:
            return .gateway
        case .dnsTimeout, .dnsError:
            return .resolver
        case .destinationUnavailable, .destinationIPProhibited, .destinationIPUnroutable, .connectionRefused,
            .connectionTerminated, .connectionTimeout, .connectionReadTimeout, .connectionWriteTimeout,
            .tlsProtocolError, .tlsCertificateError, .tlsAlertReceived, .httpResponseIncomplete,
            .httpResponseHeaderSectionSize, .httpResponseHeaderSize, .httpResponseBodySize,
            .httpResponseTrailerSectionSize, .httpResponseTrailerSize, .httpResponseTransferCoding,
            .httpResponseContentCoding, .httpResponseTimeout, .httpUpgradeFailed, .httpProtocolError:
            return .upstream
        }
    }

    /// The hops of a proxied exchange; the error page marks the one that failed.
    public enum Hop: String, Sendable {
        /// The gateway itself (configuration, limits, internal errors).
        case gateway
        /// The resolver used to find the upstream's address.
        case resolver
        /// The upstream server.
        case upstream
    }

    /// The cause in plain words, for the error page, the error log and `explain`.
    public var summary: String {
        switch self {
        case .dnsTimeout: return "The upstream's name could not be resolved in time: the DNS resolver did not answer."
        case .dnsError: return "The upstream's name does not resolve (the DNS answer was an error such as NXDOMAIN)."
        case .destinationNotFound: return "No route matches this request."
        case .destinationUnavailable:
            return "No upstream server is available: the cluster is empty or every server is unhealthy or ejected."
        case .destinationIPProhibited: return "The upstream address is not allowed by the gateway's policy."
        case .destinationIPUnroutable: return "The upstream address is unreachable (no route to host or network)."
        case .connectionRefused:
            return "The upstream refused the connection: nothing is listening on that address and port."
        case .connectionTerminated:
            return "The upstream closed or reset the connection before sending a complete response."
        case .connectionTimeout: return "The TCP connection to the upstream was not established in time."
        case .connectionReadTimeout: return "The upstream accepted the request but did not send the response in time."
        case .connectionWriteTimeout: return "The upstream did not read the request in time."
        case .connectionLimitReached: return "The gateway is at its connection or pending-request limit (load shedding)."
        case .tlsProtocolError: return "The TLS handshake with the upstream failed."
        case .tlsCertificateError: return "The upstream's TLS certificate could not be verified."
        case .tlsAlertReceived: return "The upstream sent a TLS alert during the handshake."
        case .httpRequestError: return "The request is malformed or ambiguous and was not forwarded."
        case .httpRequestDenied: return "The request was denied by a rate limit."
        case .httpResponseIncomplete: return "The upstream's response body ended before its declared length."
        case .httpResponseHeaderSectionSize: return "The upstream's response header section is larger than the limit."
        case .httpResponseHeaderSize: return "A response header from the upstream is larger than the limit."
        case .httpResponseBodySize: return "The upstream's response body is larger than the limit."
        case .httpResponseTrailerSectionSize: return "The upstream's trailer section is larger than the limit."
        case .httpResponseTrailerSize: return "A trailer field from the upstream is larger than the limit."
        case .httpResponseTransferCoding: return "The upstream's chunked transfer coding is invalid."
        case .httpResponseContentCoding: return "The upstream's content coding is invalid."
        case .httpResponseTimeout: return "The whole exchange with the upstream took longer than the request time limit."
        case .httpUpgradeFailed: return "The upstream refused the protocol upgrade."
        case .httpProtocolError: return "The upstream sent a malformed HTTP response (bad status line or header)."
        case .proxyInternalResponse: return "The gateway answered this request itself."
        case .proxyInternalError: return "The gateway hit an internal error."
        case .proxyConfigurationError: return "The gateway's configuration sends this request nowhere valid."
        case .proxyLoopDetected: return "The request has already passed through this gateway: a forwarding loop."
        }
    }

    /// What an operator should do about it.
    public var fixHint: String {
        switch self {
        case .dnsTimeout: return "Check the resolver (dns.servers or /etc/resolv.conf) is reachable and answering."
        case .dnsError: return "Check the server address in the cluster: the host name must resolve from the gateway."
        case .destinationNotFound: return "Add a route that matches this host and path."
        case .destinationUnavailable:
            return "Start or repair the cluster's servers; check the health checks and outlier ejections."
        case .destinationIPProhibited: return "Allow the address in the gateway's policy or fix the server address."
        case .destinationIPUnroutable: return "Check routing and firewalls between the gateway and the upstream."
        case .connectionRefused:
            return "Start the upstream service, or fix the port in the cluster's server address."
        case .connectionTerminated:
            return
                "Check the upstream's logs for crashes or killed workers; make its keep-alive timeout longer than the gateway's pool idle_timeout."
        case .connectionTimeout:
            return "Check the upstream host is up and no firewall drops the SYN; raise timeouts.connect only if the network is slow."
        case .connectionReadTimeout:
            return "Find why the upstream is slow (its logs, slow queries); raise timeouts.response_header or timeouts.idle only if the slowness is expected."
        case .connectionWriteTimeout: return "Check the upstream is reading requests (worker pool exhausted?)."
        case .connectionLimitReached: return "Add capacity or raise the cluster's limits; clients should retry after the Retry-After delay."
        case .tlsProtocolError: return "Check the upstream speaks TLS on that port and shares a protocol version and cipher with the gateway."
        case .tlsCertificateError: return "Renew or fix the upstream certificate, or configure the CA that signed it."
        case .tlsAlertReceived: return "Read the alert: the upstream may require a client certificate or reject the SNI name."
        case .httpRequestError: return "Fix the client: send one unambiguous Content-Length or chunked framing."
        case .httpRequestDenied: return "Slow down, or raise the route's rate limit."
        case .httpResponseIncomplete: return "Check the upstream for crashes mid-response or a wrong Content-Length."
        case .httpResponseHeaderSectionSize, .httpResponseHeaderSize:
            return "Make the upstream send smaller headers (large cookies?) or raise limits.max_response_header_bytes."
        case .httpResponseBodySize: return "Raise the body size limit or make the upstream send less."
        case .httpResponseTrailerSectionSize, .httpResponseTrailerSize: return "Make the upstream send smaller trailers."
        case .httpResponseTransferCoding: return "Fix the upstream's chunked encoding (a broken framework or middleware)."
        case .httpResponseContentCoding: return "Fix the upstream's Content-Encoding."
        case .httpResponseTimeout: return "Find why the upstream is slow; raise timeouts.request only for long transfers."
        case .httpUpgradeFailed: return "Check the upstream supports the requested upgrade (WebSocket) on that path."
        case .httpProtocolError:
            return "Fix the upstream: its status line or a header is not valid HTTP/1.1 (check it speaks HTTP on that port)."
        case .proxyInternalResponse: return "Nothing to fix."
        case .proxyInternalError: return "Report a bug with the request id; the gateway's error log has the details."
        case .proxyConfigurationError: return "Run `gatehouse check` and fix the route or cluster it names."
        case .proxyLoopDetected: return "Fix the route or DNS that points the gateway at itself."
        }
    }
}
