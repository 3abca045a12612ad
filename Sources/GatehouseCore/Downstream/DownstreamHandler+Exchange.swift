import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

extension DownstreamHandler {
    // MARK: - Starting an exchange

    func startExchange(_ head: HTTPRequestHead) {
        let exchange = self.makeExchange(head)
        self.exchange = exchange

        let framing: BodyFraming
        do {
            framing = try RequestFraming.validate(head)
        } catch {
            // Framing the gateway cannot trust: answer and close, never forward (request smuggling).
            exchange.closeConnection = true
            self.fail(exchange, ProxyFailure(type: .httpRequestError, phase: .route, details: error.reason), status: error.status)
            return
        }
        let snapshot = self.snapshot
        if case .length(let length) = framing, snapshot.maxBodyBytes > 0, length > snapshot.maxBodyBytes {
            self.fail(exchange, Self.bodyTooLarge(snapshot.maxBodyBytes), status: 413)
            return
        }
        if HeaderRewriter.hasLooped(head.headers, gatewayName: snapshot.gatewayName) {
            self.fail(exchange, ProxyFailure(type: .proxyLoopDetected, phase: .route, details: "Via already names \(snapshot.gatewayName)"))
            return
        }
        guard let entry = snapshot.routes.match(host: exchange.record.host, path: head.uri) else {
            self.fail(exchange, ProxyFailure(type: .destinationNotFound, phase: .route, details: "no route matches"))
            return
        }
        exchange.record.route = entry.route.name
        exchange.record.cluster = entry.route.cluster
        guard entry.clusterIndex >= 0 else {
            self.fail(exchange, ProxyFailure(type: .proxyConfigurationError, phase: .route, details: "cluster \(entry.route.cluster) does not exist"))
            return
        }
        let runtime = snapshot.clusters[entry.clusterIndex]
        exchange.cluster = entry.clusterIndex
        exchange.timeouts = runtime.cluster.timeouts
        exchange.requestDeadline = exchange.start + TimeAmount(runtime.cluster.timeouts.request)
        exchange.phase = .selectUpstream
        guard let targetIndex = self.loop.pickTarget(cluster: entry.clusterIndex) else {
            self.fail(exchange, ProxyFailure(type: .destinationUnavailable, phase: .selectUpstream, details: "cluster \(runtime.cluster.name) has no servers"))
            return
        }
        let target = runtime.targets[targetIndex]
        exchange.target = targetIndex
        exchange.record.upstream = target.display

        let host: String
        switch entry.route.hostRewrite {
        case .preserve: host = exchange.record.host ?? target.display
        case .upstream: host = target.display
        case .fixed(let value): host = value
        }
        exchange.upstreamHead = HeaderRewriter.upstreamRequestHead(
            head, framing: framing, path: RouteTable.rewrite(path: head.uri, route: entry.route), host: host,
            requestID: exchange.record.requestID,
            downstream: .init(clientIP: self.clientIP, isTrusted: self.isTrustedPeer),
            gatewayName: snapshot.gatewayName)
        if let expect = head.headers.first(name: "expect"), expect.lowercased() == "100-continue" {
            // The gateway answers 100-continue itself (as nginx does) and streams the body upstream.
            self.context?.writeAndFlush(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        let pool = self.loop.pools[entry.clusterIndex][targetIndex]
        if let connection = pool.lease() {
            self.attach(connection, to: exchange, reused: true)
        } else {
            self.connect(exchange, target: target, pool: pool, runtime: runtime)
        }
    }

    private func connect(
        _ exchange: Exchange, target: ProxySnapshot.Target, pool: UpstreamConnectionPool,
        runtime: ProxySnapshot.ClusterRuntime
    ) {
        guard let context = self.context else { return }
        exchange.phase = .connect
        let id = self.loop.makeConnectionID()
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderListSize = runtime.cluster.limits.maxResponseHeaderBytes
        decoderLimits.maxHeaderFieldSize = runtime.cluster.limits.maxResponseHeaderBytes
        let limits = decoderLimits
        let bootstrap = ClientBootstrap(group: context.eventLoop)
            .connectTimeout(TimeAmount(runtime.cluster.timeouts.connect))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHandlers([
                        HTTPRequestEncoder(),
                        ByteToMessageHandler(
                            HTTPResponseDecoder(
                                leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop,
                                limitConfiguration: limits)),
                        UpstreamHandler(id: id),
                    ])
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let future: EventLoopFuture<any Channel>
        if let address = target.socketAddress {
            future = bootstrap.connect(to: address)
        } else {
            future = bootstrap.connect(host: target.host, port: target.port)
        }
        future.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                guard self.exchange === exchange, !self.isClosed,
                    let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
                else {
                    channel.close(promise: nil)
                    return
                }
                handler.pool = pool
                pool.connectionOpened(handler)
                exchange.openedConnection = true
                exchange.record.connectMilliseconds = exchange.elapsedMilliseconds(.now())
                self.attach(handler, to: exchange, reused: false)
            case .failure(let error):
                guard self.exchange === exchange else { return }
                self.fail(exchange, ProxyFailure.classify(error, phase: .connect, nextHop: exchange.record.upstream))
            }
        }
    }

    private func attach(_ upstream: UpstreamHandler, to exchange: Exchange, reused: Bool) {
        guard let head = exchange.upstreamHead else { return }
        exchange.upstream = upstream
        exchange.record.reusedConnection = reused
        if reused { exchange.record.connectMilliseconds = 0 }
        upstream.exchange = self
        upstream.requestsCarried += 1
        exchange.phase = .sendRequest
        exchange.lastActivity = .now()
        upstream.write(.head(head))
        let buffered = exchange.buffered
        exchange.buffered = []
        exchange.bufferedBytes = 0
        for part in buffered { upstream.write(part) }
        upstream.flush()
        if exchange.requestComplete { self.requestSent(exchange) }
        self.resumeReadingIfPossible()
    }

    /// Returns the upstream connection to its pool (or closes it) and forgets it.
    func detachUpstream(_ exchange: Exchange, isReusable: Bool) {
        guard let upstream = exchange.upstream else { return }
        exchange.upstream = nil
        upstream.exchange = nil
        if isReusable, let pool = upstream.pool {
            pool.release(upstream, isReusable: true)
        } else {
            upstream.close()
        }
    }

    func finishIfDone(_ exchange: Exchange) {
        if exchange.responseEnded && (exchange.requestComplete || exchange.closeConnection) {
            self.finish(exchange)
        }
    }

    // MARK: - Failures and gateway-made responses

    /// Classified failure: answer with the error response if nothing was sent yet, else cut the
    /// downstream connection so the client sees an incomplete response rather than a wrong one.
    func fail(_ exchange: Exchange, _ failure: ProxyFailure, status: Int? = nil) {
        guard self.exchange === exchange else { return }
        self.detachUpstream(exchange, isReusable: false)
        exchange.record.failure = failure
        exchange.responseEnded = true
        if exchange.responseHeadSent {
            exchange.closeConnection = true
            exchange.responseEndedByFailure = true
            self.finish(exchange)
            return
        }
        if !exchange.requestComplete && !exchange.closeConnection {
            // The rest of the body is read and dropped so the connection can go on (closing with
            // unread bytes would make the kernel send RST and could destroy the answer), but only
            // for a while: a client that never finishes is cut off.
            exchange.discardingBody = true
            exchange.requestDeadline = .now() + .seconds(10)
            exchange.headerDeadline = nil
        }
        self.writeErrorResponse(exchange, failure, status: status ?? failure.statusCode)
        self.finishIfDone(exchange)
    }

    private func writeErrorResponse(_ exchange: Exchange, _ failure: ProxyFailure, status: Int) {
        guard let context = self.context, !self.isClosed else { return }
        let snapshot = self.snapshot
        let format = ErrorResponse.negotiate(accept: exchange.requestHead.headers.first(name: "accept"))
        // A client's own malformed request is explained to it; upstream details stay internal unless allowed.
        let expose = snapshot.exposeDetails || failure.type == .httpRequestError
        var response = ErrorResponse(failure: failure, requestID: exchange.record.requestID, format: format, exposeDetails: expose)
        response.status = status
        var body = context.channel.allocator.buffer(capacity: response.body.utf8.count)
        body.writeString(response.body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: format.contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Cache-Control", value: "no-store")
        headers.add(
            name: "Proxy-Status",
            value: ProxyStatusHeader.value(for: failure, gatewayName: snapshot.gatewayName, exposeDetails: expose))
        headers.add(name: "X-Request-Id", value: exchange.record.requestID)
        if failure.type == .connectionLimitReached { headers.add(name: "Retry-After", value: "1") }
        if exchange.closeConnection || !exchange.clientKeepAlive { headers.add(name: "Connection", value: "close") }
        let version = exchange.requestHead.version.major == 1 ? exchange.requestHead.version : .http1_1
        let head = HTTPResponseHead(version: version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        exchange.record.status = status
        exchange.record.bytes = Int64(body.readableBytes)
        exchange.responseHeadSent = true
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: written)
        exchange.lastWrite = written.futureResult
    }

    // MARK: - Deadlines

    /// The loop's sweep: fail the exchange whose limit ran out, give up on a body still being
    /// discarded, or close a keep-alive connection idle too long.
    func checkDeadlines(now: NIODeadline) {
        guard let exchange = self.exchange else {
            if !self.isClosed, self.queued.isEmpty, now >= self.idleSince + Self.keepAliveTimeout {
                self.isClosed = true
                self.context?.close(promise: nil)
            }
            return
        }
        if exchange.responseEnded {
            // Still discarding the body of an answered request.
            if now >= exchange.requestDeadline {
                exchange.closeConnection = true
                self.finish(exchange)
            }
        } else if let timeout = exchange.expiredTimeout(now: now) {
            // The connect phase has its own limit (the bootstrap's); the request limit still applies.
            if exchange.phase == .connect && timeout != .request { return }
            self.fail(exchange, ProxyFailure.classify(timeout, phase: exchange.phase, nextHop: exchange.record.upstream))
        }
    }

    // MARK: - The record

    func log(_ exchange: Exchange) {
        exchange.record.totalMilliseconds = exchange.elapsedMilliseconds(.now())
        let record = exchange.record
        self.loop.stats.record(
            record, cluster: exchange.cluster, server: exchange.target, openedConnection: exchange.openedConnection)
        if self.loop.accessLog.isEnabled { self.loop.accessLog.append(record.jsonLine()) }
        if let failure = record.failure, failure.type != .httpRequestError {
            var metadata: Logger.Metadata = [
                "request.id": .string(record.requestID), "proxy_status.error": .string(failure.type.token),
                "status": .stringConvertible(record.status),
            ]
            if let upstream = record.upstream { metadata["upstream.host"] = .string(upstream) }
            if let route = record.route { metadata["route"] = .string(route) }
            if let cluster = record.cluster { metadata["cluster"] = .string(cluster) }
            if let details = failure.details { metadata["details"] = .string(details) }
            self.loop.logger.error(
                "\(record.method) \(record.path): \(failure.type.summary) Fix: \(failure.type.fixHint)", metadata: metadata)
        }
    }
}

// MARK: - The upstream's side of the exchange

extension DownstreamHandler: UpstreamExchangeDelegate {
    var isDownstreamWritable: Bool { self.context?.channel.isWritable ?? false }

    func upstreamReceived(_ part: HTTPClientResponsePart) {
        guard let exchange = self.exchange, let context = self.context else { return }
        exchange.lastActivity = .now()
        switch part {
        case .head(let head):
            let snapshot = self.snapshot
            exchange.record.upstreamStatus = Int(head.status.code)
            exchange.record.headerMilliseconds = exchange.elapsedMilliseconds(exchange.lastActivity)
            exchange.record.status = Int(head.status.code)
            exchange.phase = .streamResponse
            exchange.headerDeadline = nil
            exchange.upstreamKeepAlive = head.isKeepAlive
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
            let downstreamHead = HeaderRewriter.downstreamResponseHead(
                head, requestID: exchange.record.requestID, gatewayName: snapshot.gatewayName,
                proxyStatus: proxyStatus, keepAlive: keepAlive, clientVersion: exchange.requestHead.version)
            exchange.responseHeadSent = true
            context.write(self.wrapOutboundOut(.head(downstreamHead)), promise: nil)
        case .body(let buffer):
            exchange.record.bytes += Int64(buffer.readableBytes)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        case .end(let trailers):
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

    func upstreamReadComplete() {
        self.context?.flush()
    }

    func upstreamFailed(_ error: any Error) {
        guard let exchange = self.exchange else { return }
        exchange.upstream = nil
        self.fail(exchange, ProxyFailure.classify(error, phase: exchange.phase, nextHop: exchange.record.upstream))
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { self.resumeReadingIfPossible() }
    }
}
