/// Linkerd's retry budget: over a sliding window, retries may add at most `percent` of the requests,
/// plus a floor of `minPerSecond` so a quiet cluster can still retry. Retries therefore never
/// multiply an outage's load. One per cluster per event loop; pure (the caller passes the time).
struct RetryBudget: Sendable, Equatable {
    static let windowSeconds = 10

    let percent: Int
    let minPerSecond: Int
    private var requests = [Int](repeating: 0, count: RetryBudget.windowSeconds)
    private var retries = [Int](repeating: 0, count: RetryBudget.windowSeconds)
    private var second: Int64 = 0

    init(percent: Int, minPerSecond: Int) {
        self.percent = percent
        self.minPerSecond = minPerSecond
    }

    /// Counts a first try.
    mutating func recordRequest(second now: Int64) {
        self.advance(to: now)
        self.requests[Self.slot(now)] += 1
    }

    /// Takes one retry from the budget, or says it is spent.
    mutating func withdraw(second now: Int64) -> Bool {
        self.advance(to: now)
        let requests = self.requests.reduce(0, +)
        let retries = self.retries.reduce(0, +)
        let allowed = max(self.minPerSecond * Self.windowSeconds, requests * self.percent / 100)
        guard retries < allowed else { return false }
        self.retries[Self.slot(now)] += 1
        return true
    }

    private static func slot(_ second: Int64) -> Int {
        Int(((second % Int64(Self.windowSeconds)) + Int64(Self.windowSeconds)) % Int64(Self.windowSeconds))
    }

    /// Clears the buckets of the seconds that passed since the last event.
    private mutating func advance(to now: Int64) {
        guard now > self.second else { return }
        let passed = min(now - self.second, Int64(Self.windowSeconds))
        for step in 1...passed {
            let slot = Self.slot(self.second + step)
            self.requests[slot] = 0
            self.retries[slot] = 0
        }
        self.second = now
    }
}

/// Exponential backoff with full jitter (AWS's "full jitter"): the n-th retry waits a random time
/// in [0, min(max, base × 2^(n-1))], so retries from many clients do not arrive in step.
enum RetryBackoff {
    static func delayNanoseconds(retry: Int, base: Int64, max limit: Int64, using random: inout some RandomNumberGenerator)
        -> Int64
    {
        guard base > 0, limit > 0, retry >= 1 else { return 0 }
        let shift = Swift.min(retry - 1, 30)
        let (scaled, overflow) = base.multipliedReportingOverflow(by: Int64(1) << Int64(shift))
        let ceiling = overflow ? limit : Swift.min(limit, scaled)
        return Int64.random(in: 0...ceiling, using: &random)
    }
}
