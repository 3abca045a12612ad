import GatehouseConfig
import GatehouseErrors
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
    /// Opens a connection to `endpoint` on `eventLoop`, with ``UpstreamPipeline`` installed (behind TLS
    /// when `tls` is set: the future then completes after the handshake).
    func connect(
        to endpoint: Endpoint, cluster: Cluster, tls: UpstreamTLSContext?, id: Int, on eventLoop: any EventLoop
    ) -> EventLoopFuture<any Channel>
}

/// The production connector: a `ClientBootstrap` on the downstream connection's own event loop.
///
/// With TLS the connection is handed over only after the handshake, so a TLS failure is a connect-phase
/// failure like a refused connection: nothing was sent, and `retries.conditions: [connect_failure]`
/// may try another server. The connect time in the log includes the handshake (as nginx's).
struct SocketUpstreamConnector: UpstreamConnector {
    func connect(
        to endpoint: Endpoint, cluster: Cluster, tls: UpstreamTLSContext?, id: Int, on eventLoop: any EventLoop
    ) -> EventLoopFuture<any Channel> {
        let limits = cluster.limits
        let host = cluster.servers.indices.contains(endpoint.server) ? cluster.servers[endpoint.server].address.host : ""
        let nextHop = endpoint.display
        // TCP_NODELAY: ClientBootstrap sets it by default (at IPPROTO_TCP; see ProxyServer's options).
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(cluster.timeouts.connect))
        guard let tls else {
            // Plain TCP: the handlers go in once the connect succeeded. A refused connect (a down
            // server, every request until it is ejected) then builds no encoder, decoder and handler
            // only to drop them; bench/goals.sh's refused bursts count that cost. Nothing is missed:
            // the connect future completes inside NIO's activation, before channelActive fires and
            // before read interest is registered.
            return bootstrap.connect(to: endpoint.address).flatMapThrowing { channel in
                do {
                    try UpstreamPipeline.configure(channel, limits: limits, id: id)
                } catch {
                    channel.close(promise: nil)
                    throw error
                }
                return channel
            }
        }
        // TLS: the handshake starts on activation, so its handlers must be there from the start.
        let connected = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try tls.addHandlers(to: channel, host: host, nextHop: nextHop)
                try UpstreamPipeline.configure(channel, limits: limits, id: id)
            }
        }.connect(to: endpoint.address)
        return connected.flatMap { channel in
            // The handshake cannot have finished yet: it needs the server's answer, read on a later tick.
            guard let watcher = try? channel.pipeline.syncOperations.handler(type: UpstreamTLSHandshakeHandler.self) else {
                return channel.eventLoop.makeFailedFuture(
                    ProxyFailure(
                        type: .tlsProtocolError, phase: .connect, nextHop: nextHop,
                        details: "the connection closed before the TLS handshake"))
            }
            return watcher.promise.futureResult.map { channel }
        }
    }
}
