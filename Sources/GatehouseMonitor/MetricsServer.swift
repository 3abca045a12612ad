import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The monitor's listener: `GET /metrics` (Prometheus text format) and `GET /` (a pointer to it).
public final class MetricsServer: Sendable {
    private let board: MonitorBoard
    private let group: any EventLoopGroup
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)
    /// Open scrape connections, closed by ``stop()`` (a scraper keeps its connection alive).
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])

    public init(board: MonitorBoard, group: any EventLoopGroup) {
        self.board = board
        self.group = group
    }

    /// Binds `host:port` (0: any free port) and returns the bound address.
    public func start(host: String, port: Int) async throws -> SocketAddress? {
        let board = self.board
        let connections = self.connections
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(board: board))
                    let id = ObjectIdentifier(channel)
                    connections.withLockedValue { $0[id] = channel }
                    channel.closeFuture.whenComplete { _ in connections.withLockedValue { _ = $0.removeValue(forKey: id) } }
                }
            }
            .bind(host: host, port: port).get()
        self.channel.withLockedValue { $0 = channel }
        return channel.localAddress
    }

    /// Closes the listener and every open connection.
    public func stop() async {
        let channel = self.channel.withLockedValue { value in
            defer { value = nil }
            return value
        }
        try? await channel?.close()
        for connection in self.connections.withLockedValue({ Array($0.values) }) { try? await connection.close() }
    }
}

/// Answers scrapes; request bodies are ignored.
private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let board: MonitorBoard
    private var head: HTTPRequestHead?

    init(board: MonitorBoard) {
        self.board = board
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
            let (status, type, body): (HTTPResponseStatus, String, String)
            switch (head.method, path) {
            case (.GET, "/metrics"):
                (status, type, body) = (.ok, MetricsExposition.contentType, MetricsExposition.render(self.board.snapshot()))
            case (.GET, "/"):
                (status, type, body) = (.ok, "text/plain; charset=utf-8", "gatehouse monitor: metrics at /metrics\n")
            default:
                (status, type, body) = (.notFound, "text/plain; charset=utf-8", "not found: try /metrics\n")
            }
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(buffer.readableBytes))
            headers.add(name: "Cache-Control", value: "no-store")
            if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
            let keepAlive = head.isKeepAlive
            context.write(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let written = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                written.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
