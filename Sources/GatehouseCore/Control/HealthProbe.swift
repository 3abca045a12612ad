import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOHTTP1
import NIOPosix

/// What one active health check found.
struct HealthProbeResult: Sendable {
    var passed: Bool
    /// The response status, for HTTP checks that got one.
    var status: Int?
    /// The classified failure when the exchange itself failed (refused, reset, timed out, malformed).
    var failure: ProxyStatusError?
    /// One line for logs and the admin API: `HTTP 200 in 3 ms`, `connection_refused (...)`.
    var summary: String
}

/// One active health check of one endpoint: a TCP connect, or `GET path` read through the data
/// path's own response decoder, so a server the gateway could not read from is not called healthy.
/// For a TLS cluster both go over TLS with the data path's context and classification: a server whose
/// certificate expired is unhealthy with `tls_certificate_error (certificate expired: …)`.
enum HealthProbe {
    /// At most this much of the body is kept for `expected_body`.
    static let bodyWindow = 64 * 1024

    static func run(
        _ endpoint: Endpoint, check: Cluster.HealthCheck, limits: Cluster.Limits, tls: UpstreamTLSContext? = nil,
        host: String = "", on eventLoop: any EventLoop
    ) -> EventLoopFuture<HealthProbeResult> {
        let started = NIODeadline.now()
        let promise = eventLoop.makePromise(of: HealthProbeResult.self)
        // TCP_NODELAY: ClientBootstrap sets it by default.
        var bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(check.timeout))
        if case .http(let path) = check.kind {
            let head = HTTPRequestHead(
                version: .http1_1, method: .GET, uri: path,
                headers: HTTPHeaders([
                    ("Host", check.host ?? endpoint.serverName), ("User-Agent", "gatehouse-health-check"),
                    ("Accept", "*/*"), ("Connection", "close"),
                ]))
            let deadline = started + TimeAmount(check.timeout)
            bootstrap = bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try tls.addHandlers(to: channel, host: host, nextHop: endpoint.display) }
                    try channel.pipeline.syncOperations.addHandlers([
                        HTTPRequestEncoder(),
                        ByteToMessageHandler(StrictResponseDecoder(maxHeaderBytes: limits.maxResponseHeaderBytes)),
                        HealthProbeHandler(
                            head: head, check: check, started: started, deadline: deadline, promise: promise,
                            nextHop: endpoint.display),
                    ])
                }
            }
        } else if let tls {
            bootstrap = bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls.addHandlers(to: channel, host: host, nextHop: endpoint.display)
                }
            }
        }
        bootstrap.connect(to: endpoint.address).flatMap { channel -> EventLoopFuture<any Channel> in
            // A TCP check of a TLS cluster passes once the handshake has (the handler is there until then).
            guard case .tcp = check.kind,
                let watcher = try? channel.pipeline.syncOperations.handler(type: UpstreamTLSHandshakeHandler.self)
            else { return channel.eventLoop.makeSucceededFuture(channel) }
            return watcher.promise.futureResult.map { channel }
        }.whenComplete { result in
            switch (result, check.kind) {
            case (.success(let channel), .tcp):
                channel.close(promise: nil)
                let what = tls == nil ? "TCP connect" : "TCP connect and TLS handshake"
                promise.succeed(
                    HealthProbeResult(passed: true, summary: "\(what) in \(Self.milliseconds(since: started)) ms"))
            case (.success, .http):
                break  // the handler completes the promise
            case (.failure(let error), _):
                let failure = ProxyFailure.classify(error, phase: .connect, nextHop: endpoint.display)
                promise.succeed(Self.failed(failure))
            }
        }
        return promise.futureResult
    }

    static func failed(_ failure: ProxyFailure) -> HealthProbeResult {
        HealthProbeResult(
            passed: false, failure: failure.type,
            summary: failure.type.token + (failure.details.map { " (\($0))" } ?? ""))
    }

    static func milliseconds(since start: NIODeadline) -> Int64 {
        (NIODeadline.now() - start).nanoseconds / 1_000_000
    }
}

/// Sends the probe request and judges the response; completes the promise exactly once and closes.
private final class HealthProbeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let check: Cluster.HealthCheck
    private let started: NIODeadline
    private let deadline: NIODeadline
    private let promise: EventLoopPromise<HealthProbeResult>
    private let nextHop: String
    private var status: Int?
    private var body: [UInt8] = []
    private var done = false
    private var timer: Scheduled<Void>?

    init(
        head: HTTPRequestHead, check: Cluster.HealthCheck, started: NIODeadline, deadline: NIODeadline,
        promise: EventLoopPromise<HealthProbeResult>, nextHop: String
    ) {
        self.head = head
        self.check = check
        self.started = started
        self.deadline = deadline
        self.promise = promise
        self.nextHop = nextHop
    }

    func channelActive(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.timer = context.eventLoop.scheduleTask(deadline: self.deadline) {
            let (handler, context) = loopBound.value
            let phase: ProxyPhase = handler.status == nil ? .awaitResponseHead : .streamResponse
            handler.complete(
                context,
                HealthProbe.failed(
                    ProxyFailure(
                        type: .connectionReadTimeout, phase: phase, nextHop: handler.nextHop,
                        details: "no complete answer within the health check timeout")))
        }
        context.write(self.wrapOutboundOut(.head(self.head)), promise: nil)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            // 1xx interim responses are not the answer.
            if head.status.code >= 200 { self.status = Int(head.status.code) }
        case .body(let buffer):
            if self.check.expectedBody != nil, self.body.count < HealthProbe.bodyWindow {
                let take = min(buffer.readableBytes, HealthProbe.bodyWindow - self.body.count)
                self.body += buffer.getBytes(at: buffer.readerIndex, length: take) ?? []
            }
        case .end:
            guard let status = self.status else { return }
            self.complete(context, self.judge(status: status))
        }
    }

    private func judge(status: Int) -> HealthProbeResult {
        let elapsed = HealthProbe.milliseconds(since: self.started)
        guard self.check.accepts(status: status) else {
            let expected = self.check.expectedStatuses.map {
                $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)"
            }
            return HealthProbeResult(
                passed: false, status: status,
                summary: "HTTP \(status) in \(elapsed) ms (expected \(expected.joined(separator: ", ")))")
        }
        if let expected = self.check.expectedBody, !String(decoding: self.body, as: UTF8.self).contains(expected) {
            return HealthProbeResult(
                passed: false, status: status, summary: "HTTP \(status) but the body does not contain \"\(expected)\"")
        }
        return HealthProbeResult(passed: true, status: status, summary: "HTTP \(status) in \(elapsed) ms")
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let phase: ProxyPhase = self.status == nil ? .awaitResponseHead : .streamResponse
        self.complete(context, HealthProbe.failed(ProxyFailure.classify(error, phase: phase, nextHop: self.nextHop)))
    }

    func channelInactive(context: ChannelHandlerContext) {
        let phase: ProxyPhase = self.status == nil ? .awaitResponseHead : .streamResponse
        self.complete(
            context,
            HealthProbe.failed(ProxyFailure.classify(UpstreamClosedConnection(), phase: phase, nextHop: self.nextHop)))
        context.fireChannelInactive()
    }

    private func complete(_ context: ChannelHandlerContext, _ result: HealthProbeResult) {
        guard !self.done else { return }
        self.done = true
        self.timer?.cancel()
        self.promise.succeed(result)
        context.close(promise: nil)
    }
}
