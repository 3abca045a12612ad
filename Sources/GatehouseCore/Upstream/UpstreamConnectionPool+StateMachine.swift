import NIOCore

extension UpstreamConnectionPool {
    /// The idle keep-alive connections of one server on one event loop: a pure value type, fed
    /// events by the shell and answering with what to do. It never touches a channel or a clock.
    ///
    /// Idle connections are reused last-in first-out: the most recently used connection is the one
    /// least likely to have reached the upstream's own keep-alive timeout, and the others age out.
    struct StateMachine: Sendable {
        /// An idle connection and when it became idle.
        struct IdleConnection: Sendable, Equatable {
            var id: Int
            var since: NIODeadline
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

        init(maxIdle: Int, idleTimeout: TimeAmount) {
            self.maxIdle = maxIdle
            self.idleTimeout = idleTimeout
        }

        /// A request wants a connection to this server.
        mutating func leaseRequested(now: NIODeadline) -> LeaseAction {
            var expired: [Int] = []
            while let last = self.idle.popLast() {
                if last.since + self.idleTimeout > now { return .useIdle(id: last.id, closeExpired: expired) }
                expired.append(last.id)
            }
            return .createConnection(closeExpired: expired)
        }

        /// An exchange ended on connection `id`.
        ///
        /// - Parameter isReusable: the response was complete and well framed, the request fully sent,
        ///   and neither side asked to close: only then may the connection carry another request.
        mutating func connectionReleased(id: Int, isReusable: Bool, now: NIODeadline) -> ReleaseAction {
            guard isReusable, self.idle.count < self.maxIdle else { return .close }
            self.idle.append(IdleConnection(id: id, since: now))
            if self.isSweepArmed { return .park(armSweep: false) }
            self.isSweepArmed = true
            return .park(armSweep: true)
        }

        /// Connection `id` closed (the upstream's FIN or RST while idle, or our own close).
        mutating func connectionClosed(id: Int) {
            self.idle.removeAll { $0.id == id }
        }

        /// The sweep timer fired: close what has been idle too long.
        ///
        /// - Returns: the connections to close, and when to sweep next (nil: nothing idle, timer disarmed).
        mutating func sweepTimerFired(now: NIODeadline) -> (close: [Int], next: NIODeadline?) {
            var expired: [Int] = []
            self.idle.removeAll { connection in
                guard connection.since + self.idleTimeout <= now else { return false }
                expired.append(connection.id)
                return true
            }
            guard let oldest = self.idle.first else {
                self.isSweepArmed = false
                return (expired, nil)
            }
            return (expired, oldest.since + self.idleTimeout)
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
