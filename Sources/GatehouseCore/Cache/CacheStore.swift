import NIOHTTP1

/// The cache's entries: variants by primary key (route, host, target), a byte budget and least
/// recently used eviction. A value type without I/O or locks; ``ResponseCache`` shares it between
/// event loops behind a mutex held only for one call.
///
/// Recency is a doubly linked list threaded through the slots array (indices, not references), so a
/// hit moves its entry to the front in O(1) and eviction takes from the back.
struct CacheStore: Sendable {
    /// One stored variant.
    struct Slot: Sendable {
        var key: String
        var response: CachedResponse
        var size: Int
        var newer: Int
        var older: Int
    }

    private(set) var maxBytes: Int
    private(set) var maxObjectBytes: Int
    private(set) var bytes = 0
    private(set) var count = 0
    /// Entries dropped to stay within the budget, since the start.
    private(set) var evictions = 0
    private var slots: [Slot?] = []
    private var free: [Int] = []
    /// Slot indices of each primary key's variants.
    private var variants: [String: [Int]] = [:]
    /// Most and least recently used slots, -1 when empty.
    private var newest = -1
    private var oldest = -1

    init(maxBytes: Int, maxObjectBytes: Int) {
        self.maxBytes = maxBytes
        self.maxObjectBytes = maxObjectBytes
    }

    /// New limits (a reload): entries beyond the budget go at once.
    mutating func setLimits(maxBytes: Int, maxObjectBytes: Int) {
        self.maxBytes = maxBytes
        self.maxObjectBytes = maxObjectBytes
        self.evictToBudget()
    }

    /// The variant of `key` that `request` selects, marked as just used.
    ///
    /// - Returns: the slot (to refresh or drop it later) and the response.
    mutating func lookup(_ key: String, request: HTTPHeaders) -> (slot: Int, response: CachedResponse)? {
        guard let indices = self.variants[key] else { return nil }
        for index in indices {
            guard let slot = self.slots[index], slot.response.matches(request) else { continue }
            self.touch(index)
            return (index, slot.response)
        }
        return nil
    }

    /// Stores a response, replacing the variant it selects (same selecting values) and any variant
    /// stored under another `Vary` (the latest response says what the resource varies on).
    ///
    /// - Returns: false when the response alone exceeds the limits (nothing is stored).
    @discardableResult
    mutating func insert(_ key: String, _ response: CachedResponse) -> Bool {
        let size = response.size + key.utf8.count
        // The body was already held to max_object_bytes while it was copied; the budget is the limit here.
        guard size <= self.maxBytes else { return false }
        for index in self.variants[key] ?? [] {
            guard let existing = self.slots[index]?.response else { continue }
            if existing.varyNames != response.varyNames || existing.varyValues == response.varyValues {
                self.remove(index)
            }
        }
        let slot = Slot(key: key, response: response, size: size, newer: -1, older: self.newest)
        let index: Int
        if let reused = self.free.popLast() {
            index = reused
            self.slots[index] = slot
        } else {
            index = self.slots.count
            self.slots.append(slot)
        }
        if self.newest >= 0 { self.slots[self.newest]?.newer = index }
        self.newest = index
        if self.oldest < 0 { self.oldest = index }
        self.variants[key, default: []].append(index)
        self.bytes += size
        self.count += 1
        self.evictToBudget()
        return true
    }

    /// Replaces the response of a slot found by `lookup` (freshened by a 304), if it is still that
    /// key's.
    mutating func replace(slot index: Int, key: String, with response: CachedResponse) {
        guard index >= 0, index < self.slots.count, let slot = self.slots[index], slot.key == key else {
            self.insert(key, response)
            return
        }
        let size = response.size + key.utf8.count
        self.bytes += size - slot.size
        self.slots[index]?.response = response
        self.slots[index]?.size = size
        self.touch(index)
        self.evictToBudget()
    }

    /// Drops every variant of `key`.
    mutating func removeAll(_ key: String) {
        for index in self.variants[key] ?? [] { self.remove(index) }
    }

    private mutating func evictToBudget() {
        while self.bytes > self.maxBytes, self.oldest >= 0 {
            self.remove(self.oldest)
            self.evictions += 1
        }
    }

    private mutating func touch(_ index: Int) {
        guard index != self.newest, let slot = self.slots[index] else { return }
        self.unlink(index, slot)
        self.slots[index]?.older = self.newest
        self.slots[index]?.newer = -1
        if self.newest >= 0 { self.slots[self.newest]?.newer = index }
        self.newest = index
        if self.oldest < 0 { self.oldest = index }
    }

    private mutating func unlink(_ index: Int, _ slot: Slot) {
        if slot.newer >= 0 { self.slots[slot.newer]?.older = slot.older } else { self.newest = slot.older }
        if slot.older >= 0 { self.slots[slot.older]?.newer = slot.newer } else { self.oldest = slot.newer }
    }

    private mutating func remove(_ index: Int) {
        guard let slot = self.slots[index] else { return }
        self.unlink(index, slot)
        self.slots[index] = nil
        self.free.append(index)
        self.bytes -= slot.size
        self.count -= 1
        if var indices = self.variants[slot.key] {
            indices.removeAll { $0 == index }
            self.variants[slot.key] = indices.isEmpty ? nil : indices
        }
    }
}
