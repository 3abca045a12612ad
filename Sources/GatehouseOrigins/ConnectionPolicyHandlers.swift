import NIOCore
import NIOHTTP1

/// Connection-level rules of the healthy app, kept out of the app's routes.
///
/// - counts every request head (`OriginCounters.requestReceived`);
/// - with `idleClose`, closes the connection once it has been idle that long: after its last response
///   was written, or after being accepted (Node's `keepAliveTimeout`, the classic keep-alive race),
///   counting it (`OriginCounters.idleConnectionClosed`); with `announces`, it also says so on every
///   keep-alive response head as `Keep-Alive: timeout=N`;
/// - on `RotationPhaseEnded`, closes the connection as soon as no response is outstanding.
final class ConnectionPolicyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let idleClose: TimeAmount?
    /// The `Keep-Alive` value added to keep-alive response heads, when the idle close is announced.
    private let announcement: String?
    private let counters: OriginCounters
    /// Request heads received minus response ends written.
    private var outstanding = 0
    private var drainRequested = false
    private var idleTimer: Scheduled<Void>?

    init(idleClose: TimeAmount?, announces: Bool = false, counters: OriginCounters) {
        self.idleClose = idleClose
        if announces, let idleClose {
            self.announcement = "timeout=\(max(1, idleClose.nanoseconds / 1_000_000_000))"
        } else {
            self.announcement = nil
        }
        self.counters = counters
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.armIdleTimer(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelIdleTimer()
    }

    func channelActive(context: ChannelHandlerContext) {
        self.armIdleTimer(context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.cancelIdleTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = self.unwrapInboundIn(data) {
            self.counters.requestReceived()
            self.outstanding += 1
            self.cancelIdleTimer()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let part = self.unwrapOutboundIn(data)
        if case .head(var head) = part, let announcement = self.announcement,
            !head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" })
        {
            head.headers.add(name: "keep-alive", value: announcement)
            context.write(self.wrapOutboundOut(.head(head)), promise: promise)
            return
        }
        guard case .end = part else {
            context.write(data, promise: promise)
            return
        }
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        context.write(data, promise: written)
        written.futureResult.assumeIsolated().whenSuccess { [self] in
            self.outstanding = max(0, self.outstanding - 1)
            guard self.outstanding == 0 else { return }
            if self.drainRequested {
                context.close(promise: nil)
            } else {
                self.armIdleTimer(context: context)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is RotationPhaseEnded else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        self.drainRequested = true
        if self.outstanding == 0 {
            context.close(promise: nil)
        }
    }

    private func armIdleTimer(context: ChannelHandlerContext) {
        guard let idleClose = self.idleClose, self.idleTimer == nil else { return }
        self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: idleClose) { [self] in
            self.idleTimer = nil
            if self.outstanding == 0 {
                self.counters.idleConnectionClosed()
                context.close(promise: nil)
            }
        }
    }

    private func cancelIdleTimer() {
        self.idleTimer?.cancel()
        self.idleTimer = nil
    }
}

@available(*, unavailable)
extension ConnectionPolicyHandler: Sendable {}

/// Holds each request back for `delay` after its head arrived (the `.slowHead` origin).
///
/// While a request is held, its parts are queued and reads are not passed on, so at most one read
/// batch is queued; the response therefore starts no earlier than `delay` after the request head.
final class RequestDelayHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let delay: TimeAmount
    private var held = CircularBuffer<HTTPServerRequestPart>()
    /// Set while a request is held back.
    private var timer: Scheduled<Void>?
    private var pendingRead = false

    init(delay: TimeAmount) {
        self.delay = delay
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = self.unwrapInboundIn(data)
        if self.timer != nil {
            self.held.append(part)
            return
        }
        if case .head = part {
            self.held.append(part)
            self.arm(context: context)
            return
        }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.timer == nil {
            context.fireChannelReadComplete()
        }
    }

    func read(context: ChannelHandlerContext) {
        if self.timer != nil {
            self.pendingRead = true
        } else {
            context.read()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.held.removeAll()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
    }

    private func arm(context: ChannelHandlerContext) {
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(in: self.delay) { [self] in
            self.timer = nil
            self.release(context: context)
        }
    }

    /// Passes on the held request; a second held request head re-arms the timer.
    private func release(context: ChannelHandlerContext) {
        var first = true
        while let part = self.held.first {
            if case .head = part, !first {
                self.arm(context: context)
                break
            }
            self.held.removeFirst()
            first = false
            context.fireChannelRead(self.wrapInboundOut(part))
        }
        context.fireChannelReadComplete()
        if self.timer == nil, self.pendingRead {
            self.pendingRead = false
            context.read()
        }
    }
}

@available(*, unavailable)
extension RequestDelayHandler: Sendable {}
