import GatehouseConfig
import NIOCore
import NIOHTTP1
import Tracing

/// One request/response exchange of a downstream connection: what it is, where it stands, and its
/// record. A class so the handler and the connect callback share it without copies; loop-bound.
final class Exchange {
    var record = RequestRecord()
    let start: NIODeadline
    let requestHead: HTTPRequestHead
    let clientKeepAlive: Bool
    /// The configuration this exchange started with; it finishes on it even across a reload.
    let generation: LoopGeneration
    var phase: ProxyPhase = .route

    // Where it goes.
    var cluster = -1
    /// The matched route's index in the configuration, -1 before routing.
    var route = -1
    /// The configured server's index in the cluster (for the stats), -1 before one is picked.
    var target = -1
    /// The endpoint of the current try; holds one of its active-request counts until the try ends.
    var endpoint: Endpoint?
    /// The cluster's circuit breakers, holding one request slot until the exchange is logged.
    var breaker: ClusterBreaker?
    /// The consistent-hash key of the request, if the cluster hashes.
    var hash: UInt64?
    var hostRewrite = Route.HostRewrite.preserve

    // Tries.
    /// Endpoints of the tries that failed (not the current one), so a retry goes elsewhere when it
    /// can. Empty, and so never allocated, for a request answered at the first try.
    var tried: [Int] = []
    var attemptStart: NIODeadline
    /// Request body parts written upstream in this try, held for a replay; nil once they exceed
    /// `holdLimit` (such a request is never retried after its first byte was sent). The end is
    /// kept apart in `heldEnd`, so a bodiless request holds nothing (no allocation per request).
    var held: [HTTPClientRequestPart]? = []
    var heldBytes = 0
    /// The request's end (with its trailers) was written upstream in this try.
    var heldEnd: HTTPHeaders??
    var holdLimit = 64 * 1024
    /// Any byte of a response (even a 1xx) arrived in this try.
    var upstreamResponded = false
    /// How long the reused connection of this try had been idle in the pool.
    var reusedIdleAge: TimeAmount?
    /// The keep-alive race was met once already (it is retried once, on a fresh connection).
    var raceRetried = false
    var retryTask: Scheduled<Void>?
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
    /// The route's rate-limit fields for the response; nil when the route has no `rate_limit`.
    var rateLimitFields: RateLimitFields?

    /// The cache's part of the exchange; nil unless the route caches (one check for the others).
    var cache: CacheExchange?

    // Tracing: both nil when it is off (nothing is allocated for them).
    /// The request's server span, from its head to its record.
    var serverSpan: (any Span)?
    /// The current try's client span; its id is the parent the upstream sees in `traceparent`.
    var attemptSpan: (any Span)?

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

    /// The client's `Upgrade` value when the request asks to switch protocols (`Connection:
    /// upgrade`, HTTP/1.1): forwarded upstream on a fresh connection. nil for every other request.
    var upgrade: String?
    /// A 101 switched both connections to a byte relay (``TunnelRelay``); only the idle timeout
    /// applies, and the exchange is logged when the tunnel closes.
    var isTunnel = false

    // Deadlines, checked by the loop's ``DeadlineSweeper``.
    var requestDeadline: NIODeadline
    var headerDeadline: NIODeadline?
    var lastActivity: NIODeadline

    init(head: HTTPRequestHead, now: NIODeadline, generation: LoopGeneration) {
        self.generation = generation
        self.requestHead = head
        self.start = now
        self.lastActivity = now
        self.requestDeadline = now + .seconds(300)
        self.attemptStart = now
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

    /// Keeps a part written upstream for a possible replay, within the bound.
    func hold(_ part: HTTPClientRequestPart) {
        guard self.held != nil else { return }
        if case .end(let trailers) = part {
            self.heldEnd = .some(trailers)
            return
        }
        if case .body(.byteBuffer(let buffer)) = part { self.heldBytes += buffer.readableBytes }
        if self.heldBytes > self.holdLimit {
            self.held = nil
        } else {
            self.held?.append(part)
        }
    }

    /// The parts to send again on the next try: the body held, then the end if it was sent.
    func takeHeld() -> [HTTPClientRequestPart] {
        var parts = self.held ?? []
        if let end = self.heldEnd { parts.append(.end(end)) }
        self.held = []
        self.heldBytes = 0
        self.heldEnd = nil
        return parts
    }

    /// Milliseconds since the exchange started.
    func elapsedMilliseconds(_ now: NIODeadline) -> Double {
        Double((now - self.start).nanoseconds) / 1_000_000
    }
}

@available(*, unavailable)
extension Exchange: Sendable {}
