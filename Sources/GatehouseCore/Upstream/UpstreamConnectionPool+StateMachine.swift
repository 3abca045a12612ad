import NIOCore

extension UpstreamConnectionPool {
    /// The idle keep-alive connections of one server on one event loop: a pure value type, fed
    /// events by the shell and answering with what to do. It never touches a channel or a clock.
    ///
    /// Idle connections are reused last-in first-out: the most recently used connection is the one
    /// least likely to have reached the upstream's own keep-alive timeout, and the others age out.
    struct StateMachine: Sendable {
        /// An idle connection, when it became idle, and when it must be closed.
        struct IdleConnection: Sendable, Equatable {
            var id: Int
            var since: NIODeadline
            var expires: NIODeadline
        }

        /// What to do for a request that needs a connection.
        enum LeaseAction: Equatable {
            /// Reuse this idle connection (and close the expired ones found on the way).
            case useIdle(id: Int, closeExpired: [Int])
            /// No usable idle connection: open a new one (and close the expired ones).
            case createConnection(closeExpired: [Int])
        }

        /// What to do with a connection whose exchange is over.
        enum ReleaseAction: Equatable {
            /// Keep it idle for the next request; arm the sweep timer if it is not armed.
            case park(armSweep: Bool)
            /// Close it: not reusable, or the pool already holds `maxIdle` idle connections.
            case close
        }

        private(set) var idle: [IdleConnection] = []
        let maxIdle: Int
        let idleTimeout: TimeAmount
        private var isSweepArmed = false
        /// The shortest idle time after which the upstream was seen closing a pooled connection
        /// itself (an unannounced keep-alive timeout), and when that was last seen.
        private(set) var learnedLimit: (limit: TimeAmount, at: NIODeadline)?
        /// A learned limit is forgotten after this long without being seen again (the upstream may
        /// have been restarted or reconfigured).
        static let learnedLimitMemory = TimeAmount.minutes(5)
        /// Upstream closes after less idle time than this are not learned from: they are restarts or
        /// errors, not keep-alive timeouts.
        static let shortestLearnedLimit = TimeAmount.milliseconds(500)

        init(maxIdle: Int, idleTimeout: TimeAmount) {
            self.maxIdle = maxIdle
            self.idleTimeout = idleTimeout
        }

        /// A request wants a connection to this server.
        mutating func leaseRequested(now: NIODeadline) -> LeaseAction {
            var expired: [Int] = []
            while let last = self.idle.popLast() {
                if last.expires > now { return .useIdle(id: last.id, closeExpired: expired) }
                expired.append(last.id)
            }
            return .createConnection(closeExpired: expired)
        }

        /// An exchange ended on connection `id`.
        ///
        /// - Parameter isReusable: the response was complete and well framed, the request fully sent,
        ///   and neither side asked to close: only then may the connection carry another request.
        /// - Parameter advertised: the idle timeout the upstream announced (`Keep-Alive: timeout=N`).
        mutating func connectionReleased(
            id: Int, isReusable: Bool, now: NIODeadline, advertised: TimeAmount? = nil
        ) -> ReleaseAction {
            guard isReusable, self.idle.count < self.maxIdle else { return .close }
            self.idle.append(IdleConnection(id: id, since: now, expires: now + self.idleLimit(advertised: advertised, now: now)))
            if self.isSweepArmed { return .park(armSweep: false) }
            self.isSweepArmed = true
            return .park(armSweep: true)
        }

        /// How long a connection may stay idle: the configured timeout, kept safely below what the
        /// upstream announced or was seen to do, so the pool closes first and never hands out a
        /// connection the upstream is closing (the keep-alive race).
        func idleLimit(advertised: TimeAmount?, now: NIODeadline) -> TimeAmount {
            var limit = self.idleTimeout
            if let advertised, advertised > .zero { limit = min(limit, Self.safelyBelow(advertised)) }
            if let learned = self.learnedLimit, now - learned.at < Self.learnedLimitMemory {
                limit = min(limit, Self.safelyBelow(learned.limit))
            }
            return limit
        }

        /// A fifth below the upstream's limit, at least 250 ms below: the margin covers the request
        /// already on its way when the upstream's timer fires.
        static func safelyBelow(_ limit: TimeAmount) -> TimeAmount {
            let margin = max(limit.nanoseconds / 5, TimeAmount.milliseconds(250).nanoseconds)
            return .nanoseconds(max(limit.nanoseconds - margin, TimeAmount.milliseconds(50).nanoseconds))
        }

        /// Connection `id` closed (the upstream's FIN or RST while idle, or our own close).
        ///
        /// - Returns: how long it had been idle when the upstream closed it, if it was idle in the
        ///   pool (an upstream-initiated idle close, learned from); nil for connections that were not idle.
        @discardableResult
        mutating func connectionClosed(id: Int, now: NIODeadline = .now()) -> TimeAmount? {
            guard let index = self.idle.firstIndex(where: { $0.id == id }) else { return nil }
            let age = now - self.idle[index].since
            self.idle.remove(at: index)
            self.observedIdleClose(after: age, now: now)
            return age
        }

        /// The upstream closed a connection that had been idle this long (seen in the pool, or on a
        /// connection that failed right after being reused): learn it as its keep-alive timeout.
        mutating func observedIdleClose(after age: TimeAmount, now: NIODeadline) {
            guard age >= Self.shortestLearnedLimit else { return }
            if let learned = self.learnedLimit, now - learned.at < Self.learnedLimitMemory, learned.limit <= age {
                self.learnedLimit = (learned.limit, now)
            } else {
                self.learnedLimit = (age, now)
            }
        }

        /// The sweep timer fired: close what has been idle too long.
        ///
        /// - Returns: the connections to close, and when to sweep next (nil: nothing idle, timer disarmed).
        mutating func sweepTimerFired(now: NIODeadline) -> (close: [Int], next: NIODeadline?) {
            var expired: [Int] = []
            self.idle.removeAll { connection in
                guard connection.expires <= now else { return false }
                expired.append(connection.id)
                return true
            }
            guard let next = self.idle.map(\.expires).min() else {
                self.isSweepArmed = false
                return (expired, nil)
            }
            return (expired, next)
        }

        /// The pool is shutting down: close every idle connection.
        ///
        /// The shell cancels the sweep timer when it drains, so the timer counts as disarmed: a
        /// connection parked afterwards arms a new one instead of staying idle with no timer.
        mutating func drain() -> [Int] {
            let ids = self.idle.map(\.id)
            self.idle.removeAll()
            self.isSweepArmed = false
            return ids
        }
    }
}
