import Foundation
import GatehouseConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A webhook endpoint on loopback that answers 204 to every POST and keeps the bodies, parsed as JSON.
final class WebhookReceiver: Sendable {
    private let channel: any Channel
    private let bodies: NIOLockedValueBox<[String]>
    let port: Int

    private init(channel: any Channel, bodies: NIOLockedValueBox<[String]>, port: Int) {
        self.channel = channel
        self.bodies = bodies
        self.port = port
    }

    static func start(port: Int = 0, group: any EventLoopGroup) async throws -> WebhookReceiver {
        let bodies = NIOLockedValueBox<[String]>([])
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Collector(bodies: bodies))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        return WebhookReceiver(channel: channel, bodies: bodies, port: channel.localAddress?.port ?? 0)
    }

    var url: HTTPURL { HTTPURL(scheme: .http, host: "127.0.0.1", port: self.port, path: "/hook") }

    /// Every alert received so far, in arrival order.
    var alerts: [[String: Any]] {
        self.bodies.withLockedValue { $0 }.compactMap { body in
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        }
    }

    /// Waits (bounded) for alerts whose `event` values, in order, start with `events`.
    func waitForEvents(_ events: [String], timeout: Duration = .seconds(20)) async throws -> [[String: Any]] {
        try await waitUntil("webhook events \(events)", timeout: timeout) {
            let alerts = self.alerts
            return alerts.count >= events.count ? alerts : nil
        }
    }

    func stop() async {
        try? await self.channel.close()
    }

    /// Collects one request's body and answers 204.
    private final class Collector: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private let bodies: NIOLockedValueBox<[String]>
        private var body = ""

        init(bodies: NIOLockedValueBox<[String]>) {
            self.bodies = bodies
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head: self.body = ""
            case .body(let buffer): self.body += String(buffer: buffer)
            case .end:
                let body = self.body
                self.bodies.withLockedValue { $0.append(body) }
                let head = HTTPResponseHead(
                    version: .http1_1, status: .noContent, headers: HTTPHeaders([("Connection", "close")]))
                context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                    channel.close(promise: nil)
                }
            }
        }
    }
}

/// A condition that did not come true before its deadline.
struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` until it returns a value, or throws after `timeout`: tests wait on conditions,
/// never on fixed sleeps.
func waitUntil<T>(
    _ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> T?
) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await condition() { return value }
        guard ContinuousClock.now < deadline else { throw TimedOut(description: "timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}
