import GatehouseConfig
import Synchronization
import Testing

@testable import GatehouseCore

/// The token bucket and the shared, bounded table of buckets, on an injected clock (nanoseconds).
@Suite struct TokenBucketTests {
    static let second: Int64 = 1_000_000_000
    /// 10 per second (one token per 100 ms), 5 at once.
    let policy = TokenBucket.Policy(interval: 100_000_000, burst: 5)

    @Test func aFullBucketGivesExactlyBurstTokensThenRefuses() {
        var bucket = TokenBucket()
        let now = 42 * Self.second
        for expected in (0..<5).reversed() {
            guard case .allowed(let remaining, _) = bucket.take(now: now, policy: self.policy) else {
                Issue.record("token \(5 - expected) refused")
                return
            }
            #expect(remaining == Int64(expected))
        }
        #expect(bucket.take(now: now, policy: self.policy) == .denied(retryAfter: 100_000_000))
        // A refusal takes nothing: the next token is still one interval away.
        #expect(bucket.take(now: now + 40_000_000, policy: self.policy) == .denied(retryAfter: 60_000_000))
    }

    @Test func tokensComeBackAtTheRate() {
        var bucket = TokenBucket()
        let start = 7 * Self.second
        for _ in 0..<5 { _ = bucket.take(now: start, policy: self.policy) }
        // One interval later: exactly one token.
        #expect(bucket.take(now: start + 100_000_000, policy: self.policy) == .allowed(remaining: 0, nextToken: 100_000_000))
        #expect(bucket.take(now: start + 100_000_000, policy: self.policy) == .denied(retryAfter: 100_000_000))
        // Over a second of steady load at the rate, every request passes; at twice the rate, half.
        var passed = 0
        for step in 1...20 {
            if case .allowed = bucket.take(now: start + 100_000_000 + Int64(step) * 50_000_000, policy: self.policy) {
                passed += 1
            }
        }
        #expect(passed == 10)
        // After a quiet spell the bucket is full again, never fuller.
        let later = start + 100 * Self.second
        #expect(bucket.isFull(at: later))
        #expect(bucket.take(now: later, policy: self.policy) == .allowed(remaining: 4, nextToken: 100_000_000))
    }

    @Test func nextTokenIsThePartOfTheIntervalLeft() {
        var bucket = TokenBucket()
        _ = bucket.take(now: 0, policy: self.policy)
        // 30 ms later, the first token is 70 ms from coming back.
        #expect(bucket.take(now: 30_000_000, policy: self.policy) == .allowed(remaining: 3, nextToken: 70_000_000))
    }

    @Test func theTableKeepsOneBucketPerKeyAcrossShards() {
        let limiter = RateLimiter(RateLimit(requests: 10, burst: 3), routeName: "api")
        let now = 5 * Self.second
        for key in [UInt64(1), 2, 0xF000_0000_0000_0001] {
            for _ in 0..<3 { #expect(Self.isAllowed(limiter.take(key: key, now: now))) }
            #expect(limiter.take(key: key, now: now) == .denied(retryAfter: 100_000_000))
        }
        #expect(limiter.replaced.load(ordering: .relaxed) == 0)
    }

    @Test func keyFloodingIsBoundedAndForgetsTheFullestBucketsFirst() {
        // 1000 keys at most: 16 shards of 64 slots.
        let limiter = RateLimiter(RateLimit(requests: 1, burst: 2, maxKeys: 1000), routeName: "api")
        let now = 9 * Self.second
        // A victim uses its whole bucket.
        let victim = RateLimiter.hash("victim", kind: 0)
        _ = limiter.take(key: victim, now: now)
        _ = limiter.take(key: victim, now: now)
        #expect(!Self.isAllowed(limiter.take(key: victim, now: now)))
        // Keys that took one token each (half-full buckets) flood the table at the same instant.
        for index in 0..<50_000 { _ = limiter.take(key: RateLimiter.hash("flood-\(index)", kind: 0), now: now) }
        #expect(limiter.replaced.load(ordering: .relaxed) > 0)
        // The victim's empty bucket was the least likely to be replaced: it is still refused.
        #expect(!Self.isAllowed(limiter.take(key: victim, now: now)), "the flood reset the victim's bucket")
        // Once every bucket is full again, new keys (fewer than the table holds) replace them at no cost.
        let later = now + 10 * Self.second
        let replacedBefore = limiter.replaced.load(ordering: .relaxed)
        for index in 0..<100 { _ = limiter.take(key: RateLimiter.hash("late-\(index)", kind: 0), now: later) }
        #expect(limiter.replaced.load(ordering: .relaxed) == replacedBefore)
    }

    static func isAllowed(_ decision: TokenBucket.Decision) -> Bool {
        if case .allowed = decision { return true }
        return false
    }

    @Test func fieldsFollowTheRateLimitHeadersDraft() {
        let limiter = RateLimiter(RateLimit(requests: 100, burst: 200), routeName: "api \"v2\"")
        // q = the bucket; w = the seconds it takes to refill (200 tokens at 100/s).
        #expect(limiter.policyHeader == "\"api \\\"v2\\\"\";q=200;w=2")
        #expect(limiter.serviceLimitHeader(remaining: 3, nanoseconds: 10_000_000) == "\"api \\\"v2\\\"\";r=3;t=1")
        #expect(RateLimiter(RateLimit(requests: 6, period: .seconds(60), burst: 3), routeName: "m").policyHeader == "\"m\";q=3;w=30")
        #expect(RateLimiter.seconds(1) == 1)
        #expect(RateLimiter.seconds(2_000_000_000) == 2)
        #expect(RateLimiter.seconds(2_000_000_001) == 3)
    }

    @Test func aReloadKeepsTheBucketsOfAnUnchangedLimit() {
        let route = Route(name: "api", match: .init(), cluster: "app", rateLimit: RateLimit(requests: 5))
        let configuration = GatehouseConfiguration(
            listeners: [], clusters: [Cluster(name: "app", servers: [])], routes: [route])
        let first = ProxySnapshot(configuration: configuration)
        let same = ProxySnapshot(configuration: configuration, previous: first)
        #expect(same.rateLimiters[0] === first.rateLimiters[0])
        var changed = configuration
        changed.routes[0].rateLimit?.burst = 10
        let other = ProxySnapshot(configuration: changed, previous: first)
        #expect(other.rateLimiters[0] !== first.rateLimiters[0])
        #expect(other.rateLimiters[0]?.limit.burst == 10)
    }
}
