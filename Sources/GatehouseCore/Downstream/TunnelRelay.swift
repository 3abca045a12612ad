import NIOCore
import NIOHTTP1

/// One side of a tunnel after a 101 (WebSocket and other upgrades): raw bytes from this channel
/// are written to the peer's, with back-pressure (this side reads only while the peer can take
/// more), half-closes passed across (a FIN from one side shuts the other's output once what was
/// read before it is written), and a close of either side closing the other.
///
/// Each relay sits first in its pipeline, where the HTTP codecs were; the ``DownstreamHandler``
/// and the ``UpstreamHandler`` stay behind it and see only `channelInactive`, so the exchange is
/// logged once, when the tunnel ends (status 101, bytes both ways, duration), and the upstream
/// connection leaves the pool's and the breaker's counts as any other connection does. Both
/// channels are on the same event loop (the upstream connection was opened on the downstream's).
final class TunnelRelay: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The client's side (its bytes are `bytesReceived`) or the upstream's (its bytes are `bytes`).
    private let isDownstream: Bool
    private let exchange: Exchange
    /// The other side; nil once this side closed (breaks the reference cycle).
    private var peer: TunnelRelay?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var wrotePeer = false
    /// This side sent FIN (its input is closed).
    private(set) var inputClosed = false
    /// Writes may go out. The upstream side waits until its response decoder (which also sees
    /// every write, typed as HTTP parts) has left the pipeline; meanwhile writes are held here.
    private var ready = true
    private var held: [ByteBuffer] = []
    private var endWhenReady: CloseMode?

    private init(isDownstream: Bool, exchange: Exchange) {
        self.isDownstream = isDownstream
        self.exchange = exchange
    }

    /// Replaces the HTTP handlers of both connections by a pair of relays. The 101 must already
    /// be written downstream (through the encoder that leaves here).
    static func splice(downstream: ChannelHandlerContext, upstream: UpstreamHandler, exchange: Exchange) throws {
        guard let upstreamChannel = upstream.channel else { throw ChannelError.ioOnClosedChannel }
        let downstreamChannel = downstream.channel
        let down = TunnelRelay(isDownstream: true, exchange: exchange)
        let up = TunnelRelay(isDownstream: false, exchange: exchange)
        down.peer = up
        up.peer = down
        let downstreamPipeline = downstreamChannel.pipeline.syncOperations
        let upstreamPipeline = upstreamChannel.pipeline.syncOperations
        // Half-closes are relayed rather than taken for a close.
        try downstreamChannel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        try upstreamChannel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
        // Each relay goes right in front of the last handler, behind the decoder: bytes of the new
        // protocol that arrived with the 101 are handed on by the decoder as it leaves.
        try downstreamPipeline.addHandler(down, position: .before(downstream.handler))
        try upstreamPipeline.addHandler(up, position: .before(upstream))
        Self.remove(ByteToMessageHandler<HTTPRequestDecoder>.self, from: downstreamPipeline)
        Self.remove(HTTPResponseEncoder.self, from: downstreamPipeline)
        Self.remove(RequestLineGuard.self, from: downstreamPipeline)
        Self.remove(HTTPRequestEncoder.self, from: upstreamPipeline)
        if let decoder = try? upstreamPipeline.context(handlerType: ByteToMessageHandler<StrictResponseDecoder>.self) {
            up.ready = false
            let removed = upstreamChannel.eventLoop.makePromise(of: Void.self)
            upstreamPipeline.removeHandler(context: decoder, promise: removed)
            removed.futureResult.assumeIsolated().whenComplete { _ in
                up.becomeReady()
                // The decoder handed on what followed the 101 outside a read cycle: no read-complete flushes it.
                down.context?.flush()
            }
        }
        // Reads were gated on the exchange; from now on on the peer.
        downstreamChannel.read()
        upstreamChannel.read()
    }

    private static func remove<Handler: RemovableChannelHandler>(
        _ type: Handler.Type, from pipeline: ChannelPipeline.SynchronousOperations
    ) {
        guard let context = try? pipeline.context(handlerType: type) else { return }
        pipeline.removeHandler(context: context, promise: nil)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: - From this side

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        let count = Int64(buffer.readableBytes)
        if self.isDownstream {
            self.exchange.record.bytesReceived += count
        } else {
            self.exchange.record.bytes += count
        }
        self.exchange.lastActivity = .now()
        self.peer?.write(buffer)
        self.wrotePeer = true
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.wrotePeer {
            self.wrotePeer = false
            if let peer = self.peer, peer.ready { peer.context?.flush() }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .inputClosed = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.inputClosed = true
        guard let peer = self.peer else { return }
        if peer.inputClosed {
            // Both directions are finished: the tunnel is over.
            peer.closeAfterPendingWrites()
            self.closeAfterPendingWrites()
        } else {
            peer.shutdownOutputAfterPendingWrites()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let peer = self.peer {
            self.peer = nil
            peer.peer = nil
            peer.closeAfterPendingWrites()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset or a write on a closed socket: the tunnel ends with the connection.
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { self.peer?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Outbound

    func read(context: ChannelHandlerContext) {
        if let peer = self.peer, !(peer.context?.channel.isWritable ?? false) {
            self.pendingRead = true
            return
        }
        context.read()
    }

    // MARK: - Called by the peer

    private func write(_ buffer: ByteBuffer) {
        guard self.ready else {
            self.held.append(buffer)
            return
        }
        self.context?.write(self.wrapOutboundOut(buffer), promise: nil)
    }

    private func becomeReady() {
        self.ready = true
        let held = self.held
        self.held = []
        for buffer in held { self.write(buffer) }
        if !held.isEmpty { self.context?.flush() }
        switch self.endWhenReady {
        case .output?: self.shutdownOutputAfterPendingWrites()
        case .all?: self.closeAfterPendingWrites()
        default: break
        }
    }

    private func resumeReading() {
        guard self.pendingRead, let context = self.context else { return }
        self.pendingRead = false
        context.read()
    }

    private func shutdownOutputAfterPendingWrites() {
        guard self.ready else {
            if self.endWhenReady == nil { self.endWhenReady = .output }
            return
        }
        guard let context = self.context else { return }
        // An empty write completes once everything written before it is on the wire.
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(mode: .output, promise: nil)
        }
    }

    private func closeAfterPendingWrites() {
        guard self.ready else {
            self.endWhenReady = .all
            return
        }
        guard let context = self.context else { return }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension TunnelRelay: Sendable {}
