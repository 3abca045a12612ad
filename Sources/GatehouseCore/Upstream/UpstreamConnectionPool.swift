import NIOCore

/// The upstream connections of one server on one event loop: the shell around
/// ``UpstreamConnectionPool/StateMachine``. Loop-bound, so no lock: every downstream connection on
/// this loop takes its upstream connections from here (Envoy's per-worker pools).
final class UpstreamConnectionPool {
    private var state: StateMachine
    private var connections: [Int: UpstreamHandler] = [:]
    private let eventLoop: any EventLoop
    private var sweepTask: Scheduled<Void>?
    private var sweepDeadline = NIODeadline.distantFuture
    /// Connections opened by this pool, for the reuse ratio.
    private(set) var connectionsOpened = 0
    /// The endpoint is gone (DNS no longer names it): connections coming back are closed, not parked.
    private var retired = false

    /// The endpoint's cluster, the `cluster` label of the connection gauges.
    let cluster: String

    init(eventLoop: any EventLoop, maxIdle: Int, idleTimeout: TimeAmount, cluster: String) {
        self.eventLoop = eventLoop
        self.cluster = cluster
        self.state = StateMachine(maxIdle: maxIdle, idleTimeout: idleTimeout)
    }

    /// Open connections: (serving an exchange, parked idle).
    var counts: (active: Int, idle: Int) {
        let idle = self.state.idle.count
        return (max(self.connections.count - idle, 0), idle)
    }

    /// An idle connection to reuse, or nil when a new one must be opened.
    func lease() -> UpstreamHandler? {
        switch self.state.leaseRequested(now: .now()) {
        case .useIdle(let id, let expired):
            self.close(expired)
            return self.connections[id]
        case .createConnection(let expired):
            self.close(expired)
            return nil
        }
    }

    /// Registers a freshly connected upstream connection (leased by the caller).
    func connectionOpened(_ handler: UpstreamHandler) {
        self.connectionsOpened += 1
        self.connections[handler.id] = handler
    }

    /// Returns a connection after its exchange.
    func release(_ handler: UpstreamHandler, isReusable: Bool) {
        let now = NIODeadline.now()
        switch self.state.connectionReleased(
            id: handler.id, isReusable: isReusable && !self.retired, now: now, advertised: handler.advertisedIdleTimeout)
        {
        case .park:
            handler.idleSince = now
            // A connection with a shorter limit (announced or learned) may expire before the armed
            // sweep. The armed sweep is never later than the connections parked before (each park
            // checks, and no sweep is armed only when nothing was idle), so only the one just parked
            // (appended last) can move it: no pass over every idle connection per request.
            if let next = self.state.idle.last?.expires, self.sweepTask == nil || next < self.sweepDeadline {
                self.scheduleSweep(at: next)
            }
        case .close:
            self.connections[handler.id] = nil
            handler.close()
        }
    }

    /// The connection closed, whatever the reason.
    func connectionClosed(id: Int) {
        self.state.connectionClosed(id: id)
        self.connections[id] = nil
    }

    /// A reused connection failed as if the upstream had closed it after `age` idle.
    func observedIdleClose(after age: TimeAmount) {
        self.state.observedIdleClose(after: age, now: .now())
    }

    /// The idle limit a connection released now would get (for the keep-alive race's log line).
    var currentIdleLimit: TimeAmount {
        self.state.idleLimit(advertised: nil, now: .now())
    }

    /// Closes every idle connection (shutdown).
    func drain() {
        self.close(self.state.drain())
        self.sweepTask?.cancel()
        self.sweepTask = nil
    }

    /// Closes the idle connections and every connection released later.
    func retire() {
        self.retired = true
        self.drain()
    }

    private func close(_ ids: [Int]) {
        for id in ids {
            if let handler = self.connections.removeValue(forKey: id) { handler.close() }
        }
    }

    private func scheduleSweep(at deadline: NIODeadline) {
        self.sweepTask?.cancel()
        self.sweepDeadline = deadline
        self.sweepTask = self.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            let (expired, next) = self.state.sweepTimerFired(now: .now())
            self.close(expired)
            if let next { self.scheduleSweep(at: next) } else { self.sweepTask = nil }
        }
    }
}

@available(*, unavailable)
extension UpstreamConnectionPool: Sendable {}
