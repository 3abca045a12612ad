import GatehouseErrors
import NIOCore
import NIOHTTP1

// MARK: - The upstream's side of the exchange

extension DownstreamHandler: UpstreamExchangeDelegate {
    var isDownstreamWritable: Bool { self.context?.channel.isWritable ?? false }

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard let exchange = self.exchange, let context = self.context else { return }
        exchange.lastActivity = .now()
        switch part {
        case .head(let head) where head.status.code < 200:
            exchange.upstreamResponded = true
            self.informationalReceived(head, exchange: exchange, context: context)
        case .head(let head):
            if head.status.code >= 500, self.retryIfPossible(exchange, failure: nil, status: Int(head.status.code)) {
                return
            }
            if let state = exchange.cache, self.cacheResponseHead(head, exchange: exchange, state: state) { return }
            exchange.upstreamResponded = true
            exchange.upstream?.advertisedIdleTimeout = Self.keepAliveTimeout(head.headers)
            let snapshot = exchange.generation.snapshot
            exchange.record.upstreamStatus = Int(head.status.code)
            exchange.record.headerMilliseconds = exchange.elapsedMilliseconds(exchange.lastActivity)
            exchange.record.status = Int(head.status.code)
            exchange.phase = .streamResponse
            exchange.headerDeadline = nil
            exchange.upstreamKeepAlive = RequestFraming.connectionOptions(head.headers, version: head.version).persistent
            var proxyStatus: String? = nil
            if head.status.code >= 500 {
                exchange.record.receivedStatus = Int(head.status.code)
                proxyStatus = ProxyStatusHeader.value(
                    receivedStatus: Int(head.status.code), nextHop: exchange.record.upstream,
                    gatewayName: snapshot.gatewayName, exposeDetails: snapshot.exposeDetails)
            }
            if exchange.requestHead.version.minor == 0, !head.headers.contains(name: "content-length") {
                // An HTTP/1.0 client has no chunked coding: the body ends when the connection does.
                exchange.closeConnection = true
            }
            let keepAlive = exchange.clientKeepAlive && !exchange.closeConnection
            var downstreamHead = HeaderRewriter.downstreamResponseHead(
                head, requestID: exchange.record.requestID, gatewayName: snapshot.gatewayName,
                proxyStatus: proxyStatus, keepAlive: keepAlive, clientVersion: exchange.requestHead.version)
            if let fields = exchange.rateLimitFields { fields.add(to: &downstreamHead.headers) }
            if let field = exchange.cache?.statusField { downstreamHead.headers.add(name: "Cache-Status", value: field) }
            exchange.responseHeadSent = true
            context.write(self.wrapOutboundOut(.head(downstreamHead)), promise: nil)
        case .body(let buffer):
            if let state = exchange.cache {
                // A 304's body (there is none to forward) is not the client's.
                if state.notModified != nil { return }
                self.cacheResponseBody(buffer, state: state)
            }
            exchange.record.bytes += Int64(buffer.readableBytes)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        case .end(let trailers):
            if let state = exchange.cache, self.cacheResponseEnded(exchange, state: state, trailers: trailers) { return }
            exchange.responseEnded = true
            // An upstream that answered before reading the whole request leaves both connections
            // out of step: neither can carry another request.
            let reusable = exchange.upstreamKeepAlive && exchange.requestComplete
            if !exchange.requestComplete { exchange.closeConnection = true }
            self.detachUpstream(exchange, isReusable: reusable)
            // Flushed here: the connection is detached now, so its read-complete will not reach us.
            if exchange.closeConnection || !exchange.clientKeepAlive {
                let written = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(self.wrapOutboundOut(.end(trailers)), promise: written)
                exchange.lastWrite = written.futureResult
            } else {
                context.writeAndFlush(self.wrapOutboundOut(.end(trailers)), promise: nil)
            }
            self.finishIfDone(exchange)
        }
    }

    /// A 1xx from the upstream. 101 switches an upgrade request to a tunnel (see
    /// ``switchingProtocolsReceived(_:exchange:context:)``). 100 is dropped: the gateway answered `Expect` itself, the upstream never saw it.
    /// Other 1xx (103 Early Hints, 102) go to HTTP/1.1 clients (RFC 9110 §15.2: never to HTTP/1.0
    /// ones), hop-by-hop fields removed; the response-header clock keeps running.
    private func informationalReceived(_ head: HTTPResponseHead, exchange: Exchange, context: ChannelHandlerContext) {
        switch head.status.code {
        case 101:
            self.switchingProtocolsReceived(head, exchange: exchange, context: context)
        case 100:
            return
        default:
            guard exchange.requestHead.version.minor >= 1, !exchange.responseHeadSent else { return }
            let informational = HeaderRewriter.informationalResponseHead(
                head, gatewayName: exchange.generation.snapshot.gatewayName, clientVersion: exchange.requestHead.version)
            context.write(self.wrapOutboundOut(.head(informational)), promise: nil)
        }
    }

    func upstreamReadComplete() {
        self.context?.flush()
    }

    func upstreamFailed(_ error: any Error) {
        guard let exchange = self.exchange else { return }
        // Bytes that never became a part still mean the upstream answered (the race needs silence).
        if exchange.upstream?.progress.bytesReceived == true { exchange.upstreamResponded = true }
        exchange.upstream = nil
        self.fail(exchange, ProxyFailure.classify(error, phase: exchange.phase, nextHop: exchange.record.upstream))
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { self.resumeReadingIfPossible() }
    }
}
