import GatehouseErrors

/// How sure a group's cause is; a weaker group whose cause is only a default joins a stronger
/// finding among its candidates (HAProxy's `SC--` cannot tell a refusal from a failed TLS
/// handshake; nginx's error line for the same outage can).
enum Strength {
    /// The line names the cause.
    static let named = 3
    /// Other lines (app logs, event lines, retries, timings) decide the cause.
    static let inferred = 2
    /// A specific message whose root cause is still open (nginx "prematurely closed").
    static let specific = 1
    /// A generic state that several causes produce alike (HAProxy `SC`, `PH`, `SD`, `SH`).
    static let generic = 0
}

/// A group with its cause decided.
struct ResolvedGroup {
    var group: FailureGroup
    var cause: Cause
    var proxyStatus: ProxyStatusError?
    var strength: Int
    /// Causes this group's lines are equally consistent with (for the merge step).
    var candidates: Set<Cause> = []
    /// Why this cause and not another, in words for the report.
    var reason: String?
    /// Context lines that support the decision (app log, HAProxy events, a retry).
    var related: [String] = []

    init(_ group: FailureGroup, _ cause: Cause, strength: Int, reason: String? = nil, related: [String?] = []) {
        self.group = group
        self.cause = cause
        self.proxyStatus = cause.proxyStatus
        self.strength = strength
        self.reason = reason
        self.related = related.compactMap { $0 }
    }
}

/// The rules that turn groups into causes, using everything read (CAUSES.md §3–4).
struct Classifier {
    let aggregator: Aggregator
    /// Whether any nginx error.log line was read (even a notice): then a 5xx without an error line was relayed.
    let sawNginxErrorLog: Bool
    /// Unix sockets (FastCGI) whose refusals are a full pool, not a missing socket: nginx said EAGAIN,
    /// or the same socket also answered (a socket that is missing never answers).
    let poolUpstreams: Set<String>
    /// nginx `worker_connections are not enough` groups: a loop's signature around their time.
    let loopAlerts: [FailureGroup]
    /// nginx could not connect to some server, so `no live upstreams` means servers marked down.
    let nginxServersFailed: Bool

    init(aggregator: Aggregator, sawNginxErrorLog: Bool) {
        self.aggregator = aggregator
        self.sawNginxErrorLog = sawNginxErrorLog
        var pool = Set<String>()
        var alerts: [FailureGroup] = []
        var serversFailed = false
        for (key, group) in aggregator.groups {
            if key.upstream.hasPrefix("unix:") {
                let answered = (aggregator.upstreams[key.upstream.upstreamHash]?.successes ?? 0) > 0
                if key.failureClass == .named(.fastCGIPoolExhausted) || (key.failureClass == .connectFailed && answered)
                {
                    pool.insert(key.upstream)
                }
            }
            if key.failureClass == .workerConnectionsExhausted { alerts.append(group) }
            guard key.family == .nginx else { continue }
            // A server that is merely slow is not marked down, so timeouts alone still point to max_conns.
            switch key.failureClass {
            case .connectFailed, .connectTimeout: serversFailed = true
            case .named(let cause) where Self.connectCauses.contains(cause): serversFailed = true
            default: break
            }
        }
        poolUpstreams = pool
        loopAlerts = alerts
        nginxServersFailed = serversFailed || aggregator.serverDisabled.count > 0
    }

    static let terminatedCandidates: Set<Cause> = [
        .upstreamClosedBeforeResponse, .upstreamResetBeforeResponse, .keepaliveRace, .appWorkerKilledTimeout,
        .tlsClientCertificateRequired, .forwardingLoop, .upstreamNotReadingRequest,
    ]
    static let connectFailedCandidates: Set<Cause> = [
        .upstreamNotListening, .tlsUntrustedCertificate, .tlsExpiredCertificate, .tlsHostnameMismatch,
        .tlsToPlaintextUpstream, .tlsClientCertificateRequired, .fastCGIPoolExhausted, .fastCGISocketPermission,
        .fastCGISocketMissing, .destinationUnroutable, .gatewayMisconfigured,
    ]
    /// Causes that mean the proxy could not connect to a server at all.
    static let connectCauses: Set<Cause> = [
        .upstreamNotListening, .destinationUnroutable, .fastCGISocketMissing, .fastCGISocketPermission,
        .fastCGIPoolExhausted, .tlsUntrustedCertificate, .tlsExpiredCertificate, .tlsHostnameMismatch,
        .tlsClientCertificateRequired, .tlsToPlaintextUpstream,
    ]
    static let noServerCandidates: Set<Cause> = [
        .noHealthyUpstream, .dnsNXDomain, .dnsTimeout, .noResolverConfigured, .tlsUntrustedCertificate,
        .tlsExpiredCertificate, .tlsHostnameMismatch, .tlsToPlaintextUpstream, .upstreamNotListening,
    ]

    /// Every group that counts, with its cause. nginx access lines for errors nginx generated are left out
    /// when error.log has failures: they are the same requests.
    func resolvedGroups() -> [ResolvedGroup] {
        aggregator.groups.values
            .filter { !($0.key.duplicatesErrorLog && aggregator.nginxErrorFailures > 0) }
            .map(resolve)
    }

    func resolve(_ group: FailureGroup) -> ResolvedGroup {
        switch group.key.failureClass {
        case .named(let cause):
            return ResolvedGroup(group, cause, strength: Strength.named)
        case .gatehouse(let error):
            var resolved = ResolvedGroup(
                group,
                Cause(gatehouseProxyStatus: error) ?? .unexplainedGatewayError,
                strength: Strength.named
            )
            resolved.proxyStatus = error
            return resolved
        case .workerConnectionsExhausted:
            return ResolvedGroup(
                group,
                .forwardingLoop,
                strength: Strength.inferred,
                reason: "nginx ran out of worker_connections: each looping request opens another connection to itself."
            )
        case .readTimeout: return readTimeout(group)
        case .connectTimeout:
            if group.isFastCGI, aggregator.poolExhausted.covers(group) {
                return poolExhausted(group, status: .connectionTimeout)
            }
            return ResolvedGroup(group, .upstreamConnectTimeout, strength: Strength.named)
        case .terminatedBeforeResponse(let fallback): return terminated(group, fallback: fallback)
        case .noLiveUpstreams: return noLiveUpstreams(group)
        case .connectFailed: return connectFailed(group)
        case .noServer: return noServer(group)
        case .invalidResponse:
            var resolved = ResolvedGroup(
                group,
                .invalidStatusLine,
                strength: Strength.generic,
                reason:
                    "HAProxy blocked an invalid response (PH): a bad status line or header, a header section over tune.bufsize, or bad chunking look the same in its log."
            )
            resolved.candidates = [
                .invalidStatusLine, .invalidResponseHeader, .responseHeaderTooLarge, .invalidChunkedEncoding,
            ]
            return resolved
        case .diedMidBody:
            var resolved = ResolvedGroup(group, .upstreamClosedMidBody, strength: Strength.generic)
            resolved.candidates = [
                .upstreamClosedMidBody, .upstreamResetMidBody, .contentLengthMismatch, .upstreamBodyTimeout,
            ]
            return resolved
        case .resolverFailed:
            let slow = group.slow * 2 > group.durationSamples && group.durationSamples > 0
            var resolved = ResolvedGroup(group, slow ? .dnsTimeout : .dnsNXDomain, strength: Strength.generic)
            resolved.candidates = [.dnsNXDomain, .dnsTimeout, .noResolverConfigured]
            return resolved
        case .opaque:
            if sawNginxErrorLog, aggregator.nginxErrorFailures == 0 {
                return ResolvedGroup(
                    group,
                    .upstreamReturned502,
                    strength: Strength.specific,
                    reason: "error.log has no line for these requests, so nginx relayed the upstream's 5xx."
                )
            }
            var resolved = ResolvedGroup(group, .unexplainedGatewayError, strength: Strength.generic)
            let status = group.statuses.max { $0.value < $1.value }?.key ?? 502
            resolved.proxyStatus =
                status == 504 ? .connectionReadTimeout : status == 503 ? .destinationUnavailable : .connectionTerminated
            return resolved
        }
    }

    /// The backend of a HAProxy group (`be_app/app1` → `be_app`).
    func backend(_ group: FailureGroup) -> BackendState? {
        guard group.key.family == .haproxy else { return nil }
        let name = group.key.upstream.split(separator: "/", maxSplits: 1).first.map(String.init) ?? group.key.upstream
        return aggregator.backends[name]
    }

    func poolExhausted(_ group: FailureGroup, status: ProxyStatusError) -> ResolvedGroup {
        var resolved = ResolvedGroup(
            group,
            .fastCGIPoolExhausted,
            strength: Strength.inferred,
            reason:
                "PHP-FPM's children were all busy: its socket refused new connections, and requests queued behind them timed out.",
            related: [aggregator.poolExhausted.line, backend(group)?.lines.first]
        )
        resolved.proxyStatus = status
        return resolved
    }

    func readTimeout(_ group: FailureGroup) -> ResolvedGroup {
        if isLoopBurst(group) || loopAlertCovers(group) {
            return ResolvedGroup(
                group,
                .forwardingLoop,
                strength: Strength.inferred,
                reason:
                    "one request repeated \(group.count) times at once, at \(group.maxConcurrency) concurrent connections: the proxy is its own upstream."
            )
        }
        if (group.isFastCGI && (aggregator.poolExhausted.covers(group) || poolUpstreams.contains(group.key.upstream)))
            || (backend(group)?.unixSocketBacklog ?? 0) > 0
        {
            return poolExhausted(group, status: .connectionReadTimeout)
        }
        return ResolvedGroup(group, .upstreamResponseTimeout, strength: Strength.named)
    }

    /// nginx ran out of worker connections around the group's failures (the loop's signature).
    func loopAlertCovers(_ group: FailureGroup) -> Bool {
        loopAlerts.contains { group.overlaps($0.firstTime, $0.lastTime, slack: FindingBuilder.mergeSlack) }
    }

    /// HAProxy forwarding to itself: one request line, many concurrent connections, all within moments.
    func isLoopBurst(_ group: FailureGroup) -> Bool {
        guard group.key.family == .haproxy, group.count >= 10, group.maxConcurrency >= 10, !group.variedRequests,
            let first = group.firstTime, let last = group.lastTime
        else { return false }
        let seconds = max(1, (last - first) / 1000)
        return Int64(group.count) / seconds >= 10
    }

    /// Closed or reset before the response: a killed worker, a keep-alive race, a loop, or a crash.
    func terminated(_ group: FailureGroup, fallback: Cause) -> ResolvedGroup {
        let key = group.key
        if loopAlertCovers(group) || group.upstreamIsSelf > 0 {
            return ResolvedGroup(
                group,
                .forwardingLoop,
                strength: Strength.inferred,
                reason:
                    "the proxy forwards to itself: the upstream is its own address, or nginx ran out of worker connections at the same time."
            )
        }
        if aggregator.workerKilled.covers(group) {
            return ResolvedGroup(
                group,
                .appWorkerKilledTimeout,
                strength: Strength.inferred,
                reason: "the application server's log shows workers killed at their timeout at the same time.",
                related: [aggregator.workerKilled.line]
            )
        }
        let state = aggregator.upstreams[key.upstream.upstreamHash]
        let fromErrorLog = key.family == .nginx && !key.duplicatesErrorLog
        let afterSuccess = fromErrorLog ? state?.terminatedAfterSuccess ?? 0 : group.followsSuccess
        let total = fromErrorLog ? state?.terminated ?? 0 : group.count
        let slow = fromErrorLog ? state?.slowTerminated ?? 0 : group.slow
        let timed = fromErrorLog ? total : group.durationSamples
        let retried = (state?.retriedOnSameServer ?? 0) > 0
        let slowMajority = timed > 0 && slow * 2 > timed
        if retried {
            return ResolvedGroup(
                group,
                .keepaliveRace,
                strength: Strength.inferred,
                reason:
                    "nginx retried the same server on a fresh connection after a pooled keep-alive connection failed (upstream_status \"502, 200\").",
                related: [aggregator.retryLine]
            )
        }
        // A crash on one endpoint also follows successes; the race hits whatever request reuses the connection.
        let oneRequestOnly = !group.variedRequests && group.count >= 3
        if total > 0, afterSuccess * 2 >= total, !slowMajority, !oneRequestOnly {
            return ResolvedGroup(
                group,
                .keepaliveRace,
                strength: Strength.inferred,
                reason:
                    "the failures hit an upstream that had just answered successfully: a reused idle connection closed under the proxy\(group.nonIdempotent > 0 ? " (non-idempotent requests such as POST are not retried)" : "")."
            )
        }
        if slowMajority {
            return ResolvedGroup(
                group,
                .appWorkerKilledTimeout,
                strength: Strength.inferred,
                reason:
                    "the upstream closed the connection only seconds after getting the request, without answering: the signature of a worker killed at the app server's timeout."
            )
        }
        if group.retried > 0 {
            // HAProxy retries only failed connection attempts: a server that fails the handshake and then
            // aborts before the headers is rejecting the TLS session, typically for want of a client certificate.
            return ResolvedGroup(
                group,
                .tlsClientCertificateRequired,
                strength: Strength.inferred,
                reason:
                    "HAProxy had to retry the connection before the server aborted it: a TLS-level rejection (client certificate required?)."
            )
        }
        var resolved = ResolvedGroup(group, fallback, strength: fromErrorLog ? Strength.specific : Strength.generic)
        resolved.candidates = Self.terminatedCandidates
        return resolved
    }

    func noLiveUpstreams(_ group: FailureGroup) -> ResolvedGroup {
        if nginxServersFailed {
            return ResolvedGroup(
                group,
                .noHealthyUpstream,
                strength: Strength.inferred,
                reason: "the servers of the group failed and were marked down (max_fails) before these requests.",
                related: [aggregator.serverDisabled.line]
            )
        }
        var resolved = ResolvedGroup(
            group,
            .upstreamConnectionLimit,
            strength: Strength.specific,
            reason: "no server failed before these requests, so every server was at its max_conns."
        )
        resolved.candidates = [.noHealthyUpstream, .upstreamConnectionLimit]
        return resolved
    }

    func connectFailed(_ group: FailureGroup) -> ResolvedGroup {
        var resolved: ResolvedGroup
        if group.key.family == .haproxy, let backend = backend(group) {
            let causes = Set(backend.reasons.map(\.cause))
            if backend.unixSocketBacklog > 0 {
                return poolExhausted(group, status: .connectionRefused)
            } else if causes.count == 1, let only = causes.first, only != .noHealthyUpstream {
                return fromHealthCheck(group, only, backend)
            } else if backend.reasons.contains(.connectionRefused) {
                return ResolvedGroup(group, .upstreamNotListening, strength: Strength.inferred, related: backend.lines)
            }
        }
        if group.key.upstream.hasPrefix("unix:") {
            if aggregator.poolExhausted.covers(group) || poolUpstreams.contains(group.key.upstream) {
                return poolExhausted(group, status: .connectionRefused)
            }
            resolved = ResolvedGroup(group, .fastCGISocketMissing, strength: Strength.generic)
        } else {
            resolved = ResolvedGroup(group, .upstreamNotListening, strength: Strength.generic)
            if group.key.family == .haproxy {
                resolved.reason =
                    "HAProxy logs SC (and retries) the same way for a refused connection and for a failed TLS handshake or unix socket."
            }
        }
        resolved.candidates = Self.connectFailedCandidates
        return resolved
    }

    /// The cause HAProxy's health checks or resolver name for a backend. A bare `SSL handshake failure`
    /// (or another Layer6 failure, or a DNS error other than NX/timeout) only says "TLS" or "DNS": it yields to
    /// the precise reason another log gives for the same outage (nginx names the certificate problem).
    func fromHealthCheck(_ group: FailureGroup, _ cause: Cause, _ backend: BackendState) -> ResolvedGroup {
        let vague = backend.reasons.contains { [.tlsHandshakeFailure, .layer6Other, .dnsOther].contains($0) }
        var resolved = ResolvedGroup(
            group,
            cause,
            strength: vague ? Strength.specific : Strength.inferred,
            reason: "HAProxy took the servers out of the backend; its health check or resolver says why.",
            related: backend.lines
        )
        if vague {
            resolved.candidates =
                cause == .dnsNXDomain
                ? [.dnsNXDomain, .dnsTimeout, .noResolverConfigured]
                : [
                    .tlsUntrustedCertificate, .tlsExpiredCertificate, .tlsHostnameMismatch, .tlsToPlaintextUpstream,
                    .tlsClientCertificateRequired,
                ]
        }
        return resolved
    }

    func noServer(_ group: FailureGroup) -> ResolvedGroup {
        let backend = backend(group)
        let causes = Set(backend?.reasons.map(\.cause) ?? [])
        if let only = causes.first, causes.count == 1, let backend {
            return fromHealthCheck(group, only, backend)
        }
        if !causes.isEmpty || (backend?.noServerAvailable ?? 0) > 0 {
            return ResolvedGroup(
                group,
                .noHealthyUpstream,
                strength: Strength.inferred,
                reason: "every server of the backend failed its health check.",
                related: backend?.lines ?? []
            )
        }
        var resolved = ResolvedGroup(
            group,
            .noResolverConfigured,
            strength: Strength.generic,
            reason:
                "no server ever had an address and no event line says why: a host name with `init-addr none` and no resolvers."
        )
        resolved.candidates = Self.noServerCandidates
        return resolved
    }
}
