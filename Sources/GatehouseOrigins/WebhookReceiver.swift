import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A webhook endpoint on loopback for the tests of alert delivery (the monitor's and the
/// incidents'): keeps every request body, answers 500 to the first `failing` requests (a receiver
/// that is down) and 204 afterwards.
public final class WebhookReceiver: Sendable {
    private let channel: any Channel
    private let store: Store
    public let port: Int

    final class Store: Sendable {
        struct State {
            var failing: Int
            var requests = 0
            var bodies: [String] = []
        }
        let state: Mutex<State>

        init(failing: Int) {
            self.state = Mutex(State(failing: failing))
        }
    }

    private init(channel: any Channel, store: Store, port: Int) {
        self.channel = channel
        self.store = store
        self.port = port
    }

    public static func start(port: Int = 0, failing: Int = 0, group: any EventLoopGroup) async throws -> WebhookReceiver {
        let store = Store(failing: failing)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Collector(store: store))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return WebhookReceiver(channel: channel, store: store, port: channel.localAddress?.port ?? 0)
    }

    /// Requests received, refused ones included.
    public var requests: Int { self.store.state.withLock { $0.requests } }

    /// Bodies of the accepted (204) requests, in arrival order.
    public var bodies: [String] { self.store.state.withLock { $0.bodies } }

    public func stop() async {
        try? await self.channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let store: Store
        private var body = ""

        init(store: Store) {
            self.store = store
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head: self.body = ""
            case .body(let buffer): self.body += String(buffer: buffer)
            case .end:
                let body = self.body
                let accepted = self.store.state.withLock { state -> Bool in
                    state.requests += 1
                    guard state.requests > state.failing else { return false }
                    state.bodies.append(body)
                    return true
                }
                let head = HTTPResponseHead(
                    version: .http1_1, status: accepted ? .noContent : .internalServerError,
                    headers: HTTPHeaders([("Content-Length", "0")]))
                context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            }
        }
    }
}
