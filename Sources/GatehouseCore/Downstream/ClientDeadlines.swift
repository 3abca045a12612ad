import GatehouseConfig
import NIOCore

/// The client's side of a downstream connection's clock: how long it may take to send a request
/// head (slowloris), how slowly it may send a body (slow POST), how long it may stay idle between
/// requests. Pure: the handler reports what happened and asks, on each sweep of the loop's
/// ``DeadlineSweeper``, whether a limit ran out; nothing here touches a channel or reads a clock.
///
/// The handler sits after the HTTP decoder, which says nothing until a head is complete; it learns
/// that bytes of a head arrived from a read that produced no request part (see
/// ``bytesArrived(at:)``). So the header clock of a keep-alive connection starts at the first read
/// of the next head — at most one read late when that read also carried the end of the previous
/// request — and the idle limit covers the time before it.
struct ClientDeadlines: Sendable, Equatable {
    /// `client_timeouts`, converted once per configuration.
    struct Limits: Sendable, Equatable {
        var header: TimeAmount
        var keepAlive: TimeAmount
        /// Bytes per second; 0 = no body-rate rule.
        var bodyMinRate: Int64
        var bodyWindow: TimeAmount

        init(header: TimeAmount, keepAlive: TimeAmount, bodyMinRate: Int64, bodyWindow: TimeAmount) {
            self.header = header
            self.keepAlive = keepAlive
            self.bodyMinRate = bodyMinRate
            self.bodyWindow = bodyWindow
        }

        init(_ timeouts: ClientTimeouts) {
            self.init(
                header: TimeAmount(timeouts.header), keepAlive: TimeAmount(timeouts.keepAlive),
                bodyMinRate: timeouts.bodyMinRate, bodyWindow: TimeAmount(timeouts.bodyRateWindow))
        }
    }

    /// Where the client stands.
    enum State: Sendable, Equatable {
        /// Between two requests of a keep-alive connection, no byte of the next head seen yet.
        case idle(since: NIODeadline)
        /// A head is being read, since its first byte — or since the accept for a connection's
        /// first request (`hasBytes` false until a byte comes: such a connection is closed silently).
        case readingHead(since: NIODeadline, hasBytes: Bool)
        /// A body is being read: the current window's start, its bytes, and whether the gateway
        /// held reads during it (back-pressure: then the client is not the slow one).
        case readingBody(windowStart: NIODeadline, bytes: Int64, held: Bool)
        /// The request is read; the rest is the exchange's (its own timeouts).
        case answering
    }

    /// A limit that ran out.
    enum Expired: Sendable, Equatable {
        /// `client_timeouts.header`; `hasBytes` false: the connection never sent a byte.
        case header(hasBytes: Bool)
        /// `client_timeouts.body_min_rate`: only `bytes` arrived over the window.
        case body(bytes: Int64)
        /// `client_timeouts.keep_alive`.
        case keepAlive
    }

    private(set) var state: State

    /// A connection was accepted: its first head is due within the header limit.
    init(acceptedAt now: NIODeadline) {
        self.state = .readingHead(since: now, hasBytes: false)
    }

    /// A read brought bytes but no request part: part of a head.
    mutating func bytesArrived(at now: NIODeadline) {
        switch self.state {
        case .idle: self.state = .readingHead(since: now, hasBytes: true)
        case .readingHead(let since, false): self.state = .readingHead(since: since, hasBytes: true)
        case .readingHead, .readingBody, .answering: break
        }
    }

    /// A head was decoded: its body (if any) is measured from now.
    mutating func headReceived(at now: NIODeadline) {
        self.state = .readingBody(windowStart: now, bytes: 0, held: false)
    }

    mutating func bodyReceived(_ bytes: Int) {
        if case .readingBody(let start, let sum, let held) = self.state {
            self.state = .readingBody(windowStart: start, bytes: sum + Int64(bytes), held: held)
        }
    }

    /// The gateway held a read back (the upstream is not writable, or it has not connected yet).
    mutating func readsHeld() {
        if case .readingBody(let start, let sum, false) = self.state {
            self.state = .readingBody(windowStart: start, bytes: sum, held: true)
        }
    }

    mutating func requestComplete() {
        self.state = .answering
    }

    /// The response is out and the connection stays open: the idle limit runs.
    mutating func responseFinished(at now: NIODeadline) {
        self.state = .idle(since: now)
    }

    /// Which limit ran out at `now`, if any. A body window that ended within the rate starts the
    /// next one; so does a window in which the gateway held reads (`isHoldingReads` or earlier).
    mutating func check(now: NIODeadline, limits: Limits, isHoldingReads: Bool) -> Expired? {
        switch self.state {
        case .idle(let since):
            return now >= since + limits.keepAlive ? .keepAlive : nil
        case .readingHead(let since, let hasBytes):
            return now >= since + limits.header ? .header(hasBytes: hasBytes) : nil
        case .readingBody(let start, let bytes, let held):
            guard limits.bodyMinRate > 0, now >= start + limits.bodyWindow else { return nil }
            let elapsed = (now - start).nanoseconds
            // bytes / seconds < rate, without division: bytes × 1e9 < rate × ns (saturating).
            let (got, overflow) = bytes.multipliedReportingOverflow(by: 1_000_000_000)
            let (due, dueOverflow) = limits.bodyMinRate.multipliedReportingOverflow(by: elapsed)
            let tooSlow = !held && !isHoldingReads && !overflow && (dueOverflow || got < due)
            if tooSlow { return .body(bytes: bytes) }
            self.state = .readingBody(windowStart: now, bytes: 0, held: isHoldingReads)
            return nil
        case .answering:
            return nil
        }
    }
}
