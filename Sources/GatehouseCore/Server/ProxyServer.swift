import GatehouseConfig
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The gateway: binds the configured listeners and serves them on an event-loop group, one
/// ``DownstreamHandler`` per connection, with per-loop upstream pools.
public final class ProxyServer: Sendable {
    public let snapshot: ProxySnapshot
    public let stats: GatewayStats
    /// Health, ejection, DNS and drain state of every upstream.
    public let controller: UpstreamController
    private let group: any EventLoopGroup
    private let logger: Logger
    private let accessLog: AccessLogSink
    private let loopStates: [ObjectIdentifier: NIOLoopBoundBox<LoopState?>]
    private let listeners = NIOLockedValueBox<[any Channel]>([])
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    /// - Parameters:
    ///   - configuration: the validated configuration.
    ///   - group: the event loops to serve on (one per core in production).
    ///   - logger: the error log.
    ///   - accessLog: where access-log lines go.
    public init(configuration: GatehouseConfiguration, group: any EventLoopGroup, logger: Logger, accessLog: AccessLogSink) {
        self.snapshot = ProxySnapshot(configuration: configuration)
        self.stats = GatewayStats(servers: self.snapshot.clusters.map { $0.targets.map(\.display) })
        self.group = group
        self.logger = logger
        self.accessLog = accessLog
        self.controller = UpstreamController(snapshot: self.snapshot, loop: group.next(), logger: logger)
        var states: [ObjectIdentifier: NIOLoopBoundBox<LoopState?>] = [:]
        for loop in group.makeIterator() {
            states[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeEmptyBox(valueType: LoopState.self, eventLoop: loop)
        }
        self.loopStates = states
    }

    /// Binds every listener.
    ///
    /// - Returns: the bound addresses, in listener order (the real port when the config says 0).
    /// - Throws: the bind error, naming the listener.
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        // Names resolved and first memberships published before the first request can arrive.
        try await self.controller.start().get()
        var bound: [SocketAddress] = []
        for listener in self.snapshot.configuration.listeners {
            let channel: any Channel
            do {
                channel = try await self.makeBootstrap(listener).bind(host: listener.address.host, port: listener.address.port).get()
            } catch {
                try? await self.stop()
                throw ListenerError(listener: listener.name, address: listener.address.description, underlying: error)
            }
            self.listeners.withLockedValue { $0.append(channel) }
            if let address = channel.localAddress { bound.append(address) }
        }
        return bound
    }

    /// The addresses the listeners are bound to.
    public var boundAddresses: [SocketAddress] {
        self.listeners.withLockedValue { $0.compactMap(\.localAddress) }
    }

    /// Runs until every listener is closed (by ``stop()``).
    public func waitUntilClosed() async throws {
        for channel in self.listeners.withLockedValue({ $0 }) {
            try await channel.closeFuture.get()
        }
    }

    /// Stops gracefully (SIGTERM): stops accepting, lets every request already accepted finish (its
    /// response says `Connection: close`), closes idle keep-alive connections at once, and after
    /// `timeout` closes whatever is still open. Then stops like ``stop()``.
    ///
    /// - Returns: the number of connections that were still busy when the timeout cut them.
    @discardableResult
    public func shutdownGracefully(timeout: Duration) async -> Int {
        let listeners = self.listeners.withLockedValue { $0 }
        for channel in listeners { try? await channel.close() }
        let open = Array(self.connections.withLockedValue { $0.values })
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(GracefulShutdown()) }
        let deadline = ContinuousClock.now + timeout
        var cut = 0
        for channel in open {
            let remaining = deadline - ContinuousClock.now
            if remaining > .zero {
                let closed = channel.eventLoop.makePromise(of: Void.self)
                channel.closeFuture.cascade(to: closed)
                let timer = channel.eventLoop.scheduleTask(in: TimeAmount(remaining)) {
                    closed.fail(ChannelError.ioOnClosedChannel)
                }
                if (try? await closed.futureResult.get()) == nil {
                    cut += 1
                    try? await channel.close()
                }
                timer.cancel()
            } else if channel.isActive {
                cut += 1
                try? await channel.close()
            }
        }
        try? await self.stop()
        return cut
    }

    /// Stops accepting, closes every downstream connection and every idle upstream connection.
    public func stop() async throws {
        let listeners = self.listeners.withLockedValue { $0 }
        for channel in listeners { try? await channel.close() }
        try? await self.controller.stop().get()
        let open = self.connections.withLockedValue { $0.values }
        for channel in open { try? await channel.close() }
        for loop in self.group.makeIterator() {
            guard let box = self.loopStates[ObjectIdentifier(loop)] else { continue }
            try? await loop.submit { box.value?.drainPools() }.get()
        }
    }

    private func makeBootstrap(_ listener: Listener) -> ServerBootstrap {
        let limits = self.snapshot.configuration.requestLimits
        let open = ListenerConnections(max: listener.maxConnections)
        return ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard open.admit() else {
                        // Beyond max_connections: a clear answer, not a silent reset or a queue.
                        try channel.pipeline.syncOperations.addHandler(OverloadRefusal(limit: listener.maxConnections))
                        self.stats.countRefusedConnection()
                        return
                    }
                    channel.closeFuture.whenComplete { _ in open.release() }
                    try Self.configureDownstream(channel, limits: limits, loop: self.loopState(for: channel.eventLoop))
                    self.track(channel)
                }
            }
    }

    /// The handlers of a downstream connection: the ``RequestLineGuard``, NIOHTTP1's server codec
    /// with the request limits, then the ``DownstreamHandler``. Shared with the tests that drive it through an `EmbeddedChannel`.
    static func configureDownstream(_ channel: any Channel, limits: RequestLimits, loop: LoopState) throws {
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderFieldSize = limits.maxHeaderBytes
        decoderLimits.maxHeaderFieldCount = limits.maxHeaderCount
        // Before the decoder: it only looks at the connection's first request line.
        try channel.pipeline.syncOperations.addHandler(RequestLineGuard())
        // No pipelining assistance: it re-arms reads with two epoll_ctl calls per request; the
        // handler queues pipelined requests itself.
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withServerUpgrade: nil, withErrorHandling: false,
            withOutboundHeaderValidation: false, withEncoderConfiguration: .init(),
            withDecoderLimitConfiguration: decoderLimits)
        try channel.pipeline.syncOperations.addHandler(DownstreamHandler(loop: loop))
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        self.connections.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [connections] _ in
            connections.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
    }

    private func loopState(for eventLoop: any EventLoop) -> LoopState {
        let box = self.loopStates[ObjectIdentifier(eventLoop)]
        if let state = box?.value { return state }
        let state = LoopState(
            eventLoop: eventLoop, snapshot: self.snapshot, stats: self.stats, logger: self.logger,
            accessLog: self.accessLog, controller: self.controller, memberships: [])
        state.install(memberships: self.controller.subscribe(state))
        box?.value = state
        return state
    }
}

/// A listener could not be bound.
public struct ListenerError: Error, CustomStringConvertible {
    public var listener: String
    public var address: String
    public var underlying: any Error

    public var description: String { "cannot listen on \(self.address) (listener '\(self.listener)'): \(self.underlying)" }
}

/// Asks a downstream connection to finish its current request and close (graceful shutdown).
struct GracefulShutdown: Sendable {}

/// The open connections of one listener, against its `max_connections`.
final class ListenerConnections: Sendable {
    private let max: Int
    private let open = Atomic<Int>(0)

    init(max: Int) {
        self.max = max
    }

    func admit() -> Bool {
        let count = self.open.wrappingAdd(1, ordering: .relaxed).newValue
        guard self.max > 0, count > self.max else { return true }
        self.open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    func release() {
        self.open.wrappingSubtract(1, ordering: .relaxed)
    }
}

/// Answers a connection beyond the listener's `max_connections` with one 503 and closes it.
final class OverloadRefusal: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    func channelActive(context: ChannelHandlerContext) {
        let body = "503 Service Unavailable: the gateway is at its connection limit (max_connections \(self.limit)); retry shortly.\n"
        var text = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
        text += "Proxy-Status: gatehouse; error=connection_limit_reached\r\nRetry-After: 1\r\nConnection: close\r\n"
        text += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let buffer = context.channel.allocator.buffer(string: text)
        context.writeAndFlush(NIOAny(buffer)).whenComplete { _ in context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@available(*, unavailable)
extension OverloadRefusal: Sendable {}
