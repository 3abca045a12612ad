import GatehouseConfig
import GatehouseErrors
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The admin listener: the gateway's own health (`/healthz`, `/readyz`), the upstreams' state
/// (`/admin/upstreams`, drain and enable), the running configuration (`/admin/config`), the
/// counters (`/stats`) and the dashboard page (`/`, with `/dashboard.js` and `/dashboard.css`).
/// With a token file, every request but `/healthz`, `/readyz` and the dashboard's static files must
/// carry `Authorization: Bearer TOKEN` (the page asks for it when the API answers 401).
public final class AdminServer: Sendable {
    private let proxy: ProxyServer
    private let group: any EventLoopGroup
    private let channel = NIOLockedValueBox<(any Channel)?>(nil)
    /// `POST /admin/reload`: re-reads the configuration file (nil: this gateway has no file).
    private let reload: (@Sendable () async -> AdminAnswer)?
    /// `/admin/lab`: the dashboard's Lab tab (nil: this gateway has no lab, e.g. `gatehouse run`).
    private let lab: (any AdminLabProvider)?

    public init(
        proxy: ProxyServer, group: any EventLoopGroup, reload: (@Sendable () async -> AdminAnswer)? = nil,
        lab: (any AdminLabProvider)? = nil
    ) {
        self.proxy = proxy
        self.group = group
        self.reload = reload
        self.lab = lab
    }

    /// Reads the token file (if configured), binds the admin address and returns the bound address.
    public func start(host: String, port: Int) async throws -> SocketAddress? {
        let proxy = self.proxy
        let reload = self.reload
        let lab = self.lab
        let token = try self.proxy.snapshot.configuration.admin?.tokenFile.map(Self.readToken)
        let channel = try await ServerBootstrap(group: self.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(proxy: proxy, token: token, reload: reload, lab: lab))
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

    /// The token: the file's content without surrounding whitespace; an empty or unreadable file is an error.
    static func readToken(_ path: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw AdminTokenError(description: "cannot read admin token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes += chunk[0..<count]
            if bytes.count > 64 * 1024 { break }
        }
        let token = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
        guard !token.isEmpty, !token.contains(where: { $0 == "\n" || $0 == "\r" }) else {
            throw AdminTokenError(description: "admin token file \(path) must hold one non-empty line")
        }
        return token
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
        json += ",\"upstream_connections_opened\":\(stats.upstreamConnectionsOpened)"
        json += ",\"retries\":\(stats.retries),\"retry_budget_exhausted\":\(stats.retryBudgetExhausted)"
        json += ",\"reused_connection_failures\":\(stats.reusedConnectionFailures)"
        json += ",\"refused_connections\":\(stats.refusedConnections),\"clusters\":["
        json += proxy.snapshot.clusters.map { runtime in
            var cluster = "{\"name\":\(JSONText.quoted(runtime.cluster.name)),\"servers\":["
            cluster += runtime.cluster.servers.map { configured in
                let name = configured.address.description
                let server = stats.servers[name] ?? GatewayStats.Server()
                var item = "{\"address\":\(JSONText.quoted(name)),\"requests\":\(server.requests)"
                item += ",\"failures\":\(server.failures)"
                item += ",\"last_error\":" + (server.lastError.map { "\"\($0.token)\"" } ?? "null")
                item += ",\"last_error_time\":" + (server.lastErrorTime.map(JSONText.quoted) ?? "null") + "}"
                return item
            }.joined(separator: ",")
            return cluster + "]}"
        }.joined(separator: ",")
        json += "],\"incidents\":{\"open\":\(proxy.incidents.incidents().filter(\.isOpen).count)"
        json += ",\"webhooks_delivered\":\(stats.webhooksDelivered),\"webhook_failures\":\(stats.webhookFailures)"
        json += ",\"webhooks_dropped\":\(stats.webhooksDropped),\"storage_dropped\":\(stats.storageDropped)"
        json += ",\"storage_failures\":\(stats.storageFailures)},\"cache\":" + proxy.cache.stats().json
        json += ",\"recent_errors\":["
        json += stats.recentErrors.reversed().map(IncidentJSON.error).joined(separator: ",")
        return json + "]}\n"
    }
}

/// The admin token file is unusable.
public struct AdminTokenError: Error, CustomStringConvertible {
    public var description: String
}

extension String {
    var trimmingWhitespace: String {
        let characters = self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
        return String(characters)
    }
}

/// Answers admin requests; bodies are ignored.
private final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let proxy: ProxyServer
    private let token: String?
    private let reload: (@Sendable () async -> AdminAnswer)?
    private let lab: (any AdminLabProvider)?
    private var head: HTTPRequestHead?

    init(proxy: ProxyServer, token: String?, reload: (@Sendable () async -> AdminAnswer)?, lab: (any AdminLabProvider)?) {
        self.proxy = proxy
        self.token = token
        self.reload = reload
        self.lab = lab
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head): self.head = head
        case .body: break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let answer = self.route(head)
            let version = head.version
            let keepAlive = head.isKeepAlive
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            answer.hop(to: context.eventLoop).whenComplete { result in
                let (handler, context) = bound.value
                let answer: AdminAnswer
                switch result {
                case .success(let value): answer = value
                case .failure(let error): answer = AdminAnswer(status: 500, json: UpstreamController.errorJSON("\(error)"))
                }
                handler.respond(context, answer, version: version, keepAlive: keepAlive)
            }
        }
    }

    private func route(_ head: HTTPRequestHead) -> EventLoopFuture<AdminAnswer> {
        let eventLoop = self.proxy.controller.loop
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? "/"
        let segments = path.split(separator: "/").map { QueryText.decoded($0, plusAsSpace: false) }
        func answer(_ status: Int, _ json: String) -> EventLoopFuture<AdminAnswer> {
            eventLoop.makeSucceededFuture(AdminAnswer(status: status, json: json))
        }
        let method = head.method
        if segments == ["healthz"], method == .GET || method == .HEAD {
            return answer(200, "{\"status\":\"ok\"}\n")
        }
        if segments == ["readyz"], method == .GET || method == .HEAD {
            if self.proxy.isDraining {
                return answer(503, "{\"ready\":false,\"reason\":\"shutting down: draining in-flight requests\"}\n")
            }
            return self.proxy.controller.readiness()
        }
        // The page and its assets hold no data (everything comes from the API, which checks the
        // token), so the browser can load them before it knows the token.
        if method == .GET, let asset = Dashboard.asset(segments) {
            return eventLoop.makeSucceededFuture(AdminAnswer(status: 200, body: asset.body, contentType: asset.contentType))
        }
        if let token = self.token, !Self.authorized(head.headers, token: token) {
            return answer(401, UpstreamController.errorJSON("this admin API needs Authorization: Bearer <token from admin.token_file>"))
        }
        if segments == ["metrics"], method == .GET {
            let promise = eventLoop.makePromise(of: AdminAnswer.self)
            promise.completeWithTask { [proxy] in
                let text = String(decoding: await proxy.metricsExposition(), as: UTF8.self)
                return AdminAnswer(status: 200, body: text, contentType: "text/plain; version=0.0.4; charset=utf-8")
            }
            return promise.futureResult
        }
        if segments == ["stats"], method == .GET {
            return answer(200, AdminServer.statsJSON(self.proxy))
        }
        if segments == ["admin", "cache"], method == .GET {
            return answer(200, self.proxy.cache.stats().json + "\n")
        }
        if segments == ["admin", "upstreams"], method == .GET {
            return self.proxy.controller.upstreamsReport()
        }
        if segments == ["admin", "errors"], method == .GET {
            let (status, json) = Self.errors(self.proxy, query: head.uri.split(separator: "?", maxSplits: 1).dropFirst().first)
            return answer(status, json)
        }
        if segments == ["admin", "timeline"], method == .GET {
            return answer(200, TimelineJSON.render(self.proxy.incidents.timelines(), nowMillis: IncidentMonitor.wallMillis()))
        }
        if segments == ["admin", "incidents"], method == .GET {
            return answer(200, IncidentJSON.incidents(self.proxy.incidents.incidents()))
        }
        if segments == ["admin", "config"], method == .GET {
            return answer(200, ConfigurationJSON.render(self.proxy.snapshot.configuration))
        }
        if segments == ["admin", "reload"] {
            guard method == .POST else { return answer(405, UpstreamController.errorJSON("use POST")) }
            guard let reload = self.reload else {
                return answer(409, UpstreamController.errorJSON("this gateway was not started from a configuration file"))
            }
            let promise = eventLoop.makePromise(of: AdminAnswer.self)
            promise.completeWithTask { await reload() }
            return promise.futureResult
        }
        if segments.count >= 2, segments[0] == "admin", segments[1] == "lab" {
            guard let lab = self.lab else {
                return answer(404, UpstreamController.errorJSON("this gateway has no lab: the Lab tab works in `gatehouse demo`"))
            }
            let promise = eventLoop.makePromise(of: AdminAnswer.self)
            let rest = Array(segments.dropFirst(2))
            let name = method.rawValue
            promise.completeWithTask { await lab.handle(method: name, rest: rest) }
            return promise.futureResult
        }
        if segments.count == 5, segments[0] == "admin", segments[1] == "upstreams",
            segments[4] == "drain" || segments[4] == "enable"
        {
            guard method == .POST else { return answer(405, UpstreamController.errorJSON("use POST")) }
            return self.proxy.controller.setDrained(cluster: segments[2], server: segments[3], drained: segments[4] == "drain")
        }
        return answer(
            404,
            UpstreamController.errorJSON(
                "not found: try / (the dashboard), /healthz, /readyz, /stats, /metrics, /admin/upstreams, /admin/cache, /admin/errors, /admin/incidents, /admin/timeline, /admin/config, /admin/lab, POST /admin/reload, POST /admin/upstreams/CLUSTER/SERVER/drain|enable"))
    }

    /// `GET /admin/errors?cluster=&type=&server=&limit=`: the error history, newest first.
    static func errors(_ proxy: ProxyServer, query: Substring?) -> (Int, String) {
        let history = proxy.stats.errors
        switch ErrorFilter.parse(query: String(query ?? ""), maxLimit: history.capacity) {
        case .failure(let error):
            return (400, UpstreamController.errorJSON(error.description))
        case .success(let filter):
            if let cluster = filter.cluster {
                // A cluster a reload removed still has its history: known means configured or in the ring.
                let configured = proxy.snapshot.configuration.clusters.map(\.name)
                if !configured.contains(cluster) && !history.clusters().contains(cluster) {
                    return (
                        400,
                        UpstreamController.errorJSON(
                            "unknown cluster '\(cluster)' (clusters: \(configured.joined(separator: ", ")))"))
                }
            }
            return (200, IncidentJSON.errors(history.entries(filter)))
        }
    }

    /// Constant-time comparison, so the token cannot be guessed byte by byte from response times.
    static func authorized(_ headers: HTTPHeaders, token: String) -> Bool {
        guard let value = headers.first(name: "authorization"), value.lowercased().hasPrefix("bearer ") else {
            return false
        }
        let offered = Array(value.utf8.dropFirst(7))
        let expected = Array(token.utf8)
        var difference = UInt8(offered.count == expected.count ? 0 : 1)
        for index in 0..<max(offered.count, expected.count) {
            let left = index < offered.count ? offered[index] : 0
            let right = index < expected.count ? expected[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }

    private func respond(_ context: ChannelHandlerContext, _ answer: AdminAnswer, version: HTTPVersion, keepAlive: Bool) {
        var buffer = context.channel.allocator.buffer(capacity: answer.json.utf8.count)
        buffer.writeString(answer.json)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(buffer.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        if answer.contentType.hasPrefix("text/html") {
            // The page loads nothing but its own script and style and talks to nobody but this listener.
            headers.add(name: "Content-Security-Policy", value: Dashboard.contentSecurityPolicy)
            headers.add(name: "X-Content-Type-Options", value: "nosniff")
        }
        if answer.status == 401 { headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"gatehouse-admin\"") }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }
}
