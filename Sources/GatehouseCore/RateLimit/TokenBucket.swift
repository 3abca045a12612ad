/// A token bucket of `burst` tokens refilled at one token per `interval`, stored as one number: the
/// instant at which the bucket is full again (GCRA's "theoretical arrival time").
///
/// Storing the instant instead of (tokens, last refill) makes a bucket one word: the refill is
/// implicit in the clock, a bucket whose instant has passed is exactly a fresh one (so the table
/// can forget it at no cost), and time is integer nanoseconds, so "N tokens then refusals" is
/// exact. Pure: time is an argument; the ``RateLimiter`` shell owns the clock and the lock.
struct TokenBucket: Sendable, Equatable {
    /// The bucket's shape.
    struct Policy: Sendable, Equatable {
        /// Nanoseconds per token (> 0).
        var interval: Int64
        /// Tokens when full (≥ 1).
        var burst: Int64

        /// The time an empty bucket takes to fill.
        var capacity: Int64 { self.interval * self.burst }
    }

    /// What the bucket said to one request.
    enum Decision: Sendable, Equatable {
        /// A token was taken. `remaining`: whole tokens left; `nextToken`: nanoseconds until one more.
        case allowed(remaining: Int64, nextToken: Int64)
        /// No token: the request is refused; one token is there in `retryAfter` nanoseconds.
        case denied(retryAfter: Int64)
    }

    /// When the bucket is full again (≤ now: full).
    var fullAt: Int64

    init(fullAt: Int64 = .min) {
        self.fullAt = fullAt
    }

    /// Takes one token at `now`, if there is one.
    mutating func take(now: Int64, policy: Policy) -> Decision {
        // Taking a token pushes "full again" one interval later, from now if the bucket is full.
        let newFullAt = max(self.fullAt, now) &+ policy.interval
        let deficit = newFullAt &- now
        guard deficit <= policy.capacity else {
            return .denied(retryAfter: deficit - policy.capacity)
        }
        self.fullAt = newFullAt
        let partial = deficit % policy.interval
        return .allowed(remaining: (policy.capacity - deficit) / policy.interval, nextToken: partial == 0 ? policy.interval : partial)
    }

    /// Whether the bucket is full at `now` (indistinguishable from a bucket never used).
    func isFull(at now: Int64) -> Bool { self.fullAt <= now }
}
