import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOHTTP1
import NIOHTTP2

/// The last handler of a downstream HTTP/1.1 connection, or of one HTTP/2 stream (behind NIOHTTP2's
/// HTTP/1 codec): one exchange at a time, pipelined requests queued (bounded) rather than
/// read-suspended, bodies streamed both ways with back-pressure.
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
    /// SETTINGS_MAX_CONCURRENT_STREAMS of an HTTP/2 connection (nginx's and Envoy's default is 100 too).
    static let maxConcurrentStreams = 100

    let loop: LoopState
    /// This handler serves one stream of an HTTP/2 connection (through NIOHTTP2's HTTP/1 codec):
    /// one request, its head treated as HTTP/1.1's, a response cut after its head ends with
    /// RST_STREAM rather than a connection close.
    let isHTTP2Stream: Bool
    /// `https` behind the listener's TLS: what X-Forwarded-Proto and Forwarded tell the upstream.
    let scheme: String
    var context: ChannelHandlerContext?
    var exchange: Exchange?
    /// Pipelining is rare: room for one part until it happens (the default 16 cost 0.4 KiB per idle connection).
    var queued = CircularBuffer<HTTPServerRequestPart>(initialCapacity: 1)
    /// Request heads in `queued` (pipelined behind the current exchange).
    private var queuedHeads = 0
    /// A refusal that belongs after the requests already queued: the first pipelined request
    /// beyond `max_pipelined_requests` (503 `connection_limit_reached`), or a parse error in a
    /// pipelined request while an earlier one is still being answered (400). It is answered in its
    /// turn, then the connection closes; nothing after it is read.
    private var pendingRefusal: (head: HTTPRequestHead?, failure: ProxyFailure, status: Int)?
    private(set) var pendingRead = false
    private var isDraining = false
    /// Graceful shutdown: no request beyond those already read is started.
    var closeWhenIdle = false
    var wroteUpstream = false
    var isClosed = false
    var clientAddress = "-"
    var clientIP = "-"
    var isTrustedPeer = false
    /// The client's limits: header, body rate, keep-alive idle (checked by the loop's sweep).
    var deadlines = ClientDeadlines(acceptedAt: .uptimeNanoseconds(0))
    /// Request parts decoded since the last read-complete: a read with none carried part of a head.
    private var partsRead = 0
    /// This listener's `gatehouse_downstream_timeouts_total` series; nil in handler tests.
    let timeoutCounters: DownstreamTimeoutCounters?

    init(loop: LoopState, isHTTP2Stream: Bool = false, scheme: String = "http", timeouts: DownstreamTimeoutCounters? = nil) {
        self.loop = loop
        self.isHTTP2Stream = isHTTP2Stream
        self.scheme = scheme
        self.timeoutCounters = timeouts
    }

    var snapshot: ProxySnapshot { self.loop.snapshot }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let peer = context.channel.remoteAddress
        self.clientIP = peer?.ipAddress ?? "-"
        self.clientAddress = peer.map { "\($0.ipAddress ?? "-"):\($0.port ?? 0)" } ?? "-"
        self.isTrustedPeer = self.snapshot.isTrusted(peer)
        self.deadlines = ClientDeadlines(acceptedAt: .now())
        self.loop.sweeper.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.loop.sweeper.unregister(self)
        self.context = nil
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        self.partsRead &+= 1
        if self.isClosed || self.pendingRefusal != nil {
            // The connection ends with what is already answered: requests decoded after a refusal
            // (in the same read) must never start an exchange.
            return
        } else if let exchange = self.exchange, !exchange.requestComplete {
            self.requestPartReceived(part, exchange: exchange)
        } else if self.exchange != nil || !self.queued.isEmpty {
            // Pipelined: answered in order once the current exchange ends, up to a bound.
            if case .head(let head) = part {
                guard self.queuedHeads < self.snapshot.maxPipelinedRequests else {
                    let failure = ProxyFailure(
                        type: .connectionLimitReached, phase: .route,
                        details: "more than request_limits.max_pipelined_requests (\(self.snapshot.maxPipelinedRequests)) pipelined requests")
                    self.pendingRefusal = (head, failure, failure.statusCode)
                    return
                }
                self.queuedHeads += 1
            }
            self.queued.append(part)
        } else {
            self.newPartReceived(part)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.partsRead == 0 {
            self.deadlines.bytesArrived(at: .now())
        }
        self.partsRead = 0
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
        // Once the connection is closing, a second error (from the line guard) adds nothing.
        guard !self.isClosed else { return }
        if case .dataReceivedInErrorState = error as? ByteToMessageDecoderError {
            // More bytes after a malformed request: its refusal is already pending behind the
            // requests being answered (and no more reads are asked for); they must not be cut.
            return
        }
        guard let parserError = error as? HTTPParserError else {
            context.close(promise: nil)
            return
        }
        let tooLarge = parserError == .headerOverflow
        let failure = ProxyFailure(
            type: .httpRequestError, phase: .route, details: "malformed request: " + Self.describe(parserError))
        let status = tooLarge ? 431 : 400
        if self.pendingRefusal != nil { return }
        if (self.exchange?.requestComplete ?? false) || !self.queued.isEmpty {
            // The error is in a pipelined request: the ones before it are answered first.
            self.pendingRefusal = (nil, failure, status)
            return
        }
        if let exchange = self.exchange {
            // The request stream cannot be trusted past a parse error: answer if possible, then close.
            exchange.closeConnection = true
            self.fail(exchange, failure, status: status)
            return
        }
        // No exchange yet: the request line or head itself was bad.
        self.refuse(nil, failure, status: status)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is GracefulShutdown else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Shutting down: an idle connection closes now; a busy one after the requests it already
        // read (pipelined ones included) are answered, the last saying Connection: close.
        self.closeWhenIdle = true
        guard !self.isClosed else { return }
        if let exchange = self.exchange {
            if self.queued.isEmpty { exchange.closeConnection = true }
        } else if self.queued.isEmpty {
            self.isClosed = true
            context.close(promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.exchange?.upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Outbound

    func read(context: ChannelHandlerContext) {
        if self.shouldHoldReads {
            self.pendingRead = true
            self.deadlines.readsHeld()
        } else {
            context.read()
        }
    }

    private var shouldHoldReads: Bool {
        if self.queued.count >= Self.maxQueuedParts || self.pendingRefusal != nil { return true }
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
        case .head(var head):
            // HTTP/2 has HTTP/1.1's semantics (persistent, chunk-free framing is the codec's
            // business); the rest of the data path knows only HTTP/1.x versions.
            if self.isHTTP2Stream {
                head.version = .http1_1
                // HTTP/2 may split Cookie into several fields; HTTP/1.1 has one (RFC 9113 §8.2.3).
                let cookies = head.headers["cookie"]
                if cookies.count > 1 {
                    head.headers.remove(name: "cookie")
                    head.headers.add(name: "Cookie", value: cookies.joined(separator: "; "))
                }
            }
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
            self.deadlines.bodyReceived(buffer.readableBytes)
            guard !exchange.discardingBody else { return }
            exchange.requestBodyBytes += Int64(buffer.readableBytes)
            let limit = exchange.generation.snapshot.maxBodyBytes
            if limit > 0, exchange.requestBodyBytes > limit {
                // A chunked body can only be measured as it arrives.
                exchange.closeConnection = true
                self.fail(exchange, Self.bodyTooLarge(limit), status: 413)
                return
            }
            if let upstream = exchange.upstream {
                let part = HTTPClientRequestPart.body(.byteBuffer(buffer))
                upstream.write(part)
                exchange.hold(part)
                self.wroteUpstream = true
            } else {
                exchange.bufferedBytes += buffer.readableBytes
                exchange.buffered.append(.body(.byteBuffer(buffer)))
            }
        case .end(let trailers):
            if let trailers, let name = RequestFraming.forbiddenTrailer(trailers) {
                // Framing, routing or connection fields after the body: a parser that merges
                // trailers would read a different request. The end never reaches the upstream.
                exchange.closeConnection = true
                self.fail(
                    exchange,
                    ProxyFailure(type: .httpRequestError, phase: exchange.phase, details: "\(name) is not allowed in a trailer"),
                    status: 400)
                return
            }
            exchange.requestComplete = true
            self.deadlines.requestComplete()
            exchange.lastActivity = .now()
            if exchange.discardingBody {
                self.finishIfDone(exchange)
                return
            }
            if let upstream = exchange.upstream {
                upstream.write(.end(trailers))
                exchange.hold(.end(trailers))
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
        let exchange = Exchange(head: head, now: .now(), generation: self.loop.current)
        exchange.record.stampStart()
        exchange.record.client = self.clientAddress
        exchange.record.method = head.method.rawValue
        exchange.record.path = head.uri
        exchange.record.protocolName = self.isHTTP2Stream ? "HTTP/2" : head.version.minor == 0 ? "HTTP/1.0" : "HTTP/1.1"
        exchange.record.host = head.headers.first(name: "host")
        exchange.record.requestID = Self.acceptableRequestID(head.headers.first(name: "x-request-id"))
            ?? self.loop.makeRequestID()
        if let tracer = self.loop.tracer { self.startServerSpan(exchange, tracer: tracer) }
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
        if self.closeWhenIdle && self.queued.isEmpty { exchange.closeConnection = true }
        if exchange.closeConnection || !exchange.clientKeepAlive {
            self.isClosed = true
            self.queued.removeAll()
            self.queuedHeads = 0
            self.pendingRefusal = nil
            // Close after the last byte is on the wire: a close fails writes still pending.
            if let lastWrite = exchange.lastWrite, !exchange.responseEndedByFailure {
                lastWrite.assumeIsolated().whenComplete { [self] _ in self.context?.close(promise: nil) }
            } else {
                // What was already received is passed on before the cut, so the client sees the
                // head and the partial body, not an empty reply.
                self.context?.flush()
                // On HTTP/2 the cut is RST_STREAM INTERNAL_ERROR (a plain close would say CANCEL).
                if self.isHTTP2Stream, exchange.responseEndedByFailure {
                    self.context?.triggerUserOutboundEvent(ResetStream(code: .internalError), promise: nil)
                }
                self.context?.close(promise: nil)
            }
            return
        }
        self.deadlines.responseFinished(at: .now())
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
                if case .head = part { self.queuedHeads -= 1 }
                self.newPartReceived(part)
            }
        }
        if !self.isClosed, self.exchange == nil, let refusal = self.pendingRefusal {
            self.pendingRefusal = nil
            self.refuse(refusal.head, refusal.failure, status: refusal.status)
        }
    }

    /// Answers a request that never becomes an exchange (unparseable, or beyond a limit) and
    /// closes the connection after the answer.
    func refuse(_ head: HTTPRequestHead?, _ failure: ProxyFailure, status: Int) {
        let exchange = self.makeExchange(head ?? HTTPRequestHead(version: .http1_1, method: .GET, uri: "-"))
        if head == nil { exchange.record.method = "-" }
        exchange.closeConnection = true
        self.exchange = exchange
        self.fail(exchange, failure, status: status)
    }

    /// Plain words for the request decoder's errors (its own descriptions name llhttp's internals).
    static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .headerOverflow:
            return "request head larger than request_limits.max_header_bytes, or more than max_header_count fields"
        case .invalidHeaderToken: return "invalid header line (whitespace before the colon, obs-fold, control character or empty name)"
        case .invalidContentLength, .unexpectedContentLength:
            return "invalid or repeated Content-Length"
        case .invalidChunkSize: return "invalid chunk size"
        case .invalidVersion: return "unsupported or malformed HTTP version (HTTP/1.0 and HTTP/1.1 only)"
        case .invalidMethod: return "unknown or malformed method"
        case .invalidURL: return "invalid character in the request target"
        case .lfExpected: return "bare CR or LF (lines must end with CRLF)"
        case .invalidConstant: return "malformed request line"
        case .strictModeAssertion: return "invalid chunk extension or chunk delimiter"
        case .paused: return "HTTP/2 connection preface (this listener speaks HTTP/1.1)"
        case .unknown:
            return "invalid framing (Transfer-Encoding with Content-Length, a coding after chunked, or a bare LF)"
        default: return "\(error)"
        }
    }
}

@available(*, unavailable)
extension DownstreamHandler: Sendable {}
