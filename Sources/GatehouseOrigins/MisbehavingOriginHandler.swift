import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw-bytes origin connection that misbehaves in one `Misbehavior`.
///
/// It reads bytes until the request head's blank line (`\r\n\r\n`) has arrived, ignoring anything after
/// it (a body), and then acts once: sends nothing or a broken response, and closes (FIN), resets (RST),
/// or goes silent. A close is a half-close of the output: the handler keeps reading and discarding until
/// the peer closes too, so a request body still in flight cannot turn the FIN into an RST.
final class MisbehavingOriginHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the connection is.
    private enum State {
        /// Looking for the end of the request head; `matched` counts the bytes of `\r\n\r\n` seen in a row.
        case readingHead(matched: Int)
        /// The head has arrived and the misbehaviour is under way or done; input is discarded.
        case acted
    }

    /// RST is sent this long after the partial response, so that the peer reads the bytes first.
    private static let resetDelay = TimeAmount.milliseconds(50)

    private let misbehavior: Misbehavior
    private let counters: OriginCounters
    private var state = State.readingHead(matched: 0)
    private var resetTimer: Scheduled<Void>?

    init(_ misbehavior: Misbehavior, counters: OriginCounters) {
        self.misbehavior = misbehavior
        self.counters = counters
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .readingHead(var matched) = self.state else { return }
        let buffer = self.unwrapInboundIn(data)
        let terminator: [UInt8] = [13, 10, 13, 10]
        for byte in buffer.readableBytesView {
            if byte == terminator[matched] {
                matched += 1
            } else {
                matched = byte == 13 ? 1 : 0
            }
            if matched == terminator.count {
                self.state = .acted
                self.counters.requestReceived()
                self.act(context: context)
                return
            }
        }
        self.state = .readingHead(matched: matched)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.resetTimer?.cancel()
        self.resetTimer = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func act(context: ChannelHandlerContext) {
        let response = OriginPayload.response(for: self.misbehavior)
        switch self.misbehavior {
        case .hang:
            return
        case .resetBeforeHead:
            Self.reset(context: context)
        case .closeBeforeHead:
            Self.closeOutput(context: context)
        case .stallMidBody:
            self.send(response, context: context) { _ in }
        case .resetMidBody:
            self.send(response, context: context) { [self] context in
                self.resetTimer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.resetDelay) {
                    Self.reset(context: context)
                }
            }
        case .closeMidBody, .malformedStatusLine, .malformedHeader, .oversizedHeader, .badChunking:
            self.send(response, context: context) { context in
                Self.closeOutput(context: context)
            }
        }
    }

    /// Writes and flushes `bytes`, then calls `then` once they are in the kernel (not if the write fails).
    private func send(
        _ bytes: ByteBuffer?,
        context: ChannelHandlerContext,
        then: @escaping (ChannelHandlerContext) -> Void
    ) {
        guard let bytes else {
            then(context)
            return
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(bytes), promise: written)
        written.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success: then(context)
            case .failure: context.close(promise: nil)
            }
        }
    }

    /// FIN now; the channel closes fully when the peer closes its side.
    private static func closeOutput(context: ChannelHandlerContext) {
        let closed = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: closed)
        closed.futureResult.assumeIsolated().whenFailure { _ in
            context.close(promise: nil)
        }
    }

    /// RST: SO_LINGER with a zero timeout, then close.
    private static func reset(context: ChannelHandlerContext) {
        guard let provider = context.channel as? any SocketOptionProvider else {
            context.close(promise: nil)
            return
        }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

@available(*, unavailable)
extension MisbehavingOriginHandler: Sendable {}
