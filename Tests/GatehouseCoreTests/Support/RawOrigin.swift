import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP origin on loopback that answers each request head with scripted raw bytes — valid,
/// broken or hostile — for the socket-level hardening tests. It reads a request as everything up
/// to its blank line (the tests send bodiless requests), counts it, then writes the reply the
/// script gives for (connection number, request number on that connection), and closes if told.
final class RawOrigin: Sendable {
    /// What to send for one request.
    struct Reply: Sendable {
        var bytes: [UInt8]
        var closeAfter: Bool
        /// Close with RST (SO_LINGER 0) instead of FIN; implies `closeAfter`.
        var reset: Bool
        /// Sent 100 ms after the reply, unasked (while the gateway may have pooled the connection).
        var later: [UInt8]?

        init(_ text: String, closeAfter: Bool = false, reset: Bool = false, later: String? = nil) {
            self.bytes = Array(text.utf8)
            self.closeAfter = closeAfter || reset
            self.reset = reset
            self.later = later.map { Array($0.utf8) }
        }
    }

    typealias Script = @Sendable (_ connection: Int, _ request: Int) -> Reply

    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let counters: Counters
    let port: Int

    final class Counters: Sendable {
        let connections = Atomic<Int>(0)
        let requests = Atomic<Int>(0)
    }

    private init(channel: any Channel, group: MultiThreadedEventLoopGroup, counters: Counters, port: Int) {
        self.channel = channel
        self.group = group
        self.counters = counters
        self.port = port
    }

    var connectionsAccepted: Int { self.counters.connections.load(ordering: .sequentiallyConsistent) }
    var requestsReceived: Int { self.counters.requests.load(ordering: .sequentiallyConsistent) }

    static func start(_ script: @escaping Script) async throws -> RawOrigin {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let counters = Counters()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                let number = counters.connections.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(connection: number, script: script, counters: counters))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return RawOrigin(channel: channel, group: group, counters: counters, port: channel.localAddress?.port ?? 0)
    }

    func stop() async {
        try? await self.channel.close()
        try? await self.group.shutdownGracefully()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        let connection: Int
        let script: Script
        let counters: Counters
        var pending: [UInt8] = []
        var requests = 0

        init(connection: Int, script: @escaping Script, counters: Counters) {
            self.connection = connection
            self.script = script
            self.counters = counters
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.pending += self.unwrapInboundIn(data).readableBytesView
            while let end = self.pending.firstRange(of: Array("\r\n\r\n".utf8)) {
                self.pending.removeSubrange(..<end.upperBound)
                self.requests += 1
                self.counters.requests.wrappingAdd(1, ordering: .sequentiallyConsistent)
                let reply = self.script(self.connection, self.requests)
                let written = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: reply.bytes)), promise: written)
                if reply.closeAfter {
                    written.futureResult.assumeIsolated().whenComplete { _ in
                        guard reply.reset, let provider = context.channel as? any SocketOptionProvider else {
                            context.close(promise: nil)
                            return
                        }
                        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).assumeIsolated().whenComplete { _ in
                            context.close(promise: nil)
                        }
                    }
                    return
                }
                if let later = reply.later {
                    context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(100)) {
                        context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: later)), promise: nil)
                    }
                }
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
