import GatehouseConfig
import GatehouseErrors
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// The admin listener: `GET /healthz` and `GET /stats` (JSON: requests, gateway errors by
/// Proxy-Status type, per-server counters, the latest errors). The dashboard and the full admin
/// API come with later issues; this is what an operator can already read during an outage.
public final class AdminServer: Sendable {
    private let proxy: ProxyServer
    private let group: any EventLoopGroup
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)

    public init(proxy: ProxyServer, group: any EventLoopGroup) {
        self.proxy = proxy
        self.group = group
    }

    /// Binds the admin address and returns the bound address.
    public func start(host: String, port: Int) async throws -> SocketAddress? {
        let proxy = self.proxy
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(proxy: proxy))
                }
            }
            .bind(host: host, port: port).get()
        self.channel.withLockedValue { $0 = channel }
        return channel.localAddress
    }

    public func stop() async {
        let channel = self.channel.withLockedValue { $0 }
        try? await channel?.close()
    }

    /// The `/stats` document.
    static func statsJSON(_ proxy: ProxyServer) -> String {
        let stats = proxy.stats.snapshot()
        var json = "{\"requests\":\(stats.requests),\"status\":{"
        json += (1...5).map { "\"\($0)xx\":\(stats.statusClasses[$0])" }.joined(separator: ",")
        json += "},\"gateway_errors\":{"
        json += ProxyStatusError.allCases.compactMap { type in
            stats.errorsByType[type].map { "\"\(type.token)\":\($0)" }
        }.joined(separator: ",")
        json += "},\"upstream_requests\":\(stats.upstreamRequests)"
        json += ",\"upstream_connections_opened\":\(stats.upstreamConnectionsOpened),\"clusters\":["
        json += proxy.snapshot.clusters.map { runtime in
            var cluster = "{\"name\":\(JSONText.quoted(runtime.cluster.name)),\"servers\":["
            cluster += runtime.targets.map { target in
                let server = stats.servers[target.display] ?? GatewayStats.Server()
                var item = "{\"address\":\(JSONText.quoted(target.display)),\"requests\":\(server.requests)"
                item += ",\"failures\":\(server.failures)"
                item += ",\"last_error\":" + (server.lastError.map { "\"\($0.token)\"" } ?? "null")
                item += ",\"last_error_time\":" + (server.lastErrorTime.map(JSONText.quoted) ?? "null") + "}"
                return item
            }.joined(separator: ",")
            return cluster + "]}"
        }.joined(separator: ",")
        json += "],\"recent_errors\":["
        json += stats.recentErrors.reversed().map { error in
            var item = "{\"time\":\"\(error.time)\",\"request_id\":\(JSONText.quoted(error.requestID))"
            item += ",\"proxy_status\":\"\(error.type.token)\",\"status\":\(error.type.statusCode)"
            item += ",\"upstream\":" + (error.upstream.map(JSONText.quoted) ?? "null")
            item += ",\"route\":" + (error.route.map(JSONText.quoted) ?? "null")
            item += ",\"cause\":" + JSONText.quoted(error.type.summary)
            item += ",\"fix\":" + JSONText.quoted(error.type.fixHint)
            item += ",\"details\":" + (error.details.map(JSONText.quoted) ?? "null") + "}"
            return item
        }.joined(separator: ",")
        return json + "]}\n"
    }
}

/// Answers admin requests; bodies are ignored.
private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let proxy: ProxyServer
    private var head: HTTPRequestHead?

    init(proxy: ProxyServer) {
        self.proxy = proxy
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
            case (.GET, "/healthz"): (status, type, body) = (.ok, "text/plain", "ok\n")
            case (.GET, "/stats"), (.GET, "/"):
                (status, type, body) = (.ok, "application/json", AdminServer.statsJSON(self.proxy))
            default: (status, type, body) = (.notFound, "text/plain", "not found: try /stats or /healthz\n")
            }
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(buffer.readableBytes))
            headers.add(name: "Cache-Control", value: "no-store")
            context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
