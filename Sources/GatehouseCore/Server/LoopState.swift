import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import Synchronization
import Tracing

/// What one event loop uses for the requests of one configuration: its snapshot, the controller
/// that publishes its memberships, its balancer cursors and retry budgets. A reload gives the loop a
/// new generation; an exchange keeps the one it started with to its end. Loop-bound: no locks.
final class LoopGeneration {
    let snapshot: ProxySnapshot
    /// Receives passive-health events; nil for loops run without one (the in-memory tests).
    let controller: UpstreamController?
    /// The stats slots of the configuration's servers, `[cluster][server]`.
    let statSlots: [[Int]]
    /// The servers each cluster may use now, by cluster index.
    private(set) var memberships: [ClusterMembership]
    fileprivate var cursors: [BalancerCursor]
    fileprivate var budgets: [RetryBudget]

    init(snapshot: ProxySnapshot, controller: UpstreamController?, memberships: [ClusterMembership], statSlots: [[Int]]) {
        self.snapshot = snapshot
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
        guard cluster >= 0, cluster < self.statSlots.count, server >= 0, server < self.statSlots[cluster].count else {
            return -1
        }
        return self.statSlots[cluster][server]
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
    let logger: Logger
    let accessLog: AccessLogBuffer
    let sweeper: DeadlineSweeper
    /// Makes the spans of this loop's exchanges; nil = tracing off, checked once per request.
    let tracer: (any Tracer)?
    /// Opens upstream connections (TCP; the tests swap in in-memory channels).
    var connector: any UpstreamConnector = SocketUpstreamConnector()
    /// The configuration new exchanges start with.
    private(set) var current: LoopGeneration
    /// Pools by endpoint id, created on first use.
    private var pools: [Int: UpstreamConnectionPool] = [:]
    private var nextConnectionID = 0
    private var random: SplitMix64

    init(
        eventLoop: any EventLoop, snapshot: ProxySnapshot, stats: GatewayStats, logger: Logger,
        accessLog: AccessLogSink, controller: UpstreamController? = nil, memberships: [ClusterMembership]? = nil,
        tracer: (any Tracer)? = nil
    ) {
        self.eventLoop = eventLoop
        self.tracer = tracer
        self.stats = stats
        self.logger = logger
        self.accessLog = AccessLogBuffer(sink: accessLog, eventLoop: eventLoop)
        self.sweeper = DeadlineSweeper(eventLoop: eventLoop)
        self.current = LoopGeneration(
            snapshot: snapshot, controller: controller, memberships: memberships ?? ClusterMembership.initial(snapshot),
            statSlots: stats.slots(for: snapshot))
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
        let pool = UpstreamConnectionPool(
            eventLoop: self.eventLoop, maxIdle: endpoint.pool.maxIdlePerServer, idleTimeout: TimeAmount(endpoint.pool.idleTimeout))
        self.pools[endpoint.id] = pool
        return pool
    }

    /// Takes a membership the controller published: idle connections to endpoints no longer offered
    /// are closed (in-flight exchanges finish on theirs), pools of endpoints gone for good are retired.
    func install(_ membership: ClusterMembership, cluster: Int, retired: [Int], in generation: LoopGeneration) {
        guard let previous = generation.install(membership, cluster: cluster) else { return }
        let offered = Set(membership.endpoints.map(\.id))
        for endpoint in previous.endpoints where !offered.contains(endpoint.id) {
            self.pools[endpoint.id]?.drain()
        }
        for id in retired { self.pools.removeValue(forKey: id)?.retire() }
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

/// A small, fast PRNG (SplitMix64) for ids; not for secrets.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
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
