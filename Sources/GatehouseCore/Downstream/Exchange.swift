import GatehouseConfig
import NIOCore
import NIOHTTP1

/// One request/response exchange of a downstream connection: what it is, where it stands, and its
/// record. A class so the handler and the connect callback share it without copies; loop-bound.
final class Exchange {
    var record = RequestRecord()
    let start: NIODeadline
    let requestHead: HTTPRequestHead
    let clientKeepAlive: Bool
    var phase: ProxyPhase = .route

    // Where it goes.
    var cluster = -1
    /// The configured server's index in the cluster (for the stats), -1 before one is picked.
    var target = -1
    /// The endpoint picked; holds one of its active-request counts until the exchange is logged.
    var endpoint: Endpoint?
    var upstreamHead: HTTPRequestHead?
    var timeouts = Cluster.Timeouts() {
        didSet { self.idleTimeout = TimeAmount(self.timeouts.idle) }
    }

    // The upstream connection, once leased or connected.
    var upstream: UpstreamHandler?
    /// Request parts received while the connection is being opened (bounded by read gating).
    var buffered: [HTTPClientRequestPart] = []
    var bufferedBytes = 0
    /// Request body bytes received so far (for `request_limits.max_body_bytes`).
    var requestBodyBytes: Int64 = 0

    // Progress.
    var requestComplete = false
    var responseHeadSent = false
    var responseEnded = false
    /// The upstream's response allows the connection to carry another request.
    var upstreamKeepAlive = false
    /// The gateway answered by itself; the rest of the request body is read and dropped.
    var discardingBody = false
    /// The downstream connection closes when this exchange ends.
    var closeConnection = false
    var openedConnection = false
    /// Completes when the last part of the response is written (closing waits for it).
    var lastWrite: EventLoopFuture<Void>?
    /// The response was cut short by a failure after its head: close at once, nothing to wait for.
    var responseEndedByFailure = false

    // Deadlines, checked by the loop's ``DeadlineSweeper``.
    var requestDeadline: NIODeadline
    var headerDeadline: NIODeadline?
    var lastActivity: NIODeadline

    init(head: HTTPRequestHead, now: NIODeadline) {
        self.requestHead = head
        self.start = now
        self.lastActivity = now
        self.requestDeadline = now + .seconds(300)
        self.clientKeepAlive = head.isKeepAlive
        self.idleTimeout = TimeAmount(self.timeouts.idle)
    }

    /// `timeouts.idle` at the NIO boundary, converted once.
    var idleTimeout: TimeAmount

    /// Which limit ran out at `now`, if any.
    func expiredTimeout(now: NIODeadline) -> ExchangeTimeout? {
        if now >= self.requestDeadline { return .request }
        if let header = self.headerDeadline, now >= header { return .responseHeader }
        if now >= self.lastActivity + self.idleTimeout { return .idle }
        return nil
    }

    /// Milliseconds since the exchange started.
    func elapsedMilliseconds(_ now: NIODeadline) -> Double {
        Double((now - self.start).nanoseconds) / 1_000_000
    }
}

@available(*, unavailable)
extension Exchange: Sendable {}
