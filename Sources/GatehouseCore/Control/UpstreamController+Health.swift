import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import Synchronization

/// What the controller knows of one cluster.
struct ClusterState {
    let index: Int
    let cluster: Cluster
    /// Current endpoints: servers in file order, each server's addresses in resolver order.
    var endpoints: [Endpoint] = []
    var status: [Int: EndpointStatus] = [:]
    var outlier: OutlierDetector?
    /// Servers (by index) an operator drained.
    var drainedServers: Set<Int> = []
    var panic = false
    /// Names that do not resolve now, by server index.
    var dnsFailures: [Int: SystemResolver.Failure] = [:]
    var rampTask: Scheduled<Void>?
    var outlierTask: Scheduled<Void>?
    var dnsTask: Scheduled<Void>?

    init(index: Int, cluster: Cluster) {
        self.index = index
        self.cluster = cluster
        self.outlier = cluster.outlierDetection.map { OutlierDetector(configuration: $0) }
    }

    /// Whether the endpoint may take traffic outside panic mode.
    func admits(_ endpoint: Endpoint) -> Bool {
        if self.drainedServers.contains(endpoint.server) { return false }
        if self.status[endpoint.id]?.active?.admitsTraffic == false { return false }
        return self.outlier?.isEjected(endpoint.id) != true
    }
}

/// What the controller knows of one endpoint beyond the pure machines: why it is in its state,
/// since when, and its timers.
struct EndpointStatus {
    /// Active health, when the cluster has health checks.
    var active: ActiveHealth?
    /// When the current state began (monotonic) and the wall-clock time of it for the admin API.
    var since: NIODeadline
    var sinceWall: String
    /// The reason for the current state, in words.
    var why: String
    /// The last health check's result.
    var lastCheck: String?
    var lastCheckError: ProxyStatusError?
    /// Slow start: when the endpoint (re)entered service; nil = full weight.
    var inServiceSince: NIODeadline?
    var probeTask: Scheduled<Void>?

    init(since: NIODeadline, why: String) {
        self.since = since
        self.sinceWall = RequestRecord.now()
        self.why = why
    }

    mutating func changed(_ why: String, now: NIODeadline) {
        self.why = why
        self.since = now
        self.sinceWall = RequestRecord.now()
    }
}

extension UpstreamController {
    // MARK: - Active health checks

    func scheduleProbe(_ endpoint: Endpoint, first: Bool) {
        let index = endpoint.cluster
        guard !self.stopped, let check = self.clusters[index].cluster.healthCheck else { return }
        let jitter = TimeAmount(check.jitter).nanoseconds
        let spread = jitter > 0 ? Int64.random(in: -jitter...jitter) : 0
        // The first check goes out at once (within the jitter), so startup learns the truth quickly.
        let delay: TimeAmount = first ? .nanoseconds(abs(spread)) : TimeAmount(check.interval) + .nanoseconds(spread)
        self.clusters[index].status[endpoint.id]?.probeTask = self.loop.scheduleTask(in: delay) {
            guard self.clusters[index].status[endpoint.id] != nil else { return }
            let cluster = self.clusters[index].cluster
            let host = cluster.servers.indices.contains(endpoint.server) ? cluster.servers[endpoint.server].address.host : ""
            HealthProbe.run(
                endpoint, check: check, limits: cluster.limits, tls: self.snapshot.clusters[index].tls, host: host,
                on: self.loop)
                .whenSuccess { result in self.probeFinished(endpoint, result: result) }
        }
    }

    private func probeFinished(_ endpoint: Endpoint, result: HealthProbeResult) {
        let index = endpoint.cluster
        guard !self.stopped, var status = self.clusters[index].status[endpoint.id], var active = status.active else {
            return
        }
        let cluster = self.clusters[index].cluster
        let wasAdmitted = self.clusters[index].admits(endpoint)
        let change = active.record(passed: result.passed)
        self.metrics?.countHealthCheck(cluster: cluster.name, server: endpoint.serverName, passed: result.passed)
        status.active = active
        status.lastCheck = result.summary
        status.lastCheckError = result.failure
        let now = NIODeadline.now()
        if let change {
            switch change {
            case .healthy:
                status.changed("passed \(active.consecutivePasses) health check(s) in a row: \(result.summary)", now: now)
                if cluster.slowStart != nil, wasAdmitted == false { status.inServiceSince = now }
                self.logger.notice(
                    "upstream \(endpoint.display) of cluster \(cluster.name) is healthy: \(status.why)",
                    metadata: self.metadata(endpoint, event: "healthy", error: nil))
            case .unhealthy:
                status.changed("failed \(active.consecutiveFailures) health check(s) in a row: \(result.summary)", now: now)
                status.inServiceSince = nil
                self.logger.error(
                    "upstream \(endpoint.display) of cluster \(cluster.name) is unhealthy: \(status.why)",
                    metadata: self.metadata(endpoint, event: "unhealthy", error: result.failure))
            case .unchecked:
                break
            }
        }
        self.clusters[index].status[endpoint.id] = status
        if change != nil { self.publish(cluster: index) }
        self.scheduleProbe(endpoint, first: false)
    }

    func metadata(_ endpoint: Endpoint, event: String, error: ProxyStatusError?) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "cluster": .string(self.clusters[endpoint.cluster].cluster.name), "upstream.host": .string(endpoint.display),
            "event": .string(event),
        ]
        if let error { metadata["proxy_status.error"] = .string(error.token) }
        return metadata
    }

    // MARK: - Passive health

    /// Called from any loop when an endpoint's run of failures reached the threshold.
    func failureThresholdReached(_ endpoint: Endpoint, lastError: ProxyStatusError?, status: Int) {
        self.loop.execute { self.ejectionRequested(endpoint, lastError: lastError, status: status) }
    }

    private func ejectionRequested(_ endpoint: Endpoint, lastError: ProxyStatusError?, status: Int) {
        let index = endpoint.cluster
        guard !self.stopped, var outlier = self.clusters[index].outlier,
            self.clusters[index].status[endpoint.id] != nil
        else { return }
        let cluster = self.clusters[index].cluster
        let now = NIODeadline.now()
        let run = endpoint.consecutiveFailures.load(ordering: .relaxed)
        let evidence = "\(run) gateway failure(s) in a row, last " + (lastError.map(\.token) ?? "HTTP \(status)")
        switch outlier.thresholdReached(endpoint.id, now: now) {
        case .ejected(let until, let inARow):
            endpoint.consecutiveFailures.store(0, ordering: .relaxed)
            let seconds = Double((until - now).nanoseconds) / 1e9
            let why = "ejected for \(Self.format(seconds)) s (ejection \(inARow) in a row): \(evidence)"
            self.clusters[index].status[endpoint.id]?.changed(why, now: now)
            self.clusters[index].status[endpoint.id]?.inServiceSince = nil
            self.clusters[index].outlier = outlier
            self.metrics?.countEjection(cluster: cluster.name, server: endpoint.serverName)
            self.logger.error(
                "upstream \(endpoint.display) of cluster \(cluster.name) \(why)",
                metadata: self.metadata(endpoint, event: "ejected", error: lastError))
            self.publish(cluster: index)
            self.scheduleOutlierTimer(cluster: index)
        case .refused(let ejectedNow, let limit):
            self.clusters[index].outlier = outlier
            self.logger.warning(
                "upstream \(endpoint.display) of cluster \(cluster.name) not ejected despite \(evidence): \(ejectedNow) of \(self.clusters[index].endpoints.count) already ejected, max_ejection_percent allows \(limit)",
                metadata: self.metadata(endpoint, event: "ejection_refused", error: lastError))
        case .alreadyEjected, .unknownMember:
            self.clusters[index].outlier = outlier
        }
    }

    private func scheduleOutlierTimer(cluster index: Int) {
        self.clusters[index].outlierTask?.cancel()
        self.clusters[index].outlierTask = nil
        guard !self.stopped, let deadline = self.clusters[index].outlier?.nextDeadline else { return }
        self.clusters[index].outlierTask = self.loop.scheduleTask(deadline: deadline) {
            self.advanceOutliers(cluster: index)
        }
    }

    private func advanceOutliers(cluster index: Int) {
        guard var outlier = self.clusters[index].outlier, let detection = self.clusters[index].cluster.outlierDetection
        else { return }
        let now = NIODeadline.now()
        let transitions = outlier.advance(now: now)
        self.clusters[index].outlier = outlier
        let cluster = self.clusters[index].cluster
        var returned = false
        for transition in transitions {
            switch transition {
            case .returned(let id):
                guard let endpoint = self.clusters[index].endpoints.first(where: { $0.id == id }) else { continue }
                // One failure on probation ejects again, for longer.
                endpoint.failureThreshold.store(1, ordering: .relaxed)
                endpoint.consecutiveFailures.store(0, ordering: .relaxed)
                let why = "returned after ejection; on probation for \(Self.format(Double(TimeAmount(detection.baseEjectionTime).nanoseconds) / 1e9)) s"
                self.clusters[index].status[id]?.changed(why, now: now)
                if cluster.slowStart != nil { self.clusters[index].status[id]?.inServiceSince = now }
                self.logger.notice(
                    "upstream \(endpoint.display) of cluster \(cluster.name) \(why)",
                    metadata: self.metadata(endpoint, event: "returned", error: nil))
                returned = true
            case .probationPassed(let id):
                guard let endpoint = self.clusters[index].endpoints.first(where: { $0.id == id }) else { continue }
                endpoint.failureThreshold.store(detection.consecutiveFailures, ordering: .relaxed)
                self.clusters[index].status[id]?.changed("probation passed", now: now)
                self.logger.info(
                    "upstream \(endpoint.display) of cluster \(cluster.name) passed probation",
                    metadata: self.metadata(endpoint, event: "probation_passed", error: nil))
            }
        }
        if returned { self.publish(cluster: index) }
        self.scheduleOutlierTimer(cluster: index)
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(Double(Int(seconds * 10)) / 10)
    }
}
