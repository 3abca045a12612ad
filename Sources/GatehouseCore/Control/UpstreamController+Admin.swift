import GatehouseConfig
import GatehouseErrors
import Logging
import NIOCore
import Synchronization

/// An admin API answer: status and body (JSON unless it says otherwise).
public struct AdminAnswer: Sendable {
    public var status: Int
    public var json: String
    public var contentType: String

    public init(status: Int, json: String) {
        self.init(status: status, body: json, contentType: "application/json")
    }

    public init(status: Int, body: String, contentType: String) {
        self.status = status
        self.json = body
        self.contentType = contentType
    }
}

extension UpstreamController {
    // MARK: - Drain and enable

    /// Takes a server out gracefully (no new requests; in-flight ones finish) or brings it back.
    ///
    /// - Parameter server: the configured `host:port`, or one of its resolved `ip:port` addresses.
    public func setDrained(cluster name: String, server: String, drained: Bool) -> EventLoopFuture<AdminAnswer> {
        self.loop.submit {
            guard let index = self.clusters.firstIndex(where: { $0.cluster.name == name }) else {
                return AdminAnswer(status: 404, json: Self.errorJSON("no cluster named \(name)"))
            }
            let state = self.clusters[index]
            let serverIndex =
                state.cluster.servers.firstIndex { $0.address.description == server }
                ?? state.endpoints.first { $0.display == server }?.server
            guard let serverIndex else {
                let known = state.cluster.servers.map(\.address.description).joined(separator: ", ")
                return AdminAnswer(
                    status: 404, json: Self.errorJSON("cluster \(name) has no server \(server) (servers: \(known))"))
            }
            let serverName = state.cluster.servers[serverIndex].address.description
            let changed = drained ? !state.drainedServers.contains(serverIndex) : state.drainedServers.contains(serverIndex)
            if changed {
                let now = NIODeadline.now()
                if drained {
                    self.clusters[index].drainedServers.insert(serverIndex)
                } else {
                    self.clusters[index].drainedServers.remove(serverIndex)
                }
                for endpoint in state.endpoints where endpoint.server == serverIndex {
                    self.clusters[index].status[endpoint.id]?.changed(
                        drained ? "drained by the operator" : "enabled by the operator", now: now)
                    if !drained, state.cluster.slowStart != nil {
                        self.clusters[index].status[endpoint.id]?.inServiceSince = now
                    }
                }
                self.logger.notice(
                    "upstream \(serverName) of cluster \(name) \(drained ? "drained: no new requests, in-flight ones finish" : "enabled")",
                    metadata: ["cluster": .string(name), "upstream.host": .string(serverName), "event": drained ? "drained" : "enabled"])
                self.publish(cluster: index)
            }
            let active = state.endpoints.filter { $0.server == serverIndex }.reduce(0) {
                $0 + $1.active.load(ordering: .relaxed)
            }
            var json = "{\"cluster\":\(JSONText.quoted(name)),\"server\":\(JSONText.quoted(serverName))"
            json += ",\"state\":\"\(drained ? (active > 0 ? "draining" : "drained") : "enabled")\""
            json += ",\"changed\":\(changed),\"active_requests\":\(active)}\n"
            return AdminAnswer(status: 200, json: json)
        }
    }

    // MARK: - Reports

    /// `/readyz`: ready once every endpoint has had its first health check.
    public func readiness() -> EventLoopFuture<AdminAnswer> {
        self.loop.submit {
            self.firstRoundDone
                ? AdminAnswer(status: 200, json: "{\"ready\":true}\n")
                : AdminAnswer(status: 503, json: "{\"ready\":false,\"reason\":\"first health checks still running\"}\n")
        }
    }

    /// `GET /admin/upstreams`.
    public func upstreamsReport() -> EventLoopFuture<AdminAnswer> {
        self.loop.submit { AdminAnswer(status: 200, json: self.upstreamsJSON()) }
    }

    /// Per configured server: how many of its addresses take traffic, and requests in flight.
    func serverGauges() -> EventLoopFuture<[GatewayMetrics.Gauges.Server]> {
        self.loop.submit {
            self.clusters.flatMap { state in
                state.cluster.servers.enumerated().map { index, server in
                    let endpoints = state.endpoints.filter { $0.server == index }
                    return GatewayMetrics.Gauges.Server(
                        cluster: state.cluster.name, server: server.address.description,
                        up: endpoints.filter { state.admits($0) }.count,
                        inFlight: endpoints.reduce(0) { $0 + $1.active.load(ordering: .relaxed) })
                }
            }
        }
    }

    private func upstreamsJSON() -> String {
        let now = NIODeadline.now()
        let memberships = self.memberships
        var json = "{\"panic_mode_entries\":\(self.panicEntries),\"clusters\":["
        json += self.clusters.map { state in
            let cluster = state.cluster
            let members = memberships[state.index].table.members
            let healthy = state.endpoints.filter { state.admits($0) }.count
            var item = "{\"name\":\(JSONText.quoted(cluster.name)),\"balance\":\"\(cluster.balance.rawValue)\""
            item += ",\"healthy\":\(healthy),\"total\":\(state.endpoints.count)"
            item += ",\"panic\":\(state.panic),\"panic_threshold\":\(cluster.panicThreshold)"
            item += ",\"dns_errors\":{"
            item += state.dnsFailures.sorted { $0.key < $1.key }.map { server, failure in
                "\(JSONText.quoted(cluster.servers[server].address.host)):\(JSONText.quoted(failure.description))"
            }.joined(separator: ",")
            item += "},\"servers\":["
            item += state.endpoints.map { endpoint in
                self.endpointJSON(endpoint, state: state, members: members, now: now)
            }.joined(separator: ",")
            return item + "]}"
        }.joined(separator: ",")
        return json + "]}\n"
    }

    private func endpointJSON(_ endpoint: Endpoint, state: ClusterState, members: [BalancerMember], now: NIODeadline)
        -> String
    {
        let status = state.status[endpoint.id]
        let active = endpoint.active.load(ordering: .relaxed)
        let outlier = state.outlier
        let label: String
        if state.drainedServers.contains(endpoint.server) {
            label = active > 0 ? "draining" : "drained"
        } else if outlier?.isEjected(endpoint.id) == true {
            label = "ejected"
        } else if let health = status?.active {
            switch health.status {
            case .unchecked: label = "unchecked"
            case .healthy: label = "healthy"
            case .unhealthy: label = "unhealthy"
            }
        } else {
            label = "healthy"
        }
        var item = "{\"server\":\(JSONText.quoted(endpoint.serverName)),\"address\":\(JSONText.quoted(endpoint.display))"
        item += ",\"state\":\"\(label)\",\"why\":" + JSONText.quoted(status?.why ?? "")
        item += ",\"since\":" + (status.map { JSONText.quoted($0.sinceWall) } ?? "null")
        item += ",\"active_requests\":\(active),\"requests\":\(endpoint.requests.load(ordering: .relaxed))"
        item += ",\"consecutive_failures\":\(endpoint.consecutiveFailures.load(ordering: .relaxed))"
        item += ",\"errors\":{"
        item += endpoint.errorCounts.sorted { $0.key.token < $1.key.token }.map { "\"\($0.key.token)\":\($0.value)" }
            .joined(separator: ",")
        item += "},\"ejections\":\(outlier?.totalEjections(endpoint.id) ?? 0)"
        item += ",\"ejected_for_seconds\":"
        if let until = outlier?.ejectedUntil(endpoint.id), until > now {
            item += Self.format(Double((until - now).nanoseconds) / 1e9)
        } else {
            item += "null"
        }
        item += ",\"probation\":\(outlier?.isOnProbation(endpoint.id) ?? false)"
        item += ",\"weight\":\(endpoint.weight)"
        let effective = members.first { $0.id == endpoint.id }.map { Double($0.weight) / 100 }
        item += ",\"effective_weight\":" + (effective.map { Self.format($0) } ?? "0")
        let progress = status?.inServiceSince.flatMap {
            SlowStart.progress(since: $0, now: now, window: state.cluster.slowStart)
        }
        item += ",\"slow_start_progress\":" + (progress.map { Self.format((($0 * 100).rounded()) / 100) } ?? "null")
        item += ",\"health_check\":"
        if let health = status?.active {
            item += "{\"last\":" + (status?.lastCheck.map(JSONText.quoted) ?? "null")
            item += ",\"last_error\":" + (status?.lastCheckError.map { "\"\($0.token)\"" } ?? "null")
            item += ",\"passes_in_a_row\":\(health.consecutivePasses),\"failures_in_a_row\":\(health.consecutiveFailures)}"
        } else {
            item += "null"
        }
        return item + "}"
    }

    static func errorJSON(_ message: String) -> String {
        "{\"error\":\(JSONText.quoted(message))}\n"
    }
}
