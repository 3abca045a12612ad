import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import Prometheus
import Synchronization
import Tracing

/// What one event loop uses for the requests of one configuration: its snapshot, the controller
/// that publishes its memberships, its balancer cursors and retry budgets. A reload gives the loop a
/// new generation; an exchange keeps the one it started with to its end. Loop-bound: no locks.
final class LoopGeneration {
    let snapshot: ProxySnapshot
    /// Receives passive-health events; nil for loops run without one (the in-memory tests).
    let controller: UpstreamController?
    /// The stats slots of the configuration's clusters and servers.
    let statSlots: StatSlots
    let metrics: GatewayMetrics
    /// The configuration's metric series, made once so a request looks nothing up.
    let instruments: Instruments
    /// Gateway-error series met so far (error path only; loop-bound, so no lock).
    private var errorCounters: [ErrorSeries: Counter] = [:]
    /// The servers each cluster may use now, by cluster index.
    private(set) var memberships: [ClusterMembership]
    fileprivate var cursors: [BalancerCursor]
    fileprivate var budgets: [RetryBudget]

    init(
        snapshot: ProxySnapshot, controller: UpstreamController?, memberships: [ClusterMembership], statSlots: StatSlots,
        metrics: GatewayMetrics
    ) {
        self.snapshot = snapshot
        self.metrics = metrics
        self.instruments = metrics.instruments(for: snapshot)
        self.controller = controller
        self.memberships = memberships
        self.statSlots = statSlots
        self.cursors = snapshot.clusters.map { _ in BalancerCursor() }
        self.budgets = snapshot.clusters.map {
            RetryBudget(percent: $0.cluster.retries.budgetPercent, minPerSecond: $0.cluster.retries.minRetriesPerSecond)
        }
    }

    /// Takes the memberships current when the loop subscribed to the controller.
    func install(memberships: [ClusterMembership]) {
        self.memberships = memberships
    }

    /// Takes a membership the controller published; returns the previous one.
    func install(_ membership: ClusterMembership, cluster: Int) -> ClusterMembership? {
        guard cluster < self.memberships.count else { return nil }
        let previous = self.memberships[cluster]
        self.memberships[cluster] = membership
        return previous
    }

    /// The stats slot of a cluster's server, -1 for none.
    func statSlot(cluster: Int, server: Int) -> Int {
        let servers = self.statSlots.servers
        guard cluster >= 0, cluster < servers.count, server >= 0, server < servers[cluster].count else {
            return -1
        }
        return servers[cluster][server]
    }

    /// The stats slot of a cluster, -1 for none.
    func statSlot(cluster: Int) -> Int {
        cluster >= 0 && cluster < self.statSlots.clusters.count ? self.statSlots.clusters[cluster] : -1
    }
}

extension LoopGeneration {
    private struct ErrorSeries: Hashable {
        var cluster: Int
        var server: Int
        var type: ProxyStatusError?
        var code: Int
    }

    /// Derives the metrics of a finished request from its record.
    ///
    /// - Parameters:
    ///   - route: the route's index, -1 when none matched.
    ///   - cluster: the cluster's index, -1 when none was chosen.
    ///   - server: the configured server's index in the cluster, -1 when none was chosen.
    func recordMetrics(_ record: RequestRecord, route: Int, cluster: Int, server: Int, openedConnection: Bool) {
        let routeSeries = route >= 0 && route < self.instruments.routes.count ? self.instruments.routes[route] : self.instruments.unrouted
        let statusClass = record.status / 100
        if statusClass >= 1 && statusClass <= 5 { routeSeries.statusClasses[statusClass - 1].increment() }
        routeSeries.duration.record(record.totalMilliseconds / 1000)
        guard cluster >= 0, cluster < self.instruments.clusters.count else {
            if let failure = record.failure {
                self.errorCounter(cluster: -1, server: -1, type: failure.type, code: record.status).increment()
            }
            return
        }
        let series = self.instruments.clusters[cluster]
        if openedConnection {
            series.connectionsOpened.increment()
            if let connect = record.connectMilliseconds { series.connect.record(connect / 1000) }
        }
        if let header = record.headerMilliseconds { series.header.record(header / 1000) }
        if let failure = record.failure {
            self.errorCounter(cluster: cluster, server: server, type: failure.type, code: record.status).increment()
        } else if let received = record.receivedStatus {
            self.errorCounter(cluster: cluster, server: server, type: nil, code: received).increment()
        }
    }

    /// The series of a gateway error (`type`) or of a passed-through upstream 5xx (`nil`).
    private func errorCounter(cluster: Int, server: Int, type: ProxyStatusError?, code: Int) -> Counter {
        let key = ErrorSeries(cluster: cluster, server: server, type: type, code: code)
        if let counter = self.errorCounters[key] { return counter }
        let clusterName = cluster >= 0 && cluster < self.instruments.clusters.count ? self.instruments.clusters[cluster].name : "none"
        let servers = cluster >= 0 && cluster < self.instruments.clusters.count ? self.instruments.clusters[cluster].servers : []
        let serverName = server >= 0 && server < servers.count ? servers[server] : "none"
        let counter =
            type.map { self.metrics.gatewayErrorCounter(cluster: clusterName, server: serverName, type: $0, code: code) }
            ?? self.metrics.receivedErrorCounter(cluster: clusterName, server: serverName, code: code)
        self.errorCounters[key] = counter
        return counter
    }

    /// The series of the cluster, when the index names one.
    func clusterInstruments(_ cluster: Int) -> ClusterInstruments? {
        cluster >= 0 && cluster < self.instruments.clusters.count ? self.instruments.clusters[cluster] : nil
    }
}

@available(*, unavailable)
extension LoopGeneration: Sendable {}

/// What one event loop owns for the data path: the current ``LoopGeneration``, its upstream pools
/// (per endpoint, kept across reloads for endpoints that stay), its access-log batch, its
/// request-id generator. Loop-bound: no locks.
final class LoopState {
    let eventLoop: any EventLoop
    let stats: GatewayStats
    let metrics: GatewayMetrics
    let logger: Logger
    let accessLog: AccessLogBuffer
    let sweeper: DeadlineSweeper
    /// Makes the spans of this loop's exchanges; nil = tracing off, checked once per request.
    let tracer: (any Tracer)?
    /// The response cache shared by every loop (used only by routes with `cache`).
    let cache: ResponseCache
    /// Opens upstream connections (TCP; the tests swap in in-memory channels).
    var connector: any UpstreamConnector = SocketUpstreamConnector()
    /// The configuration new exchanges start with.
    private(set) var current: LoopGeneration
    /// Pools by endpoint id, created on first use.
    private var pools: [Int: UpstreamConnectionPool] = [:]
    private var nextConnectionID = 0
    private var random: SplitMix64

    init(
        eventLoop: any EventLoop, snapshot: ProxySnapshot, stats: GatewayStats, metrics: GatewayMetrics, logger: Logger,
        accessLog: AccessLogSink, controller: UpstreamController? = nil, memberships: [ClusterMembership]? = nil,
        tracer: (any Tracer)? = nil, cache: ResponseCache = ResponseCache()
    ) {
        self.eventLoop = eventLoop
        self.cache = cache
        self.tracer = tracer
        self.stats = stats
        self.metrics = metrics
        self.logger = logger
        self.accessLog = AccessLogBuffer(sink: accessLog, eventLoop: eventLoop)
        self.sweeper = DeadlineSweeper(eventLoop: eventLoop)
        self.current = LoopGeneration(
            snapshot: snapshot, controller: controller, memberships: memberships ?? ClusterMembership.initial(snapshot),
            statSlots: stats.slots(for: snapshot), metrics: metrics)
        var seed = SystemRandomNumberGenerator()
        self.random = SplitMix64(seed: seed.next())
    }

    /// The configuration new exchanges start with.
    var snapshot: ProxySnapshot { self.current.snapshot }

    /// A reload: new exchanges use `generation`; those under way finish on theirs. Pools of
    /// endpoints the new configuration no longer has are retired.
    func switchTo(_ generation: LoopGeneration) {
        let kept = Set(generation.memberships.flatMap { $0.endpoints.map(\.id) })
        let previous = self.current
        self.current = generation
        for membership in previous.memberships {
            for endpoint in membership.endpoints where !kept.contains(endpoint.id) {
                self.pools.removeValue(forKey: endpoint.id)?.retire()
            }
        }
    }

    /// Picks the endpoint for a request of the cluster, or says why none can be picked.
    ///
    /// - Parameter hash: the request's consistent-hash key, when the policy uses one.
    func pick(in generation: LoopGeneration, cluster: Int, hash: UInt64?) -> Result<Endpoint, ProxyFailure> {
        let membership = generation.memberships[cluster]
        let endpoints = membership.endpoints
        guard
            let index = generation.cursors[cluster].pick(
                in: membership.table, hash: hash, load: { endpoints[$0].active.load(ordering: .relaxed) },
                using: &self.random),
            index >= 0, index < endpoints.count
        else {
            return .failure(
                membership.emptyFailure
                    ?? ProxyFailure(type: .destinationUnavailable, phase: .selectUpstream, details: "no server to pick"))
        }
        return .success(endpoints[index])
    }

    /// This loop's pool for the endpoint.
    func pool(for endpoint: Endpoint) -> UpstreamConnectionPool {
        if let pool = self.pools[endpoint.id] { return pool }
        let clusters = self.current.snapshot.clusters
        let pool = UpstreamConnectionPool(
            eventLoop: self.eventLoop, maxIdle: endpoint.pool.maxIdlePerServer, idleTimeout: TimeAmount(endpoint.pool.idleTimeout),
            cluster: endpoint.cluster < clusters.count ? clusters[endpoint.cluster].cluster.name : "none")
        self.pools[endpoint.id] = pool
        return pool
    }

    /// This loop's open upstream connections by cluster: (active, idle).
    func poolCounts() -> [String: (active: Int, idle: Int)] {
        var counts: [String: (active: Int, idle: Int)] = [:]
        for pool in self.pools.values {
            let (active, idle) = pool.counts
            let sum = counts[pool.cluster] ?? (0, 0)
            counts[pool.cluster] = (sum.active + active, sum.idle + idle)
        }
        return counts
    }

    /// Takes a membership the controller published: idle connections to endpoints no longer offered
    /// are closed (in-flight exchanges finish on theirs), pools of endpoints gone for good are retired.
    func install(_ membership: ClusterMembership, cluster: Int, retired: [Int], in generation: LoopGeneration) {
        guard let previous = generation.install(membership, cluster: cluster) else { return }
        let offered = Set(membership.endpoints.map(\.id))
        for endpoint in previous.endpoints where !offered.contains(endpoint.id) {
            self.pools[endpoint.id]?.drain()
        }
        for id in retired {
            self.pools.removeValue(forKey: id)?.retire()
        }
    }

    /// A first try to the cluster: feeds its retry budget.
    func recordRequest(in generation: LoopGeneration, cluster: Int, at time: NIODeadline) {
        generation.budgets[cluster].recordRequest(second: Int64(time.uptimeNanoseconds / 1_000_000_000))
    }

    /// Takes a retry from the cluster's budget, or says it is spent.
    func withdrawRetry(in generation: LoopGeneration, cluster: Int) -> Bool {
        generation.budgets[cluster].withdraw(second: Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000_000))
    }

    /// The backoff before the n-th retry.
    func backoff(retry: Int, policy: Cluster.Retries) -> TimeAmount {
        .nanoseconds(
            RetryBackoff.delayNanoseconds(
                retry: retry, base: TimeAmount(policy.backoffBase).nanoseconds, max: TimeAmount(policy.backoffMax).nanoseconds,
                using: &self.random))
    }

    func makeConnectionID() -> Int {
        self.nextConnectionID += 1
        return self.nextConnectionID
    }

    /// A random request id of 15 URL-safe characters (90 bits): short enough to be a Swift small
    /// string (no allocation), from a per-loop PRNG seeded once, because the system generator costs
    /// a syscall per call.
    func makeRequestID() -> String {
        let high = self.random.next()
        let low = self.random.next()
        let alphabet: StaticString = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"
        return alphabet.withUTF8Buffer { symbols in
            String(unsafeUninitializedCapacity: 15) { bytes in
                for index in 0..<15 {
                    let bits = index < 10 ? high >> UInt64(index * 6) : low >> UInt64((index - 10) * 6)
                    bytes[index] = symbols[Int(bits & 63)]
                }
                return 15
            }
        }
    }

    /// Closes every idle upstream connection of this loop.
    func drainPools() {
        for pool in self.pools.values { pool.drain() }
    }
}

@available(*, unavailable)
extension LoopState: Sendable {}

// `package` (not internal) so Benchmarks/GatehouseBenchmarks picks with the loops' own generator.
/// A small, fast PRNG (SplitMix64) for ids; not for secrets.
package struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    package init(seed: UInt64) {
        self.state = seed
    }

    package mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension TimeAmount {
    /// A Swift `Duration` at the NIO boundary, saturated to `0...Int64.max` nanoseconds so a huge or
    /// negative value cannot trap.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else {
            self = .zero
            return
        }
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, overflowAgain) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        self = .nanoseconds(overflow || overflowAgain ? .max : total)
    }
}
