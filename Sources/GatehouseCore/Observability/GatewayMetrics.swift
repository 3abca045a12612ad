import GatehouseConfig
import GatehouseErrors
import Prometheus
import Synchronization

/// The gateway's Prometheus metrics (`GET /metrics` on the admin listener), derived from the
/// request records like the access log (DESIGN.md), plus gauges read at scrape time.
///
/// One registry per gateway, not the process-wide swift-metrics bootstrap, so tests can run many
/// gateways in one process; the CLI also points swift-metrics at this registry, so libraries'
/// metrics appear on the same page. Labels are bounded by the configuration: route, cluster,
/// configured server, Proxy-Status type, status class — never paths or client addresses.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// Upper bounds for latencies, in seconds: 1 ms to a minute (the default request timeout is 5 min,
    /// but a histogram is for the shape of normal traffic; the rest lands in +Inf).
    static let latencyBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        // A reload that never happened is not a failed one.
        registry.makeGauge(descriptor: Name.lastReloadSuccess).set(1.0)
    }

    // MARK: - Names

    /// Computed: the library's descriptor type is not `Sendable`, so it cannot be a static constant.
    enum Name {
        static func named(_ subsystem: String?, _ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "gatehouse", subsystem: subsystem, metricName: metric, unitName: unit, helpText: help)
        }

        static var requests: MetricNameDescriptor {
            named(nil, "requests", "total", "Requests answered, by route, cluster and status class (code: 1xx..5xx).")
        }
        static var gatewayErrors: MetricNameDescriptor {
            named(nil, "gateway_errors", "total", "Errors made by the gateway, by cluster, server, RFC 9209 Proxy-Status error type and the status sent (code).")
        }
        static var receivedErrors: MetricNameDescriptor {
            named("upstream", "5xx_responses", "total", "Upstream 5xx responses passed through (Proxy-Status received-status), by cluster, server and status (code).")
        }
        static var connectDuration: MetricNameDescriptor {
            named("upstream", "connect_duration", "seconds", "Time to open a new upstream connection (TCP connect), by cluster.")
        }
        static var headerDuration: MetricNameDescriptor {
            named("upstream", "header_duration", "seconds", "Time from the start of the request to the upstream's response head (time to first byte), by cluster.")
        }
        static var requestDuration: MetricNameDescriptor {
            named(nil, "request_duration", "seconds", "Time from the request's arrival to the end of its response, by route and cluster.")
        }
        static var cacheResponses: MetricNameDescriptor {
            named("cache", "responses", "total", "Requests of caching routes by how the cache took part (result: hit, stale, miss, revalidated, stale_if_error, bypass), by route.")
        }
        static var retries: MetricNameDescriptor {
            named("upstream", "retries", "total", "Tries after the first, by cluster.")
        }
        static var retryBudgetExhausted: MetricNameDescriptor {
            named("upstream", "retry_budget_exhausted", "total", "Retries not made because the cluster's retry budget was spent, by cluster.")
        }
        static var keepAliveRaces: MetricNameDescriptor {
            named("upstream", "keepalive_races", "total", "Reused upstream connections closed by the upstream before any response byte (the keep-alive race), by cluster.")
        }
        static var connectionsOpened: MetricNameDescriptor {
            named("upstream", "connections_opened", "total", "Upstream connections opened, by cluster (low against requests = good reuse).")
        }
        static var healthChecks: MetricNameDescriptor {
            named("upstream", "health_checks", "total", "Active health checks, by cluster, server and result (success, failure).")
        }
        static var ejections: MetricNameDescriptor {
            named("upstream", "ejections", "total", "Servers taken out of rotation by passive health (outlier detection), by cluster and server.")
        }
        static var serverUp: MetricNameDescriptor {
            named("upstream", "server_up", "", "Addresses of the server in rotation (healthy, not ejected, not drained): 1 or 0 for an IP address, by cluster and server.")
        }
        static var inFlight: MetricNameDescriptor {
            named("upstream", "requests_in_flight", "", "Requests under way to the server, by cluster and server.")
        }
        static var poolConnections: MetricNameDescriptor {
            named("upstream", "connections", "", "Open upstream connections, by cluster and state (active: serving a request; idle: pooled).")
        }
        static var cacheEntries: MetricNameDescriptor {
            named("cache", "entries", "", "Responses held by the response cache (variants count one each).")
        }
        static var cacheBytes: MetricNameDescriptor {
            named("cache", "size", "bytes", "Bytes held by the response cache, against cache.max_bytes.")
        }
        static var downstreamConnections: MetricNameDescriptor {
            named("downstream", "connections", "", "Open client connections, by listener.")
        }
        static var refusedConnections: MetricNameDescriptor {
            named("downstream", "connections_refused", "total", "Client connections answered 503 because the listener was at max_connections, by listener.")
        }
        static var downstreamTimeouts: MetricNameDescriptor {
            named("downstream", "timeouts", "total", "Client connections cut by a client_timeouts limit, by listener and kind (header: 408 or silent close; body: 408, too slow; keep_alive: idle close).")
        }
        static var downstreamTLSFailures: MetricNameDescriptor {
            named("downstream", "tls_handshake_failures", "total", "Client TLS handshakes that failed (client-side problems, not gateway errors), by listener and reason.")
        }
        static var reloads: MetricNameDescriptor {
            named("config", "reloads", "total", "Configuration reloads, by result (success, failure).")
        }
        static var webhookDeliveries: MetricNameDescriptor {
            named("alert", "webhook_deliveries", "total", "Incident notifications by result: delivered, failed after every retry, dropped (queue full).")
        }
        static var storageDropped: MetricNameDescriptor {
            named("storage", "dropped", "total", "Errors and incidents not kept in the store, by reason (queue_full, write_failed).")
        }
        static var buildInfo: MetricNameDescriptor {
            named(nil, "build_info", "", "Always 1; the version label says which Gatehouse runs.")
        }
        static var lastReloadSuccess: MetricNameDescriptor {
            named("config", "last_reload_successful", "", "1 when the last configuration reload succeeded (or none was tried), 0 when it failed.")
        }
    }

    // MARK: - Per configuration

    /// The instruments the data path uses for one configuration, made once per loop generation so a
    /// request never looks anything up in the registry (the registry returns the same series for the
    /// same labels, so the counts go on across reloads).
    func instruments(for snapshot: ProxySnapshot) -> Instruments {
        let clusters = snapshot.clusters.map { runtime -> ClusterInstruments in
            let labels = [("cluster", runtime.cluster.name)]
            return ClusterInstruments(
                name: runtime.cluster.name,
                servers: runtime.cluster.servers.map(\.address.description),
                connect: self.registry.makeValueHistogram(
                    descriptor: Name.connectDuration, labels: labels, buckets: Self.latencyBuckets),
                header: self.registry.makeValueHistogram(
                    descriptor: Name.headerDuration, labels: labels, buckets: Self.latencyBuckets),
                retries: self.registry.makeCounter(descriptor: Name.retries, labels: labels),
                budgetExhausted: self.registry.makeCounter(descriptor: Name.retryBudgetExhausted, labels: labels),
                keepAliveRaces: self.registry.makeCounter(descriptor: Name.keepAliveRaces, labels: labels),
                connectionsOpened: self.registry.makeCounter(descriptor: Name.connectionsOpened, labels: labels))
        }
        let routes = snapshot.configuration.routes.map { route in
            var instruments = self.routeInstruments(route: route.name, cluster: route.cluster)
            if route.cache != nil {
                instruments.cache = CacheOutcome.allCases.map { outcome in
                    self.registry.makeCounter(
                        descriptor: Name.cacheResponses, labels: [("route", route.name), ("result", outcome.rawValue)])
                }
            }
            return instruments
        }
        return Instruments(
            routes: routes, unrouted: self.routeInstruments(route: "none", cluster: "none"), clusters: clusters)
    }

    private func routeInstruments(route: String, cluster: String) -> RouteInstruments {
        let statusClasses = (1...5).map { statusClass in
            self.registry.makeCounter(
                descriptor: Name.requests, labels: [("route", route), ("cluster", cluster), ("code", "\(statusClass)xx")])
        }
        return RouteInstruments(
            cluster: cluster, statusClasses: statusClasses,
            duration: self.registry.makeValueHistogram(
                descriptor: Name.requestDuration, labels: [("route", route), ("cluster", cluster)],
                buckets: Self.latencyBuckets))
    }

    /// The series of one gateway error; made on the error path only, cached by the loop.
    ///
    /// - Parameter code: the status the client got (the error's, or the one already sent when the
    ///   failure came mid-response), so alert rules can select 502/503/504.
    func gatewayErrorCounter(cluster: String, server: String, type: ProxyStatusError, code: Int) -> Counter {
        self.registry.makeCounter(
            descriptor: Name.gatewayErrors,
            labels: [("cluster", cluster), ("server", server), ("error", type.token), ("code", String(code))])
    }

    func receivedErrorCounter(cluster: String, server: String, code: Int) -> Counter {
        self.registry.makeCounter(
            descriptor: Name.receivedErrors, labels: [("cluster", cluster), ("server", server), ("code", String(code))])
    }

    // MARK: - Control-path events

    /// An active health check ended.
    func countHealthCheck(cluster: String, server: String, passed: Bool) {
        self.registry.makeCounter(
            descriptor: Name.healthChecks,
            labels: [("cluster", cluster), ("server", server), ("result", passed ? "success" : "failure")]
        ).increment()
    }

    /// Passive health took a server out.
    func countEjection(cluster: String, server: String) {
        self.registry.makeCounter(descriptor: Name.ejections, labels: [("cluster", cluster), ("server", server)]).increment()
    }

    /// A listener refused a connection at max_connections.
    func countRefusedConnection(listener: String) {
        self.registry.makeCounter(descriptor: Name.refusedConnections, labels: [("listener", listener)]).increment()
    }

    /// The series of a listener's client timeouts, made once per listener.
    func downstreamTimeoutCounters(listener: String) -> DownstreamTimeoutCounters {
        func counter(_ kind: String) -> Counter {
            self.registry.makeCounter(descriptor: Name.downstreamTimeouts, labels: [("listener", listener), ("kind", kind)])
        }
        return DownstreamTimeoutCounters(header: counter("header"), body: counter("body"), keepAlive: counter("keep_alive"))
    }

    /// A client's TLS handshake failed; `reason` is a bounded label (``TLSFailureKind``'s metric reason).
    func countTLSHandshakeFailure(listener: String, reason: String) {
        self.registry.makeCounter(
            descriptor: Name.downstreamTLSFailures, labels: [("listener", listener), ("reason", reason)]
        ).increment()
    }

    /// A reload was tried (from SIGHUP or the admin API), with its outcome.
    public func countReload(success: Bool) {
        self.registry.makeCounter(descriptor: Name.reloads, labels: [("result", success ? "success" : "failure")])
            .increment()
        self.registry.makeGauge(descriptor: Name.lastReloadSuccess).set(success ? 1.0 : 0.0)
    }

    /// A webhook delivery or an error-store write ended (control plane, rare).
    public func count(_ event: GatewayStats.IncidentEvent) {
        switch event {
        case .webhookDelivered, .webhookFailed, .webhookDropped:
            let result = event == .webhookDelivered ? "delivered" : event == .webhookFailed ? "failed" : "dropped"
            self.registry.makeCounter(descriptor: Name.webhookDeliveries, labels: [("result", result)]).increment()
        case .storageDropped, .storageFailed:
            let reason = event == .storageDropped ? "queue_full" : "write_failed"
            self.registry.makeCounter(descriptor: Name.storageDropped, labels: [("reason", reason)]).increment()
        }
    }

    /// `gatehouse_build_info{version="…"} 1`, the usual way to see which version each instance runs.
    public func setBuildInfo(version: String) {
        self.registry.makeGauge(descriptor: Name.buildInfo, labels: [("version", version)]).set(1.0)
    }

    // MARK: - Scrape-time gauges

    /// What the scrape reads from the running gateway rather than from request records.
    public struct Gauges: Sendable {
        public struct Server: Sendable {
            public var cluster: String
            public var server: String
            /// Addresses of the server that take traffic (a server given by DNS name may have several).
            public var up: Int
            public var inFlight: Int
        }
        public var servers: [Server] = []
        /// Open upstream connections by cluster: (active, idle).
        public var pools: [String: (active: Int, idle: Int)] = [:]
        /// Open client connections by listener.
        public var listeners: [String: Int] = [:]
        /// The response cache's size, when a route caches.
        public var cache: (entries: Int, bytes: Int)?

        public init() {}
    }

    /// Series of gauges that were set at the last scrape; those that disappear are removed, so a
    /// server taken out of the configuration stops being reported.
    private let published = Mutex<[String: Gauge]>([:])

    /// Sets the scrape-time gauges and renders the whole registry in the text exposition format.
    func exposition(_ gauges: Gauges) -> [UInt8] {
        var next: [String: Gauge] = [:]
        func set(_ descriptor: MetricNameDescriptor, _ labels: [(String, String)], _ value: Int) {
            let key = descriptor.name + labels.map { "\u{0}" + $0.0 + "=" + $0.1 }.joined()
            let gauge = self.registry.makeGauge(descriptor: descriptor, labels: labels)
            gauge.set(Double(value))
            next[key] = gauge
        }
        for server in gauges.servers {
            let labels = [("cluster", server.cluster), ("server", server.server)]
            set(Name.serverUp, labels, server.up)
            set(Name.inFlight, labels, server.inFlight)
        }
        for (cluster, counts) in gauges.pools {
            set(Name.poolConnections, [("cluster", cluster), ("state", "active")], counts.active)
            set(Name.poolConnections, [("cluster", cluster), ("state", "idle")], counts.idle)
        }
        for (listener, open) in gauges.listeners {
            set(Name.downstreamConnections, [("listener", listener)], open)
        }
        if let cache = gauges.cache {
            set(Name.cacheEntries, [], cache.entries)
            set(Name.cacheBytes, [], cache.bytes)
        }
        self.published.withLock { published in
            for (key, gauge) in published where next[key] == nil { self.registry.unregisterGauge(gauge) }
            published = next
        }
        return self.registry.emitToBuffer()
    }
}

/// The instruments of one configuration (see ``GatewayMetrics/instruments(for:)``).
struct Instruments: Sendable {
    var routes: [RouteInstruments]
    /// Requests no route matched (404) or refused before routing (400…).
    var unrouted: RouteInstruments
    var clusters: [ClusterInstruments]
}

/// `gatehouse_downstream_timeouts_total` of one listener, by kind.
struct DownstreamTimeoutCounters: Sendable {
    var header: Counter
    var body: Counter
    var keepAlive: Counter

    func count(_ expired: ClientDeadlines.Expired) {
        switch expired {
        case .header: self.header.increment()
        case .body: self.body.increment()
        case .keepAlive: self.keepAlive.increment()
        }
    }
}

struct RouteInstruments: Sendable {
    var cluster: String
    /// `[0]` = 1xx … `[4]` = 5xx.
    var statusClasses: [Counter]
    var duration: ValueHistogram
    /// By ``CacheOutcome/index``; empty for routes without `cache`.
    var cache: [Counter] = []
}

struct ClusterInstruments: Sendable {
    var name: String
    /// Configured server names by index, the `server` label.
    var servers: [String]
    var connect: ValueHistogram
    var header: ValueHistogram
    var retries: Counter
    var budgetExhausted: Counter
    var keepAliveRaces: Counter
    var connectionsOpened: Counter
}
