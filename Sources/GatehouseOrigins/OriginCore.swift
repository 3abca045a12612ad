import NIOCore
import NIOPosix
import Synchronization

/// The engine behind one `LoopbackOrigin`: the listener, the open connections, the rotation timer.
///
/// All mutable state lives in one `Mutex`; decisions are taken under the lock and the I/O they call for
/// (bind, close, resuming waiters) runs after it is released, so no NIO callback ever runs under it.
final class OriginCore: Sendable {
    /// A task waiting in `nextPhase()` for the phase change numbered after `afterChange`.
    private struct PhaseWaiter {
        var id: Int
        var afterChange: Int
        var continuation: CheckedContinuation<Int?, Never>
    }

    /// Everything that changes after `init`.
    private struct State {
        var port = 0
        var listener: (any Channel)?
        /// A bind under way (at start, or re-binding after a `.refuse` phase).
        var pendingBind: EventLoopFuture<any Channel>?
        var children: [ObjectIdentifier: any Channel] = [:]
        var stopped = false
        var phase = 0
        /// How many phase changes have begun.
        var changesBegun = 0
        var waiters: [PhaseWaiter] = []
        var lastWaiterID = 0
        var rotation: RepeatedTask?
        /// The port of a plain `.refuse` origin, held (bound, not listening) until `stop()`.
        var reservation: PortReservation?
    }

    let counters = OriginCounters()
    private let plan: OriginPlan
    private let host: String
    private let group: any EventLoopGroup
    private let state = Mutex(State())

    init(plan: OriginPlan, host: String, group: any EventLoopGroup) {
        self.plan = plan
        self.host = host
        self.group = group
    }

    var currentPhase: Int? {
        guard self.plan.period != nil else { return nil }
        return self.state.withLock { $0.phase }
    }

    // MARK: Start and stop

    /// Binds (or, for `.refuse`, holds the port without listening; for a rotation whose first phase
    /// refuses, binds and closes), starts the rotation, returns the port.
    func start(port requestedPort: Int) async throws -> Int {
        if self.plan.period == nil, !self.plan.phases[0].listens {
            // Refusing for good: hold the port rather than close it, so that no server started
            // meanwhile (another test's, in a parallel suite) is given it and answers in its place.
            // A port asked for explicitly may still have connections in TIME_WAIT: SO_REUSEADDR.
            let reservation = try PortReservation(host: self.host, port: requestedPort, reuseAddress: requestedPort != 0)
            self.state.withLock { state in
                state.port = reservation.port
                state.reservation = reservation
            }
            return reservation.port
        }
        let channel = try await self.makeBootstrap().bind(host: self.host, port: requestedPort).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw LoopbackOriginError("the listener on \(self.host):\(requestedPort) has no local port")
        }
        let keep = self.plan.phases[0].listens
        self.state.withLock { state in
            state.port = port
            if keep { state.listener = channel }
        }
        if !keep {
            try await channel.close()
        }
        if let period = self.plan.period {
            let task = self.group.next().scheduleRepeatedTask(initialDelay: period, delay: period) { [self] _ in
                self.advancePhase()
            }
            self.state.withLock { $0.rotation = task }
        }
        return port
    }

    /// Stops the rotation, closes the listener and all connections, releases phase waiters.
    func stop() async throws {
        let (rotation, listener, pendingBind, children, waiters, reservation) = self.state.withLock { state in
            state.stopped = true
            state.reservation?.release()
            state.reservation = nil
            let taken = (
                state.rotation, state.listener, state.pendingBind, Array(state.children.values), state.waiters,
                state.reservation
            )
            state.rotation = nil
            state.listener = nil
            state.pendingBind = nil
            state.waiters = []
            state.reservation = nil
            return taken
        }
        reservation?.release()
        if let rotation {
            let cancelled = self.group.next().makePromise(of: Void.self)
            rotation.cancel(promise: cancelled)
            try? await cancelled.futureResult.get()
        }
        try? await listener?.close()
        if let pendingBind, let channel = try? await pendingBind.get() {
            try? await channel.close()
        }
        for child in children {
            child.close(promise: nil)
        }
        for child in children {
            try? await child.closeFuture.get()
        }
        for waiter in waiters {
            waiter.continuation.resume(returning: nil)
        }
    }

    func nextPhase() async -> Int? {
        guard self.plan.period != nil else { return nil }
        let id = self.state.withLock { state in
            state.lastWaiterID += 1
            return state.lastWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
                let registered = self.state.withLock { state -> Bool in
                    // Checked under the lock, so a cancellation either sees the waiter or prevents it.
                    guard !state.stopped, !Task.isCancelled else { return false }
                    let waiter = PhaseWaiter(id: id, afterChange: state.changesBegun, continuation: continuation)
                    state.waiters.append(waiter)
                    return true
                }
                if !registered {
                    continuation.resume(returning: nil)
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> PhaseWaiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: nil)
        }
    }

    // MARK: Accepting

    private func makeBootstrap() throws -> ServerBootstrap {
        guard let bootstrap = ServerBootstrap(validatingGroup: self.group) else {
            throw LoopbackOriginError("a LoopbackOrigin needs a MultiThreadedEventLoopGroup")
        }
        return
            bootstrap
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 128 * 1024, high: 512 * 1024))
            .childChannelInitializer { [self] channel in
                self.initializeChild(channel)
            }
    }

    private func initializeChild(_ channel: any Channel) -> EventLoopFuture<Void> {
        let id = ObjectIdentifier(channel)
        let mode = self.state.withLock { state -> ChildMode? in
            guard !state.stopped else { return nil }
            state.children[id] = channel
            return self.plan.phases[state.phase]
        }
        guard let mode else {
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        self.counters.connectionAccepted()
        channel.closeFuture.whenComplete { [self] _ in
            _ = self.state.withLock { $0.children.removeValue(forKey: id) }
        }
        return channel.eventLoop.makeCompletedFuture {
            try OriginPipeline.configure(channel, mode: mode, counters: self.counters)
        }
    }

    // MARK: Rotation

    /// What a phase change asks for, decided under the lock.
    private enum PhaseChange {
        /// Nothing to do now (stopped, or a bind under way finishes the change).
        case none
        /// The listener is already as the phase wants it: wake the waiters of change `change`.
        case settleNow(change: Int)
        /// A `.refuse` phase began: close the listener, then settle `change`.
        case closeListener(any Channel, change: Int)
        /// A listening phase began without a listener: bind the same port, completing `promise`.
        case bind(EventLoopPromise<any Channel>, port: Int)
    }

    private func advancePhase() {
        let (change, children) = self.state.withLock { state -> (PhaseChange, [any Channel]) in
            guard !state.stopped else { return (.none, []) }
            state.phase = (state.phase + 1) % self.plan.phases.count
            state.changesBegun += 1
            let children = Array(state.children.values)
            if self.plan.phases[state.phase].listens {
                if state.listener != nil {
                    return (.settleNow(change: state.changesBegun), children)
                }
                if state.pendingBind != nil {
                    return (.none, children)  // `listenerBound` settles this change
                }
                let promise = self.group.next().makePromise(of: (any Channel).self)
                state.pendingBind = promise.futureResult
                return (.bind(promise, port: state.port), children)
            }
            if let listener = state.listener {
                state.listener = nil
                return (.closeListener(listener, change: state.changesBegun), children)
            }
            if state.pendingBind != nil {
                return (.none, children)  // `listenerBound` closes it and settles this change
            }
            return (.settleNow(change: state.changesBegun), children)
        }
        for child in children {
            child.pipeline.fireUserInboundEventTriggered(RotationPhaseEnded())
        }
        self.perform(change)
    }

    private func perform(_ change: PhaseChange) {
        switch change {
        case .none:
            return
        case .settleNow(let change):
            self.settle(change: change)
        case .closeListener(let listener, let change):
            listener.close().whenComplete { [self] _ in
                self.settle(change: change)
            }
        case .bind(let promise, let port):
            do {
                promise.completeWith(try self.makeBootstrap().bind(host: self.host, port: port))
            } catch {
                promise.fail(error)
            }
            promise.futureResult.whenComplete { [self] result in
                self.listenerBound(result)
            }
        }
    }

    private func listenerBound(_ result: Result<any Channel, any Error>) {
        let (change, surplus) = self.state.withLock { state -> (PhaseChange, (any Channel)?) in
            state.pendingBind = nil
            let wantsListener = !state.stopped && self.plan.phases[state.phase].listens
            switch (result, wantsListener) {
            case (.success(let channel), true):
                state.listener = channel
                return (.settleNow(change: state.changesBegun), nil)
            case (.success(let channel), false):
                return (state.stopped ? .none : .settleNow(change: state.changesBegun), channel)
            case (.failure, true):
                // The port is briefly taken (by a connection in TIME_WAIT, or by someone else): try again.
                let promise = self.group.next().makePromise(of: (any Channel).self)
                state.pendingBind = promise.futureResult
                return (.bind(promise, port: state.port), nil)
            case (.failure, false):
                return (state.stopped ? .none : .settleNow(change: state.changesBegun), nil)
            }
        }
        if let surplus {
            surplus.close().whenComplete { [self] _ in self.perform(change) }
            return
        }
        if case .bind(let promise, _) = change {
            // Back off a little before trying the same port again.
            self.group.next().scheduleTask(in: .milliseconds(50)) { [self] in
                self.perform(change)
            }.futureResult.whenFailure { _ in
                promise.fail(ChannelError.ioOnClosedChannel)
            }
            return
        }
        self.perform(change)
    }

    /// Marks phase change `change` as in effect (unless a later one began) and wakes its waiters.
    private func settle(change: Int) {
        let (ready, phase) = self.state.withLock { state -> ([PhaseWaiter], Int) in
            guard !state.stopped, change == state.changesBegun else { return ([], state.phase) }
            let ready = state.waiters.filter { $0.afterChange < change }
            state.waiters.removeAll { $0.afterChange < change }
            return (ready, state.phase)
        }
        for waiter in ready {
            waiter.continuation.resume(returning: phase)
        }
    }
}
