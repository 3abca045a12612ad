import GatehouseConfig
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The gateway's response cache: one ``CacheStore`` shared by every event loop, and the requests
/// under way for missing keys (coalescing). The lock is held only for one lookup, insert or flight
/// change — never across I/O — and waiters are woken on their own event loop.
///
/// Kept across reloads: the budget follows the configuration, the entries stay (keys include the
/// route's name, so a renamed route starts cold).
public final class ResponseCache: Sendable {
    /// Someone waiting for a flight: woken on its own loop when the flight lands.
    struct Waiter: Sendable {
        let id: Int
        let eventLoop: any EventLoop
        let wake: @Sendable () -> Void
    }

    /// What a request for a missing key does.
    enum Join: Sendable, Equatable {
        /// Nobody is fetching it: this request fetches it, and must end the flight.
        case lead
        /// Another request is fetching it: wait to be woken.
        case wait
    }

    private struct State: Sendable {
        var store: CacheStore
        var flights: [String: [Waiter]] = [:]
        var nextWaiter = 0
    }

    /// Answers by ``CacheOutcome/index`` since the start.
    private let outcomes = Mutex([Int](repeating: 0, count: CacheOutcome.allCases.count))
    private let state: Mutex<State>

    public init(storage: CacheStorage = CacheStorage()) {
        self.state = Mutex(
            State(store: CacheStore(maxBytes: Self.clamp(storage.maxBytes), maxObjectBytes: Self.clamp(storage.maxObjectBytes))))
    }

    private static func clamp(_ value: Int64) -> Int { Int(min(value, Int64(Int.max))) }

    /// New limits from a reload.
    public func configure(_ storage: CacheStorage) {
        self.state.withLock {
            $0.store.setLimits(maxBytes: Self.clamp(storage.maxBytes), maxObjectBytes: Self.clamp(storage.maxObjectBytes))
        }
    }

    var maxObjectBytes: Int { self.state.withLock { $0.store.maxObjectBytes } }

    func lookup(_ key: String, request: HTTPHeaders) -> (slot: Int, response: CachedResponse)? {
        self.state.withLock { $0.store.lookup(key, request: request) }
    }

    func insert(_ key: String, _ response: CachedResponse) {
        self.state.withLock { _ = $0.store.insert(key, response) }
    }

    func replace(slot: Int, key: String, with response: CachedResponse) {
        self.state.withLock { $0.store.replace(slot: slot, key: key, with: response) }
    }

    /// Drops every variant of `key` (the origin no longer lets it be stored).
    func removeAll(_ key: String) {
        self.state.withLock { $0.store.removeAll(key) }
    }

    /// Starts a flight for `key`, or joins the one under way (then `wake` runs on `eventLoop` when
    /// it lands). Without `wake`, only leads: nil when a flight is already under way.
    func join(_ key: String, eventLoop: any EventLoop, wake: (@Sendable () -> Void)?) -> (Join, waiter: Int)? {
        self.state.withLock { state in
            guard var waiters = state.flights[key] else {
                state.flights[key] = []
                return (.lead, -1)
            }
            guard let wake else { return nil }
            state.nextWaiter += 1
            waiters.append(Waiter(id: state.nextWaiter, eventLoop: eventLoop, wake: wake))
            state.flights[key] = waiters
            return (.wait, state.nextWaiter)
        }
    }

    /// A waiter gave up (its wait ran out, or its client left).
    func leave(_ key: String, waiter: Int) {
        self.state.withLock { state in
            guard var waiters = state.flights[key] else { return }
            waiters.removeAll { $0.id == waiter }
            state.flights[key] = waiters
        }
    }

    /// The leader's response is stored (or turned out not storable, or failed): every waiter looks
    /// again, on its own loop.
    func land(_ key: String) {
        let waiters = self.state.withLock { $0.flights.removeValue(forKey: key) } ?? []
        for waiter in waiters { waiter.eventLoop.execute(waiter.wake) }
    }

    /// Counts how a request was answered (see ``CacheOutcome``).
    func count(_ outcome: CacheOutcome) {
        self.outcomes.withLock { $0[outcome.index] += 1 }
    }

    /// What `/admin/cache` and `/stats` show.
    public struct Stats: Sendable, Equatable {
        public var entries: Int
        public var bytes: Int
        public var maxBytes: Int
        public var evictions: Int
        /// Requests waiting for a coalesced fetch right now.
        public var waiting: Int
        /// Answers by outcome (`hit`, `miss`, …), since the start.
        public var outcomes: [(String, Int)]

        public static func == (lhs: Stats, rhs: Stats) -> Bool {
            lhs.entries == rhs.entries && lhs.bytes == rhs.bytes && lhs.maxBytes == rhs.maxBytes
                && lhs.evictions == rhs.evictions && lhs.waiting == rhs.waiting
                && lhs.outcomes.map(\.0) == rhs.outcomes.map(\.0) && lhs.outcomes.map(\.1) == rhs.outcomes.map(\.1)
        }

        /// The JSON object of `/admin/cache`.
        public var json: String {
            var json = "{\"entries\":\(self.entries),\"bytes\":\(self.bytes),\"max_bytes\":\(self.maxBytes)"
            json += ",\"evictions\":\(self.evictions),\"waiting\":\(self.waiting),\"responses\":{"
            json += self.outcomes.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
            return json + "}}"
        }
    }

    public func stats() -> Stats {
        let (entries, bytes, maxBytes, evictions, waiting) = self.state.withLock { state in
            (
                state.store.count, state.store.bytes, state.store.maxBytes, state.store.evictions,
                state.flights.values.reduce(0) { $0 + $1.count }
            )
        }
        let counts = self.outcomes.withLock { $0 }
        return Stats(
            entries: entries, bytes: bytes, maxBytes: maxBytes, evictions: evictions, waiting: waiting,
            outcomes: CacheOutcome.allCases.map { ($0.rawValue, counts[$0.index]) })
    }

    /// Wall-clock seconds, the time `Date` and `Expires` speak (injected everywhere else).
    static func now() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}

/// How the cache took part in answering a request: the access log's `cache` field, the `result`
/// label of `gatehouse_cache_responses_total`, and `/admin/cache`.
public enum CacheOutcome: String, Sendable, CaseIterable {
    /// Answered from a fresh stored response (or its 304 to the client's conditional).
    case hit
    /// Answered from a stale stored response while another request revalidates it.
    case stale
    /// Forwarded (nothing usable stored); `stored` says whether the answer was kept.
    case miss
    /// A stale or `no-cache` entry revalidated upstream: 304 (refreshed) or a new response.
    case revalidated
    /// The upstream failed and a stored copy answered instead (RFC 5861 stale-if-error). The
    /// failure is still the request's failure in the record.
    case staleIfError = "stale_if_error"
    /// Not cacheable by the request itself (method, body, `no-store`): forwarded as usual.
    case bypass

    var index: Int {
        switch self {
        case .hit: 0
        case .stale: 1
        case .miss: 2
        case .revalidated: 3
        case .staleIfError: 4
        case .bypass: 5
        }
    }
}
