import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A webhook endpoint on 127.0.0.1:0: keeps every POST body, answers 500 to the first `failing`
/// requests and 204 afterwards.
final class HookReceiver: Sendable {
    private let channel: any Channel
    private let state: NIOLockedValueBox<State>
    let port: Int

    struct State {
        var failing: Int
        var requests = 0
        var bodies: [String] = []
    }

    private init(channel: any Channel, state: NIOLockedValueBox<State>, port: Int) {
        self.channel = channel
        self.state = state
        self.port = port
    }

    static func start(failing: Int = 0, group: any EventLoopGroup) async throws -> HookReceiver {
        let state = NIOLockedValueBox(State(failing: failing))
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Collector(state: state))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return HookReceiver(channel: channel, state: state, port: channel.localAddress?.port ?? 0)
    }

    var url: String { "http://127.0.0.1:\(self.port)/hook" }

    /// Requests received, failed ones included.
    var requests: Int { self.state.withLockedValue { $0.requests } }

    /// Bodies of the accepted (204) requests, as JSON objects, in arrival order.
    var messages: [[String: Any]] {
        self.state.withLockedValue { $0.bodies }.compactMap { body in
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
    }

    /// The accepted messages' `kind`s.
    var kinds: [String] { self.messages.compactMap { $0["kind"] as? String } }

    func stop() async {
        try? await self.channel.close()
    }

    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let state: NIOLockedValueBox<State>
        private var body = ""

        init(state: NIOLockedValueBox<State>) {
            self.state = state
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head: self.body = ""
            case .body(let buffer): self.body += String(buffer: buffer)
            case .end:
                let body = self.body
                let accepted = self.state.withLockedValue { state -> Bool in
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
