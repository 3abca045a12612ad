import GatehouseConfig
import GatehouseErrors
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization
import NIOPosix

/// Owns what the event loops only read: which endpoints each cluster has (DNS), which answer their
/// health checks, which are ejected for failing real requests, which an operator drained, and the
/// weights of those ramping up after a return (slow start). Each change is published to every loop
/// as a new ``ClusterMembership``; the loops never wait for the controller.
///
/// The pure decisions live in ``ActiveHealth``, ``OutlierDetector``, ``PanicMode`` and ``SlowStart``;
/// this is their shell: timers, probes, resolution, logging.
public final class UpstreamController: @unchecked Sendable {
    // SAFETY: every `var` below is read and written on `loop` only: public entry points hop onto it,
    // timers and probe callbacks run on it. `subscribers` has its own lock.
    let loop: any EventLoop
    let snapshot: ProxySnapshot
    let logger: Logger
    /// Where health checks and ejections are counted (nil in tests that run a controller alone).
    let metrics: GatewayMetrics?
    let resolve: @Sendable (String, Int, any EventLoop) -> EventLoopFuture<Result<[SocketAddress], SystemResolver.Failure>>
    private let subscribers: NIOLockedValueBox<Subscribers>
    var clusters: [ClusterState]
    var stopped = false
    /// `start` has published the first memberships: a first lookup that answers later than
    /// `resolveLimit` must publish its result itself.
    private var startupPublished = false
    /// Every cluster's endpoints have had their first health check (or have none): `/readyz`.
    var firstRoundDone: Bool {
        self.clusters.allSatisfy { state in state.status.values.allSatisfy { $0.active?.status != .unchecked } }
    }
    /// Panic mode entries, for the admin API.
    private(set) var panicEntries = 0

    struct Subscribers {
        var memberships: [ClusterMembership]
        var loops: [(eventLoop: any EventLoop, state: NIOLoopBound<LoopState>, generation: NIOLoopBound<LoopGeneration>)] = []
    }

    /// The controller of the configuration this one replaces (a reload): its endpoints that stay
    /// the same are taken over, so their pools and health survive the reload. Read on `loop` only.
    private var previous: UpstreamController?

    /// - Parameters:
    ///   - resolve: the resolver (getaddrinfo on NIO's thread pool); a test may name its own.
    ///   - previous: the controller being replaced by a reload, on the same loop.
    public init(
        snapshot: ProxySnapshot, loop: any EventLoop, logger: Logger,
        resolve: (@Sendable (String, Int, any EventLoop) -> EventLoopFuture<Result<[SocketAddress], SystemResolver.Failure>>)? = nil,
        previous: UpstreamController? = nil, metrics: GatewayMetrics? = nil
    ) {
        self.previous = previous
        self.metrics = metrics
        self.snapshot = snapshot
        self.loop = loop
        self.logger = logger
        self.resolve = resolve ?? { host, port, loop in SystemResolver.resolve(host: host, port: port, on: loop) }
        self.clusters = snapshot.clusters.enumerated().map { ClusterState(index: $0.offset, cluster: $0.element.cluster) }
        let starting = snapshot.clusters.map { runtime in
            ClusterMembership(
                policy: runtime.cluster.balance, endpoints: [], weights: [], panic: false,
                emptyFailure: ProxyFailure(type: .destinationUnavailable, phase: .selectUpstream, details: "starting"))
        }
        self.subscribers = NIOLockedValueBox(Subscribers(memberships: starting))
    }

    // MARK: - Life cycle

    /// Resolves the servers given by name (waiting at most `resolveLimit`), publishes the first
    /// memberships and starts the health checks and DNS refreshes.
    public func start(resolveLimit: TimeAmount = .seconds(5)) -> EventLoopFuture<Void> {
        self.loop.flatSubmit {
            var lookups: [EventLoopFuture<Void>] = []
            for index in self.clusters.indices {
                for (serverIndex, server) in self.clusters[index].cluster.servers.enumerated() {
                    if let address = try? SocketAddress(ipAddress: server.address.host, port: server.address.port) {
                        self.setAddresses([address], cluster: index, server: serverIndex, initial: true)
                    } else {
                        lookups.append(self.refreshName(cluster: index, server: serverIndex, initial: true))
                    }
                }
            }
            let all = EventLoopFuture.andAllComplete(lookups, on: self.loop)
            let limit = self.loop.makePromise(of: Void.self)
            let timer = self.loop.scheduleTask(in: resolveLimit) { limit.succeed() }
            all.whenComplete { _ in
                timer.cancel()
                limit.succeed()
            }
            return limit.futureResult.map {
                self.previous = nil
                self.startupPublished = true
                for index in self.clusters.indices {
                    self.publish(cluster: index)
                    self.scheduleDNSRefresh(cluster: index)
                }
            }
        }
    }

    /// Stops every timer; probes in flight finish and are ignored.
    public func stop() -> EventLoopFuture<Void> {
        self.loop.submit {
            self.stopped = true
            for index in self.clusters.indices {
                for status in self.clusters[index].status.values { status.probeTask?.cancel() }
                self.clusters[index].rampTask?.cancel()
                self.clusters[index].outlierTask?.cancel()
                self.clusters[index].dnsTask?.cancel()
            }
        }
    }

    // MARK: - Loops

    /// Registers a loop's generation of this controller's configuration and hands it the current
    /// memberships; later ones are pushed to it.
    func subscribe(_ state: LoopState, generation: LoopGeneration) -> [ClusterMembership] {
        let bound = NIOLoopBound(state, eventLoop: state.eventLoop)
        let boundGeneration = NIOLoopBound(generation, eventLoop: state.eventLoop)
        return self.subscribers.withLockedValue { subscribers in
            subscribers.loops.append((state.eventLoop, bound, boundGeneration))
            return subscribers.memberships
        }
    }

    /// The current memberships (for the tests and the admin API).
    var memberships: [ClusterMembership] {
        self.subscribers.withLockedValue { $0.memberships }
    }

    /// Computes the cluster's membership from its state and pushes it to every loop.
    func publish(cluster index: Int, retired: [Int] = []) {
        let now = NIODeadline.now()
        let state = self.clusters[index]
        let cluster = state.cluster
        let offered = state.endpoints.filter { !state.drainedServers.contains($0.server) }
        let healthy = offered.filter { state.admits($0) }
        let panic = PanicMode.engaged(healthy: healthy.count, total: offered.count, thresholdPercent: cluster.panicThreshold)
        if panic != state.panic {
            self.clusters[index].panic = panic
            if panic {
                self.panicEntries += 1
                self.logger.error(
                    "cluster \(cluster.name) entered panic mode: \(healthy.count) of \(offered.count) servers healthy, below panic_threshold \(cluster.panicThreshold)%; balancing across all of them",
                    metadata: ["cluster": .string(cluster.name), "event": "panic_begin"])
            } else {
                self.logger.notice(
                    "cluster \(cluster.name) left panic mode: \(healthy.count) of \(offered.count) servers healthy",
                    metadata: ["cluster": .string(cluster.name), "event": "panic_end"])
            }
        }
        let chosen = panic ? offered : healthy
        var ramping = false
        let weights = chosen.map { endpoint -> Int in
            guard let since = state.status[endpoint.id]?.inServiceSince else { return endpoint.weight * 100 }
            let weight = SlowStart.weight(configured: endpoint.weight, since: since, now: now, window: cluster.slowStart)
            if weight < endpoint.weight * 100 { ramping = true }
            return weight
        }
        let membership = ClusterMembership(
            policy: cluster.balance, endpoints: chosen, weights: weights, panic: panic,
            emptyFailure: chosen.isEmpty ? self.emptyFailure(index, offered: offered.count) : nil)
        let loops = self.subscribers.withLockedValue { subscribers in
            subscribers.memberships[index] = membership
            return subscribers.loops
        }
        for subscriber in loops {
            let (state, generation) = (subscriber.state, subscriber.generation)
            subscriber.eventLoop.execute {
                state.value.install(membership, cluster: index, retired: retired, in: generation.value)
            }
        }
        self.clusters[index].rampTask?.cancel()
        self.clusters[index].rampTask = nil
        if ramping, let window = cluster.slowStart, !self.stopped {
            // Twenty steps over the window: smooth enough, and cheap (one table per step).
            let step = TimeAmount.nanoseconds(max(TimeAmount(window).nanoseconds / 20, 50_000_000))
            self.clusters[index].rampTask = self.loop.scheduleTask(in: step) { self.publish(cluster: index) }
        }
    }

    /// Why a cluster has nothing to offer: what its clients are told.
    private func emptyFailure(_ index: Int, offered: Int) -> ProxyFailure {
        let state = self.clusters[index]
        let name = state.cluster.name
        if state.endpoints.isEmpty, let (server, failure) = state.dnsFailures.first {
            let host = state.cluster.servers[server].address.host
            let (type, meaning) = SystemResolver.classify(code: failure.code)
            return ProxyFailure(
                type: type, phase: .selectUpstream, nextHop: host,
                details: "\(host) does not resolve: \(meaning) (\(failure))")
        }
        if state.cluster.servers.isEmpty {
            return ProxyFailure(type: .destinationUnavailable, phase: .selectUpstream, details: "cluster \(name) has no servers")
        }
        if offered == 0 && !state.endpoints.isEmpty {
            return ProxyFailure(
                type: .destinationUnavailable, phase: .selectUpstream,
                details: "every server of cluster \(name) is drained")
        }
        let unhealthy = state.endpoints.filter { state.status[$0.id]?.active?.admitsTraffic == false }.count
        let ejected = state.endpoints.filter { state.outlier?.isEjected($0.id) == true }.count
        return ProxyFailure(
            type: .destinationUnavailable, phase: .selectUpstream,
            details:
                "no healthy server in cluster \(name) (\(unhealthy) failing health checks, \(ejected) ejected; panic mode off)")
    }

    // MARK: - Membership changes

    /// Makes the server's endpoints match `addresses`: new addresses become endpoints (health
    /// unknown, checked at once), vanished ones are retired.
    func setAddresses(_ addresses: [SocketAddress], cluster index: Int, server: Int, initial: Bool) {
        let cluster = self.clusters[index].cluster
        let configured = cluster.servers[server]
        let existing = self.clusters[index].endpoints.filter { $0.server == server }
        let kept = existing.filter { addresses.contains($0.address) }
        let removed = existing.filter { !addresses.contains($0.address) }
        var added: [Endpoint] = []
        for address in addresses where !kept.contains(where: { $0.address == address }) {
            if initial, let (endpoint, status) = self.takeOver(cluster: index, server: server, address: address) {
                self.clusters[index].status[endpoint.id] = status
                self.clusters[index].outlier?.add(endpoint.id)
                self.clusters[index].endpoints.append(endpoint)
                // The new detector starts afresh: no probation carried over.
                endpoint.failureThreshold.store(cluster.outlierDetection?.consecutiveFailures ?? 0, ordering: .relaxed)
                self.scheduleProbe(endpoint, first: true)
                continue
            }
            let endpoint = Endpoint(
                id: Endpoint.makeID(), cluster: index, server: server, serverName: configured.address.description,
                address: address, weight: configured.weight, pool: cluster.pool,
                failureThreshold: cluster.outlierDetection?.consecutiveFailures ?? 0)
            added.append(endpoint)
        }
        guard !added.isEmpty || !removed.isEmpty else { return }
        let now = NIODeadline.now()
        for endpoint in removed {
            self.clusters[index].status.removeValue(forKey: endpoint.id)?.probeTask?.cancel()
            self.clusters[index].outlier?.remove(endpoint.id)
        }
        for endpoint in added {
            var status = EndpointStatus(since: now, why: initial ? "configured" : "added by DNS")
            if let check = cluster.healthCheck {
                status.active = ActiveHealth(
                    healthyThreshold: check.healthyThreshold, unhealthyThreshold: check.unhealthyThreshold)
            }
            // A server added while running ramps up; the first ones start at full weight.
            if !initial, cluster.slowStart != nil { status.inServiceSince = now }
            self.clusters[index].status[endpoint.id] = status
            self.clusters[index].outlier?.add(endpoint.id)
        }
        // Keep configuration order: servers in file order, addresses in resolver order.
        var endpoints = self.clusters[index].endpoints.filter { endpoint in !removed.contains { $0 === endpoint } }
        endpoints += added
        endpoints.sort { ($0.server, addresses.firstIndex(of: $0.address) ?? 0) < ($1.server, addresses.firstIndex(of: $1.address) ?? 0) }
        self.clusters[index].endpoints = endpoints
        if !initial {
            for endpoint in added {
                self.logger.notice(
                    "cluster \(cluster.name): \(configured.address) now also resolves to \(endpoint.display); added",
                    metadata: ["cluster": .string(cluster.name), "upstream.host": .string(endpoint.display)])
            }
            for endpoint in removed {
                self.logger.notice(
                    "cluster \(cluster.name): \(configured.address) no longer resolves to \(endpoint.display); removed (in-flight requests finish)",
                    metadata: ["cluster": .string(cluster.name), "upstream.host": .string(endpoint.display)])
            }
            self.publish(cluster: index, retired: removed.map(\.id))
        }
        for endpoint in added { self.scheduleProbe(endpoint, first: true) }
    }

    /// An endpoint of the replaced configuration that is the same here (same cluster and server
    /// position, address, weight, pool and passive-health settings), with its health state.
    private func takeOver(cluster index: Int, server: Int, address: SocketAddress) -> (Endpoint, EndpointStatus)? {
        guard let previous = self.previous, previous.loop === self.loop, index < previous.clusters.count else { return nil }
        let old = previous.clusters[index]
        let new = self.clusters[index].cluster
        guard old.cluster.name == new.name, server < old.cluster.servers.count, server < new.servers.count,
            old.cluster.servers[server] == new.servers[server], old.cluster.pool == new.pool,
            old.cluster.outlierDetection == new.outlierDetection,
            let endpoint = old.endpoints.first(where: { $0.server == server && $0.address == address })
        else { return nil }
        var status = old.status[endpoint.id] ?? EndpointStatus(since: .now(), why: "configured")
        status.probeTask = nil
        if old.cluster.healthCheck != new.healthCheck {
            status.active = new.healthCheck.map {
                ActiveHealth(healthyThreshold: $0.healthyThreshold, unhealthyThreshold: $0.unhealthyThreshold)
            }
            status.lastCheck = nil
            status.lastCheckError = nil
        }
        return (endpoint, status)
    }

    // MARK: - DNS

    func refreshName(cluster index: Int, server: Int, initial: Bool) -> EventLoopFuture<Void> {
        let address = self.clusters[index].cluster.servers[server].address
        return self.resolve(address.host, address.port, self.loop).map { result in
            guard !self.stopped else { return }
            let name = self.clusters[index].cluster.name
            switch result {
            case .success(let addresses) where !addresses.isEmpty:
                if self.clusters[index].dnsFailures.removeValue(forKey: server) != nil, !initial {
                    self.logger.notice(
                        "cluster \(name): \(address.host) resolves again",
                        metadata: ["cluster": .string(name), "upstream.host": .string(address.description)])
                }
                self.setAddresses(addresses, cluster: index, server: server, initial: initial)
            case .success:
                self.nameFailed(
                    SystemResolver.Failure(code: 0, message: "no usable address"), cluster: index, server: server)
            case .failure(let failure):
                self.nameFailed(failure, cluster: index, server: server)
            }
            // A first answer later than the startup limit: nothing else would publish it (a later
            // refresh with the same addresses changes nothing), so the loops would never see it.
            if initial, self.startupPublished { self.publish(cluster: index) }
        }
    }

    /// A name stopped resolving: its last good addresses stay members (a resolver hiccup must not
    /// take a healthy server out), logged once per failure spell.
    private func nameFailed(_ failure: SystemResolver.Failure, cluster index: Int, server: Int) {
        let state = self.clusters[index]
        let address = state.cluster.servers[server].address
        let known = state.endpoints.filter { $0.server == server }.map(\.display)
        if state.dnsFailures[server] == nil {
            let kept = known.isEmpty ? "it has no address yet" : "keeping its last good addresses " + known.joined(separator: ", ")
            self.logger.error(
                "cluster \(state.cluster.name): \(address.host) does not resolve (\(failure)); \(kept)",
                metadata: [
                    "cluster": .string(state.cluster.name), "upstream.host": .string(address.description),
                    "proxy_status.error": .string(SystemResolver.classify(code: failure.code).0.token),
                ])
        }
        self.clusters[index].dnsFailures[server] = failure
    }

    private func scheduleDNSRefresh(cluster index: Int) {
        let cluster = self.clusters[index].cluster
        let names = cluster.servers.indices.filter { (try? SocketAddress(ipAddress: cluster.servers[$0].address.host, port: 0)) == nil }
        guard !names.isEmpty, !self.stopped else { return }
        self.clusters[index].dnsTask = self.loop.scheduleTask(in: TimeAmount(cluster.dnsRefresh)) {
            let lookups = names.map { self.refreshName(cluster: index, server: $0, initial: false) }
            EventLoopFuture.andAllComplete(lookups, on: self.loop).whenComplete { _ in
                self.scheduleDNSRefresh(cluster: index)
            }
        }
    }
}
