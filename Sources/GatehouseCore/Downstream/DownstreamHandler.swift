import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOHTTP1

/// The last handler of a downstream HTTP/1.1 connection: one exchange at a time, pipelined requests
/// queued (bounded) rather than read-suspended, bodies streamed both ways with back-pressure.
///
/// Reads from the client are held back (`read(context:)` not forwarded) only while the upstream
/// connection is not writable, while a request body waits for its connection beyond a bound, or
/// while too many pipelined parts are queued. The response side is gated the same way by
/// ``UpstreamHandler``. Everything runs on the connection's own event loop.
final class DownstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxQueuedParts = 64
    static let maxBufferedBodyBytes = 256 * 1024
    static let keepAliveTimeout = TimeAmount.seconds(75)

    let loop: LoopState
    var context: ChannelHandlerContext?
    var exchange: Exchange?
    var queued = CircularBuffer<HTTPServerRequestPart>()
    private var pendingRead = false
    private var isDraining = false
    var wroteUpstream = false
    var isClosed = false
    var clientAddress = "-"
    var clientIP = "-"
    var isTrustedPeer = false
    var idleSince = NIODeadline.now()

    init(loop: LoopState) {
        self.loop = loop
    }

    var snapshot: ProxySnapshot { self.loop.snapshot }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let peer = context.channel.remoteAddress
        self.clientIP = peer?.ipAddress ?? "-"
        self.clientAddress = peer.map { "\($0.ipAddress ?? "-"):\($0.port ?? 0)" } ?? "-"
        self.isTrustedPeer = self.snapshot.isTrusted(peer)
        self.idleSince = .now()
        self.loop.sweeper.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.loop.sweeper.unregister(self)
        self.context = nil
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if let exchange = self.exchange, !exchange.requestComplete {
            self.requestPartReceived(part, exchange: exchange)
        } else if self.exchange != nil || !self.queued.isEmpty {
            // Pipelined: answered in order once the current exchange ends.
            self.queued.append(part)
        } else {
            self.newPartReceived(part)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.wroteUpstream {
            self.wroteUpstream = false
            self.exchange?.upstream?.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.isClosed = true
        self.loop.sweeper.unregister(self)
        self.queued.removeAll()
        if let exchange = self.exchange {
            // The client went away first: nginx's 499. The upstream connection is mid-exchange, so it
            // cannot be reused.
            if !exchange.responseHeadSent { exchange.record.status = 499 }
            exchange.closeConnection = true
            self.detachUpstream(exchange, isReusable: false)
            self.finish(exchange)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Errors here come from the request decoder (malformed requests) or the client's socket.
        guard error is HTTPParserError else {
            context.close(promise: nil)
            return
        }
        let tooLarge = (error as? HTTPParserError) == .headerOverflow
        let failure = ProxyFailure(
            type: .httpRequestError, phase: .route,
            details: tooLarge ? "request header section larger than request_limits.max_header_bytes" : "malformed request: \(error)")
        let status = tooLarge ? 431 : 400
        if let exchange = self.exchange {
            // The request stream cannot be trusted past a parse error: answer if possible, then close.
            exchange.closeConnection = true
            self.fail(exchange, failure, status: status)
            return
        }
        // No exchange yet: the request line or head itself was bad.
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "-")
        let exchange = self.makeExchange(head)
        exchange.record.method = "-"
        exchange.closeConnection = true
        self.exchange = exchange
        self.fail(exchange, failure, status: status)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.exchange?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Outbound

    func read(context: ChannelHandlerContext) {
        if self.shouldHoldReads {
            self.pendingRead = true
        } else {
            context.read()
        }
    }

    private var shouldHoldReads: Bool {
        if self.queued.count >= Self.maxQueuedParts { return true }
        guard let exchange = self.exchange, !exchange.requestComplete else { return false }
        if let upstream = exchange.upstream { return !upstream.isWritable }
        return exchange.bufferedBytes > Self.maxBufferedBodyBytes
    }

    /// Replays a read held back for back-pressure once the reason is gone.
    func resumeReadingIfPossible() {
        guard self.pendingRead, !self.shouldHoldReads, let context = self.context else { return }
        self.pendingRead = false
        context.read()
    }

    // MARK: - Request side

    private func newPartReceived(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            self.startExchange(head)
        case .body, .end:
            // Parts of a request whose exchange already ended (an early response closed it).
            break
        }
    }

    private func requestPartReceived(_ part: HTTPServerRequestPart, exchange: Exchange) {
        switch part {
        case .head:
            // The decoder never sends a head before the previous end; treat it as a broken stream.
            exchange.closeConnection = true
            self.fail(exchange, ProxyFailure(type: .proxyInternalError, phase: exchange.phase, details: "unexpected head"))
        case .body(let buffer):
            exchange.lastActivity = .now()
            guard !exchange.discardingBody else { return }
            exchange.requestBodyBytes += Int64(buffer.readableBytes)
            let limit = self.snapshot.maxBodyBytes
            if limit > 0, exchange.requestBodyBytes > limit {
                // A chunked body can only be measured as it arrives.
                exchange.closeConnection = true
                self.fail(exchange, Self.bodyTooLarge(limit), status: 413)
                return
            }
            if let upstream = exchange.upstream {
                upstream.write(.body(.byteBuffer(buffer)))
                self.wroteUpstream = true
            } else {
                exchange.bufferedBytes += buffer.readableBytes
                exchange.buffered.append(.body(.byteBuffer(buffer)))
            }
        case .end(let trailers):
            exchange.requestComplete = true
            exchange.lastActivity = .now()
            if exchange.discardingBody {
                self.finishIfDone(exchange)
                return
            }
            if let upstream = exchange.upstream {
                upstream.write(.end(trailers))
                self.wroteUpstream = true
                self.requestSent(exchange)
            } else {
                exchange.buffered.append(.end(trailers))
            }
            self.finishIfDone(exchange)
        }
    }

    /// The whole request is written upstream: the response-header clock starts.
    func requestSent(_ exchange: Exchange) {
        guard !exchange.responseHeadSent, exchange.upstreamHead != nil else { return }
        exchange.phase = .awaitResponseHead
        exchange.headerDeadline = .now() + TimeAmount(exchange.timeouts.responseHeader)
    }

    func makeExchange(_ head: HTTPRequestHead) -> Exchange {
        let exchange = Exchange(head: head, now: .now())
        exchange.record.stampStart()
        exchange.record.client = self.clientAddress
        exchange.record.method = head.method.rawValue
        exchange.record.path = head.uri
        exchange.record.host = head.headers.first(name: "host")
        exchange.record.requestID = Self.acceptableRequestID(head.headers.first(name: "x-request-id"))
            ?? self.loop.makeRequestID()
        return exchange
    }

    static func bodyTooLarge(_ limit: Int64) -> ProxyFailure {
        ProxyFailure(type: .httpRequestError, phase: .route, details: "request body larger than request_limits.max_body_bytes (\(limit))")
    }

    /// An incoming request id is kept only if it is short, visible ASCII (it ends up in logs and headers).
    static func acceptableRequestID(_ value: String?) -> String? {
        guard let value, !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        else { return nil }
        return value
    }

    // MARK: - Connection lifecycle

    /// The exchange is over: log it, then continue with queued requests or close.
    func finish(_ exchange: Exchange) {
        guard self.exchange === exchange else { return }
        self.exchange = nil
        self.log(exchange)
        if self.isClosed { return }
        if exchange.closeConnection || !exchange.clientKeepAlive {
            self.isClosed = true
            self.queued.removeAll()
            // Close after the last byte is on the wire: a close fails writes still pending.
            if let lastWrite = exchange.lastWrite, !exchange.responseEndedByFailure {
                lastWrite.assumeIsolated().whenComplete { [self] _ in self.context?.close(promise: nil) }
            } else {
                // What was already received is passed on before the cut, so the client sees the
                // head and the partial body, not an empty reply.
                self.context?.flush()
                self.context?.close(promise: nil)
            }
            return
        }
        self.idleSince = .now()
        self.drainQueue()
        self.resumeReadingIfPossible()
    }

    private func drainQueue() {
        guard !self.isDraining else { return }
        self.isDraining = true
        defer { self.isDraining = false }
        while !self.isClosed, let part = self.queued.first {
            if let exchange = self.exchange {
                guard !exchange.requestComplete else { return }
                self.queued.removeFirst()
                self.requestPartReceived(part, exchange: exchange)
            } else {
                self.queued.removeFirst()
                self.newPartReceived(part)
            }
        }
    }
}

@available(*, unavailable)
extension DownstreamHandler: Sendable {}
