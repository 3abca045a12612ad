import ArgumentParser
import Dispatch
import GatehouseConfig
import GatehouseDoctor
import GatehouseCore
import GatehouseErrors
import GatehouseExplain
import GatehouseIncidents
import GatehouseTracing
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus

#if canImport(Glibc)
import Glibc
#endif

/// `gatehouse`: the reverse proxy that explains every 502.
@main
struct Gatehouse: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatehouse",
        abstract: "A reverse proxy and load balancer with no mystery 502s.",
        version: GatehouseVersion.string,
        subcommands: [Run.self, Check.self, Schema.self, Demo.self, Explain.self, Doctor.self, Monitor.self, Lab.self])
}

/// Options every serving command shares.
struct ServeOptions: ParsableArguments {
    @Option(help: "Error-log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Event loops (threads) serving traffic; default: one per core (demo: one).")
    var threads: Int?

    @Option(help: "On SIGTERM or SIGINT, seconds given to in-flight requests before connections are cut.")
    var drainTimeout: Int = 30

    func makeLogger() -> Logger {
        let level = Logger.Level(rawValue: self.logLevel) ?? .info
        // StreamLogHandler stamps each line with localtime(), which runs tzset(): with TZ unset,
        // glibc stats /etc/localtime on every call, one system call per error-log line (a burst of
        // failures is a burst of lines). Naming the same file pins the zone as nginx does (read
        // once; a change of zone takes a restart); an operator's TZ wins. Both commands call this
        // before any event loop or thread starts: setenv is not thread-safe.
        if getenv("TZ") == nil { setenv("TZ", ":/etc/localtime", 0) }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "gatehouse")
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway with a configuration file.")

    @Option(name: .shortAndLong, help: "Path to the YAML configuration.")
    var config: String = "gatehouse.yaml"

    @OptionGroup var serve: ServeOptions

    func run() async throws {
        let configuration: GatehouseConfiguration
        do {
            configuration = try ConfigurationLoader.load(path: self.config)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            printError("gatehouse: configuration is invalid; not starting")
            throw ExitCode(1)
        }
        let logger = self.serve.makeLogger()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, self.serve.threads ?? System.coreCount))
        let gateway = try await GatewayProcess.start(
            configuration: configuration, group: group, logger: logger, configPath: self.config)
        writeOutput(gateway.summary().map { $0 + "\n" }.joined())
        await gateway.runUntilSignalled(drainTimeout: self.serve.drainTimeout)
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a configuration file (like nginx -t) and warn about settings known to cause 502/503/504.",
        discussion: """
            Errors, warnings and notes are printed as FILE:LINE:COL: message. Errors exit 1; warnings \
            exit 0 unless --strict. With --diff OLD NEW, both files are checked (NEW is linted) and what a \
            reload from OLD to NEW would change is printed. With --probe, each server of each cluster is \
            asked once (GET its health check path, else /) and what it answers is checked against the \
            file: reachable, response header size against limits.max_response_header_bytes, an announced \
            Keep-Alive timeout against pool.idle_timeout.
            """)

    @Option(name: .shortAndLong, help: "Path to the YAML configuration.")
    var config: String = "gatehouse.yaml"

    @Flag(help: "Exit 1 when there are warnings (notes never fail).")
    var strict = false

    @Option(
        parsing: .upToNextOption,
        help: ArgumentHelp("Print what a reload from OLD to NEW would change.", valueName: "OLD NEW"))
    var diff: [String] = []

    @Flag(help: "Connect once to every server and check what it sends against the file's limits.")
    var probe = false

    @Option(help: ArgumentHelp("With --probe: the time limit of each hop (DNS, connect, response).", valueName: "duration"))
    var probeTimeout: String = "3s"

    func validate() throws {
        if !self.diff.isEmpty, self.diff.count != 2 {
            throw ValidationError("--diff takes two files: OLD NEW")
        }
        if self.probe, !self.diff.isEmpty {
            throw ValidationError("--probe checks one file: use it without --diff")
        }
        if DoctorPlanner.parseDuration(self.probeTimeout).map({ $0 > .zero }) != true {
            throw ValidationError("invalid --probe-timeout '\(self.probeTimeout)': use a duration such as 3s or 500ms")
        }
    }

    func run() async throws {
        if self.diff.count == 2 {
            let old = try Self.load(self.diff[0], lint: false)
            let new = try Self.load(self.diff[1], lint: true)
            let changes = ConfigurationDiff.changes(old.configuration, new.configuration)
            print("gatehouse: a reload from \(self.diff[0]) to \(self.diff[1]) would change:")
            print(changes.isEmpty ? "  nothing" : changes.map { "  " + $0 }.joined(separator: "\n"))
            try self.finish(file: self.diff[1], warnings: new.warnings)
            return
        }
        let checked = try Self.load(self.config, lint: true)
        print("gatehouse: the configuration file \(self.config) syntax is ok")
        var warnings = checked.warnings
        if self.probe {
            warnings += await self.probeServers(checked.configuration, checked.locations)
        }
        try self.finish(file: self.config, warnings: warnings)
    }

    /// Probes every server, prints a line per server and the lints of what was measured; returns the
    /// number of warnings.
    private func probeServers(_ configuration: GatehouseConfiguration, _ locations: ConfigLocations) async -> Int {
        let timeout = DoctorPlanner.parseDuration(self.probeTimeout) ?? .seconds(3)
        let count = configuration.clusters.reduce(0) { $0 + $1.servers.count }
        print("gatehouse: probing \(count) server\(count == 1 ? "" : "s") (each hop up to \(self.probeTimeout))")
        let probes = await ConfigProbe.run(configuration, timeout: timeout)
        for probe in probes {
            let limit = configuration.cluster(named: probe.cluster)?.limits.maxResponseHeaderBytes ?? 0
            print("  " + probe.line(limit: limit))
        }
        let lints = ConfigProbe.lints(probes, configuration, locations)
        for lint in lints { printError(lint.description) }
        return lints.filter { $0.severity == .warning }.count
    }

    /// Loads and (if asked) lints a file; prints every error and exits 1 on any, prints the lints.
    static func load(_ path: String, lint: Bool) throws -> (
        configuration: GatehouseConfiguration, locations: ConfigLocations, warnings: Int
    ) {
        do {
            let (configuration, locations) = try ConfigurationLoader.loadWithLocations(path: path)
            guard lint else { return (configuration, locations, 0) }
            let lints = ConfigLints.check(configuration, locations)
            for lint in lints { printError(lint.description) }
            return (configuration, locations, lints.filter { $0.severity == .warning }.count)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            printError("gatehouse: configuration file \(path) test failed")
            throw ExitCode(1)
        }
    }

    private func finish(file: String, warnings: Int) throws {
        let counted = warnings == 1 ? "1 warning" : "\(warnings) warnings"
        if warnings > 0 && self.strict {
            printError("gatehouse: configuration file \(file) test failed: \(counted) (--strict)")
            throw ExitCode(1)
        }
        print(warnings == 0 ? "gatehouse: configuration is valid" : "gatehouse: configuration is valid, with \(counted)")
    }
}

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain every 502/503/504 in nginx, HAProxy or Gatehouse logs: cause, evidence, fix.")

    @Argument(help: "Log files (plain or .gz); '-' or none for standard input.")
    var logs: [String] = []

    @Flag(help: "Print findings as JSON.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Colour the report (default: when standard output is a terminal).")
    var color: Bool? = nil

    func run() throws {
        let useColor = self.color ?? (isatty(STDOUT_FILENO) == 1)
        let code = ExplainRunner.run(paths: self.logs.isEmpty ? ["-"] : self.logs, json: self.json, color: useColor)
        if code != 0 { throw ExitCode(code) }
    }
}

/// A gateway with its admin listener, started from a configuration.
struct GatewayProcess {
    let proxy: ProxyServer
    let admin: AdminServer?
    let listenerAddresses: [SocketAddress]
    let adminAddress: SocketAddress?
    /// The error and incident store (`storage`) and the webhook alerts.
    let incidents: GatewayIncidents
    /// The span export, when the configuration has a `tracing` section.
    let tracing: TracingExporter?

    let configPath: String?
    let logger: Logger

    static func start(
        configuration: GatehouseConfiguration, group: any EventLoopGroup, logger: Logger, configPath: String? = nil,
        lab: (any AdminLabProvider)? = nil
    ) async throws -> GatewayProcess {
        let accessLog: AccessLogSink
        do {
            accessLog = try AccessLogSink(target: configuration.accessLog)
        } catch {
            printError("gatehouse: \(error)")
            throw ExitCode(1)
        }
        var tracing: TracingExporter? = nil
        if let section = configuration.tracing {
            do {
                tracing = try TracingExporter(configuration: section, logger: logger)
            } catch {
                printError("gatehouse: cannot set up tracing export to \(section.endpoint): \(error)")
                throw ExitCode(1)
            }
        }
        let proxy = ProxyServer(
            configuration: configuration, group: group, logger: logger, accessLog: accessLog, tracer: tracing?.tracer)
        proxy.metrics.setBuildInfo(version: GatehouseVersion.string)
        // Libraries that report through swift-metrics land on the same /metrics page.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: proxy.metrics.registry))
        // Before the listeners: the admin API sees the persisted history from the first request on.
        let incidents: GatewayIncidents
        do {
            incidents = try await GatewayIncidents.attach(to: proxy, group: group, logger: logger)
        } catch {
            printError("gatehouse: cannot open storage \(configuration.storage?.path ?? ""): \(error)")
            await tracing?.shutdown()
            throw ExitCode(1)
        }
        let addresses: [SocketAddress]
        do {
            addresses = try await proxy.start()
        } catch {
            printError("gatehouse: \(error)")
            await incidents.shutdown()
            await tracing?.shutdown()
            throw ExitCode(1)
        }
        var admin: AdminServer? = nil
        var adminAddress: SocketAddress? = nil
        if let adminConfiguration = configuration.admin {
            var reload: (@Sendable () async -> AdminAnswer)? = nil
            if let path = configPath {
                reload = { await Self.reload(proxy: proxy, path: path, logger: logger) }
            }
            let server = AdminServer(proxy: proxy, group: group, reload: reload, lab: lab)
            do {
                adminAddress = try await server.start(host: adminConfiguration.address.host, port: adminConfiguration.address.port)
            } catch {
                if error is AdminTokenError {
                    printError("gatehouse: \(error)")
                } else {
                    printError("gatehouse: cannot listen on admin address \(adminConfiguration.address): \(error)")
                }
                try? await proxy.stop()
                await incidents.shutdown()
                await tracing?.shutdown()
                throw ExitCode(1)
            }
            admin = server
        }
        return GatewayProcess(
            proxy: proxy, admin: admin, listenerAddresses: addresses, adminAddress: adminAddress, incidents: incidents, tracing: tracing,
            configPath: configPath, logger: logger)
    }

    /// Re-reads the configuration file and applies it; an invalid file changes nothing and says why.
    static func reload(proxy: ProxyServer, path: String, logger: Logger) async -> AdminAnswer {
        let previousTracing = proxy.snapshot.configuration.tracing
        let answer = await proxy.reload(fromFile: path, logger: logger)
        if answer.status == 200, previousTracing != proxy.snapshot.configuration.tracing {
            // The exporter and the tracer live as long as the process: say so rather than let
            // the operator believe the new section is in force.
            logger.warning(
                "the tracing section changed but is not applied by a reload: restart gatehouse to apply it; spans still go where they went",
                metadata: ["event": "reload_needs_restart"])
        }
        return answer
    }

    /// Serves until SIGTERM or SIGINT, then shuts down gracefully: no new connections, requests
    /// already accepted finish (up to `drainTimeout` seconds), idle keep-alive connections close.
    func runUntilSignalled(drainTimeout: Int) async {
        let signals = AsyncStream<Int32> { continuation in
            let sources = [SIGTERM, SIGINT, SIGHUP].map { number -> any DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            }
            let held = SignalSources(sources: sources)
            continuation.onTermination = { _ in held.cancel() }
        }
        for await number in signals {
            if number == SIGHUP {
                guard let path = self.configPath else {
                    printError("gatehouse: SIGHUP ignored: this gateway was not started from a configuration file")
                    continue
                }
                let answer = await Self.reload(proxy: self.proxy, path: path, logger: self.logger)
                printError("gatehouse: SIGHUP: " + answer.json.filter { $0 != "\n" })
                continue
            }
            let name = number == SIGTERM ? "SIGTERM" : "SIGINT"
            printError("gatehouse: \(name): no new connections; finishing in-flight requests (up to \(drainTimeout) s)")
            let cut = await self.proxy.shutdownGracefully(timeout: .seconds(drainTimeout))
            await self.admin?.stop()
            await self.incidents.shutdown()
            // After the proxy: the last requests' spans are in the batch, and are flushed now.
            await self.tracing?.shutdown()
            printError(
                cut == 0
                    ? "gatehouse: stopped; every accepted request completed"
                    : "gatehouse: stopped; \(cut) connection(s) still busy at the drain timeout were cut")
            return
        }
    }

    func summary() -> [String] {
        var lines: [String] = []
        for (listener, address) in zip(self.proxy.snapshot.configuration.listeners, self.listenerAddresses) {
            lines.append("gatehouse: listener '\(listener.name)' on \(listener.tls == nil ? "http" : "https")://\(address.displayHostPort)/")
        }
        if let adminAddress { lines.append("gatehouse: admin on http://\(adminAddress.displayHostPort)/stats") }
        if let tracing { lines.append("gatehouse: " + tracing.summary) }
        return lines
    }
}

extension SocketAddress {
    /// `127.0.0.1:8080` or `[::1]:8080`.
    var displayHostPort: String {
        let ip = self.ipAddress ?? "?"
        let port = self.port ?? 0
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

/// Writes a line to standard error, unbuffered.
func printError(_ line: String) {
    writeAll(descriptor: STDERR_FILENO, line + "\n")
}

/// Writes to standard output at once (not through stdio's buffer, which a long-running server
/// would hold back when stdout is a pipe).
func writeOutput(_ text: String) {
    writeAll(descriptor: STDOUT_FILENO, text)
}

private func writeAll(descriptor: Int32, _ text: String) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            return
        }
        bytes = bytes.dropFirst(written)
    }
}

/// Keeps the signal sources alive for as long as the stream is watched.
// SAFETY: dispatch sources are thread-safe objects; `cancel` may be called from any thread.
private struct SignalSources: @unchecked Sendable {
    let sources: [any DispatchSourceSignal]

    func cancel() {
        for source in self.sources { source.cancel() }
    }
}
