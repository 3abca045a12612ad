import GatehouseConfig
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

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
    ///   - resolve: how servers given by name are resolved; nil = the system resolver (a test may name its own).
    public init(
        configuration: GatehouseConfiguration, group: any EventLoopGroup, logger: Logger, accessLog: AccessLogSink,
        resolve: (@Sendable (String, Int, any EventLoop) -> EventLoopFuture<Result<[SocketAddress], SystemResolver.Failure>>)? = nil
    ) {
        self.snapshot = ProxySnapshot(configuration: configuration)
        self.stats = GatewayStats(servers: self.snapshot.clusters.map { $0.targets.map(\.display) })
        self.group = group
        self.logger = logger
        self.accessLog = accessLog
        self.controller = UpstreamController(snapshot: self.snapshot, loop: group.next(), logger: logger, resolve: resolve)
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
                channel = try await self.makeBootstrap().bind(host: listener.address.host, port: listener.address.port).get()
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

    private func makeBootstrap() -> ServerBootstrap {
        let limits = self.snapshot.configuration.requestLimits
        return ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
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
