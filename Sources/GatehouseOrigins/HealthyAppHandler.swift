import NIOCore
import NIOHTTP1

/// The healthy sample app: the routes of `HealthyAppRoute`, one request at a time (NIOHTTP1's pipelining
/// assistance queues the next one until this response has ended).
///
/// Bodies stream with back-pressure in both directions: `/bytes` and `/chunked` write the next 64 KiB
/// chunk only while the channel is writable, `/echo` stops asking for reads while it is not, and `/sink`
/// drops every body part as it comes. No route keeps a body, so memory stays flat even for 1 GiB.
final class HealthyAppHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// What the request being served asked for, besides its route.
    private struct Exchange {
        var keepAlive: Bool
        var isHead: Bool
        var version: HTTPVersion
    }

    /// Where the current request/response exchange is.
    private enum State {
        /// Between requests.
        case idle
        /// Discarding the request body; the route answers at its end.
        case awaitingEnd(HealthyAppRoute, Exchange)
        /// `/sink`: counting the request body.
        case sinking(bytes: Int, Exchange)
        /// `/echo`: the response head is out, body parts are written back as they arrive.
        case echoing(Exchange)
        /// `/slow`: the request is read, the answer is scheduled.
        case delaying(Scheduled<Void>)
        /// `/bytes`, `/chunked`: the head is out, `remaining` bytes to write.
        case streaming(remaining: Int, Exchange)
        /// The last response is out (or the connection went away); nothing more is served.
        case closing
    }

    private let name: String
    private var state = State.idle
    /// A read held back because the channel was not writable.
    private var pendingRead = false

    init(name: String) {
        self.name = name
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.requestHeadReceived(head, context: context)
        case .body(let part):
            switch self.state {
            case .sinking(let bytes, let exchange):
                self.state = .sinking(bytes: bytes + part.readableBytes, exchange)
            case .echoing(let exchange):
                if !exchange.isHead {
                    context.write(self.wrapOutboundOut(.body(.byteBuffer(part))), promise: nil)
                }
            case .idle, .awaitingEnd, .delaying, .streaming, .closing:
                break
            }
        case .end:
            self.requestEnded(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            if self.pendingRead {
                self.pendingRead = false
                context.read()
            }
            if case .streaming = self.state {
                self.pump(context: context)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.stopServing()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.stopServing()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.stopServing()
        context.close(promise: nil)
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            self.pendingRead = true
        }
    }

    // MARK: Serving

    private func requestHeadReceived(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard case .idle = self.state else {
            // NIOHTTP1's pipelining assistance never does this; a broken invariant closes, it does not trap.
            self.stopServing()
            context.close(promise: nil)
            return
        }
        let exchange = Exchange(keepAlive: head.isKeepAlive, isHead: head.method == .HEAD, version: head.version)
        switch HealthyAppRoute.resolve(head) {
        case .echo:
            self.startEcho(head, exchange: exchange, context: context)
        case .sink:
            self.state = .sinking(bytes: 0, exchange)
        case let route:
            self.state = .awaitingEnd(route, exchange)
        }
    }

    private func requestEnded(context: ChannelHandlerContext) {
        switch self.state {
        case .awaitingEnd(let route, let exchange):
            self.answer(route, exchange: exchange, context: context)
        case .sinking(let bytes, let exchange):
            self.sendSimple(.ok, text: String(bytes), exchange: exchange, context: context)
        case .echoing(let exchange):
            self.finish(exchange, context: context)
        case .idle, .delaying, .streaming, .closing:
            break
        }
    }

    private func answer(_ route: HealthyAppRoute, exchange: Exchange, context: ChannelHandlerContext) {
        switch route {
        case .hello:
            self.sendSimple(.ok, text: "hello from \(self.name)\n", exchange: exchange, context: context)
        case .status(let status):
            self.sendSimple(
                status,
                text: "\(status.code) \(status.reasonPhrase)\n",
                exchange: exchange,
                context: context
            )
        case .headers(let json):
            self.sendSimple(.ok, text: json, contentType: "application/json", exchange: exchange, context: context)
        case .bytes(let count, let chunked):
            self.startStreaming(count: count, chunked: chunked, exchange: exchange, context: context)
        case .slow(let delay, let milliseconds):
            let scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                guard case .delaying = self.state else { return }
                self.sendSimple(.ok, text: "waited \(milliseconds) ms\n", exchange: exchange, context: context)
            }
            self.state = .delaying(scheduled)
        case .cacheable(let cacheControl, let setCookie, let notModified, let language, let delay, let failure):
            if let failure {
                let status = HTTPResponseStatus(statusCode: failure)
                self.sendSimple(status, text: "\(failure) from the origin\n", exchange: exchange, context: context)
                return
            }
            var headers = HTTPHeaders()
            if let cacheControl { headers.add(name: "cache-control", value: cacheControl) }
            headers.add(name: "etag", value: HealthyAppRoute.cacheableETag)
            headers.add(name: "last-modified", value: "Sat, 21 Nov 2026 00:00:00 GMT")
            headers.add(name: "vary", value: "Accept-Language")
            if setCookie { headers.add(name: "set-cookie", value: "session=abc; Path=/") }
            let status: HTTPResponseStatus = notModified ? .notModified : .ok
            guard delay > 0 else {
                self.sendSimple(status, text: "cacheable lang=\(language)\n", extraHeaders: headers, exchange: exchange, context: context)
                return
            }
            let scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(delay))) { [self] in
                guard case .delaying = self.state else { return }
                self.sendSimple(status, text: "cacheable lang=\(language)\n", extraHeaders: headers, exchange: exchange, context: context)
            }
            self.state = .delaying(scheduled)
        case .close:
            var closing = exchange
            closing.keepAlive = false
            self.sendSimple(.ok, text: "closing\n", exchange: closing, context: context)
        case .refused(let status, let text, let allow):
            var headers = HTTPHeaders()
            if let allow { headers.add(name: "allow", value: allow) }
            self.sendSimple(status, text: text, extraHeaders: headers, exchange: exchange, context: context)
        case .echo, .sink:
            // Started at the request head; `requestEnded` handles their end.
            break
        }
    }

    /// The headers every response of the app carries, `Connection` included.
    private func baseHeaders(_ exchange: Exchange) -> HTTPHeaders {
        var headers: HTTPHeaders = ["x-origin": self.name]
        if !exchange.keepAlive {
            headers.add(name: "connection", value: "close")
        } else if exchange.version == .http1_0 {
            headers.add(name: "connection", value: "keep-alive")
        }
        return headers
    }

    private func sendSimple(
        _ status: HTTPResponseStatus,
        text: String,
        contentType: String = "text/plain; charset=utf-8",
        extraHeaders: HTTPHeaders = [:],
        exchange: Exchange,
        context: ChannelHandlerContext
    ) {
        var headers = self.baseHeaders(exchange)
        headers.add(contentsOf: extraHeaders)
        let body = status.allowsBody ? ByteBuffer(string: text) : nil
        if let body {
            headers.add(name: "content-type", value: contentType)
            headers.add(name: "content-length", value: String(body.readableBytes))
        }
        let head = HTTPResponseHead(version: exchange.version, status: status, headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if let body, !exchange.isHead {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        self.finish(exchange, context: context)
    }

    /// Ends the response; closes the connection after it unless keep-alive applies.
    private func finish(_ exchange: Exchange, context: ChannelHandlerContext) {
        guard exchange.keepAlive else {
            self.state = .closing
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
            return
        }
        self.state = .idle
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func stopServing() {
        if case .delaying(let scheduled) = self.state {
            scheduled.cancel()
        }
        self.state = .closing
    }

    // MARK: Streaming routes

    private func startEcho(_ head: HTTPRequestHead, exchange: Exchange, context: ChannelHandlerContext) {
        var headers = self.baseHeaders(exchange)
        headers.add(name: "x-echo-method", value: head.method.rawValue)
        headers.add(name: "x-echo-path", value: head.uri)
        headers.add(name: "content-type", value: head.headers.first(name: "content-type") ?? "application/octet-stream")
        if let length = head.headers.first(name: "content-length") {
            headers.add(name: "content-length", value: length)
        } else if head.headers.contains(name: "transfer-encoding") {
            headers.add(name: "transfer-encoding", value: "chunked")
        } else {
            headers.add(name: "content-length", value: "0")
        }
        let responseHead = HTTPResponseHead(version: exchange.version, status: .ok, headers: headers)
        context.write(self.wrapOutboundOut(.head(responseHead)), promise: nil)
        self.state = .echoing(exchange)
    }

    private func startStreaming(count: Int, chunked: Bool, exchange: Exchange, context: ChannelHandlerContext) {
        var headers = self.baseHeaders(exchange)
        headers.add(name: "content-type", value: "application/octet-stream")
        if chunked {
            headers.add(name: "transfer-encoding", value: "chunked")
        } else {
            headers.add(name: "content-length", value: String(count))
        }
        let head = HTTPResponseHead(version: exchange.version, status: .ok, headers: headers)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        guard count > 0, !exchange.isHead else {
            self.finish(exchange, context: context)
            return
        }
        self.state = .streaming(remaining: count, exchange)
        self.pump(context: context)
    }

    /// Writes chunks while the channel is writable; `channelWritabilityChanged` resumes it.
    private func pump(context: ChannelHandlerContext) {
        guard case .streaming(var remaining, let exchange) = self.state else { return }
        while remaining > 0, context.channel.isWritable {
            let chunk = OriginPayload.pattern(length: remaining)
            guard chunk.readableBytes > 0 else { break }
            remaining -= chunk.readableBytes
            context.write(self.wrapOutboundOut(.body(.byteBuffer(chunk))), promise: nil)
        }
        if remaining == 0 {
            self.finish(exchange, context: context)
        } else {
            self.state = .streaming(remaining: remaining, exchange)
            context.flush()
        }
    }
}

@available(*, unavailable)
extension HealthyAppHandler: Sendable {}
