import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import GatehouseCore

/// The gateway's real pipelines — NIOHTTP1's server codec and ``DownstreamHandler`` on the client
/// side, ``UpstreamPipeline`` on the upstream side — wired together in memory on one
/// `EmbeddedEventLoop`: a test writes the client's bytes, reads what the upstream received, writes
/// the upstream's bytes and reads what the client received. No sockets, no clock, fully
/// deterministic: fast enough for tens of thousands of fuzz iterations.
final class EmbeddedProxy {
    /// Creates the upstream connections as `EmbeddedChannel`s, remembering them in order.
    final class Connector: UpstreamConnector {
        let loop: EmbeddedEventLoop
        private(set) var opened: [EmbeddedChannel] = []

        init(loop: EmbeddedEventLoop) {
            self.loop = loop
        }

        func connect(
            to endpoint: Endpoint, cluster: Cluster, tls: UpstreamTLSContext?, id: Int, on eventLoop: any EventLoop
        ) -> EventLoopFuture<any Channel> {
            let channel = EmbeddedChannel(loop: self.loop)
            do {
                try UpstreamPipeline.configure(channel, limits: cluster.limits, id: id)
                try channel.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 8080)).wait()
            } catch {
                return self.loop.makeFailedFuture(error)
            }
            self.opened.append(channel)
            return self.loop.makeSucceededFuture(channel)
        }
    }

    let loop = EmbeddedEventLoop()
    let state: LoopState
    let stats: GatewayStats
    let connector: Connector
    let limits: RequestLimits
    private(set) var client: EmbeddedChannel

    init(
        requestLimits: RequestLimits = RequestLimits(), responseLimits: Cluster.Limits = Cluster.Limits(),
        routes: [Route]? = nil
    ) throws {
        let configuration = GatehouseConfiguration(
            listeners: [Listener(name: "test", address: HostPort(host: "127.0.0.1", port: 0))],
            accessLog: .off,
            clusters: [
                Cluster(
                    name: "app", servers: [Cluster.Server(address: HostPort(host: "10.0.0.1", port: 8080))],
                    limits: responseLimits, retries: Cluster.Retries(attempts: 1))
            ],
            routes: routes ?? [Route(name: "all", match: .init(), cluster: "app")],
            exposeDetails: true, requestLimits: requestLimits)
        let snapshot = ProxySnapshot(configuration: configuration)
        self.stats = GatewayStats()
        var logger = Logger(label: "gatehouse-embedded")
        logger.logLevel = .critical
        self.state = LoopState(
            eventLoop: self.loop, snapshot: snapshot, stats: self.stats, metrics: GatewayMetrics(), logger: logger,
            accessLog: try AccessLogSink(target: .off))
        self.connector = Connector(loop: self.loop)
        self.state.connector = self.connector
        self.limits = requestLimits
        self.client = EmbeddedChannel(loop: self.loop)
        try self.openClient()
    }

    /// Replaces the client connection by a fresh one (the upstream pool is kept).
    func reconnectClient() throws {
        if self.client.isActive { _ = try? self.client.finish(acceptAlreadyClosed: true) }
        self.client = EmbeddedChannel(loop: self.loop)
        try self.openClient()
    }

    private func openClient() throws {
        self.client.remoteAddress = try SocketAddress(ipAddress: "192.0.2.7", port: 40000)
        try ProxyServer.configureDownstream(self.client, limits: self.limits, loop: self.state)
        try self.client.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40000)).wait()
    }

    /// The client sends bytes.
    func send(_ bytes: [UInt8]) {
        guard self.client.isActive else { return }
        var buffer = self.client.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        _ = try? self.client.writeInbound(buffer)
        self.loop.run()
    }

    func send(_ text: String) { self.send(Array(text.utf8)) }

    /// The client half-closes or goes away.
    func closeClient() {
        self.client.pipeline.fireChannelInactive()
        self.loop.run()
    }

    /// Everything written to the client so far (and not yet taken).
    func clientReceived() -> [UInt8] {
        Self.drain(self.client)
    }

    var clientClosed: Bool { !self.client.isActive }

    /// The upstream connection `index`, in the order they were opened.
    func upstream(_ index: Int) -> EmbeddedChannel? {
        index < self.connector.opened.count ? self.connector.opened[index] : nil
    }

    var upstreamCount: Int { self.connector.opened.count }

    /// Everything written to upstream connection `index` so far (and not yet taken).
    func upstreamReceived(_ index: Int = 0) -> [UInt8] {
        guard let channel = self.upstream(index) else { return [] }
        return Self.drain(channel)
    }

    /// Upstream connection `index` sends bytes.
    func respond(_ bytes: [UInt8], on index: Int = 0) {
        guard let channel = self.upstream(index), channel.isActive else { return }
        var buffer = channel.allocator.buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        _ = try? channel.writeInbound(buffer)
        self.loop.run()
    }

    func respond(_ text: String, on index: Int = 0) { self.respond(Array(text.utf8), on: index) }

    /// Upstream connection `index` closes (FIN).
    func closeUpstream(_ index: Int = 0) {
        guard let channel = self.upstream(index), channel.isActive else { return }
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        _ = try? channel.close().wait()
        self.loop.run()
    }

    func upstreamIsOpen(_ index: Int = 0) -> Bool { self.upstream(index)?.isActive ?? false }

    /// The gateway errors recorded so far, oldest first.
    var errors: [ProxyStatusError] { self.stats.snapshot().recentErrors.map(\.type) }

    var requestsFinished: Int { self.stats.snapshot().requests }

    /// Stops everything; pending writes are dropped.
    func shutdown() {
        _ = try? self.client.finish(acceptAlreadyClosed: true)
        for channel in self.connector.opened { _ = try? channel.finish(acceptAlreadyClosed: true) }
        self.loop.run()
        try? self.loop.syncShutdownGracefully()
    }

    private static func drain(_ channel: EmbeddedChannel) -> [UInt8] {
        var bytes: [UInt8] = []
        while let data = try? channel.readOutbound(as: IOData.self) {
            switch data {
            case .byteBuffer(let buffer): bytes += buffer.readableBytesView
            case .fileRegion: break
            }
        }
        return bytes
    }
}
