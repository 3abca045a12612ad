import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseDoctor
import GatehouseErrors
import GatehouseOrigins
import Logging
import NIOCore
import NIOPosix

/// One scenario running for real: its upstreams on loopback sockets, a gateway (``ProxyServer``)
/// started from a YAML file written to a temporary directory and loaded by the normal loader, its
/// error and access logs in files there, and the admin listener (reloads, `/admin/upstreams`, the
/// dashboard). Each move runs the real tool against it and returns what the tool printed.
public actor LabRuntime {
    public let scenario: LabScenario
    /// The temporary directory with `gatehouse.yaml`, `error.log` and `access.log`.
    public let directory: String
    public var configPath: String { self.directory + "/gatehouse.yaml" }
    public var errorLogPath: String { self.directory + "/error.log" }
    public var accessLogPath: String { self.directory + "/access.log" }
    /// `http://127.0.0.1:PORT` of the gateway's listener.
    public private(set) var gatewayBase = ""
    /// `http://127.0.0.1:PORT` of the admin listener (the dashboard is at `/`).
    public private(set) var adminBase = ""

    let group: MultiThreadedEventLoopGroup
    var upstreams: [LabUpstream] = []
    /// The scenario's certificates (made only when an upstream speaks HTTPS), removed at the end.
    var pki: TestPKI?
    var proxy: ProxyServer?
    var admin: AdminServer?
    var listenPort = 0
    var adminPort = 0
    var cluster: LabCluster
    /// Right after a restart, traffic is busy: the next request does not wait for a quiet moment.
    var busyAfterRestart = false
    private var stopped = false

    /// Starts everything and returns once the gateway serves and its health checks (if any) have
    /// judged every server.
    public static func start(_ scenario: LabScenario) async throws -> LabRuntime {
        var template = Array("/tmp/gatehouse-lab-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }
        guard made != nil else { throw LabError("cannot create a temporary directory for the lab") }
        let directory = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let runtime = LabRuntime(scenario: scenario, directory: directory)
        do {
            try await runtime.boot()
        } catch {
            await runtime.stop()
            throw error
        }
        return runtime
    }

    private init(scenario: LabScenario, directory: String) {
        self.scenario = scenario
        self.directory = directory
        self.cluster = scenario.cluster
        // One loop: the gateway's pools are per loop, so the visitor's request and the player's
        // meet the same pooled connection, as on a quiet site.
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    private func boot() async throws {
        if self.scenario.origins.contains(where: { if case .tls = $0.behavior { true } else { false } }) {
            // About a second of `openssl` runs: on a Dispatch thread, not one of Swift concurrency's.
            self.pki = try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Result { try TestPKI.make() }) }
            }
        }
        for origin in self.scenario.origins {
            self.upstreams.append(
                try await LabUpstream.start(name: origin.name, behavior: origin.behavior, group: self.group, pki: self.pki))
        }
        // The file names real ports (a configuration cannot say 0), and a reload must find the same
        // listeners: so two free ports are held first (bound, not listening, SO_REUSEADDR), the
        // file is written with them, and the gateway and the admin listener bind exactly those.
        let listenHold = try PortReservation(reuseAddress: true)
        let adminHold = try PortReservation(reuseAddress: true)
        defer {
            listenHold.release()
            adminHold.release()
        }
        self.listenPort = listenHold.port
        self.adminPort = adminHold.port
        try self.writeConfig()
        let configuration: GatehouseConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: self.configPath)
        } catch {
            throw LabError("the lab's own configuration is invalid: \(error)")
        }
        let log = try LabFileLog(path: self.errorLogPath)
        let logger = log.logger()
        let accessLog = try AccessLogSink(target: .file(self.accessLogPath))
        let proxy = ProxyServer(configuration: configuration, group: self.group, logger: logger, accessLog: accessLog)
        self.proxy = proxy
        try await proxy.start()
        let path = self.configPath
        let admin = AdminServer(proxy: proxy, group: self.group) {
            await proxy.reload(fromFile: path, logger: logger)
        }
        self.admin = admin
        _ = try await admin.start(host: "127.0.0.1", port: self.adminPort)
        self.gatewayBase = "http://127.0.0.1:\(self.listenPort)"
        self.adminBase = "http://127.0.0.1:\(self.adminPort)"
        await self.settleHealth()
    }

    /// Stops the gateway, the admin listener and every upstream, and removes the temporary files.
    public func stop() async {
        guard !self.stopped else { return }
        self.stopped = true
        await self.admin?.stop()
        try? await self.proxy?.stop()
        for upstream in self.upstreams { try? await upstream.stop() }
        try? await self.group.shutdownGracefully()
        for file in [self.configPath, self.errorLogPath, self.accessLogPath] { unlink(file) }
        self.pki?.remove()
        rmdir(self.directory)
    }

    // MARK: - Text

    /// Replaces `{origin:NAME}` with that upstream's `127.0.0.1:PORT`.
    public func resolve(_ text: String) -> String {
        var text = text
        for upstream in self.upstreams { text = text.replacingOccurrences(of: "{origin:\(upstream.name)}", with: upstream.address) }
        return text
    }

    func address(_ address: LabAddress) -> String {
        switch address {
        case .origin(let name): return self.upstream(name)?.address ?? "127.0.0.1:9"
        case .named(let host, let name): return "\(host):\(self.upstream(name)?.port ?? 9)"
        }
    }

    func upstream(_ name: String) -> LabUpstream? {
        self.upstreams.first { $0.name == name }
    }

    /// The planted configuration, as it stands after the edits so far.
    func yaml() -> String {
        var lines = [
            "# gatehouse lab, scenario \(self.scenario.id): the lab's moves edit this file; the gateway reloads it.",
            "listeners:", "  - name: lab", "    address: 127.0.0.1:\(self.listenPort)", "admin:",
            "  address: 127.0.0.1:\(self.adminPort)", "access_log:", "  path: \(self.accessLogPath)", "expose_details: true",
            "clusters:", "  shop:", "    servers:",
        ]
        for server in self.cluster.servers { lines.append("      - address: \(self.address(server))") }
        var section: String?
        for setting in self.cluster.settings {
            let parts = setting.path.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2 {
                if section != parts[0] { lines.append("    \(parts[0]):") }
                section = parts[0]
                lines.append("      \(parts[1]): \(self.resolveFiles(setting.value))")
            } else {
                section = nil
                lines.append("    \(setting.path): \(self.resolveFiles(setting.value))")
            }
        }
        lines += ["routes:", "  - name: shop", "    match: { path_prefix: / }", "    cluster: shop"]
        return lines.joined(separator: "\n") + "\n"
    }

    /// `{pki:ca}` → the file of the scenario's CA.
    private func resolveFiles(_ value: String) -> String {
        guard let pki = self.pki else { return value }
        return value.replacingOccurrences(of: "{pki:ca}", with: pki.caFile)
    }

    func writeConfig() throws {
        let text = self.yaml()
        guard let file = fopen(self.configPath, "w") else {
            throw LabError("cannot write \(self.configPath): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        guard fputs(text, file) >= 0 else { throw LabError("cannot write \(self.configPath)") }
    }
}
