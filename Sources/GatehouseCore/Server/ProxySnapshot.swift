import GatehouseConfig
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Everything the data path reads from one configuration, compiled once: immutable and `Sendable`,
/// read once per connection. A reload will build a new one; exchanges finish on the one they started with.
///
/// A class, so the data path pays one reference count to reach it, not one per array inside; the
/// values read per request are hoisted out of the configuration into plain fields.
public final class ProxySnapshot: Sendable {
    /// One server of a cluster, ready to connect to.
    public struct Target: Sendable {
        /// `host:port` as configured: the next hop in logs and `Proxy-Status`.
        public var display: String
        public var host: String
        public var port: Int
        /// Pre-parsed when the host is an IP literal, so no resolver runs per connection.
        public var socketAddress: SocketAddress?
    }

    /// A cluster with its connectable targets.
    public struct ClusterRuntime: Sendable {
        public var cluster: Cluster
        public var targets: [Target]
        /// Its circuit breakers, shared by all loops.
        let breaker: ClusterBreaker
        /// TLS to its servers, compiled for this generation (nil = plain HTTP): connections opened after
        /// a reload use the reloaded CA and client certificate.
        let tls: UpstreamTLSContext?
    }

    public let configuration: GatehouseConfiguration
    public let routes: RouteTable
    public let clusters: [ClusterRuntime]
    /// `configuration.gatewayName`.
    public let gatewayName: String
    /// `configuration.exposeDetails`.
    public let exposeDetails: Bool
    /// `configuration.requestLimits.maxBodyBytes` (0 = unlimited).
    public let maxBodyBytes: Int64
    /// `configuration.requestLimits.maxRequestLineBytes`.
    public let maxRequestLineBytes: Int
    /// `configuration.requestLimits.maxPipelinedRequests`.
    public let maxPipelinedRequests: Int
    /// Each route's rate limiter by route index; nil for a route without `rate_limit`.
    let rateLimiters: [RateLimiter?]
    /// `configuration.clientTimeouts`, converted once for the sweep.
    let clientLimits: ClientDeadlines.Limits
    /// TLS of the listeners that terminate it, by listener name, compiled for this generation.
    let listenerTLS: [String: DownstreamTLSContext]
    /// Listeners whose TLS BoringSSL refused (not expected: the files were checked at load), by name.
    let listenerTLSFailures: [String: String]

    /// - Parameter previous: the configuration being replaced: a route that keeps its name and
    ///   `rate_limit` keeps its buckets, so a reload does not hand every client a full bucket.
    public init(configuration: GatehouseConfiguration, previous: ProxySnapshot? = nil) {
        self.configuration = configuration
        self.gatewayName = configuration.gatewayName
        self.exposeDetails = configuration.exposeDetails
        self.maxBodyBytes = configuration.requestLimits.maxBodyBytes
        self.maxRequestLineBytes = configuration.requestLimits.maxRequestLineBytes
        self.maxPipelinedRequests = configuration.requestLimits.maxPipelinedRequests
        self.routes = RouteTable(routes: configuration.routes, clusters: configuration.clusters)
        var kept: [String: RateLimiter] = [:]
        for limiter in previous?.rateLimiters ?? [] {
            if let limiter { kept[limiter.routeName] = limiter }
        }
        self.rateLimiters = configuration.routes.map { route in
            guard let limit = route.rateLimit else { return nil }
            if let old = kept[route.name], old.limit == limit { return old }
            return RateLimiter(limit, routeName: route.name)
        }
        self.clientLimits = ClientDeadlines.Limits(configuration.clientTimeouts)
        var listenerTLS: [String: DownstreamTLSContext] = [:]
        var listenerTLSFailures: [String: String] = [:]
        for listener in configuration.listeners {
            guard let tls = listener.tls else { continue }
            do {
                listenerTLS[listener.name] = try DownstreamTLSContext(tls)
            } catch {
                listenerTLSFailures[listener.name] = "TLS settings refused: \(error)"
            }
        }
        self.listenerTLS = listenerTLS
        self.listenerTLSFailures = listenerTLSFailures
        self.clusters = configuration.clusters.map { cluster in
            let targets = cluster.servers.map { server in
                Target(
                    display: server.address.description, host: server.address.host, port: server.address.port,
                    socketAddress: try? SocketAddress(ipAddress: server.address.host, port: server.address.port))
            }
            return ClusterRuntime(
                cluster: cluster, targets: targets, breaker: ClusterBreaker(cluster: cluster),
                tls: cluster.tls.map { UpstreamTLSContext(settings: $0, connectTimeout: cluster.timeouts.connect) })
        }
    }

    /// Whether the peer may set forwarding headers that the gateway extends.
    public func isTrusted(_ address: SocketAddress?) -> Bool {
        guard !self.configuration.trustedProxies.isEmpty, let bytes = address?.ipBytes else { return false }
        return self.configuration.trustedProxies.contains { $0.contains(bytes) }
    }
}

extension SocketAddress {
    /// The address bytes (4 or 16), nil for Unix sockets.
    var ipBytes: [UInt8]? {
        guard let text = self.ipAddress else { return nil }
        switch self {
        case .v4:
            var bytes = [UInt8](repeating: 0, count: 4)
            return inet_pton(AF_INET, text, &bytes) == 1 ? bytes : nil
        case .v6:
            var bytes = [UInt8](repeating: 0, count: 16)
            return inet_pton(AF_INET6, text, &bytes) == 1 ? bytes : nil
        case .unixDomainSocket:
            return nil
        }
    }
}
