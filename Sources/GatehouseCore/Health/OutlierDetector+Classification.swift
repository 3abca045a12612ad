import GatehouseConfig
import GatehouseErrors

extension OutlierDetector {
    /// Classifies one finished exchange with a server for passive health.
    ///
    /// The rule: only what the *server* did counts. A failure that happened before a server was
    /// involved (no route, a malformed client request, our own limits, a resolver problem) says
    /// nothing about the server's health, and counting it would eject healthy servers for the
    /// gateway's or the client's faults. So does a response that is well-formed but unwelcome for
    /// reasons that would be the same on every replica (a body over our size limit, a refused upgrade).
    ///
    /// - Parameters:
    ///   - type: The exchange's RFC 9209 error, nil when it completed normally.
    ///   - status: The status code the server answered with (ignored when `type` is set).
    ///   - configuration: The cluster's outlier settings (for `countServerErrors`).
    /// - Returns: `true` for a failure that extends the server's run, `false` for a success that
    ///   resets it, nil when the exchange says nothing about the server (the run is left as is).
    static func counts(
        _ type: ProxyStatusError?, status: Int, configuration: Cluster.OutlierDetection
    ) -> Bool? {
        guard let type else {
            // The server answered. A 5xx is its own verdict on itself, counted only when asked:
            // many applications answer 500 for one bad request while being perfectly healthy.
            return status >= 500 && configuration.countServerErrors
        }
        switch type {
        case .connectionRefused, .connectionTerminated, .connectionTimeout, .connectionReadTimeout,
            .connectionWriteTimeout, .destinationIPUnroutable:
            // The server is down, unreachable, hung or crashing: exactly what ejection is for.
            return true
        case .tlsProtocolError, .tlsCertificateError, .tlsAlertReceived:
            // Every connection to this server fails the same way until it is fixed.
            return true
        case .httpResponseIncomplete, .httpProtocolError, .httpResponseTransferCoding,
            .httpResponseContentCoding, .httpResponseHeaderSectionSize, .httpResponseHeaderSize,
            .httpResponseTrailerSectionSize, .httpResponseTrailerSize, .httpResponseTimeout:
            // Malformed, truncated, oversized-head or endless responses: a broken server process
            // (or something in front of it that is not speaking HTTP).
            return true
        case .httpResponseBodySize, .httpUpgradeFailed:
            // The server answered correctly; our body limit or the path's lack of upgrade support
            // would be the same on every replica, so ejecting would only shrink the cluster.
            return nil
        case .destinationUnavailable, .destinationIPProhibited:
            // No server was contacted: the balancer had none to offer, or our policy forbade the address.
            return nil
        case .dnsTimeout, .dnsError:
            // Resolution fails per name, before any server is involved, and hits every address behind
            // the name alike; the DNS refresh loop owns that problem. Ejecting (or resetting a run)
            // over the resolver's health would be blaming the wrong hop.
            return nil
        case .destinationNotFound, .connectionLimitReached, .httpRequestError, .httpRequestDenied,
            .proxyInternalResponse, .proxyInternalError, .proxyConfigurationError, .proxyLoopDetected:
            // The gateway or the client: routing, load shedding, a bad request, rate limits, our bugs.
            return nil
        }
    }
}
