import GatehouseConfig
import GatehouseErrors
import NIOCore
import NIOHTTP1
import Prometheus

// The response cache on the data path (RFC 9111 shared cache, RFC 9211 Cache-Status, RFC 5861
// stale-if-error). Only exchanges of routes with `cache` reach this file; the rules are in
// ``CachePolicy``, the entries in ``ResponseCache``.

extension DownstreamHandler {
    // MARK: - Request side

    /// Consults the cache for a request of a caching route. Returns true when the exchange needs
    /// nothing more from the request path: answered from the store, or waiting for an identical
    /// request already under way.
    func cacheRequestStarted(_ exchange: Exchange, policy: RouteCache, resume: CacheExchange.Resume) -> Bool {
        let head = exchange.requestHead
        let control = CacheControl(head.headers)
        let key = CacheExchange.key(route: resume.entry.route, host: exchange.record.host, target: head.uri)
        let state = CacheExchange(cache: self.loop.cache, route: policy, key: key, requestControl: control, resume: resume)
        exchange.cache = state
        let gateway = exchange.generation.snapshot.gatewayName
        guard head.method == .GET || head.method == .HEAD, resume.facts.framing == .none, !control.noStore else {
            // An unsafe method may change the resource: its stored responses go (RFC 9111 §4.4),
            // before the answer rather than after it (one more miss at worst, never a stale read).
            if head.method != .GET, head.method != .HEAD, head.method != .OPTIONS, head.method != .TRACE {
                state.cache.removeAll(key)
            }
            state.outcome = .bypass
            state.statusField = CacheExchange.field(gateway, "fwd=bypass")
            return false
        }
        return self.cacheLookup(exchange, state: state)
    }

    /// Looks the request up: answers, waits, or prepares the forward (returns false).
    private func cacheLookup(_ exchange: Exchange, state: CacheExchange) -> Bool {
        let now = ResponseCache.now()
        let gateway = exchange.generation.snapshot.gatewayName
        let isGET = exchange.requestHead.method == .GET
        if let found = state.cache.lookup(state.key, request: exchange.requestHead.headers) {
            let response = found.response
            switch CachePolicy.use(response, request: state.requestControl, now: now) {
            case .fresh:
                let ttl = Int((response.freshnessLifetime - response.age(at: now)).rounded(.down))
                var field = "hit; ttl=\(ttl)"
                if state.waited { field += "; detail=coalesced" }
                self.serveFromCache(exchange, response, now: now, outcome: .hit, field: CacheExchange.field(gateway, field))
                return true
            case .staleWhileRevalidate:
                // One request revalidates; the others meanwhile get the stale copy at once.
                if isGET, state.cache.join(state.key, eventLoop: self.loop.eventLoop, wake: nil) != nil {
                    state.isLeader = true
                    state.stored = found
                    state.outcome = .revalidated
                    return false
                }
                let ttl = Int(-response.staleness(at: now).rounded(.up))
                self.serveFromCache(
                    exchange, response, now: now, outcome: .stale,
                    field: CacheExchange.field(gateway, "hit; ttl=\(ttl); detail=stale-while-revalidate"))
                return true
            case .revalidate:
                state.stored = found
                state.outcome = .revalidated
                return false
            }
        }
        state.outcome = .miss
        guard isGET else { return false }
        if state.waited {
            // Back from a wait that found nothing: lead if nobody else does, never wait again.
            state.isLeader = state.cache.join(state.key, eventLoop: self.loop.eventLoop, wake: nil) != nil
            return false
        }
        let handler = NIOLoopBound(self, eventLoop: self.loop.eventLoop)
        let waiting = NIOLoopBound(exchange, eventLoop: self.loop.eventLoop)
        let joined = state.cache.join(state.key, eventLoop: self.loop.eventLoop) {
            handler.value.coalescedWaitEnded(waiting.value)
        }
        switch joined?.0 {
        case .lead?, nil:
            state.isLeader = true
            return false
        case .wait?:
            state.waiterID = joined?.waiter
            state.waitTimer = self.loop.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(state.route.coalesceTimeout)) {
                [self] in
                self.coalescedWaitEnded(exchange)
            }
            return true
        }
    }

    /// The request under way for the same key landed (or the wait ran out): look again, then
    /// answer from the store or go upstream.
    func coalescedWaitEnded(_ exchange: Exchange) {
        guard self.exchange === exchange, !self.isClosed, !exchange.responseEnded, let state = exchange.cache,
            !state.waited
        else { return }
        state.waitTimer?.cancel()
        state.waitTimer = nil
        if let waiter = state.waiterID {
            state.cache.leave(state.key, waiter: waiter)
            state.waiterID = nil
        }
        state.waited = true
        if self.cacheLookup(exchange, state: state) { return }
        self.forward(exchange, entry: state.resume.entry, requestTarget: state.resume.target, facts: state.resume.facts)
    }

    /// Puts the stored response's validators on the upstream request (§4.3.1) in place of the
    /// client's own: the 304 then refreshes the store, and the client's conditions are answered
    /// from it.
    func cachePrepareUpstreamHead(_ exchange: Exchange, state: CacheExchange) {
        state.requestTime = ResponseCache.now()
        guard let stored = state.stored?.response, var head = exchange.upstreamHead else { return }
        // With a stored copy, the upstream's answer is for the store: never a 304 to the client's
        // own validators, which the store could not use.
        head.headers.remove(name: "if-none-match")
        head.headers.remove(name: "if-modified-since")
        if let validators = CachePolicy.validators(stored) {
            for (name, value) in validators { head.headers.add(name: name, value: value) }
            state.revalidating = true
        }
        exchange.upstreamHead = head
    }

    // MARK: - Response side

    /// The upstream's final response head on a caching route. Returns true when the cache took
    /// the response over (a 304 to our revalidation, or a 5xx a stored copy answers instead).
    func cacheResponseHead(_ head: HTTPResponseHead, exchange: Exchange, state: CacheExchange) -> Bool {
        let now = ResponseCache.now()
        let gateway = exchange.generation.snapshot.gatewayName
        let code = Int(head.status.code)
        if code == 304, state.revalidating, state.stored != nil {
            state.notModified = head.headers
            exchange.record.upstreamStatus = code
            exchange.record.headerMilliseconds = exchange.elapsedMilliseconds(exchange.lastActivity)
            exchange.upstreamResponded = true
            exchange.upstreamKeepAlive = RequestFraming.connectionOptions(head.headers, version: head.version).persistent
            exchange.phase = .streamResponse
            exchange.headerDeadline = nil
            return true
        }
        if code >= 500, let stored = state.stored?.response,
            CachePolicy.mayServeOnError(stored, request: state.requestControl, now: now)
        {
            // Counted as what it is (a received 5xx), answered from the store.
            exchange.upstreamResponded = true
            exchange.record.upstreamStatus = code
            exchange.record.receivedStatus = code
            exchange.record.headerMilliseconds = exchange.elapsedMilliseconds(exchange.lastActivity)
            self.detachUpstream(exchange, isReusable: false)
            self.serveStale(exchange, stored, now: now, reason: "received \(code)", forwardedStatus: code)
            return true
        }
        let forward = state.stored == nil ? (state.requestControl.noCache ? "request" : "miss") : "stale"
        var field = "fwd=\(forward); fwd-status=\(code)"
        if state.outcome == .bypass {
            field = "fwd=bypass"
        } else if let reason = CachePolicy.notStored(
            method: exchange.requestHead.method, request: exchange.requestHead.headers,
            requestControl: state.requestControl, status: head.status.code, response: head.headers,
            responseControl: CacheControl(head.headers), maxObjectBytes: Int64(state.cache.maxObjectBytes))
        {
            field += "; detail=\(reason.rawValue)"
            // A stored variant the origin no longer allows to keep goes (no-store, private…).
            if state.stored != nil, code < 500 { state.cache.removeAll(state.key) }
            self.landFlight(state)
        } else {
            field += "; stored"
            state.capture = CacheExchange.Capture(
                status: head.status, headers: head.headers,
                body: ByteBuffer(), responseTime: now, limit: state.cache.maxObjectBytes)
        }
        state.statusField = CacheExchange.field(gateway, field)
        return false
    }

    /// A body part of the response being forwarded: copied while it fits.
    func cacheResponseBody(_ buffer: ByteBuffer, state: CacheExchange) {
        guard state.capture != nil else { return }
        if (state.capture?.body.readableBytes ?? 0) + buffer.readableBytes > (state.capture?.limit ?? 0) {
            // Beyond max_object_bytes: stop copying, keep streaming; waiters go upstream themselves.
            state.capture = nil
            self.landFlight(state)
            return
        }
        state.capture?.body.writeImmutableBuffer(buffer)
    }

    /// The response's end. Returns true when it was a 304 to our revalidation (answered here).
    func cacheResponseEnded(_ exchange: Exchange, state: CacheExchange, trailers: HTTPHeaders?) -> Bool {
        if let notModified = state.notModified, let stored = state.stored {
            state.notModified = nil
            let reusable = exchange.upstreamKeepAlive && exchange.requestComplete
            if !exchange.requestComplete { exchange.closeConnection = true }
            self.detachUpstream(exchange, isReusable: reusable)
            let now = ResponseCache.now()
            let refreshed = CachePolicy.freshened(
                stored.response, notModified: notModified, requestTime: state.requestTime, responseTime: now,
                route: state.route)
            state.cache.replace(slot: stored.slot, key: state.key, with: refreshed)
            self.landFlight(state)
            let ttl = Int((refreshed.freshnessLifetime - refreshed.age(at: now)).rounded(.down))
            self.serveFromCache(
                exchange, refreshed, now: now, outcome: .revalidated,
                field: CacheExchange.field(exchange.generation.snapshot.gatewayName, "fwd=stale; fwd-status=304; stored; ttl=\(ttl)"))
            return true
        }
        if let capture = state.capture {
            state.capture = nil
            if trailers == nil || trailers?.isEmpty == true {
                let response = CachePolicy.entry(
                    request: exchange.requestHead.headers, status: capture.status, response: capture.headers,
                    body: capture.body, requestTime: state.requestTime, responseTime: capture.responseTime,
                    route: state.route)
                state.cache.insert(state.key, response)
            }
        }
        self.landFlight(state)
        return false
    }

    private func landFlight(_ state: CacheExchange) {
        guard state.isLeader else { return }
        state.isLeader = false
        state.cache.land(state.key)
    }

    // MARK: - Failures

    /// stale-if-error: the upstream failed before any response went to the client, and a stored
    /// copy may stand in. The failure stays the exchange's failure (logged, counted, in
    /// /admin/errors); the client gets the copy. Returns true when it did.
    func cacheRescue(_ exchange: Exchange, state: CacheExchange, failure: ProxyFailure) -> Bool {
        guard !exchange.responseHeadSent, let stored = state.stored?.response else { return false }
        switch failure.type.failingHop {
        case .upstream, .resolver: break
        case .gateway: guard failure.type == .connectionLimitReached else { return false }
        }
        let now = ResponseCache.now()
        guard CachePolicy.mayServeOnError(stored, request: state.requestControl, now: now) else { return false }
        self.detachUpstream(exchange, isReusable: false)
        exchange.record.failure = failure
        self.serveStale(exchange, stored, now: now, reason: failure.type.token, forwardedStatus: nil)
        return true
    }

    private func serveStale(_ exchange: Exchange, _ stored: CachedResponse, now: Double, reason: String, forwardedStatus: Int?) {
        guard let state = exchange.cache else { return }
        self.landFlight(state)
        var field = "fwd=stale"
        if let forwardedStatus { field += "; fwd-status=\(forwardedStatus)" }
        field += "; ttl=\(Int((stored.freshnessLifetime - stored.age(at: now)).rounded(.down)))"
        field += "; detail=\"stale-if-error: \(reason)\""
        self.serveFromCache(
            exchange, stored, now: now, outcome: .staleIfError,
            field: CacheExchange.field(exchange.generation.snapshot.gatewayName, field))
    }

    // MARK: - Answering from the store

    /// Writes a stored response (or a 304 when it satisfies the client's own conditional request)
    /// with its current `Age`, and ends the exchange's response.
    func serveFromCache(_ exchange: Exchange, _ response: CachedResponse, now: Double, outcome: CacheOutcome, field: String) {
        guard let context = self.context, !self.isClosed else { return }
        exchange.cache?.outcome = outcome
        let snapshot = exchange.generation.snapshot
        let notModified = CachePolicy.isNotModified(response, request: exchange.requestHead.headers)
        var headers = response.headers
        headers.add(name: "Age", value: String(Int(response.age(at: now).rounded(.down))))
        let hasBody = !notModified && exchange.requestHead.method != .HEAD && response.status.mayHaveResponseBody
        if !notModified, response.status.mayHaveResponseBody {
            headers.add(name: "Content-Length", value: String(response.body.readableBytes))
        }
        let status = notModified ? HTTPResponseStatus.notModified : response.status
        let keepAlive = exchange.clientKeepAlive && !exchange.closeConnection
        var head = HeaderRewriter.downstreamResponseHead(
            HTTPResponseHead(version: .http1_1, status: status, headers: headers), requestID: exchange.record.requestID,
            gatewayName: snapshot.gatewayName, proxyStatus: nil, keepAlive: keepAlive,
            clientVersion: exchange.requestHead.version)
        head.headers.add(name: "Cache-Status", value: field)
        if !exchange.requestComplete && !exchange.closeConnection {
            exchange.discardingBody = true
            exchange.requestDeadline = .now() + .seconds(10)
        }
        exchange.headerDeadline = nil
        exchange.record.status = Int(status.code)
        exchange.record.bytes = hasBody ? Int64(response.body.readableBytes) : 0
        exchange.responseHeadSent = true
        exchange.responseEnded = true
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if hasBody { context.write(self.wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil) }
        if exchange.closeConnection || !exchange.clientKeepAlive {
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: written)
            exchange.lastWrite = written.futureResult
        } else {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        self.finishIfDone(exchange)
    }

    // MARK: - The record

    /// The exchange is being logged: its flight lands if it still holds one, a wait is given up,
    /// and the outcome goes to the record, the counters and the metric.
    func cacheExchangeEnded(_ exchange: Exchange, state: CacheExchange) {
        state.waitTimer?.cancel()
        state.waitTimer = nil
        if let waiter = state.waiterID {
            state.cache.leave(state.key, waiter: waiter)
            state.waiterID = nil
        }
        self.landFlight(state)
        exchange.record.cache = state.outcome
        state.cache.count(state.outcome)
        let routes = exchange.generation.instruments.routes
        if exchange.route >= 0, exchange.route < routes.count, state.outcome.index < routes[exchange.route].cache.count {
            routes[exchange.route].cache[state.outcome.index].increment()
        }
    }
}
