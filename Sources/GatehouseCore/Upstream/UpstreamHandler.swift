import NIOCore
import NIOHTTP1
import NIOSSL

/// The downstream side of an exchange, as the upstream connection sees it. Implemented by
/// ``DownstreamHandler``; both live on the same event loop, so calls are direct.
protocol UpstreamExchangeDelegate: AnyObject {
    /// Whether the downstream channel can take more bytes (back-pressure for the response).
    var isDownstreamWritable: Bool { get }
    func upstreamReceived(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    /// Any failure of the connection while leased: an error, or a close before the response ended.
    func upstreamFailed(_ error: any Error)
    func upstreamWritabilityChanged(isWritable: Bool)
}

/// The last handler of an upstream connection's pipeline (after NIOHTTP1's request encoder and
/// the gateway's ``StrictResponseDecoder``). It relays response parts to the exchange that leased the connection, gates
/// reads on the downstream's writability, and, while the connection is idle in the pool, keeps
/// reading so that an upstream FIN or RST evicts it at once rather than when the next request is
/// written on it (the keep-alive race).
final class UpstreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    /// Unique per process, for the pool's bookkeeping.
    let id: Int
    /// The pool this connection returns to.
    weak var pool: UpstreamConnectionPool?
    /// The exchange using the connection, nil while idle.
    var exchange: (any UpstreamExchangeDelegate)?
    /// Requests carried so far (a connection with > 1 was reused).
    var requestsCarried = 0
    /// False once the decoder saw something that forbids another exchange on this connection
    /// (bytes after a response, a close-delimited body, a protocol switch).
    private(set) var isReusable = true
    /// When the connection was last parked idle in its pool.
    var idleSince = NIODeadline.now()
    /// The idle timeout the upstream announced (`Keep-Alive: timeout=N`) on its last response.
    var advertisedIdleTimeout: TimeAmount?
    /// The cluster's circuit breakers: this connection holds one open-connection count while it lives.
    var breaker: ClusterBreaker?

    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var isClosed = false

    /// Whether response bytes arrived since the last exchange took the connection.
    let progress: ResponseProgress

    init(id: Int, progress: ResponseProgress = ResponseProgress()) {
        self.id = id
        self.progress = progress
    }

    var isWritable: Bool { self.context?.channel.isWritable ?? false }
    /// The connection, while the handler is in its pipeline (a tunnel takes it over).
    var channel: (any Channel)? { self.context?.channel }
    var isActive: Bool { !self.isClosed && (self.context?.channel.isActive ?? false) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: - Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        guard let exchange = self.exchange else {
            // An idle connection must be silent; anything arriving is a protocol error or a late
            // part of an abandoned response: the connection cannot be reused.
            self.close()
            return
        }
        exchange.upstreamReceived(part)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is UpstreamConnectionUnusable {
            self.isReusable = false
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.exchange?.upstreamReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A TLS peer that closes without close_notify: `channelInactive` follows, and the decoder
        // decides there whether the response was complete (a close-delimited body ends this way).
        if let ssl = error as? NIOSSLError, case .uncleanShutdown = ssl { return }
        let exchange = self.exchange
        self.exchange = nil
        // Closed before the exchange hears of it, as on `channelInactive`: a retry it starts at once
        // (the keep-alive race's) must not find this dead connection still counted by the breakers.
        self.close()
        exchange?.upstreamFailed(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.isClosed = true
        self.breaker?.connectionClosed()
        self.breaker = nil
        self.pool?.connectionClosed(id: self.id)
        if let exchange = self.exchange {
            self.exchange = nil
            exchange.upstreamFailed(UpstreamClosedConnection())
        }
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.exchange?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Outbound

    func read(context: ChannelHandlerContext) {
        if let exchange = self.exchange, !exchange.isDownstreamWritable {
            self.pendingRead = true
            return
        }
        context.read()
    }

    // MARK: - Used by the exchange

    /// The downstream became writable again: replay a read held back for back-pressure.
    func resumeReading() {
        guard self.pendingRead, let context = self.context else { return }
        self.pendingRead = false
        context.read()
    }

    func write(_ part: HTTPClientRequestPart) {
        self.context?.write(self.wrapOutboundOut(part), promise: nil)
    }

    func flush() {
        self.context?.flush()
    }

    /// Closes the connection; it leaves the pool through `channelInactive`.
    func close() {
        guard !self.isClosed else { return }
        self.isClosed = true
        self.exchange = nil
        self.context?.close(promise: nil)
    }
}

@available(*, unavailable)
extension UpstreamHandler: Sendable {}
