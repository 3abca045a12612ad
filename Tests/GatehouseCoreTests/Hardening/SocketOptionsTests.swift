import GatehouseConfig
@testable import GatehouseCore
import NIOCore
import NIOPosix
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The options on the gateway's own sockets, read back from the kernel on real connections.
///
/// `.socketOption(.tcp_nodelay)` looks right and sets SOL_SOCKET's option 1, SO_DEBUG: as root it
/// only wastes a system call, but without CAP_NET_ADMIN it fails with EACCES and NIO drops the
/// connection, so an unprivileged gateway reset every client and refused every upstream. The suite
/// runs as root in CI, where nothing else would notice. (Unprivileged, a regression closes the
/// accepted connection before its initializer runs: the time limit turns that wait into a failure.)
@Suite(.timeLimit(.minutes(1))) struct SocketOptionsTests {
    private static let soDebug = ChannelOptions.Types.SocketOption(level: .socket, name: .init(rawValue: SO_DEBUG))
    private static let noDelay = ChannelOptions.Types.SocketOption(level: .tcp, name: .tcp_nodelay)

    private static func expectGatewayOptions(_ channel: any Channel, _ side: Comment) async throws {
        #expect(try await channel.getOption(Self.noDelay).get() != 0, "TCP_NODELAY on the \(side)")
        #expect(try await channel.getOption(Self.soDebug).get() == 0, "no SO_DEBUG on the \(side)")
    }

    @Test func downstreamConnectionsHaveNoDelayAndNoPrivilegedOption() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let accepted = group.next().makePromise(of: (any Channel).self)
        do {
            let listener = try await ProxyServer.downstreamOptions(ServerBootstrap(group: group))
                .childChannelInitializer { channel in
                    accepted.succeed(channel)
                    return channel.eventLoop.makeSucceededVoidFuture()
                }
                .bind(host: "127.0.0.1", port: 0).get()
            let address = try #require(listener.localAddress)
            let client = try await ClientBootstrap(group: group).connect(to: address).get()
            let child = try await accepted.futureResult.get()
            try await Self.expectGatewayOptions(child, "accepted client connection")
            try await client.close()
            try await listener.close()
        } catch {
            accepted.fail(error)
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    @Test func upstreamConnectionsHaveNoDelayAndNoPrivilegedOption() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let origin = try await ServerBootstrap(group: group)
                .bind(host: "127.0.0.1", port: 0).get()
            let address = try #require(origin.localAddress)
            let port = try #require(address.port)
            let cluster = Cluster(name: "options", servers: [.init(address: HostPort(host: "127.0.0.1", port: port))])
            let endpoint = Endpoint(
                id: 1, cluster: 0, server: 0, serverName: "127.0.0.1:\(port)", address: address, weight: 1,
                pool: cluster.pool, failureThreshold: 0)
            let channel = try await SocketUpstreamConnector().connect(
                to: endpoint, cluster: cluster, tls: nil, id: 1, on: group.next()
            ).get()
            try await Self.expectGatewayOptions(channel, "upstream connection")
            // The pipeline goes in after the connect: it must be whole when the channel is handed over.
            let upstreamActive = try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self).isActive
            }.get()
            #expect(upstreamActive)
            try await channel.close()
            try await origin.close()
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }
}
