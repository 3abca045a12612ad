import GatehouseConfig
import NIOCore
import NIOHTTP1
import NIOPosix

/// The handlers of every upstream connection, in order: NIOHTTP1's request encoder, the gateway's
/// strict response decoder (``StrictResponseDecoder``), and the ``UpstreamHandler``.
///
/// One function builds it for sockets and for the tests' in-memory channels, so the tests exercise
/// exactly the production pipeline.
enum UpstreamPipeline {
    static func configure(_ channel: any Channel, limits: Cluster.Limits, id: Int) throws {
        let progress = ResponseProgress()
        try channel.pipeline.syncOperations.addHandlers([
            HTTPRequestEncoder(),
            ByteToMessageHandler(StrictResponseDecoder(maxHeaderBytes: limits.maxResponseHeaderBytes, progress: progress)),
            UpstreamHandler(id: id, progress: progress),
        ])
    }
}

/// How the data path opens an upstream connection: TCP in production, in-memory channels in the
/// tests that drive the real pipelines through `EmbeddedChannel`s. Called once per new connection,
/// never per request on a reused one.
protocol UpstreamConnector {
    /// Opens a connection to `endpoint` on `eventLoop`, with ``UpstreamPipeline`` installed.
    func connect(
        to endpoint: Endpoint, cluster: Cluster, id: Int, on eventLoop: any EventLoop
    ) -> EventLoopFuture<any Channel>
}

/// The production connector: a `ClientBootstrap` on the downstream connection's own event loop.
struct SocketUpstreamConnector: UpstreamConnector {
    func connect(
        to endpoint: Endpoint, cluster: Cluster, id: Int, on eventLoop: any EventLoop
    ) -> EventLoopFuture<any Channel> {
        let limits = cluster.limits
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(cluster.timeouts.connect))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try UpstreamPipeline.configure(channel, limits: limits, id: id)
                }
            }
        return bootstrap.connect(to: endpoint.address)
    }
}
