import GatehouseConfig
import Logging
import NIOCore

/// What one event loop owns for the data path: its upstream pools (per cluster × server), its
/// round-robin positions, its access-log batch, its request-id generator. Loop-bound: no locks.
final class LoopState {
    let eventLoop: any EventLoop
    let snapshot: ProxySnapshot
    let stats: GatewayStats
    let logger: Logger
    let accessLog: AccessLogBuffer
    let sweeper: DeadlineSweeper
    /// Opens upstream connections (TCP; the tests swap in in-memory channels).
    var connector: any UpstreamConnector = SocketUpstreamConnector()
    /// `pools[cluster][target]`.
    private(set) var pools: [[UpstreamConnectionPool]]
    private var roundRobin: [Int]
    private var nextConnectionID = 0
    private var random: SplitMix64

    init(eventLoop: any EventLoop, snapshot: ProxySnapshot, stats: GatewayStats, logger: Logger, accessLog: AccessLogSink) {
        self.eventLoop = eventLoop
        self.snapshot = snapshot
        self.stats = stats
        self.logger = logger
        self.accessLog = AccessLogBuffer(sink: accessLog, eventLoop: eventLoop)
        self.sweeper = DeadlineSweeper(eventLoop: eventLoop)
        self.pools = snapshot.clusters.map { runtime in
            runtime.targets.map { _ in
                UpstreamConnectionPool(
                    eventLoop: eventLoop, maxIdle: runtime.cluster.pool.maxIdlePerServer,
                    idleTimeout: TimeAmount(runtime.cluster.pool.idleTimeout))
            }
        }
        var seed = SystemRandomNumberGenerator()
        self.random = SplitMix64(seed: seed.next())
        // Spread loops over the servers so that N loops do not all start on server 0.
        self.roundRobin = snapshot.clusters.map { $0.schedule.isEmpty ? 0 : Int(seed.next() % UInt64($0.schedule.count)) }
    }

    /// The next server of the cluster in weighted round-robin order, nil for an empty cluster.
    func pickTarget(cluster: Int) -> Int? {
        let schedule = self.snapshot.clusters[cluster].schedule
        guard !schedule.isEmpty else { return nil }
        let position = self.roundRobin[cluster] % schedule.count
        self.roundRobin[cluster] = position + 1
        return schedule[position]
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
        for clusterPools in self.pools { for pool in clusterPools { pool.drain() } }
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
    /// A Swift `Duration` at the NIO boundary.
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
