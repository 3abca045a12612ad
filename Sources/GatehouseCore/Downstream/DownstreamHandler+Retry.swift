import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import NIOHTTP1
import Prometheus
import Synchronization

extension DownstreamHandler {
    /// Tries the request again instead of answering with `failure` (or passing on a retryable
    /// `status`), when that is safe and allowed. Returns true when a new try is under way.
    ///
    /// Safe: nothing was sent to the client yet; the request never reached the upstream (connect
    /// failures), or its method is idempotent and its whole body so far is held for the replay.
    /// Allowed: the policy names the failure, tries remain, the retry budget has room. The keep-alive
    /// race — a reused connection closed by the upstream before any response byte — is retried once
    /// on a fresh connection whatever the method, outside the budget: the upstream closed an idle
    /// connection and never read the request.
    func retryIfPossible(_ exchange: Exchange, failure: ProxyFailure?, status: Int? = nil) -> Bool {
        guard !exchange.responseHeadSent, !exchange.discardingBody, !self.isClosed, let endpoint = exchange.endpoint,
            exchange.cluster >= 0
        else { return false }
        let policy = exchange.generation.snapshot.clusters[exchange.cluster].cluster.retries
        let phase = exchange.phase
        let replayable = exchange.held != nil
        var race = false
        if let failure {
            guard failure.type.failingHop == .upstream, failure.type != .httpResponseTimeout else { return false }
            let closed = failure.type == .connectionTerminated || failure.type == .httpResponseIncomplete
            let silent = !exchange.upstreamResponded && !(exchange.upstream?.progress.bytesReceived ?? false)
            race = closed && exchange.record.reusedConnection && silent && phase != .connect && replayable && !exchange.raceRetried
            if !race {
                let reachedUpstream = phase != .connect
                let named: Bool
                switch failure.type {
                case .connectionRefused, .connectionTimeout, .destinationIPUnroutable,
                    // The handshake is part of connecting (SocketUpstreamConnector): nothing was sent, and
                    // another server may well hold a good certificate.
                    .tlsCertificateError, .tlsProtocolError, .tlsAlertReceived:
                    named = phase == .connect && policy.conditions.contains(.connectFailure)
                case .connectionTerminated, .httpResponseIncomplete:
                    named =
                        (phase == .connect && policy.conditions.contains(.connectFailure))
                        || (silent && policy.conditions.contains(.reset))
                case .connectionReadTimeout:
                    named = phase == .awaitResponseHead && policy.conditions.contains(.readTimeout)
                default:
                    named = false
                }
                guard named, self.mayRetry(exchange, policy: policy, reachedUpstream: reachedUpstream, replayable: replayable)
                else { return false }
            }
        } else {
            guard let status, policy.statuses.contains(status),
                self.mayRetry(exchange, policy: policy, reachedUpstream: true, replayable: replayable)
            else { return false }
        }

        // The failed try is over: account it, then start the next one.
        let now = NIODeadline.now()
        let error = failure?.type.token ?? "http_\(status ?? 0)"
        exchange.record.attempts.append(
            RequestRecord.Attempt(
                server: endpoint.display, error: error,
                milliseconds: Double((now - exchange.attemptStart).nanoseconds) / 1_000_000))
        if exchange.attemptSpan != nil {
            self.endAttemptSpan(exchange, error: failure?.type.token, status: status, details: failure?.details)
        }
        exchange.endpoint = nil
        exchange.tried.append(endpoint.id)
        self.endAttempt(endpoint, failure: failure?.type, status: status ?? 0, generation: exchange.generation)
        self.detachUpstream(exchange, isReusable: false)
        self.count(.retry, exchange)
        if race {
            exchange.raceRetried = true
            self.count(.reusedConnectionFailure, exchange)
            self.reportRace(exchange, endpoint: endpoint, error: error)
        }
        // The parts already sent go again, before those that arrived since.
        exchange.bufferedBytes += exchange.heldBytes
        exchange.buffered = exchange.takeHeld() + exchange.buffered
        exchange.upstreamResponded = false
        exchange.record.reusedConnection = false
        exchange.record.upstreamStatus = nil
        exchange.headerDeadline = nil
        exchange.phase = .selectUpstream
        let delay = race ? .zero : self.loop.backoff(retry: exchange.record.attempts.count, policy: policy)
        if delay <= .zero {
            self.nextTry(exchange, fresh: race)
        } else {
            exchange.retryTask = self.loop.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
                self.nextTry(exchange, fresh: false)
            }
        }
        return true
    }

    /// Counts a retry event in the stats and the cluster's metrics.
    private func count(_ event: GatewayStats.RetryEvent, _ exchange: Exchange) {
        self.loop.stats.count(event)
        guard let series = exchange.generation.clusterInstruments(exchange.cluster) else { return }
        switch event {
        case .retry: series.retries.increment()
        case .budgetExhausted: series.budgetExhausted.increment()
        case .reusedConnectionFailure: series.keepAliveRaces.increment()
        }
    }

    /// Whether a named failure may be retried: tries left, a safe method, the body held, budget left.
    private func mayRetry(_ exchange: Exchange, policy: Cluster.Retries, reachedUpstream: Bool, replayable: Bool) -> Bool {
        // `tried` holds the failed tries before this one.
        guard exchange.tried.count + 1 < policy.attempts else { return false }
        if reachedUpstream {
            guard replayable, policy.idempotentMethods.contains(exchange.requestHead.method.rawValue) else { return false }
        }
        guard self.loop.withdrawRetry(in: exchange.generation, cluster: exchange.cluster) else {
            self.count(.budgetExhausted, exchange)
            return false
        }
        return true
    }

    private func nextTry(_ exchange: Exchange, fresh: Bool) {
        exchange.retryTask = nil
        guard self.exchange === exchange, !self.isClosed, let endpoint = self.pickEndpoint(exchange) else { return }
        if exchange.hostRewrite == .upstream {
            exchange.upstreamHead?.headers.replaceOrAdd(name: "Host", value: endpoint.serverName)
        }
        self.leaseOrConnect(exchange, endpoint: endpoint, fresh: fresh)
    }

    /// The keep-alive race, logged with the cause and the fix, and learned by the pool.
    private func reportRace(_ exchange: Exchange, endpoint: Endpoint, error: String) {
        let pool = self.loop.pool(for: endpoint)
        let configured = TimeAmount(exchange.generation.snapshot.clusters[exchange.cluster].cluster.pool.idleTimeout)
        var cause = "upstream \(endpoint.display) closed a reused keep-alive connection"
        if let age = exchange.reusedIdleAge {
            cause += " after \(Self.seconds(age)) s idle"
            pool.observedIdleClose(after: age)
        }
        cause += " (\(error)) before answering; retried on a fresh connection."
        cause += " The pool's idle timeout is \(Self.seconds(configured)) s"
        let learned = pool.currentIdleLimit
        if learned < configured { cause += " (now \(Self.seconds(learned)) s, learned from this upstream)" }
        cause += ". Fix: set pool.idle_timeout below the upstream's keep-alive timeout, or raise that timeout above the gateway's."
        self.loop.logger.warning(
            "\(cause)",
            metadata: [
                "request.id": .string(exchange.record.requestID), "upstream.host": .string(endpoint.display),
                "event": "reused_connection_failure", "proxy_status.error": .string(error),
            ])
    }

    static func seconds(_ amount: TimeAmount) -> String {
        let tenths = (amount.nanoseconds + 50_000_000) / 100_000_000
        return tenths % 10 == 0 ? "\(tenths / 10)" : "\(tenths / 10).\(tenths % 10)"
    }

    /// `Keep-Alive: timeout=5, max=100` → 5 s.
    static func keepAliveTimeout(_ headers: HTTPHeaders) -> TimeAmount? {
        guard let value = headers.first(name: "keep-alive") else { return nil }
        for parameter in value.split(separator: ",") {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: " \t") }
            if pair.count == 2, pair[0].lowercased() == "timeout", let seconds = Int(pair[1]), seconds > 0 {
                return .seconds(Int64(seconds))
            }
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(self.drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
