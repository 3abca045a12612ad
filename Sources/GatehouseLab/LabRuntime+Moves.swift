import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseDoctor
import NIOCore

/// The moves, each run for real against the scenario's gateway and upstreams.
extension LabRuntime {
    /// The player's request through the gateway, as a visitor sends it.
    public func request() async -> LabHTTPResponse {
        let request = self.scenario.request
        guard let port = Optional(self.listenPort), port > 0 else {
            return LabHTTPResponse(status: nil, statusLine: "", headers: [], body: [], missingBytes: 0, error: "the gateway is not running")
        }
        if let quiet = request.quietMilliseconds {
            // A visitor's page view puts a connection in the gateway's pool; then the site is quiet
            // for a moment (not right after a restart: traffic is busy then) and the player's
            // request comes. That moment is what the scenario is about, not synchronisation.
            _ = await LabHTTP.send(port: port, path: "/", group: self.group)
            if !self.busyAfterRestart { try? await Task.sleep(for: .milliseconds(quiet)) }
        }
        self.busyAfterRestart = false
        guard request.concurrentVisitors > 0, let app = self.upstreams.first else {
            return await LabHTTP.send(port: port, method: request.method, path: request.path, body: request.body, group: self.group)
        }
        // A spike: other visitors' requests in flight first, then the player's among them.
        let before = app.requestsReceived
        let limit = self.cluster.value("limits.max_requests").flatMap(Int.init) ?? request.concurrentVisitors
        let admitted = min(request.concurrentVisitors, limit == 0 ? request.concurrentVisitors : limit)
        let group = self.group
        return await withTaskGroup(of: LabHTTPResponse?.self) { tasks in
            for visitor in 0..<request.concurrentVisitors {
                tasks.addTask {
                    _ = await LabHTTP.send(port: port, path: "\(request.path)?visitor=\(visitor)", group: group)
                    return nil
                }
            }
            // Until the gateway let as many through as it admits (bounded: a slow machine waits up to 5 s).
            for _ in 0..<500 where app.requestsReceived - before < admitted {
                try? await Task.sleep(for: .milliseconds(10))
            }
            tasks.addTask {
                await LabHTTP.send(port: port, method: request.method, path: request.path, body: request.body, group: group)
            }
            var mine: LabHTTPResponse?
            for await response in tasks where response != nil { mine = response }
            return mine ?? LabHTTPResponse(status: nil, statusLine: "", headers: [], body: [], missingBytes: 0, error: "no answer")
        }
    }

    /// The request as the player would type it, and what came back.
    public func requestTranscript() async -> (text: String, succeeded: Bool) {
        let response = await self.request()
        var text = "$ " + self.scenario.request.curl(base: self.gatewayBase) + "\n" + response.rendered()
        if self.scenario.request.concurrentVisitors > 0 {
            text = "(\(self.scenario.request.concurrentVisitors) other visitors' requests in flight at the same time)\n" + text
        }
        return (text, response.succeeded)
    }

    /// `tail` of the error log and the last access-log line.
    public func readErrorLog() -> String {
        let errors = Self.tail(self.errorLogPath, lines: 6)
        let access = Self.tail(self.accessLogPath, lines: 2)
        var text = "$ tail -n 6 \(self.errorLogPath)\n"
        text += errors.isEmpty ? "(empty)\n" : errors.joined(separator: "\n") + "\n"
        text += "$ tail -n 2 \(self.accessLogPath)\n"
        text += access.isEmpty ? "(empty)" : access.joined(separator: "\n")
        return text
    }

    static func tail(_ path: String, lines count: Int) -> [String] {
        guard let file = fopen(path, "r") else { return [] }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let read = fread(&chunk, 1, chunk.count, file)
            if read <= 0 { break }
            bytes += chunk[0..<read]
            if bytes.count > 4_000_000 { bytes.removeFirst(bytes.count - 1_000_000) }
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        return Array(lines.suffix(count))
    }

    /// `gatehouse doctor` on the cluster's first server, with the cluster's limits.
    public func runDoctor() async -> String {
        let server = self.cluster.servers.first.map(self.address) ?? ""
        // A cluster that speaks TLS to its servers is probed over https (trusting its ca_file).
        let target = self.cluster.settings.contains { $0.path.hasPrefix("tls.") } ? "https://" + server : server
        let races = self.scenario.origins.contains { if case .keepAliveRace = $0.behavior { return true } else { return false } }
        // Holding an idle connection to see when the upstream closes it takes time: only where it matters.
        let keepAlive = races ? "4s" : "0"
        var command = "$ gatehouse doctor \(target) -c \(self.configPath) --cluster shop --timeout 3s --no-local"
        command += " --keepalive-max \(keepAlive)\n"
        let arguments = DoctorArguments(
            target: target, configPath: self.configPath, cluster: "shop", timeout: "3s", keepAliveMax: keepAlive,
            checkLocalResources: false)
        do {
            let plan = try DoctorPlanner.plan(arguments) { path throws(ConfigurationError) in
                try ConfigurationLoader.load(path: path)
            }
            let report = await DoctorRunner.run(plan, group: self.group)
            return command + DoctorRenderer.text(report, color: false)
        } catch {
            return command + error.messages.map { "gatehouse doctor: \($0)" }.joined(separator: "\n")
        }
    }

    /// `gatehouse check --probe -c FILE`.
    public func checkConfig() async -> String {
        var lines = ["$ gatehouse check --probe -c \(self.configPath)"]
        do {
            let (configuration, locations) = try ConfigurationLoader.loadWithLocations(path: self.configPath)
            lines.append("gatehouse: the configuration file \(self.configPath) syntax is ok")
            let lints = ConfigLints.check(configuration, locations)
            var warnings = lints.filter { $0.severity == .warning }.count
            lines += lints.map(\.description)
            let count = configuration.clusters.reduce(0) { $0 + $1.servers.count }
            lines.append("gatehouse: probing \(count) server\(count == 1 ? "" : "s") (each hop up to 2s)")
            let probes = await ConfigProbe.run(configuration, timeout: .seconds(2), group: self.group)
            for probe in probes {
                let limit = configuration.cluster(named: probe.cluster)?.limits.maxResponseHeaderBytes ?? 0
                lines.append("  " + probe.line(limit: limit))
            }
            let probeLints = ConfigProbe.lints(probes, configuration, locations)
            lines += probeLints.map(\.description)
            warnings += probeLints.filter { $0.severity == .warning }.count
            lines.append(
                warnings == 0
                    ? "gatehouse: configuration is valid"
                    : "gatehouse: configuration is valid, with \(warnings) warning\(warnings == 1 ? "" : "s")")
        } catch {
            lines += error.diagnostics.map(\.description)
            lines.append("gatehouse: configuration file \(self.configPath) test failed")
        }
        return lines.joined(separator: "\n")
    }

    /// The dashboard's facts: `/admin/upstreams` (every server's state and why) and `/stats`.
    public func dashboard() async -> String {
        var lines = ["Dashboard: \(self.adminBase)/   (open it in a browser; the facts below are from its API)"]
        lines.append("$ curl -s \(self.adminBase)/admin/upstreams")
        let upstreams = await LabHTTP.send(port: self.adminPort, path: "/admin/upstreams", accept: "application/json", group: self.group)
        if let object = try? JSONSerialization.jsonObject(with: Data(upstreams.body)) as? [String: Any],
            let clusters = object["clusters"] as? [[String: Any]]
        {
            for cluster in clusters {
                let name = cluster["name"] as? String ?? "?"
                lines.append("cluster \(name): \(cluster["healthy"] ?? 0) of \(cluster["total"] ?? 0) servers taking traffic")
                if let dns = cluster["dns_errors"] as? [String: Any], !dns.isEmpty {
                    for (host, error) in dns.sorted(by: { $0.key < $1.key }) { lines.append("  DNS \(host): \(error)") }
                }
                for server in cluster["servers"] as? [[String: Any]] ?? [] {
                    var line = "  \(server["address"] ?? "?")  \(server["state"] ?? "?")"
                    if let why = server["why"] as? String, !why.isEmpty { line += " (\(why))" }
                    line += "  requests \(server["requests"] ?? 0), in flight \(server["active_requests"] ?? 0)"
                    if let errors = server["errors"] as? [String: Any], !errors.isEmpty {
                        line += ", errors " + errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    }
                    lines.append(line)
                }
            }
        } else {
            lines.append(upstreams.rendered())
        }
        let stats = await LabHTTP.send(port: self.adminPort, path: "/stats", accept: "application/json", group: self.group)
        if let object = try? JSONSerialization.jsonObject(with: Data(stats.body)) as? [String: Any] {
            let errors = (object["gateway_errors"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }
            lines.append(
                "gateway errors by Proxy-Status type: "
                    + (errors.isEmpty ? "none" : errors.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
            if let incidents = object["incidents"] as? [String: Any] { lines.append("open incidents: \(incidents["open"] ?? 0)") }
        }
        return lines.joined(separator: "\n")
    }

    /// Restarts the upstream process(es) of the app on the same port(s).
    public func restartUpstream() async -> String {
        // In a spike the restart happens with visitors' requests in flight: they are cut off.
        let visitors = self.scenario.request.concurrentVisitors
        guard visitors > 0, let app = self.upstreams.first else { return await self.restartProcesses() }
        let port = self.listenPort
        let group = self.group
        let before = app.requestsReceived
        let limit = self.cluster.value("limits.max_requests").flatMap(Int.init) ?? visitors
        let admitted = min(visitors, limit == 0 ? visitors : limit)
        var restarted = ""
        let statuses = await withTaskGroup(of: Int?.self) { tasks in
            for visitor in 0..<visitors {
                tasks.addTask { await LabHTTP.send(port: port, path: "/?visitor=\(visitor)", group: group).status }
            }
            for _ in 0..<500 where app.requestsReceived - before < admitted {
                try? await Task.sleep(for: .milliseconds(10))
            }
            restarted = await self.restartProcesses()
            var statuses: [Int?] = []
            for await status in tasks { statuses.append(status) }
            return statuses
        }
        let counted = Dictionary(grouping: statuses.map { $0.map(String.init) ?? "no answer" }, by: { $0 })
        let summary = counted.keys.sorted().map { "\($0) ×\(counted[$0]?.count ?? 0)" }.joined(separator: ", ")
        return restarted + "\nThe \(visitors) visitors' requests in flight during the restart got: \(summary)"
    }

    private func restartProcesses() async -> String {
        var lines: [String] = []
        for origin in self.scenario.origins where origin.restartable {
            guard let upstream = self.upstream(origin.name) else { continue }
            lines.append("$ systemctl restart \(origin.name)   # \(upstream.address)")
            do {
                try await upstream.restart(as: origin.afterRestart)
                lines.append("\(origin.name): stopped, started again on \(upstream.address)")
            } catch {
                lines.append("\(origin.name): failed to start again: \(error)")
            }
        }
        self.busyAfterRestart = true
        await self.settleHealth(afterChange: true)
        return lines.joined(separator: "\n")
    }

    /// Writes the edit into the file and has the gateway reload it through the admin API.
    public func edit(_ index: Int) async -> String {
        guard self.scenario.edits.indices.contains(index) else { return "no such edit" }
        let before = self.yaml().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        self.cluster.apply(self.scenario.edits[index].changes)
        let after = self.yaml().split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var lines = ["$ vi \(self.configPath)"]
        for (number, line) in before.enumerated() where !after.contains(line) { lines.append("-\(number + 1): \(line)") }
        for (number, line) in after.enumerated() where !before.contains(line) { lines.append("+\(number + 1): \(line)") }
        do {
            try self.writeConfig()
        } catch {
            lines.append("\(error)")
            return lines.joined(separator: "\n")
        }
        lines.append("$ curl -s -X POST \(self.adminBase)/admin/reload")
        let answer = await LabHTTP.send(port: self.adminPort, method: "POST", path: "/admin/reload", accept: "application/json", group: self.group)
        lines.append(answer.bodyText.trimmingCharacters(in: "\n"))
        await self.settleHealth(afterChange: true)
        return lines.joined(separator: "\n")
    }

    /// With health checks, waits (up to 5 s) until every server has been judged, and after a change
    /// until each has been checked twice more, so that what the player sees next is the steady state
    /// of the new configuration and not the first check's race.
    func settleHealth(afterChange: Bool = false) async {
        guard self.cluster.settings.contains(where: { $0.path.hasPrefix("health_check.") }) else { return }
        var last: [String: String] = [:]
        var changes: [String: Int] = [:]
        for _ in 0..<100 {
            let answer = await LabHTTP.send(port: self.adminPort, path: "/admin/upstreams", accept: "application/json", group: self.group)
            if let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any],
                let clusters = object["clusters"] as? [[String: Any]]
            {
                let servers = clusters.flatMap { $0["servers"] as? [[String: Any]] ?? [] }
                var judged = !servers.isEmpty
                for server in servers {
                    let address = server["address"] as? String ?? ""
                    let state = server["state"] as? String ?? ""
                    let check = server["health_check"] as? [String: Any] ?? [:]
                    let seen = "\(state) \(check["passes_in_a_row"] ?? "") \(check["failures_in_a_row"] ?? "")"
                    if let previous = last[address], previous != seen { changes[address, default: 0] += 1 }
                    last[address] = seen
                    if state == "unchecked" || (afterChange && changes[address, default: 0] < 2) { judged = false }
                }
                if judged { return }
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
