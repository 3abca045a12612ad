import GatehouseConfig
import NIOCore
import Synchronization

/// A route's rate limit for the gateway as a whole: one ``TokenBucket`` per key, in a bounded table
/// shared by every event loop.
///
/// Why this shape:
/// - **Shared, not per loop.** A client's keep-alive connection lives on one loop, so per-loop
///   buckets of rate/N would give it a fraction of its rate, and N connections N times its rate.
///   One table makes the limit the configured one whatever the loop count.
/// - **Sharded mutexes with tiny critical sections.** A bucket is one `Int64` (the instant it is
///   full again), so a decision is a hash, at most ``probes`` comparisons and a subtraction under
///   the lock of one of ``shardCount`` shards picked by the key's hash: two loops wait for each
///   other only when they hit the same shard at the same instant, for tens of nanoseconds. A
///   lock-free table would need a 128-bit compare-and-swap (key and instant) and still a policy for
///   replacing entries; the mutex keeps that policy simple and obviously correct.
/// - **Bounded memory against key flooding.** Each shard is a fixed array allocated once (16 bytes
///   per key, `max_keys` in all), open-addressed with a probe window of ``probes`` slots. A bucket
///   that is full again is indistinguishable from a new one, so its slot is free to reuse. When a
///   new key finds its window taken by buckets still refilling, the one closest to full is
///   replaced: the least information is lost, and only under a flood of more live keys than
///   `max_keys` (then some clients get a fresh bucket early: the limit leans permissive rather than
///   refusing newcomers, which would let a flood deny everyone). Replacements are counted.
/// - **Keys are hashed with a per-process random seed** (`Hasher`, SipHash), so nobody can craft a
///   key that collides with another client's bucket; 64 bits make accidental collisions negligible.
final class RateLimiter: Sendable {
    static let shardCount = 16
    static let probes = 8

    let limit: RateLimit
    let routeName: String
    let policy: TokenBucket.Policy
    /// The route's `RateLimit-Policy` field value (RFC draft-ietf-httpapi-ratelimit-headers), made once.
    let policyHeader: String
    /// The policy's name in the `RateLimit` field, quoted.
    let policyName: String
    private let shards: [Shard]
    /// Buckets forgotten while still refilling (the table was full): a sign `max_keys` is too small.
    let replaced = Atomic<Int>(0)

    private final class Shard: Sendable {
        let table: Mutex<Table>
        init(capacity: Int) { self.table = Mutex(Table(capacity: capacity)) }
    }

    /// One shard: parallel arrays of key hashes (0 = never used) and the buckets' full-again instants.
    struct Table: ~Copyable {
        var keys: [UInt64]
        var fullAt: [Int64]

        init(capacity: Int) {
            self.keys = Array(repeating: 0, count: capacity)
            self.fullAt = Array(repeating: .min, count: capacity)
        }

        /// The bucket of `key` takes a token; a new key takes the slot of its window's fullest bucket.
        /// - Returns: the decision, and whether a bucket still refilling was replaced.
        mutating func take(key: UInt64, now: Int64, policy: TokenBucket.Policy) -> (TokenBucket.Decision, Bool) {
            let mask = self.keys.count - 1
            let start = Int(truncatingIfNeeded: key) & mask
            var victim = start
            var victimFullAt = Int64.max
            for step in 0..<RateLimiter.probes {
                let slot = (start + step) & mask
                if self.keys[slot] == key {
                    var bucket = TokenBucket(fullAt: self.fullAt[slot])
                    let decision = bucket.take(now: now, policy: policy)
                    self.fullAt[slot] = bucket.fullAt
                    return (decision, false)
                }
                let candidate = self.keys[slot] == 0 ? Int64.min : self.fullAt[slot]
                if candidate < victimFullAt {
                    victimFullAt = candidate
                    victim = slot
                }
            }
            var bucket = TokenBucket()
            let decision = bucket.take(now: now, policy: policy)
            self.keys[victim] = key
            self.fullAt[victim] = bucket.fullAt
            return (decision, victimFullAt > now)
        }
    }

    /// - Parameter routeName: names the policy in the response fields.
    init(_ limit: RateLimit, routeName: String) {
        self.limit = limit
        self.routeName = routeName
        self.policy = TokenBucket.Policy(interval: limit.intervalNanoseconds, burst: Int64(limit.burst))
        let perShard = max(Self.probes, (limit.maxKeys + Self.shardCount - 1) / Self.shardCount)
        // A power of two, so a slot is a mask away from the hash.
        var capacity = Self.probes
        while capacity < perShard { capacity <<= 1 }
        self.shards = (0..<Self.shardCount).map { _ in Shard(capacity: capacity) }
        self.policyName = Self.structuredString(routeName)
        // q = the bucket, w = the time it takes to refill (whole seconds, rounded up: the draft has
        // no sub-second windows, and rounding up conveys a rate at most the real one).
        let window = max(1, (self.policy.capacity + 999_999_999) / 1_000_000_000)
        self.policyHeader = "\(self.policyName);q=\(limit.burst);w=\(window)"
    }

    /// Takes a token for `key` at `now` (nanoseconds on a monotonic clock).
    func take(key: UInt64, now: Int64) -> TokenBucket.Decision {
        // The high bits pick the shard, the low bits the slot: independent for a good hash.
        let shard = self.shards[Int(truncatingIfNeeded: key >> 60) & (Self.shardCount - 1)]
        let (decision, replaced) = shard.table.withLock { $0.take(key: key, now: now, policy: self.policy) }
        if replaced { self.replaced.wrappingAdd(1, ordering: .relaxed) }
        return decision
    }

    /// The seeded hash of a key; `kind` keeps address keys and header keys apart.
    static func hash(_ value: String, kind: UInt8) -> UInt64 {
        var hasher = Hasher()
        hasher.combine(kind)
        hasher.combine(value)
        let hash = UInt64(bitPattern: Int64(hasher.finalize()))
        return hash == 0 ? 1 : hash
    }

    /// The `RateLimit` field value after a decision: quota left (`r`) and the seconds within which no
    /// more than that may be used (`t`: until the next token, rounded up).
    func serviceLimitHeader(remaining: Int64, nanoseconds: Int64) -> String {
        "\(self.policyName);r=\(remaining);t=\(Self.seconds(nanoseconds))"
    }

    /// Whole seconds, rounded up, at least 1 (`Retry-After` and `t` are delay-seconds).
    static func seconds(_ nanoseconds: Int64) -> Int64 {
        max(1, (nanoseconds + 999_999_999) / 1_000_000_000)
    }

    /// A structured-field String (RFC 9651 §3.3.3): printable ASCII, `"` and `\` escaped.
    static func structuredString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            guard scalar.value >= 0x20, scalar.value < 0x7F else { continue }
            if scalar == "\"" || scalar == "\\" { out.append("\\") }
            out.unicodeScalars.append(scalar)
        }
        return out + "\""
    }
}
