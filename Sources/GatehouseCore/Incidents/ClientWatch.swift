import Synchronization

/// Client addresses of a suspected traffic spike: the heaviest senders, for the incident's hint.
///
/// Counting every request's client would cost the data path a lock per request, so it only runs
/// while the incident monitor's tick has seen a spike: the data path pays one relaxed atomic load
/// per request otherwise. The table is bounded (Space-Saving: a newcomer replaces the smallest
/// count and inherits it, so a heavy hitter is never under-counted).
public final class ClientWatch: Sendable {
    private let watching = Atomic<Bool>(false)
    private let table = Mutex(HeavyHitters(capacity: 32))

    public init() {}

    /// Whether client addresses are being counted (read on the data path).
    public var isWatching: Bool { self.watching.load(ordering: .relaxed) }

    /// Starts (with an empty table) or stops counting.
    public func watch(_ on: Bool) {
        guard self.watching.exchange(on, ordering: .relaxed) != on else { return }
        if on { self.table.withLock { $0.reset() } }
    }

    /// Counts one request of `address` (data path, only while watching).
    public func count(_ address: String) {
        self.table.withLock { $0.add(address) }
    }

    /// The heaviest clients counted, most requests first.
    public func top(_ count: Int) -> [ClientCount] {
        self.table.withLock { $0.top(count) }
    }
}

/// A Space-Saving heavy-hitter table of at most `capacity` keys.
struct HeavyHitters: Sendable {
    let capacity: Int
    private(set) var counts: [String: Int] = [:]

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    mutating func reset() {
        self.counts.removeAll(keepingCapacity: true)
    }

    mutating func add(_ key: String) {
        if let count = self.counts[key] {
            self.counts[key] = count + 1
        } else if self.counts.count < self.capacity {
            self.counts[key] = 1
        } else if let smallest = self.counts.min(by: { $0.value < $1.value }) {
            self.counts.removeValue(forKey: smallest.key)
            self.counts[key] = smallest.value + 1
        }
    }

    func top(_ count: Int) -> [ClientCount] {
        self.counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(count).map {
            ClientCount(address: $0.key, requests: $0.value)
        }
    }
}
