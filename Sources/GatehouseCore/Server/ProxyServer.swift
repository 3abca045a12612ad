import GatehouseConfig
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import Synchronization
import Tracing

/// The gateway: binds the configured listeners and serves them on an event-loop group, one
/// ``DownstreamHandler`` per connection, with per-loop upstream pools.
public final class ProxyServer: Sendable {
    public let stats: GatewayStats
    /// The Prometheus series behind `GET /metrics`.
    public let metrics: GatewayMetrics
    /// Incidents per cluster, from the stats' counters; ticks from ``start()`` to ``stop()``.
    public let incidents: IncidentMonitor
    /// The running configuration and its controller; a reload replaces both at once.
    private let generation: NIOLockedValueBox<(snapshot: ProxySnapshot, controller: UpstreamController)>
    /// One reload at a time.
    private let reloading = NIOLockedValueBox(false)
    private let draining = NIOLockedValueBox(false)

    /// A graceful shutdown is under way: `/readyz` says so, so load balancers stop sending.
    public var isDraining: Bool { self.draining.withLockedValue { $0 } }
    private let group: any EventLoopGroup
    private let logger: Logger
    private let accessLog: AccessLogSink
    private let loopStates: [ObjectIdentifier: NIOLoopBoundBox<LoopState?>]
    private let listeners = NIOLockedValueBox<[any Channel]>([])
    private let boundListeners = NIOLockedValueBox<[ListenerKey: (channel: any Channel, open: ListenerConnections)]>([:])
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    /// Makes the spans of every request; nil = tracing off. An instance, not the process-global
    /// `InstrumentationSystem`, so gateways in one process (the tests) each trace to their own place.
    private let tracer: (any Tracer)?
    /// The response cache of the routes with `cache`, kept across reloads.
    public let cache: ResponseCache

    /// - Parameters:
    ///   - configuration: the validated configuration.
    ///   - group: the event loops to serve on (one per core in production).
    ///   - logger: the error log.
    ///   - accessLog: where access-log lines go.
    ///   - resolve: how server names are resolved (the system resolver unless a test names its own).
    ///   - tracer: makes a server span per request and a client span per upstream try, and
    ///     propagates W3C trace context upstream; nil = tracing off.
    public init(
        configuration: GatehouseConfiguration, group: any EventLoopGroup, logger: Logger, accessLog: AccessLogSink,
        resolve: (@Sendable (String, Int, any EventLoop) -> EventLoopFuture<Result<[SocketAddress], SystemResolver.Failure>>)? = nil,
        tracer: (any Tracer)? = nil
    ) {
        self.tracer = tracer
        self.cache = ResponseCache(storage: configuration.cache)
        let snapshot = ProxySnapshot(configuration: configuration)
        let metrics = GatewayMetrics()
        let stats = GatewayStats()
        self.stats = stats
        self.metrics = metrics
        self.group = group
        self.logger = logger
        self.accessLog = accessLog
        let generation = NIOLockedValueBox<(snapshot: ProxySnapshot, controller: UpstreamController)>(
            (snapshot, UpstreamController(snapshot: snapshot, loop: group.next(), logger: logger, resolve: resolve, metrics: metrics)))
        self.generation = generation
        self.incidents = IncidentMonitor(stats: stats) { generation.withLockedValue { $0.snapshot.configuration } }
        var states: [ObjectIdentifier: NIOLoopBoundBox<LoopState?>] = [:]
        for loop in group.makeIterator() {
            states[ObjectIdentifier(loop)] = NIOLoopBoundBox.makeEmptyBox(valueType: LoopState.self, eventLoop: loop)
        }
        self.loopStates = states
    }

    /// The running configuration.
    public var snapshot: ProxySnapshot { self.generation.withLockedValue { $0.snapshot } }

    /// Health, ejection, DNS and drain state of every upstream of the running configuration.
    public var controller: UpstreamController { self.generation.withLockedValue { $0.controller } }

    /// Binds every listener.
    ///
    /// - Returns: the bound addresses, in listener order (the real port when the config says 0).
    /// - Throws: the bind error, naming the listener.
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        // Names resolved and first memberships published before the first request can arrive.
        try await self.controller.start().get()
        self.incidents.start(on: self.controller.loop)
        var bound: [SocketAddress] = []
        for listener in self.snapshot.configuration.listeners {
            do {
                bound.append(try await self.bind(listener))
            } catch {
                try? await self.stop()
                throw error
            }
        }
        return bound
    }

    private func bind(_ listener: Listener, snapshot: ProxySnapshot? = nil) async throws -> SocketAddress {
        if let failure = (snapshot ?? self.snapshot).listenerTLSFailures[listener.name] {
            throw ListenerError(listener: listener.name, address: listener.address.description, underlying: ListenerTLSError(description: failure))
        }
        let open = ListenerConnections(max: listener.maxConnections)
        let channel: any Channel
        do {
            channel = try await self.makeBootstrap(open, listener: listener.name).bind(host: listener.address.host, port: listener.address.port).get()
        } catch {
            throw ListenerError(listener: listener.name, address: listener.address.description, underlying: error)
        }
        self.listeners.withLockedValue { $0.append(channel) }
        self.boundListeners.withLockedValue { $0[ListenerKey(listener)] = (channel, open) }
        guard let address = channel.localAddress else {
            throw ListenerError(listener: listener.name, address: listener.address.description, underlying: ChannelError.inappropriateOperationForState)
        }
        return address
    }

    // MARK: - Reload

    /// What a reload changed.
    public struct ReloadReport: Sendable {
        /// One line per change: clusters, servers, routes and listeners added or removed.
        public var changes: [String]
    }

    /// A reload could not be applied; the running configuration stays.
    public struct ReloadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Swaps in a new configuration without dropping a request: exchanges under way finish on the
    /// configuration they started with, new ones use the new one; servers that stay keep their
    /// pools and health; listeners added are bound, listeners removed are closed (their open
    /// connections finish). The admin listener is not moved by a reload.
    public func reload(_ configuration: GatehouseConfiguration) async throws -> ReloadReport {
        let busy = self.reloading.withLockedValue { busy -> Bool in
            defer { busy = true }
            return busy
        }
        guard !busy else { throw ReloadError(description: "a reload is already in progress") }
        defer { self.reloading.withLockedValue { $0 = false } }

        let (old, oldController) = self.generation.withLockedValue { ($0.snapshot, $0.controller) }
        let snapshot = ProxySnapshot(configuration: configuration, previous: old)
        let controller = UpstreamController(
            snapshot: snapshot, loop: oldController.loop, logger: self.logger, resolve: oldController.resolve,
            previous: oldController, metrics: self.metrics)
        try await controller.start().get()

        // Listeners first, so a port that cannot be bound leaves the old configuration running.
        let oldKeys = Set(old.configuration.listeners.map(ListenerKey.init))
        let newKeys = Set(configuration.listeners.map(ListenerKey.init))
        // One diff for the reload report and `gatehouse check --diff`; a reload that cannot bind throws it away.
        let changes = ConfigurationDiff.changes(old.configuration, configuration)
        var added: [ListenerKey] = []
        if let (name, failure) = snapshot.listenerTLSFailures.first {
            _ = try? await controller.stop().get()
            throw ReloadError(description: "listener '\(name)': \(failure); the running configuration stays")
        }
        for listener in configuration.listeners where !oldKeys.contains(ListenerKey(listener)) {
            do {
                _ = try await self.bind(listener, snapshot: snapshot)
                added.append(ListenerKey(listener))
            } catch {
                for key in added { await self.closeListener(key) }
                _ = try? await controller.stop().get()
                throw ReloadError(description: "\(error); the running configuration stays")
            }
        }
        for listener in configuration.listeners {
            self.boundListeners.withLockedValue { $0[ListenerKey(listener)]?.open.setMax(listener.maxConnections) }
        }

        self.generation.withLockedValue { $0 = (snapshot, controller) }
        self.cache.configure(configuration.cache)
        for loop in self.group.makeIterator() {
            guard let box = self.loopStates[ObjectIdentifier(loop)] else { continue }
            let stats = self.stats
            let metrics = self.metrics
            try? await loop.submit {
                guard let state = box.value else { return }
                let generation = LoopGeneration(
                    snapshot: snapshot, controller: controller, memberships: [], statSlots: stats.slots(for: snapshot),
                    metrics: metrics)
                generation.install(memberships: controller.subscribe(state, generation: generation))
                state.switchTo(generation)
            }.get()
        }
        for key in oldKeys.subtracting(newKeys) {
            await self.closeListener(key)
        }
        try? await oldController.stop().get()
        self.logger.notice(
            "configuration reloaded: \(changes.isEmpty ? "no change" : changes.joined(separator: "; "))",
            metadata: ["event": "reload"])
        return ReloadReport(changes: changes)
    }

    private func closeListener(_ key: ListenerKey) async {
        guard let entry = self.boundListeners.withLockedValue({ $0.removeValue(forKey: key) }) else { return }
        self.listeners.withLockedValue { $0.removeAll { $0 === entry.channel } }
        try? await entry.channel.close()
    }

    /// `GET /metrics`: the series derived from request records, with the gauges read now (servers in
    /// rotation from the controller, upstream connections from every loop's pools, open client
    /// connections per listener).
    public func metricsExposition() async -> [UInt8] {
        var gauges = GatewayMetrics.Gauges()
        gauges.servers = (try? await self.controller.serverGauges().get()) ?? []
        for loop in self.group.makeIterator() {
            guard let box = self.loopStates[ObjectIdentifier(loop)] else { continue }
            let counts = (try? await loop.submit { box.value?.poolCounts() ?? [:] }.get()) ?? [:]
            for (cluster, count) in counts {
                let sum = gauges.pools[cluster] ?? (0, 0)
                gauges.pools[cluster] = (sum.active + count.active, sum.idle + count.idle)
            }
        }
        for listener in self.snapshot.configuration.listeners {
            gauges.listeners[listener.name] = self.boundListeners.withLockedValue { $0[ListenerKey(listener)]?.open.count } ?? 0
        }
        if self.snapshot.configuration.routes.contains(where: { $0.cache != nil }) {
            let stats = self.cache.stats()
            gauges.cache = (stats.entries, stats.bytes)
        }
        return self.metrics.exposition(gauges)
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
        self.draining.withLockedValue { $0 = true }
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
        self.incidents.stop()
        try? await self.controller.stop().get()
        let open = self.connections.withLockedValue { $0.values }
        for channel in open { try? await channel.close() }
        for loop in self.group.makeIterator() {
            guard let box = self.loopStates[ObjectIdentifier(loop)] else { continue }
            try? await loop.submit { box.value?.drainPools() }.get()
        }
    }

    static let downstreamReceiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 1024, maximum: 65536)

    /// The options of every downstream connection, apart so a test can check them on real sockets.
    static func downstreamOptions(_ bootstrap: ServerBootstrap) -> ServerBootstrap {
        bootstrap
            // `.tcpOption`, at IPPROTO_TCP: `.socketOption(.tcp_nodelay)` is SOL_SOCKET's option 1,
            // SO_DEBUG, which needs CAP_NET_ADMIN; an unprivileged gateway reset every connection.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            // NIO keeps a connection's last receive buffer for its next read, idle or not: at
            // NIO's initial 2 KiB that was a quarter of an idle keep-alive connection's memory
            // (bench/RESULTS.md). A request head fits 1 KiB (nginx's client_header_buffer_size);
            // a larger head or a body grows the next reads at once (adaptive).
            .childChannelOption(.recvAllocator, value: Self.downstreamReceiveAllocator)
    }

    private func makeBootstrap(_ open: ListenerConnections, listener listenerName: String) -> ServerBootstrap {
        let timeouts = self.metrics.downstreamTimeoutCounters(listener: listenerName)
        let bootstrap = ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        return Self.downstreamOptions(bootstrap)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard open.admit() else {
                        // Beyond max_connections: a clear answer, not a silent reset or a queue.
                        try channel.pipeline.syncOperations.addHandler(OverloadRefusal(limit: open.max))
                        self.stats.countRefusedConnection()
                        self.metrics.countRefusedConnection(listener: listenerName)
                        return
                    }
                    self.track(channel, releasing: open)
                    let loop = self.loopState(for: channel.eventLoop)
                    let limits = loop.snapshot.configuration.requestLimits
                    // The generation current now decides, so connections accepted after a reload get its certificates.
                    if let tls = loop.snapshot.listenerTLS[listenerName] {
                        let client = channel.remoteAddress.map { "\($0.ipAddress ?? "-"):\($0.port ?? 0)" } ?? "-"
                        try Self.configureTLSDownstream(
                            channel, tls: tls, listener: listenerName, limits: limits, loop: loop, timeouts: timeouts
                        ) {
                            [self] kind in
                            self.metrics.countTLSHandshakeFailure(listener: listenerName, reason: kind.metricReason)
                            self.logger.info(
                                "TLS handshake with a client failed (not a gateway error)",
                                metadata: [
                                    "event": "downstream_tls_failure", "listener": "\(listenerName)", "client": "\(client)",
                                    "reason": "\(TLSClassification.clientDetails(kind))",
                                ])
                        }
                    } else {
                        // Cleartext HTTP/2 with prior knowledge (h2c) or HTTP/1.x, by the first bytes.
                        try channel.pipeline.syncOperations.addHandler(
                            ProtocolSniffer(
                                deadline: loop.snapshot.clientLimits.header, timeouts: timeouts,
                                http1: { try Self.configureDownstream($0, limits: limits, loop: loop, timeouts: timeouts) },
                                http2: { try Self.configureHTTP2Downstream($0, limits: limits, loop: loop, timeouts: timeouts) }))
                    }
                }
            }
    }

    /// The handlers of a downstream connection: the ``RequestLineGuard``, NIOHTTP1's server codec
    /// with the request limits, then the ``DownstreamHandler``. Shared with the tests that drive it through an `EmbeddedChannel`.
    static func configureDownstream(
        _ channel: any Channel, limits: RequestLimits, loop: LoopState, scheme: String = "http",
        timeouts: DownstreamTimeoutCounters? = nil
    ) throws {
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
        try channel.pipeline.syncOperations.addHandler(DownstreamHandler(loop: loop, scheme: scheme, timeouts: timeouts))
    }

    /// The handlers of an HTTP/2 downstream connection (h2c with prior knowledge, or TLS with ALPN
    /// `h2`), added on the connection's event loop once the protocol is known. Each stream is a
    /// child channel with NIOHTTP2's HTTP/1 codec and its own ``DownstreamHandler``, so an h2
    /// request goes through exactly the exchange, retry, error and logging code of HTTP/1.1 and is
    /// proxied to the HTTP/1.1 upstreams. The client may open 100 streams at once (more are
    /// refused with RST_STREAM REFUSED_STREAM); its header list is bounded by
    /// `request_limits.max_header_bytes` (SETTINGS_MAX_HEADER_LIST_SIZE) and
    /// `max_header_count`. A graceful shutdown sends GOAWAY; an idle connection closes after the
    /// keep-alive timeout.
    static func configureHTTP2Downstream(
        _ channel: any Channel, limits: RequestLimits, loop: LoopState, scheme: String = "http",
        timeouts: DownstreamTimeoutCounters? = nil
    ) throws {
        let sync = channel.pipeline.syncOperations
        let management = NIOHTTP2ServerConnectionManagementHandler(
            eventLoop: channel.eventLoop,
            configuration: .init(
                maxIdleTime: loop.snapshot.clientLimits.keepAlive, maxAge: nil, maxGraceTime: nil, keepalive: nil))
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: DownstreamHandler.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: limits.maxHeaderBytes),
        ]
        let maxHeaderCount = limits.maxHeaderCount
        // Stream channels live on their connection's event loop, as the loop state does.
        let boundLoop = NIOLoopBound(loop, eventLoop: channel.eventLoop)
        _ = try sync.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connection, streamConfiguration: .init(),
            streamDelegate: management.http2StreamDelegate
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandlers([
                    HTTP2StreamGuard(maxHeaderCount: maxHeaderCount),
                    HTTP2FramePayloadToHTTP1ServerCodec(),
                    DownstreamHandler(loop: boundLoop.value, isHTTP2Stream: true, scheme: scheme, timeouts: timeouts),
                ])
            }
        }
        try sync.addHandler(management)
        try sync.addHandler(HTTP2ConnectionLifecycle(), position: .before(management))
    }

    /// Registered before the handlers, so a connection whose set-up fails is released too. One
    /// close callback per connection: each one is held for the connection's whole life.
    private func track(_ channel: any Channel, releasing open: ListenerConnections) {
        let id = ObjectIdentifier(channel)
        self.connections.withLockedValue { $0[id] = channel }
        channel.closeFuture.whenComplete { [connections] _ in
            open.release()
            connections.withLockedValue { _ = $0.removeValue(forKey: id) }
        }
    }

    private func loopState(for eventLoop: any EventLoop) -> LoopState {
        let box = self.loopStates[ObjectIdentifier(eventLoop)]
        if let state = box?.value { return state }
        let (snapshot, controller) = self.generation.withLockedValue { ($0.snapshot, $0.controller) }
        let state = LoopState(
            eventLoop: eventLoop, snapshot: snapshot, stats: self.stats, metrics: self.metrics, logger: self.logger,
            accessLog: self.accessLog, controller: controller, memberships: [], tracer: self.tracer, cache: self.cache)
        state.current.install(memberships: controller.subscribe(state, generation: state.current))
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

/// A listener's TLS could not be set up.
struct ListenerTLSError: Error, CustomStringConvertible {
    var description: String
}

/// Asks a downstream connection to finish its current request and close (graceful shutdown).
struct GracefulShutdown: Sendable {}

/// A listener as a reload compares them: same name and address = the same bound socket.
struct ListenerKey: Hashable, Sendable {
    var name: String
    var address: HostPort

    init(_ listener: Listener) {
        self.name = listener.name
        self.address = listener.address
    }
}

/// The open connections of one listener, against its `max_connections` (which a reload may change).
final class ListenerConnections: Sendable {
    private let limit: Synchronization.Atomic<Int>
    private let open = Synchronization.Atomic<Int>(0)

    init(max: Int) {
        self.limit = Synchronization.Atomic(max)
    }

    var max: Int { self.limit.load(ordering: .relaxed) }

    /// Connections open now.
    var count: Int { self.open.load(ordering: .relaxed) }

    func setMax(_ max: Int) {
        self.limit.store(max, ordering: .relaxed)
    }

    func admit() -> Bool {
        let count = self.open.wrappingAdd(1, ordering: .relaxed).newValue
        let max = self.max
        guard max > 0, count > max else { return true }
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
        context.writeAndFlush(NIOAny(buffer)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

@available(*, unavailable)
extension OverloadRefusal: Sendable {}
