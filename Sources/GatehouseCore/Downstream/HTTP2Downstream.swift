import NIOCore
import NIOHTTP1
import NIOHTTP2

/// The first bytes of a plain (cleartext) connection decide its protocol: the HTTP/2 client
/// preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, "prior knowledge", h2c) or HTTP/1.x — as Envoy's
/// default `AUTO` codec and nginx's `http2 on` on a plain listener do. An HTTP/1 request differs
/// from the preface within its first three bytes (`GET`, `POST`, `PUT`…), so nothing waits for
/// more than one read; only a real preface is read to its 24th byte. The handler then installs
/// the chosen pipeline behind itself, passes the bytes on and leaves: one decision per
/// connection, nothing per request. A connection that sends no decisive byte within
/// `client_timeouts.header` is closed silently, as one that never sends a head would be: the
/// handlers that keep the clients' other limits do not exist before the decision, so without
/// this one timer per connection a silent client would hold it forever.
final class ProtocolSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    static let preface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    private let configureHTTP1: (any Channel) throws -> Void
    private let configureHTTP2: (any Channel) throws -> Void
    private var received: ByteBuffer?
    private var decided = false
    private let deadline: TimeAmount
    private let timeouts: DownstreamTimeoutCounters?
    private var timer: Scheduled<Void>?

    init(
        deadline: TimeAmount, timeouts: DownstreamTimeoutCounters? = nil,
        http1: @escaping (any Channel) throws -> Void, http2: @escaping (any Channel) throws -> Void
    ) {
        self.deadline = deadline
        self.timeouts = timeouts
        self.configureHTTP1 = http1
        self.configureHTTP2 = http2
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(in: self.deadline) {
            let (handler, context) = bound.value
            guard !handler.decided else { return }
            handler.timeouts?.count(.header(hasBytes: handler.received != nil))
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.decided else {
            context.fireChannelRead(data)
            return
        }
        var buffer = self.unwrapInboundIn(data)
        if var received = self.received {
            received.writeBuffer(&buffer)
            buffer = received
        }
        guard let isHTTP2 = Self.verdict(buffer) else {
            self.received = buffer
            return
        }
        self.decided = true
        self.received = nil
        self.timer?.cancel()
        self.timer = nil
        do {
            try (isHTTP2 ? self.configureHTTP2 : self.configureHTTP1)(context.channel)
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(self.wrapInboundOut(buffer))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// true: the preface; false: anything else (HTTP/1); nil: a prefix of the preface so far.
    static func verdict(_ buffer: ByteBuffer) -> Bool? {
        buffer.withUnsafeReadableBytes { bytes -> Bool? in
            for (index, byte) in bytes.prefix(Self.preface.count).enumerated() where byte != Self.preface[index] {
                return false
            }
            return bytes.count >= Self.preface.count ? true : nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Closed before a decision: there is no request to answer.
        self.received = nil
        self.timer?.cancel()
        self.timer = nil
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension ProtocolSniffer: Sendable {}

/// Sits between `NIOHTTP2Handler` and NIO's `NIOHTTP2ServerConnectionManagementHandler` on an
/// HTTP/2 connection. It turns the gateway's ``GracefulShutdown`` into NIO's
/// `ChannelShouldQuiesceEvent` (GOAWAY, the streams under way finish, then the connection
/// closes), and replays `channelActive` to the management handler when the connection was
/// already active when HTTP/2 was chosen (h2c sniffing, ALPN after a TLS handshake) so that its
/// idle timer runs.
final class HTTP2ConnectionLifecycle: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias InboundOut = HTTP2Frame

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.fireChannelActive() }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is GracefulShutdown {
            context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

@available(*, unavailable)
extension HTTP2ConnectionLifecycle: Sendable {}

/// Asks an HTTP/2 stream to end with RST_STREAM and this code (a response cut after its head).
struct ResetStream: Sendable {
    var code: HTTP2ErrorCode
}

/// The first handler of an HTTP/2 stream channel, before `HTTP2FramePayloadToHTTP1ServerCodec`:
/// turns ``ResetStream`` into a RST_STREAM frame (the codec above it only speaks HTTP/1 parts),
/// and refuses a request with more header fields than `request_limits.max_header_count` the way
/// the HTTP/1 decoder does (431 through ``DownstreamHandler``). The header list's size is bounded
/// by SETTINGS_MAX_HEADER_LIST_SIZE in the HTTP/2 handler itself.
final class HTTP2StreamGuard: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let maxHeaderCount: Int
    private var refused = false

    init(maxHeaderCount: Int) {
        self.maxHeaderCount = maxHeaderCount
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if self.refused { return }
        if case .headers(let headers) = self.unwrapInboundIn(data), self.maxHeaderCount > 0,
            headers.headers.count > self.maxHeaderCount + 4  // the four request pseudo-fields
        {
            self.refused = true
            context.fireErrorCaught(HTTPParserError.headerOverflow)
            return
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let reset = event as? ResetStream else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        context.writeAndFlush(self.wrapOutboundOut(.rstStream(reset.code)), promise: promise)
    }
}

@available(*, unavailable)
extension HTTP2StreamGuard: Sendable {}
