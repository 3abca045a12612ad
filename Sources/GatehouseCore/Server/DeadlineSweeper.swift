import NIOCore

/// One event loop's clock for the data path: a single repeating task checks every connection of
/// the loop for an expired limit (the exchange's timeouts, the keep-alive timeout).
///
/// Scheduling and cancelling a NIO timer per request costs allocations and heap reordering (it
/// was the largest source of reference counting in the profile); a coarse sweep costs a few
/// comparisons per connection per tick, and limits fire at most one ``resolution`` late — the
/// trade nginx makes with its timer resolution.
final class DeadlineSweeper {
    /// How often limits are checked: the precision of every timeout.
    static let resolution = TimeAmount.milliseconds(100)

    private let eventLoop: any EventLoop
    private var connections: [ObjectIdentifier: DownstreamHandler] = [:]
    private var task: Scheduled<Void>?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Starts checking this connection (once per connection, not per request).
    func register(_ handler: DownstreamHandler) {
        self.connections[ObjectIdentifier(handler)] = handler
        if self.task == nil { self.scheduleTick() }
    }

    func unregister(_ handler: DownstreamHandler) {
        self.connections[ObjectIdentifier(handler)] = nil
        if self.connections.isEmpty {
            // An idle loop stops waking up.
            self.task?.cancel()
            self.task = nil
        }
    }

    private func scheduleTick() {
        self.task = self.eventLoop.assumeIsolated().scheduleTask(in: Self.resolution) { [self] in
            self.task = nil
            self.sweep()
            if !self.connections.isEmpty, self.task == nil { self.scheduleTick() }
        }
    }

    private func sweep() {
        let now = NIODeadline.now()
        // A handler may close (and unregister) while being checked: iterate over a copy.
        for handler in Array(self.connections.values) { handler.checkDeadlines(now: now) }
    }
}

@available(*, unavailable)
extension DeadlineSweeper: Sendable {}
