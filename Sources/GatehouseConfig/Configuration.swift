/// A validated, immutable Gatehouse configuration.
///
/// Built once from YAML by ``ConfigurationLoader`` (or in code, for the demo); every optional of the
/// file has been resolved to a value, every duration and address parsed. A reload builds a new one.
public struct GatehouseConfiguration: Sendable, Equatable {
    /// The listeners that accept downstream HTTP/1.1 connections.
    public var listeners: [Listener]
    /// The admin listener (JSON status, health), if configured.
    public var admin: Admin?
    /// Where the JSON access log goes.
    public var accessLog: AccessLogTarget
    /// Upstream clusters, in file order. Names are unique.
    public var clusters: [Cluster]
    /// Routes, in file order: the first match wins.
    public var routes: [Route]
    /// Peers whose `X-Forwarded-*` / `Forwarded` headers are trusted and extended rather than replaced.
    public var trustedProxies: [AddressRange]
    /// Whether error responses may show upstream addresses and details to clients.
    public var exposeDetails: Bool
    /// The name this gateway uses in `Via` and `Proxy-Status` (default `gatehouse`).
    public var gatewayName: String
    /// Limits on what downstream clients may send.
    public var requestLimits: RequestLimits
    /// Incident detection and the webhooks told about incidents.
    public var alerts: Alerts
    /// Where errors and incidents are kept across restarts; nil: in memory only.
    public var storage: Storage?
    /// Span export over OTLP; nil = tracing off.
    public var tracing: TracingConfiguration?
    /// Time limits on what clients send (slowloris, slow POST) and on idle keep-alive connections.
    public var clientTimeouts: ClientTimeouts
    /// The response cache's store, used by the routes that cache.
    public var cache: CacheStorage

    public init(
        listeners: [Listener], admin: Admin? = nil, accessLog: AccessLogTarget = .stdout, clusters: [Cluster],
        routes: [Route], trustedProxies: [AddressRange] = [], exposeDetails: Bool = false,
        gatewayName: String = "gatehouse", requestLimits: RequestLimits = RequestLimits(), alerts: Alerts = Alerts(),
        storage: Storage? = nil, tracing: TracingConfiguration? = nil, clientTimeouts: ClientTimeouts = ClientTimeouts(),
        cache: CacheStorage = CacheStorage()
    ) {
        self.listeners = listeners
        self.admin = admin
        self.accessLog = accessLog
        self.clusters = clusters
        self.routes = routes
        self.trustedProxies = trustedProxies
        self.exposeDetails = exposeDetails
        self.gatewayName = gatewayName
        self.requestLimits = requestLimits
        self.alerts = alerts
        self.storage = storage
        self.tracing = tracing
        self.clientTimeouts = clientTimeouts
        self.cache = cache
    }

    /// The cluster with this name, if any.
    public func cluster(named name: String) -> Cluster? {
        self.clusters.first { $0.name == name }
    }
}

/// A `host:port` pair as written in the file. The host may be an IPv4/IPv6 literal or a DNS name.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP literal, without IPv6 brackets.
    public var host: String
    /// TCP port, 0–65535 (0 = any free port, for listeners only).
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with brackets around IPv6 literals.
    public var description: String {
        self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }
}

/// Where a value came from in the configuration file, for diagnostics after validation.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(self.file):\(self.line):\(self.column)" }
}

/// One downstream listener.
public struct Listener: Sendable, Equatable {
    public var name: String
    public var address: HostPort
    /// Open downstream connections beyond which new ones are answered 503 and closed (0 = unlimited).
    public var maxConnections: Int
    /// TLS termination; nil = plain HTTP.
    public var tls: ListenerTLS?

    public init(name: String, address: HostPort, maxConnections: Int = 0, tls: ListenerTLS? = nil) {
        self.name = name
        self.address = address
        self.maxConnections = maxConnections
        self.tls = tls
    }
}

/// The admin listener.
public struct Admin: Sendable, Equatable {
    public var address: HostPort
    /// A file holding the bearer token that admin requests must carry; required off loopback.
    public var tokenFile: String?

    public init(address: HostPort, tokenFile: String? = nil) {
        self.address = address
        self.tokenFile = tokenFile
    }

    /// Whether the address only accepts local connections (`127.0.0.0/8`, `::1`, `localhost`).
    public var isLoopback: Bool {
        let host = self.address.host.lowercased()
        return host == "localhost" || host == "::1" || ValueSyntax.ipv4(host)?.first == 127
    }
}

/// Where the access log is written.
public enum AccessLogTarget: Sendable, Equatable {
    /// One JSON line per request on standard output.
    case stdout
    /// No access log.
    case off
    /// Appended to this file.
    case file(String)
}

/// An IP address range (`10.0.0.0/8`, `127.0.0.1`, `::1/128`) for trusted proxies.
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
    /// The network address bytes (4 for IPv4, 16 for IPv6).
    public var network: [UInt8]
    /// The prefix length in bits.
    public var prefixLength: Int

    public init(network: [UInt8], prefixLength: Int) {
        self.network = network
        self.prefixLength = prefixLength
    }

    /// Whether the address (4 or 16 bytes) lies inside this range. IPv4-mapped IPv6 addresses match IPv4 ranges.
    public func contains(_ address: [UInt8]) -> Bool {
        var address = address
        if self.network.count == 4, address.count == 16, address[0..<10].allSatisfy({ $0 == 0 }),
            address[10] == 0xff, address[11] == 0xff
        {
            address = Array(address[12..<16])
        }
        guard address.count == self.network.count else { return false }
        var remaining = self.prefixLength
        for index in 0..<address.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xff : ~(0xff >> UInt8(bits))
            if address[index] & mask != self.network[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String {
        let text: String
        if self.network.count == 4 {
            text = self.network.map(String.init).joined(separator: ".")
        } else {
            text = stride(from: 0, to: 16, by: 2).map { String(UInt16(self.network[$0]) << 8 | UInt16(self.network[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        }
        return "\(text)/\(self.prefixLength)"
    }
}

/// Limits on downstream requests.
public struct RequestLimits: Sendable, Equatable {
    /// Largest request head (request line + headers) accepted, in bytes. Beyond it: 431.
    public var maxHeaderBytes: Int
    /// Largest request body accepted, in bytes (0 = unlimited, streamed). Beyond it: 413.
    public var maxBodyBytes: Int64
    /// Longest request target (the URI of the request line) accepted, in bytes. Beyond it: 414.
    /// A target longer than `maxHeaderBytes` is already refused by the header-section limit (431).
    public var maxRequestLineBytes: Int
    /// Most header fields in a request head (trailers included). Beyond it: 431.
    public var maxHeaderCount: Int
    /// Most requests a client may pipeline behind the one being answered. The next one is answered
    /// in order with 503 `connection_limit_reached` and the connection closes after it.
    public var maxPipelinedRequests: Int

    public init(
        maxHeaderBytes: Int = 64 * 1024, maxBodyBytes: Int64 = 0, maxRequestLineBytes: Int = 8 * 1024,
        maxHeaderCount: Int = 100, maxPipelinedRequests: Int = 32
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxBodyBytes = maxBodyBytes
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxPipelinedRequests = maxPipelinedRequests
    }
}

/// An upstream cluster.
public struct Cluster: Sendable, Equatable {
    /// The balancing policies.
    public enum Balance: String, Sendable, Equatable, CaseIterable {
        /// Smooth weighted round robin (nginx's algorithm): weights spread evenly, `a a b` → `a b a`.
        case roundRobin = "round_robin"
        /// The same policy under the name nginx users look for.
        case weightedRoundRobin = "weighted_round_robin"
        /// Power of two choices: of two random servers (weighted), the one with fewer requests in flight.
        case leastRequest = "least_request"
        /// A weighted random server per request.
        case random
        /// Maglev consistent hashing on `hash_on`: adding or removing one of N servers moves about 1/N of keys.
        case consistentHash = "consistent_hash"
    }

    /// What `consistent_hash` hashes.
    public enum HashKey: Sendable, Equatable {
        /// A request header's value (lower-cased name).
        case header(String)
        /// A cookie's value.
        case cookie(String)
        /// The client's IP address as the gateway sees it (the TCP peer).
        case clientAddress
    }

    /// Active health checking: probes each server on an interval; only healthy servers get traffic.
    public struct HealthCheck: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            /// `GET path`; healthy when the status is expected (and the body holds `expectedBody`).
            case http(path: String)
            /// Healthy when a TCP connection opens.
            case tcp
        }

        public var kind: Kind
        public var interval: Duration
        /// Each wait is `interval` ± up to this much, so a fleet of gateways does not probe in step.
        public var jitter: Duration
        /// A probe not finished in this time fails (`connection_timeout` or `connection_read_timeout`).
        public var timeout: Duration
        /// Consecutive passes that make an unhealthy server healthy (rise).
        public var healthyThreshold: Int
        /// Consecutive failures that make a healthy server unhealthy (fall).
        public var unhealthyThreshold: Int
        /// Statuses that pass, as inclusive ranges.
        public var expectedStatuses: [ClosedRange<Int>]
        /// When set, the response body (its first 64 KiB) must contain this text.
        public var expectedBody: String?
        /// The Host header of the probe; the server's `host:port` when nil.
        public var host: String?

        public init(
            kind: Kind = .http(path: "/"), interval: Duration = .seconds(5), jitter: Duration? = nil,
            timeout: Duration = .seconds(2), healthyThreshold: Int = 2, unhealthyThreshold: Int = 3,
            expectedStatuses: [ClosedRange<Int>] = [200...399], expectedBody: String? = nil, host: String? = nil
        ) {
            self.kind = kind
            self.interval = interval
            self.jitter = jitter ?? interval / 10
            self.timeout = timeout
            self.healthyThreshold = healthyThreshold
            self.unhealthyThreshold = unhealthyThreshold
            self.expectedStatuses = expectedStatuses
            self.expectedBody = expectedBody
            self.host = host
        }

        /// Whether a probe's status passes.
        public func accepts(status: Int) -> Bool {
            self.expectedStatuses.contains { $0.contains(status) }
        }
    }

    /// Passive health: ejects a server that keeps failing real requests.
    public struct OutlierDetection: Sendable, Equatable {
        /// Consecutive gateway failures (connect failures, resets, timeouts, malformed responses) that eject.
        public var consecutiveFailures: Int
        /// Whether a 5xx answered by the server counts as a failure too.
        public var countServerErrors: Bool
        /// The first ejection lasts this long; the n-th in a row lasts n times as long.
        public var baseEjectionTime: Duration
        /// No ejection lasts longer than this.
        public var maxEjectionTime: Duration
        /// Never more than this share of the cluster (percent, rounded down) is ejected at once.
        public var maxEjectionPercent: Int

        public init(
            consecutiveFailures: Int = 5, countServerErrors: Bool = false, baseEjectionTime: Duration = .seconds(30),
            maxEjectionTime: Duration = .seconds(300), maxEjectionPercent: Int = 50
        ) {
            self.consecutiveFailures = consecutiveFailures
            self.countServerErrors = countServerErrors
            self.baseEjectionTime = baseEjectionTime
            self.maxEjectionTime = maxEjectionTime
            self.maxEjectionPercent = maxEjectionPercent
        }
    }

    /// Per-phase time limits. None is infinite.
    public struct Timeouts: Sendable, Equatable {
        /// TCP connect (plus DNS). Exceeded → 504 `connection_timeout`.
        public var connect: Duration
        /// From the request being sent to the first byte of the response head. Exceeded → 504 `connection_read_timeout`.
        public var responseHeader: Duration
        /// Longest silence between bytes in either direction once the exchange is under way. Exceeded → 504
        /// `connection_read_timeout` (before the head) or a truncated response (after it).
        public var idle: Duration
        /// The whole exchange. Exceeded → 504 `http_response_timeout`.
        public var request: Duration

        public init(
            connect: Duration = .seconds(2), responseHeader: Duration = .seconds(30), idle: Duration = .seconds(60),
            request: Duration = .seconds(300)
        ) {
            self.connect = connect
            self.responseHeader = responseHeader
            self.idle = idle
            self.request = request
        }
    }

    /// The per-event-loop upstream connection pool.
    public struct Pool: Sendable, Equatable {
        /// Idle keep-alive connections kept per server per event loop.
        public var maxIdlePerServer: Int
        /// An idle connection older than this is closed.
        public var idleTimeout: Duration

        public init(maxIdlePerServer: Int = 64, idleTimeout: Duration = .seconds(30)) {
            self.maxIdlePerServer = maxIdlePerServer
            self.idleTimeout = idleTimeout
        }
    }

    /// Limits on what the upstream may send, and circuit breakers on what the gateway sends it.
    public struct Limits: Sendable, Equatable {
        /// Largest response header section accepted, in bytes. Beyond it → 502 `http_response_header_section_size`.
        public var maxResponseHeaderBytes: Int
        /// Open upstream connections of the cluster, all loops together (0 = unlimited). A request that
        /// would need one more is answered 503 `connection_limit_reached` at once, with `Retry-After`.
        public var maxConnections: Int
        /// Requests waiting for a new upstream connection (connecting), all loops together (0 = unlimited).
        public var maxPendingRequests: Int
        /// Requests in flight to the cluster, all loops together (0 = unlimited).
        public var maxRequests: Int

        public init(
            maxResponseHeaderBytes: Int = 32 * 1024, maxConnections: Int = 0, maxPendingRequests: Int = 0,
            maxRequests: Int = 0
        ) {
            self.maxResponseHeaderBytes = maxResponseHeaderBytes
            self.maxConnections = maxConnections
            self.maxPendingRequests = maxPendingRequests
            self.maxRequests = maxRequests
        }
    }

    /// Which failed attempts are tried again, how often, and within what budget.
    public struct Retries: Sendable, Equatable {
        /// Failures that may be retried.
        public enum Condition: String, Sendable, Equatable, CaseIterable {
            /// The connection could not be opened (refused, timed out, unreachable): nothing was sent.
            case connectFailure = "connect_failure"
            /// The connection was closed or reset before any response byte.
            case reset
            /// No response head within the (per-try) response-header timeout.
            case readTimeout = "read_timeout"
        }

        /// Tries in all, the first included (1 = no retries; the keep-alive race is still covered).
        public var attempts: Int
        /// The response-header limit of each try; nil = `timeouts.response_header`.
        public var perTryTimeout: Duration?
        public var conditions: Set<Condition>
        /// Upstream statuses that are retried (e.g. 502, 503, 504), for idempotent methods.
        public var statuses: Set<Int>
        /// Methods retried after the request may have reached the upstream.
        public var idempotentMethods: Set<String>
        /// Exponential backoff between tries with full jitter: random(0, min(max, base × 2^(n-1))).
        public var backoffBase: Duration
        public var backoffMax: Duration
        /// Retries may add at most this share (percent) of the cluster's request rate (Linkerd's budget)…
        public var budgetPercent: Int
        /// …but this many retries per second are always allowed, so a quiet cluster can still retry.
        public var minRetriesPerSecond: Int
        /// Request bodies up to this size are held so a try can be replayed; a longer body is never retried.
        public var bufferBodyBytes: Int

        public init(
            attempts: Int = 2, perTryTimeout: Duration? = nil, conditions: Set<Condition> = [.connectFailure, .reset],
            statuses: Set<Int> = [], idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"],
            backoffBase: Duration = .milliseconds(25), backoffMax: Duration = .milliseconds(250), budgetPercent: Int = 20,
            minRetriesPerSecond: Int = 10, bufferBodyBytes: Int = 64 * 1024
        ) {
            self.attempts = attempts
            self.perTryTimeout = perTryTimeout
            self.conditions = conditions
            self.statuses = statuses
            self.idempotentMethods = idempotentMethods
            self.backoffBase = backoffBase
            self.backoffMax = backoffMax
            self.budgetPercent = budgetPercent
            self.minRetriesPerSecond = minRetriesPerSecond
            self.bufferBodyBytes = bufferBodyBytes
        }
    }

    /// One server of the cluster.
    public struct Server: Sendable, Equatable {
        public var address: HostPort
        public var weight: Int

        public init(address: HostPort, weight: Int = 1) {
            self.address = address
            self.weight = weight
        }
    }

    public var name: String
    public var servers: [Server]
    public var balance: Balance
    /// What `consistent_hash` hashes; required for that policy, nil otherwise.
    public var hashOn: HashKey?
    public var timeouts: Timeouts
    public var pool: Pool
    public var limits: Limits
    /// Active health checks; nil = none (every server is assumed healthy unless ejected).
    public var healthCheck: HealthCheck?
    /// Passive health; nil = off.
    public var outlierDetection: OutlierDetection?
    /// A server that becomes healthy again gets its share ramped up over this window; nil = at once.
    public var slowStart: Duration?
    /// Below this share (percent) of healthy servers, balance across all of them (panic mode); 0 = never.
    public var panicThreshold: Int
    /// How often servers given by DNS name are resolved again.
    public var dnsRefresh: Duration
    public var retries: Retries
    /// TLS to the servers (connections and health checks); nil = plain HTTP.
    public var tls: UpstreamTLS?

    public init(
        name: String, servers: [Server], balance: Balance = .roundRobin, hashOn: HashKey? = nil,
        timeouts: Timeouts = Timeouts(), pool: Pool = Pool(), limits: Limits = Limits(),
        healthCheck: HealthCheck? = nil, outlierDetection: OutlierDetection? = nil, slowStart: Duration? = nil,
        panicThreshold: Int = 50, dnsRefresh: Duration = .seconds(30), retries: Retries = Retries(),
        tls: UpstreamTLS? = nil
    ) {
        self.tls = tls
        self.name = name
        self.servers = servers
        self.balance = balance
        self.hashOn = hashOn
        self.timeouts = timeouts
        self.pool = pool
        self.limits = limits
        self.healthCheck = healthCheck
        self.outlierDetection = outlierDetection
        self.slowStart = slowStart
        self.panicThreshold = panicThreshold
        self.dnsRefresh = dnsRefresh
        self.retries = retries
    }
}

/// A route: which requests go to which cluster, and how the request is rewritten on the way.
public struct Route: Sendable, Equatable {
    /// What a request must look like to take this route. Absent fields match anything.
    public struct Match: Sendable, Equatable {
        /// Exact host (case-insensitive, port ignored), or `*.example.com` for any subdomain.
        public var host: String?
        /// Path prefix; `/` matches every path.
        public var pathPrefix: String

        public init(host: String? = nil, pathPrefix: String = "/") {
            self.host = host
            self.pathPrefix = pathPrefix
        }
    }

    /// How the `Host` header sent upstream is chosen.
    public enum HostRewrite: Sendable, Equatable {
        /// Pass the client's Host through (nginx `proxy_set_header Host $host`).
        case preserve
        /// Use the selected server's `host:port`.
        case upstream
        /// Use this fixed value.
        case fixed(String)
    }

    /// A display name (`routes[0]` when the file gives none).
    public var name: String
    public var match: Match
    /// The cluster's name; validation guarantees it exists.
    public var cluster: String
    /// Remove `match.pathPrefix` from the path sent upstream (keeping a leading `/`).
    public var stripPrefix: Bool
    /// Replace `match.pathPrefix` with this prefix in the path sent upstream.
    public var rewritePrefix: String?
    public var hostRewrite: HostRewrite
    /// Requests beyond this rate are answered 429 `http_request_denied` by the gateway; nil = no limit.
    public var rateLimit: RateLimit?

    /// The route's caching, nil when it does not cache.
    public var cache: RouteCache?

    public init(
        name: String, match: Match, cluster: String, stripPrefix: Bool = false, rewritePrefix: String? = nil,
        hostRewrite: HostRewrite = .preserve, rateLimit: RateLimit? = nil, cache: RouteCache? = nil
    ) {
        self.name = name
        self.match = match
        self.cluster = cluster
        self.stripPrefix = stripPrefix
        self.rewritePrefix = rewritePrefix
        self.hostRewrite = hostRewrite
        self.rateLimit = rateLimit
        self.cache = cache
    }
}
