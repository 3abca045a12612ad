import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import Synchronization
import NIOHTTP1
import NIOPosix

extension DownstreamHandler {
    // MARK: - Starting an exchange

    func startExchange(_ head: HTTPRequestHead) {
        let exchange = self.makeExchange(head)
        self.exchange = exchange
        self.deadlines.headReceived(at: exchange.start)

        let snapshot = exchange.generation.snapshot
        let facts: RequestFraming.Facts
        let requestTarget: RequestTarget
        do throws(RequestFraming.Violation) {
            facts = try RequestFraming.inspect(head)
            requestTarget = try RequestTarget.parse(head.uri, method: head.method, maxBytes: snapshot.maxRequestLineBytes)
            if let authority = requestTarget.authority {
                // RFC 9112 §3.2.2: the target's authority wins over Host; two different answers to
                // "which host" is how routing is confused, so they must agree.
                if let host = facts.host, !RequestTarget.sameAuthority(authority, host, isHTTPS: requestTarget.isHTTPS) {
                    throw RequestFraming.Violation(
                        "the target names \(RequestFraming.printable(authority)) but Host is \(RequestFraming.printable(host))")
                }
                exchange.record.host = authority
            }
        } catch {
            // A request the gateway cannot read unambiguously: answer and close, never forward
            // (request smuggling); the decoder may also have stopped (CONNECT).
            exchange.closeConnection = true
            self.fail(exchange, ProxyFailure(type: .httpRequestError, phase: .route, details: error.reason), status: error.status)
            return
        }
        let framing = facts.framing
        // Bytes after an Upgrade request are not parsed (they may be the other protocol): the
        // connection ends with this exchange.
        if facts.carriesUpgrade {
            exchange.closeConnection = true
            exchange.upgrade = self.requestedUpgrade(head)
        }
        if case .length(let length) = framing, snapshot.maxBodyBytes > 0, length > snapshot.maxBodyBytes {
            self.fail(exchange, Self.bodyTooLarge(snapshot.maxBodyBytes), status: 413)
            return
        }
        if HeaderRewriter.hasLooped(head.headers, gatewayName: snapshot.gatewayName) {
            self.fail(exchange, ProxyFailure(type: .proxyLoopDetected, phase: .route, details: "Via already names \(snapshot.gatewayName)"))
            return
        }
        // `OPTIONS *` is about the server as a whole: it takes the route of `/`.
        let routedPath = requestTarget.path == "*" ? "/" : requestTarget.path
        guard let entry = snapshot.routes.match(host: exchange.record.host, path: routedPath) else {
            self.fail(exchange, ProxyFailure(type: .destinationNotFound, phase: .route, details: "no route matches"))
            return
        }
        exchange.route = entry.index
        exchange.record.route = entry.route.name
        exchange.record.cluster = entry.route.cluster
        if entry.index < snapshot.rateLimiters.count, let limiter = snapshot.rateLimiters[entry.index],
            !self.admit(exchange, limiter: limiter)
        {
            return
        }
        guard entry.clusterIndex >= 0 else {
            self.fail(exchange, ProxyFailure(type: .proxyConfigurationError, phase: .route, details: "cluster \(entry.route.cluster) does not exist"))
            return
        }
        if let policy = entry.route.cache,
            self.cacheRequestStarted(exchange, policy: policy, resume: .init(entry: entry, target: requestTarget, facts: facts))
        {
            // Answered from the cache, or waiting for the same request already under way.
            return
        }
        self.forward(exchange, entry: entry, requestTarget: requestTarget, facts: facts)
    }

    /// The request is routed: its cluster's limits, a server, and the upstream head.
    func forward(_ exchange: Exchange, entry: RouteTable.Entry, requestTarget: RequestTarget, facts: RequestFraming.Facts) {
        let head = exchange.requestHead
        let snapshot = exchange.generation.snapshot
        let framing = facts.framing
        let runtime = snapshot.clusters[entry.clusterIndex]
        exchange.cluster = entry.clusterIndex
        var timeouts = runtime.cluster.timeouts
        if let perTry = runtime.cluster.retries.perTryTimeout { timeouts.responseHeader = min(timeouts.responseHeader, perTry) }
        exchange.timeouts = timeouts
        exchange.requestDeadline = exchange.start + TimeAmount(runtime.cluster.timeouts.request)
        exchange.holdLimit = runtime.cluster.retries.bufferBodyBytes
        exchange.hostRewrite = entry.route.hostRewrite
        exchange.phase = .selectUpstream
        if let refusal = runtime.breaker.admitRequest() {
            self.fail(exchange, refusal)
            return
        }
        exchange.breaker = runtime.breaker
        exchange.hash = runtime.cluster.hashOn.map { self.hashKey($0, head: head) } ?? nil
        self.loop.recordRequest(in: exchange.generation, cluster: entry.clusterIndex, at: exchange.start)
        guard let endpoint = self.pickEndpoint(exchange) else { return }

        exchange.upstreamHead = HeaderRewriter.upstreamRequestHead(
            head, framing: framing, path: RouteTable.rewrite(path: requestTarget.path, route: entry.route),
            host: self.upstreamHost(exchange, endpoint: endpoint), requestID: exchange.record.requestID,
            downstream: .init(clientIP: self.clientIP, isTrusted: self.isTrustedPeer, scheme: self.scheme),
            gatewayName: snapshot.gatewayName, receivedVersion: self.isHTTP2Stream ? HTTPVersion(major: 2, minor: 0) : nil,
            upgrade: exchange.upgrade)
        if let state = exchange.cache { self.cachePrepareUpstreamHead(exchange, state: state) }
        if facts.expectsContinue, head.version.minor >= 1, framing != .none {
            // The gateway answers 100-continue itself (as nginx and Envoy do) once the request is
            // routable, and streams the body upstream; the upstream never sees the expectation, so
            // a 100 from it is dropped. HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1).
            self.context?.writeAndFlush(
                self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .continue))), promise: nil)
        }
        self.leaseOrConnect(exchange, endpoint: endpoint, fresh: false)
    }

    /// The Host sent upstream for this try.
    func upstreamHost(_ exchange: Exchange, endpoint: Endpoint) -> String {
        switch exchange.hostRewrite {
        case .preserve: return exchange.record.host ?? endpoint.serverName
        case .upstream: return endpoint.serverName
        case .fixed(let value): return value
        }
    }

    /// Picks the endpoint of the next try — one not tried yet when the cluster has one — and makes
    /// it the exchange's; on failure answers the client and returns nil.
    func pickEndpoint(_ exchange: Exchange) -> Endpoint? {
        var picked: Endpoint?
        // A retry goes to another server when one exists: a few picks, not an exclusion list per pick.
        for _ in 0..<(exchange.tried.isEmpty ? 1 : 4) {
            switch self.loop.pick(in: exchange.generation, cluster: exchange.cluster, hash: exchange.hash) {
            case .success(let endpoint):
                picked = endpoint
            case .failure(let failure):
                if picked == nil {
                    self.fail(exchange, failure)
                    return nil
                }
            }
            if let endpoint = picked, !exchange.tried.contains(endpoint.id) { break }
        }
        guard let endpoint = picked else { return nil }
        endpoint.active.wrappingAdd(1, ordering: .relaxed)
        exchange.endpoint = endpoint
        exchange.attemptStart = .now()
        exchange.target = endpoint.server
        exchange.record.upstream = endpoint.display
        if let parent = exchange.serverSpan { self.startAttemptSpan(exchange, parent: parent, endpoint: endpoint) }
        return endpoint
    }

    /// Sends the try over an idle pooled connection, or opens one (`fresh`: always open one).
    func leaseOrConnect(_ exchange: Exchange, endpoint: Endpoint, fresh: Bool) {
        let pool = self.loop.pool(for: endpoint)
        // An upgrade takes its connection for good (a tunnel): never a pooled one.
        if !fresh, exchange.upgrade == nil, let connection = pool.lease() {
            self.attach(connection, to: exchange, reused: true)
            return
        }
        let runtime = exchange.generation.snapshot.clusters[exchange.cluster]
        if let refusal = runtime.breaker.admitConnection() {
            self.fail(exchange, refusal)
            return
        }
        self.connect(exchange, endpoint: endpoint, pool: pool, runtime: runtime)
    }

    /// The request's consistent-hash key; nil when the request has none (the balancer then picks at random).
    private func hashKey(_ key: Cluster.HashKey, head: HTTPRequestHead) -> UInt64? {
        switch key {
        case .header(let name):
            return head.headers.first(name: name).map(StableHash.hash)
        case .cookie(let name):
            for field in head.headers[canonicalForm: "cookie"] {
                for pair in field.split(separator: ";") {
                    let trimmed = pair.drop { $0 == " " }
                    guard let equals = trimmed.firstIndex(of: "="), trimmed[..<equals] == name else { continue }
                    return StableHash.hash(String(trimmed[trimmed.index(after: equals)...]))
                }
            }
            return nil
        case .clientAddress:
            return self.clientIP == "-" ? nil : StableHash.hash(self.clientIP)
        }
    }

    private func connect(
        _ exchange: Exchange, endpoint: Endpoint, pool: UpstreamConnectionPool,
        runtime: ProxySnapshot.ClusterRuntime
    ) {
        guard let context = self.context else { return }
        exchange.phase = .connect
        let id = self.loop.makeConnectionID()
        let future = self.loop.connector.connect(
            to: endpoint, cluster: runtime.cluster, tls: runtime.tls, id: id, on: context.eventLoop)
        future.assumeIsolated().whenComplete { [self] result in
            let breaker = runtime.breaker
            switch result {
            case .success(let channel):
                guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamHandler.self) else {
                    breaker.connectFinished(opened: false)
                    channel.close(promise: nil)
                    return
                }
                guard self.exchange === exchange, !self.isClosed, exchange.endpoint === endpoint else {
                    // Not counted as open: this runs inside NIO's activation of the channel (the
                    // connect future completes before channelActive), and a close from here fires no
                    // channelInactive, so the handler would never count it closed again.
                    breaker.connectFinished(opened: false)
                    channel.close(promise: nil)
                    return
                }
                breaker.connectFinished(opened: true)
                handler.breaker = breaker
                handler.pool = pool
                pool.connectionOpened(handler)
                exchange.openedConnection = true
                exchange.record.connectMilliseconds = exchange.elapsedMilliseconds(.now())
                self.attach(handler, to: exchange, reused: false)
            case .failure(let error):
                breaker.connectFinished(opened: false)
                guard self.exchange === exchange, exchange.endpoint === endpoint else { return }
                self.fail(exchange, ProxyFailure.classify(error, phase: .connect, nextHop: exchange.record.upstream))
            }
        }
    }

    private func attach(_ upstream: UpstreamHandler, to exchange: Exchange, reused: Bool) {
        // The client span of this try exists by now: its id goes upstream in this head.
        if let span = exchange.attemptSpan { self.injectTrace(exchange, span: span) }
        guard let head = exchange.upstreamHead else { return }
        exchange.upstream = upstream
        upstream.progress.bytesReceived = false
        exchange.record.reusedConnection = reused
        exchange.upstreamResponded = false
        if reused {
            exchange.record.connectMilliseconds = 0
            exchange.reusedIdleAge = .now() - upstream.idleSince
        }
        upstream.exchange = self
        upstream.requestsCarried += 1
        exchange.phase = .sendRequest
        exchange.lastActivity = .now()
        upstream.write(.head(head))
        let buffered = exchange.buffered
        exchange.buffered = []
        exchange.bufferedBytes = 0
        for part in buffered {
            upstream.write(part)
            exchange.hold(part)
        }
        upstream.flush()
        if exchange.requestComplete { self.requestSent(exchange) }
        self.resumeReadingIfPossible()
    }

    /// Returns the upstream connection to its pool (or closes it) and forgets it.
    func detachUpstream(_ exchange: Exchange, isReusable: Bool) {
        guard let upstream = exchange.upstream else { return }
        exchange.upstream = nil
        upstream.exchange = nil
        if isReusable, upstream.isReusable, let pool = upstream.pool {
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
        if status == nil, self.retryIfPossible(exchange, failure: failure) { return }
        if status == nil, let state = exchange.cache, self.cacheRescue(exchange, state: state, failure: failure) { return }
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
        let snapshot = exchange.generation.snapshot
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
        if let fields = exchange.rateLimitFields { fields.add(to: &headers) }
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
            if !self.isClosed, self.queued.isEmpty,
                let expired = self.deadlines.check(now: now, limits: self.snapshot.clientLimits, isHoldingReads: false)
            {
                self.clientTimedOut(expired, exchange: nil)
            }
            return
        }
        if exchange.isTunnel {
            // A tunnel has no request, response or client limit, only the cluster's idle timeout;
            // closing the client's side closes the upstream's and logs the tunnel.
            if now >= exchange.lastActivity + exchange.idleTimeout { self.context?.close(promise: nil) }
            return
        }
        if !exchange.requestComplete, !exchange.responseEnded, !self.isClosed,
            let expired = self.deadlines.check(
                now: now, limits: exchange.generation.snapshot.clientLimits, isHoldingReads: self.pendingRead)
        {
            self.clientTimedOut(expired, exchange: exchange)
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
        let now = NIODeadline.now()
        exchange.record.totalMilliseconds = exchange.elapsedMilliseconds(now)
        exchange.retryTask?.cancel()
        // The try under way, if any: none when the exchange ends while a retry waits for its backoff
        // (the client left) or before its server was picked.
        if !exchange.record.attempts.isEmpty, exchange.endpoint != nil, let upstream = exchange.record.upstream {
            exchange.record.attempts.append(
                RequestRecord.Attempt(
                    server: upstream, error: exchange.record.failure?.type.token,
                    milliseconds: Double((now - exchange.attemptStart).nanoseconds) / 1_000_000))
        }
        if exchange.attemptSpan != nil {
            let failure = exchange.record.failure
            self.endAttemptSpan(
                exchange, error: failure?.type.token, status: exchange.record.upstreamStatus, details: failure?.details)
        }
        if exchange.serverSpan != nil { self.endServerSpan(exchange) }
        if let state = exchange.cache { self.cacheExchangeEnded(exchange, state: state) }
        let record = exchange.record
        self.loop.stats.record(
            record, slot: exchange.generation.statSlot(cluster: exchange.cluster, server: exchange.target),
            cluster: exchange.generation.statSlot(cluster: exchange.cluster), openedConnection: exchange.openedConnection)
        exchange.generation.recordMetrics(
            record, route: exchange.route, cluster: exchange.cluster, server: exchange.target,
            openedConnection: exchange.openedConnection)
        // One relaxed load per request; addresses are counted only while a traffic spike is suspected.
        if self.loop.stats.clients.isWatching { self.loop.stats.clients.count(self.clientIP) }
        if let endpoint = exchange.endpoint {
            exchange.endpoint = nil
            self.endAttempt(
                // The upstream's own 5xx even when a stale copy answered the client instead.
                endpoint, failure: record.failure?.type, status: record.receivedStatus ?? record.status,
                generation: exchange.generation,
                clientLeft: record.status == 499 && !exchange.responseHeadSent)
        }
        exchange.breaker?.requestFinished()
        exchange.breaker = nil
        if self.loop.accessLog.isEnabled { self.loop.accessLog.append(record.jsonLine()) }
        if record.failure != nil { self.loop.stats.errors.record(record) }
        // The client's own refusals (malformed, too large, too slow, rate-limited) are in the access
        // log and the metrics; the error log is for what went wrong on the way to an upstream.
        if let failure = record.failure, failure.type != .httpRequestError, failure.type != .httpRequestDenied {
            var metadata: Logger.Metadata = [
                "request.id": .string(record.requestID), "proxy_status.error": .string(failure.type.token),
                "status": .stringConvertible(record.status),
            ]
            if let upstream = record.upstream { metadata["upstream.host"] = .string(upstream) }
            if let route = record.route { metadata["route"] = .string(route) }
            if let cluster = record.cluster { metadata["cluster"] = .string(cluster) }
            if let details = failure.details { metadata["details"] = .string(details) }
            // Rescued by the cache: still the upstream's failure, and the log says what the client got.
            let rescued = record.cache == .staleIfError ? " Answered with a stale cached copy (stale-if-error)." : ""
            self.loop.logger.error(
                "\(record.method) \(record.path): \(failure.type.summary) Fix: \(failure.type.fixHint)\(rescued)", metadata: metadata)
        }
    }
}

extension DownstreamHandler {
    /// A try on `endpoint` ended: its in-flight count drops, and passive health learns from it.
    ///
    /// - Parameter clientLeft: the client closed before the answer (499): that says nothing about
    ///   the server, so the run of failures is left as it is (not reset as by a success).
    func endAttempt(
        _ endpoint: Endpoint, failure: ProxyStatusError?, status: Int, generation: LoopGeneration, clientLeft: Bool = false
    ) {
        endpoint.active.wrappingSubtract(1, ordering: .relaxed)
        endpoint.requests.wrappingAdd(1, ordering: .relaxed)
        if let failure, failure.failingHop == .upstream { endpoint.countError(failure) }
        let clusters = generation.snapshot.clusters
        guard endpoint.cluster < clusters.count, let detection = clusters[endpoint.cluster].cluster.outlierDetection else {
            return
        }
        let failed = clientLeft ? nil : OutlierDetector.counts(failure, status: status, configuration: detection)
        if endpoint.recordOutcome(failed: failed), let controller = generation.controller {
            controller.failureThresholdReached(endpoint, lastError: failure, status: status)
        }
    }
}
