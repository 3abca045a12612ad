/// One finding of ``ConfigLints``: a setting known to produce 502, 503 or 504 (or to hide them), where it
/// was written, why it hurts, and what to do instead.
public struct ConfigLint: Sendable, Hashable, CustomStringConvertible {
    /// Which check found it; each has its own test.
    public enum Rule: String, Sendable, Hashable, CaseIterable {
        /// A cluster of several servers with neither active nor passive health.
        case noHealth = "no-health"
        /// A one-server cluster whose outlier detection may eject that server, with panic mode off.
        case singleServerEjection = "single-server-ejection"
        /// Retries after the request may have reached the server, for methods that are not idempotent.
        case nonIdempotentRetries = "non-idempotent-retries"
        /// Retries configured, but a budget of 0 % and 0 per second refuses every one.
        case noRetryBudget = "no-retry-budget"
        /// A retry budget above 50 %: retries may amplify an outage.
        case largeRetryBudget = "large-retry-budget"
        /// Servers given by DNS name (a note: they are resolved again every `dns_refresh`).
        case dnsServers = "dns-servers"
        /// Servers given by DNS name with a `dns_refresh` above 5 minutes.
        case staleDNS = "stale-dns"
        /// `response_header` longer than `request`: the request limit fires first.
        case responseHeaderBeyondRequest = "response-header-beyond-request"
        /// `connect` above 10 s.
        case slowConnect = "slow-connect"
        /// `idle` shorter than `response_header`: the idle limit fires first.
        case idleBeforeResponseHeader = "idle-before-response-header"
        /// `pool.idle_timeout` at or above 5 s, longer than common upstreams keep idle connections (a note).
        case keepAliveRace = "keep-alive-race"
        /// A route that an earlier route always matches first.
        case shadowedRoute = "shadowed-route"
        /// A cluster that no route uses.
        case unusedCluster = "unused-cluster"
        /// `limits.max_connections` below what the idle pool alone may hold.
        case connectionsBelowIdlePool = "connections-below-idle-pool"
        /// `check --probe`: a server that could not be reached, or did not answer a complete response.
        case unreachableServer = "unreachable-server"
        /// `check --probe`: a server's response header section over, or within 20 % of,
        /// `limits.max_response_header_bytes`.
        case responseHeaderNearLimit = "response-header-near-limit"
        /// `check --probe`: a server announces `Keep-Alive: timeout=N` at or below `pool.idle_timeout`.
        case advertisedKeepAliveRace = "advertised-keep-alive-race"
        /// `alerts.incident.error_ratio` at 50 % or more: outages that fail one request in three go unnoticed.
        case insensitiveIncidents = "insensitive-incidents"
        /// `alerts.incident.window` shorter than two ticks: the ratio is one tick's noise.
        case incidentWindowBelowInterval = "incident-window-below-interval"
        /// `storage.retention` under a day: last night's outage is gone by morning.
        case shortRetention = "short-retention"
        /// Webhooks configured but `storage` absent (a note): incidents are forgotten at restart.
        case incidentsInMemory = "incidents-in-memory"
        /// `client_timeouts.header` above a minute: slowloris connections are held that long each.
        case longHeaderTimeout = "long-header-timeout"
        /// `client_timeouts.keep_alive` under a minute behind a load balancer (`trusted_proxies` set):
        /// the balancer reuses a connection the gateway is closing, and answers 502.
        case keepAliveBelowBalancerIdle = "keep-alive-below-balancer-idle"
        /// A `rate_limit` of several per second with `burst: 1`: requests sent together are refused.
        case rateLimitWithoutBurst = "rate-limit-without-burst"
        /// A listener certificate that has expired, is not yet valid, or expires within 14 days.
        case certificateExpiry = "certificate-expiry"
        /// `clusters.X.tls.verify: false`: any certificate is accepted, so any machine in the path can impersonate the upstream.
        case tlsVerifyOff = "tls-verify-off"
    }

    public var rule: Rule
    /// `.warning`, or `.note` for facts that fail nothing (not even `check --strict`).
    public var severity: ConfigDiagnostic.Severity
    public var location: SourceLocation
    /// What is wrong and what it leads to, without a final period.
    public var reason: String
    /// What to do instead, without a final period; empty for a note that needs no action.
    public var fix: String

    public init(
        _ rule: Rule, _ severity: ConfigDiagnostic.Severity = .warning, at location: SourceLocation, _ reason: String,
        fix: String
    ) {
        self.rule = rule
        self.severity = severity
        self.location = location
        self.reason = reason
        self.fix = fix
    }

    /// `<reason>. Fix: <fix>` at the finding's location.
    public var diagnostic: ConfigDiagnostic {
        ConfigDiagnostic(
            location: self.location, message: self.fix.isEmpty ? self.reason : "\(self.reason). Fix: \(self.fix)",
            severity: self.severity)
    }

    /// `FILE:LINE:COL: warning: <reason>. Fix: <fix>`.
    public var description: String { self.diagnostic.description }
}

/// The lints of `gatehouse check`: settings of a valid configuration that are known to produce
/// 502/503/504, each a pure function of the configuration and where its keys were written.
///
/// A configuration built in code can be linted with an empty ``ConfigLocations``: every finding then
/// points at the start of the file.
public enum ConfigLints {
    /// Methods RFC 9110 §9.2.2 calls idempotent: replaying them cannot do something twice.
    public static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]
    /// `connect` above this is reported: a dead server holds every request this long.
    public static let slowConnect = Duration.seconds(10)
    /// `dns_refresh` above this is reported: addresses stay stale this long after a failover.
    public static let staleDNSRefresh = Duration.seconds(300)
    /// `pool.idle_timeout` at or above this is noted: Node's (and uvicorn's, Apache's) keep-alive timeout.
    public static let keepAliveRaceThreshold = Duration.seconds(5)

    /// Every finding, in file order (ties in rule order).
    public static func check(
        _ configuration: GatehouseConfiguration, _ locations: ConfigLocations = ConfigLocations(),
        now: Int = Self.currentTime()
    ) -> [ConfigLint] {
        var lints: [ConfigLint] = self.tls(configuration, locations, now: now)
        for cluster in configuration.clusters {
            lints += self.health(cluster, locations)
            lints += self.retries(cluster, locations)
            lints += self.dns(cluster, locations)
            lints += self.timeouts(cluster, locations)
            lints += self.keepAlive(cluster, locations)
            lints += self.connectionLimit(cluster, locations)
        }
        lints += self.routes(configuration, locations)
        lints += self.clientLimits(configuration, locations)
        lints += self.alerts(configuration, locations)
        let order = Dictionary(uniqueKeysWithValues: ConfigLint.Rule.allCases.enumerated().map { ($1, $0) })
        return lints.enumerated().sorted {
            ($0.element.location.line, $0.element.location.column, order[$0.element.rule] ?? 0, $0.offset)
                < ($1.element.location.line, $1.element.location.column, order[$1.element.rule] ?? 0, $1.offset)
        }.map(\.element)
    }

    static func format(_ duration: Duration) -> String { ValueSyntax.format(duration) }

    /// `client_timeouts` and `rate_limit`: the defences against slow and greedy clients, and the
    /// keep-alive limit that a load balancer in front must not outlive.
    static func clientLimits(_ configuration: GatehouseConfiguration, _ locations: ConfigLocations) -> [ConfigLint] {
        var lints: [ConfigLint] = []
        let timeouts = configuration.clientTimeouts
        if timeouts.header > .seconds(60) {
            lints.append(
                ConfigLint(
                    .longHeaderTimeout, at: locations.nearest(["client_timeouts", "header"]),
                    "client_timeouts.header \(format(timeouts.header)) lets a slowloris client hold each connection that long while trickling its head, so a few hundred of them exhaust max_connections",
                    fix: "keep it at seconds (the default is 10s; HAProxy advises 10s, nginx defaults to 60s)"))
        }
        if !configuration.trustedProxies.isEmpty, timeouts.keepAlive < .seconds(60) {
            lints.append(
                ConfigLint(
                    .keepAliveBelowBalancerIdle, at: locations.nearest(["client_timeouts", "keep_alive"]),
                    "client_timeouts.keep_alive \(format(timeouts.keepAlive)) is shorter than the idle timeout of the load balancers usually in front (trusted_proxies is set; AWS ALB keeps idle connections 60s): the balancer sends a request on a connection the gateway is closing and answers 502 itself",
                    fix: "make keep_alive longer than the balancer's idle timeout (75s for an ALB's 60s)"))
        }
        for (index, route) in configuration.routes.enumerated() {
            guard let limit = route.rateLimit, limit.burst == 1, limit.period == .seconds(1), limit.requests >= 2 else {
                continue
            }
            lints.append(
                ConfigLint(
                    .rateLimitWithoutBurst, at: locations.nearest(["routes", String(index), "rate_limit", "burst"]),
                    "route '\(route.name)' allows \(limit.rateText) but burst 1: two requests sent together (a page's parallel fetches, a retry) get 429 although the client is far below the rate",
                    fix: "set burst to about a second's worth (the default is the rate's count)"))
        }
        return lints
    }

    static func alerts(_ configuration: GatehouseConfiguration, _ locations: ConfigLocations) -> [ConfigLint] {
        var lints: [ConfigLint] = []
        let incident = configuration.alerts.incident
        if incident.errorRatio >= 0.5 {
            lints.append(
                ConfigLint(
                    .insensitiveIncidents, at: locations.nearest(["alerts", "incident", "error_ratio"]),
                    "error_ratio \(incident.errorRatio) opens an incident only when half the requests fail; an outage of one server in three goes unnoticed",
                    fix: "use a few percent (the default is 5%)"))
        }
        if incident.window < incident.interval * 2 {
            lints.append(
                ConfigLint(
                    .incidentWindowBelowInterval, at: locations.nearest(["alerts", "incident", "window"]),
                    "window \(format(incident.window)) holds fewer than two ticks of interval \(format(incident.interval)): one bad tick opens an incident",
                    fix: "make window at least ten times interval"))
        }
        if let storage = configuration.storage, storage.retention < .seconds(86_400) {
            lints.append(
                ConfigLint(
                    .shortRetention, at: locations.nearest(["storage", "retention"]),
                    "retention \(format(storage.retention)) forgets a night's outage before the morning's investigation",
                    fix: "keep at least 1d (the default is 7d)"))
        }
        if !configuration.alerts.webhooks.isEmpty, configuration.storage == nil {
            lints.append(
                ConfigLint(
                    .incidentsInMemory, .note, at: locations.nearest(["alerts", "webhooks"]),
                    "without storage, error history and incidents are kept in memory and lost at restart", fix: ""))
        }
        return lints
    }

    /// Lints 1 and 2: health.
    static func health(_ cluster: Cluster, _ locations: ConfigLocations) -> [ConfigLint] {
        let path = ["clusters", cluster.name]
        var lints: [ConfigLint] = []
        if cluster.servers.count > 1, cluster.healthCheck == nil, cluster.outlierDetection == nil {
            lints.append(
                ConfigLint(
                    .noHealth, at: locations.nearest(path),
                    "cluster '\(cluster.name)' has \(cluster.servers.count) servers but neither health_check nor outlier_detection: a dead server keeps getting its share of requests (502/504) until someone notices",
                    fix: "add outlier_detection (passive, needs nothing from the servers) and/or a health_check"))
        }
        if cluster.servers.count == 1, let detection = cluster.outlierDetection, detection.maxEjectionPercent >= 100,
            cluster.panicThreshold == 0
        {
            lints.append(
                ConfigLint(
                    .singleServerEjection,
                    at: locations.firstWritten([
                        path + ["outlier_detection", "max_ejection_percent"], path + ["panic_threshold"],
                    ]),
                    "cluster '\(cluster.name)' has one server, outlier_detection may eject all of it (max_ejection_percent 100%) and panic_threshold is 0: one run of \(detection.consecutiveFailures) failures answers every request 503 for \(self.format(detection.baseEjectionTime)) (like nginx's max_fails)",
                    fix: "keep max_ejection_percent below 100 (a single server is then never ejected), set a panic_threshold, or add servers"))
        }
        return lints
    }

    /// Lint 3: retries.
    static func retries(_ cluster: Cluster, _ locations: ConfigLocations) -> [ConfigLint] {
        let retries = cluster.retries
        guard retries.attempts > 1 else { return [] }
        let path = ["clusters", cluster.name, "retries"]
        var lints: [ConfigLint] = []
        let unsafe = retries.idempotentMethods.subtracting(self.idempotentMethods).sorted()
        // Only connect failures (nothing sent) are retried for every method anyway; the list matters beyond them.
        let afterSending = !retries.conditions.subtracting([.connectFailure]).isEmpty || !retries.statuses.isEmpty
        if !unsafe.isEmpty, afterSending {
            lints.append(
                ConfigLint(
                    .nonIdempotentRetries, at: locations.nearest(path + ["methods"]),
                    "retries in cluster '\(cluster.name)' replay \(unsafe.joined(separator: ", ")) after the request may have reached the server: a non-idempotent request (an order, a payment) can be carried out twice",
                    fix: "keep methods to idempotent ones (GET, HEAD, OPTIONS, PUT, DELETE, TRACE); connect failures are retried for every method anyway"))
        }
        if retries.budgetPercent == 0, retries.minRetriesPerSecond == 0 {
            lints.append(
                ConfigLint(
                    .noRetryBudget, at: locations.nearest(path + ["budget"]),
                    "retries in cluster '\(cluster.name)' have no budget (percent 0, min_per_second 0): every retry is refused, so attempts: \(retries.attempts) does nothing and the first failure is the answer",
                    fix: "give the budget a share (percent: 20, min_per_second: 10 are the defaults) or set attempts: 1 to say retries are off"))
        } else if retries.budgetPercent > 50 {
            lints.append(
                ConfigLint(
                    .largeRetryBudget, at: locations.nearest(path + ["budget", "percent"]),
                    "the retry budget of cluster '\(cluster.name)' lets retries add \(retries.budgetPercent)% to the load: when the servers are failing, retries pile onto them and may turn a slowdown into an outage",
                    fix: "keep budget.percent at 50 or below (the default is 20)"))
        }
        return lints
    }

    /// Lint 4: servers given by DNS name.
    static func dns(_ cluster: Cluster, _ locations: ConfigLocations) -> [ConfigLint] {
        let path = ["clusters", cluster.name]
        let named = cluster.servers.indices.filter { index in
            let host = cluster.servers[index].address.host
            return ValueSyntax.ipv4(host) == nil && ValueSyntax.ipv6(host) == nil
        }
        guard let first = named.first else { return [] }
        let names = named.map { cluster.servers[$0].address.description }.joined(separator: ", ")
        if cluster.dnsRefresh > self.staleDNSRefresh {
            return [
                ConfigLint(
                    .staleDNS, at: locations.nearest(path + ["dns_refresh"]),
                    "cluster '\(cluster.name)' resolves \(names) again only every \(self.format(cluster.dnsRefresh)): after a failover moves a name, requests go to the old address (502/504) for up to that long",
                    fix: "set dns_refresh to 5m or less (the default is 30s)")
            ]
        }
        return [
            ConfigLint(
                .dnsServers, .note, at: locations.nearest(path + ["servers", String(first), "address"]),
                "cluster '\(cluster.name)': \(names) \(named.count == 1 ? "is" : "are") resolved again every \(self.format(cluster.dnsRefresh)) (dns_refresh); each address is balanced, checked and ejected alone",
                fix: "")
        ]
    }

    /// Lint 5: timeouts that make another unreachable, or hold requests too long.
    static func timeouts(_ cluster: Cluster, _ locations: ConfigLocations) -> [ConfigLint] {
        let path = ["clusters", cluster.name, "timeouts"]
        let timeouts = cluster.timeouts
        let header = self.format(timeouts.responseHeader)
        var lints: [ConfigLint] = []
        if timeouts.responseHeader > timeouts.request {
            lints.append(
                ConfigLint(
                    .responseHeaderBeyondRequest,
                    at: locations.firstWritten([path + ["response_header"], path + ["request"]]),
                    "in cluster '\(cluster.name)', response_header (\(header)) is longer than request (\(self.format(timeouts.request))), which counts from the start of the exchange: a slow upstream gets 504 http_response_timeout first and response_header is never reached",
                    fix: "make response_header shorter than request"))
        }
        if timeouts.connect > self.slowConnect {
            lints.append(
                ConfigLint(
                    .slowConnect, at: locations.nearest(path + ["connect"]),
                    "in cluster '\(cluster.name)', connect is \(self.format(timeouts.connect)): a server that is down or unreachable holds every request that long before the 504 connection_timeout (and before a retry on another server)",
                    fix: "keep connect at a few seconds (the default is 2s); a healthy connect takes milliseconds"))
        }
        if timeouts.idle < timeouts.responseHeader {
            lints.append(
                ConfigLint(
                    .idleBeforeResponseHeader,
                    at: locations.firstWritten([path + ["idle"], path + ["response_header"]]),
                    "in cluster '\(cluster.name)', idle (\(self.format(timeouts.idle))) is shorter than response_header (\(header)): idle also covers the silence before the response head, so a slow upstream hits the idle limit first and response_header is unreachable",
                    fix: "make idle at least as long as response_header, or shorten response_header to what you meant"))
        }
        return lints
    }

    /// Lint 6: the keep-alive race. A note, not a warning: the pool honours `Keep-Alive: timeout=N`,
    /// learns the upstream's idle close, and retries a request that meets a closed reused connection.
    static func keepAlive(_ cluster: Cluster, _ locations: ConfigLocations) -> [ConfigLint] {
        guard cluster.pool.maxIdlePerServer > 0, cluster.pool.idleTimeout >= self.keepAliveRaceThreshold else {
            return []
        }
        let path = ["clusters", cluster.name, "pool"]
        return [
            ConfigLint(
                .keepAliveRace, .note, at: locations.nearest(path + ["idle_timeout"]),
                "cluster '\(cluster.name)' keeps idle upstream connections \(self.format(cluster.pool.idleTimeout)) (pool.idle_timeout), longer than many upstreams keep them (Node 5s, gunicorn 2s, uvicorn 5s, Apache 5s; nginx 75s): the upstream may close one as it is reused (a 502 connection_terminated that Gatehouse retries once, and learns from)",
                fix: "set pool.idle_timeout below the upstream's keep-alive timeout (4s in front of Node), or raise the upstream's above it")
        ]
    }

    /// Lint 8: a connection budget the idle pool alone can use up.
    static func connectionLimit(_ cluster: Cluster, _ locations: ConfigLocations) -> [ConfigLint] {
        let idle = cluster.pool.maxIdlePerServer.multipliedReportingOverflow(by: cluster.servers.count)
        let limit = cluster.limits.maxConnections
        guard limit > 0, idle.overflow || limit < idle.partialValue else { return [] }
        return [
            ConfigLint(
                .connectionsBelowIdlePool, at: locations.nearest(["clusters", cluster.name, "limits", "max_connections"]),
                "in cluster '\(cluster.name)', limits.max_connections (\(limit)) is below pool.max_idle_per_server × servers (\(cluster.pool.maxIdlePerServer) × \(cluster.servers.count)): idle pooled connections count against it, so idle connections to one server can hold the budget another needs (503 connection_limit_reached)",
                fix: "keep max_connections well above max_idle_per_server × servers × event loops, or lower max_idle_per_server")
        ]
    }

    /// Lint 7: routes that can never match, clusters that no route uses.
    static func routes(_ configuration: GatehouseConfiguration, _ locations: ConfigLocations) -> [ConfigLint] {
        var lints: [ConfigLint] = []
        for (index, route) in configuration.routes.enumerated() {
            guard
                let earlier = configuration.routes[..<index].indices.first(where: {
                    self.covers(configuration.routes[$0].match, route.match)
                })
            else { continue }
            let other = configuration.routes[earlier]
            lints.append(
                ConfigLint(
                    .shadowedRoute, at: locations.nearest(["routes", String(index)]),
                    "route '\(route.name)' can never match: route '\(other.name)' (at \(locations.nearest(["routes", String(earlier)]))) comes first and matches every request it would",
                    fix: "move route '\(route.name)' above route '\(other.name)', or remove it"))
        }
        let used = Set(configuration.routes.map(\.cluster))
        for cluster in configuration.clusters where !used.contains(cluster.name) {
            lints.append(
                ConfigLint(
                    .unusedCluster, at: locations.nearest(["clusters", cluster.name]),
                    "cluster '\(cluster.name)' is not used by any route: it is health-checked and resolved, but serves nothing",
                    fix: "add a route to it, or remove it"))
        }
        return lints
    }

    /// Whether every request that `later` matches is matched by `earlier` (the router's rules: a host
    /// is exact or `*.suffix` for any depth of subdomain, a path prefix is a plain byte prefix).
    public static func covers(_ earlier: Route.Match, _ later: Route.Match) -> Bool {
        guard later.pathPrefix.utf8.starts(with: earlier.pathPrefix.utf8) else { return false }
        guard let host = earlier.host?.lowercased() else { return true }
        guard let laterHost = later.host?.lowercased() else { return false }
        if host == laterHost { return true }
        guard host.hasPrefix("*.") else { return false }
        let suffix = String(host.dropFirst())  // `.example.com`
        // `a.example.com` and `*.a.example.com` both end in `.example.com`, past a label of their own.
        return laterHost.hasSuffix(suffix) && laterHost.count > suffix.count
    }
}

extension ConfigLocations {
    /// Where the first of `paths` that was written is; the nearest written ancestor of the first otherwise.
    func firstWritten(_ paths: [[String]]) -> SourceLocation {
        for path in paths where self.contains(path) { return self.nearest(path) }
        return self.nearest(paths.first ?? [])
    }
}
