import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import NIOCore
import NIOPosix

/// The command line as typed, before validation.
public struct MonitorArguments: Sendable {
    public var configPath: String?
    public var urls: [String]
    public var interval: String?
    public var timeout: String?
    public var retries: Int?
    public var expect: String?
    public var bodyMatch: String?
    public var listen: String?
    public var webhooks: [String]
    public var renotify: String?

    public init(
        configPath: String? = nil, urls: [String] = [], interval: String? = nil, timeout: String? = nil,
        retries: Int? = nil, expect: String? = nil, bodyMatch: String? = nil, listen: String? = nil,
        webhooks: [String] = [], renotify: String? = nil
    ) {
        self.configPath = configPath
        self.urls = urls
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.expect = expect
        self.bodyMatch = bodyMatch
        self.listen = listen
        self.webhooks = webhooks
        self.renotify = renotify
    }
}

/// Why the monitor cannot run: bad arguments or an invalid file (exit code 2), one message per
/// line (a file's diagnostics as `FILE:LINE:COL: message`).
public typealias MonitorUsageError = UsageError

/// Turns the command line into a ``MonitorConfiguration``: `-c monitor.yaml`, or URLs with options
/// that apply to all of them. Values use the configuration file's syntax (``ConfigSyntax``).
public enum MonitorPlanner {
    public static func configuration(
        _ arguments: MonitorArguments,
        loadConfiguration: (String) throws(ConfigurationError) -> MonitorConfiguration
    ) throws(MonitorUsageError) -> MonitorConfiguration {
        var configuration: MonitorConfiguration
        if let path = arguments.configPath {
            guard arguments.urls.isEmpty else {
                throw MonitorUsageError("give either -c FILE or URLs, not both")
            }
            let perTarget = [
                ("--interval", arguments.interval != nil), ("--timeout", arguments.timeout != nil),
                ("--retries", arguments.retries != nil), ("--expect", arguments.expect != nil),
                ("--body-match", arguments.bodyMatch != nil),
            ].filter(\.1).map(\.0)
            guard perTarget.isEmpty else {
                throw MonitorUsageError(
                    "\(perTarget.joined(separator: ", ")) apply to URLs given on the command line; with -c, set them per target in \(path)")
            }
            do {
                configuration = try loadConfiguration(path)
            } catch {
                throw MonitorUsageError(messages: error.diagnostics.map(\.description) + ["cannot use monitor configuration \(path)"])
            }
        } else {
            guard !arguments.urls.isEmpty else {
                throw MonitorUsageError("give URLs to monitor (http://host:port/path, https://host/path), or -c monitor.yaml")
            }
            configuration = MonitorConfiguration(targets: try Self.targets(arguments))
        }
        if let listen = arguments.listen {
            configuration.listen = try Self.value("--listen", listen, ConfigSyntax.hostPort)
        }
        for webhook in arguments.webhooks {
            configuration.alerts.webhooks.append(try Self.value("--webhook", webhook, HTTPURL.init(parsing:)))
        }
        if let renotify = arguments.renotify {
            configuration.alerts.renotify = try Self.positiveDuration("--renotify", renotify)
        }
        return configuration
    }

    private static func targets(_ arguments: MonitorArguments) throws(MonitorUsageError) -> [MonitorTarget] {
        let interval = try arguments.interval.map { text throws(MonitorUsageError) in try Self.positiveDuration("--interval", text) }
        let timeout = try arguments.timeout.map { text throws(MonitorUsageError) in try Self.positiveDuration("--timeout", text) }
        let expect = try arguments.expect.map { text throws(MonitorUsageError) in
            try Self.value("--expect", text, StatusExpectation.init(parsing:))
        }
        if let retries = arguments.retries, !(1...100).contains(retries) {
            throw MonitorUsageError("invalid --retries \(retries): between 1 and 100 consecutive failed probes")
        }
        if arguments.bodyMatch?.isEmpty == true { throw MonitorUsageError("--body-match must not be empty") }
        var targets: [MonitorTarget] = []
        for text in arguments.urls {
            let url = try Self.value("URL", text, HTTPURL.init(parsing:))
            let target = MonitorTarget(
                url: url, interval: interval ?? MonitorTarget.defaultInterval, timeout: timeout,
                expectStatus: expect ?? .success, bodyMatch: arguments.bodyMatch,
                retries: arguments.retries ?? MonitorTarget.defaultRetries)
            guard !targets.contains(where: { $0.name == target.name }) else {
                throw MonitorUsageError("\(target.name) is given twice")
            }
            targets.append(target)
        }
        return targets
    }

    private static func positiveDuration(_ option: String, _ text: String) throws(MonitorUsageError) -> Duration {
        let duration = try Self.value(option, text, ConfigSyntax.duration)
        guard duration > .zero else { throw MonitorUsageError("invalid \(option) '\(text)': it must be greater than 0") }
        return duration
    }

    private static func value<Value>(_ option: String, _ text: String, _ parse: (String) throws(InvalidValue) -> Value)
        throws(MonitorUsageError) -> Value
    {
        do {
            return try parse(text)
        } catch {
            throw MonitorUsageError("invalid \(option) '\(text)': \(error.reason)")
        }
    }
}

/// `gatehouse monitor --once`: every target probed once, side by side, for scripts and CI.
public enum MonitorOnce {
    /// One probe per target, in configuration order.
    public static func run(
        _ configuration: MonitorConfiguration, caFile: String? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async -> [(target: MonitorTarget, result: ProbeResult)] {
        let prober = HopProber(caFile: caFile, group: group)
        let results = await withTaskGroup(of: (Int, ProbeResult).self) { tasks in
            for (index, target) in configuration.targets.enumerated() {
                tasks.addTask {
                    let request = HopRequest(
                        userAgent: "gatehouse-monitor", keepBody: target.bodyMatch == nil ? 0 : ProbeEvaluator.bodyMatchWindow)
                    let run = await prober.run(target.url.probeTarget, request: request, timeout: target.timeout)
                    return (index, ProbeResult(run: run, cause: ProbeEvaluator.cause(of: run, target: target), time: .now()))
                }
            }
            var collected: [(Int, ProbeResult)] = []
            for await result in tasks { collected.append(result) }
            return collected.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return Array(zip(configuration.targets, results)).map { (target: $0.0, result: $0.1) }
    }

    /// 0 when every probe succeeded, 1 otherwise.
    public static func exitCode(_ results: [(target: MonitorTarget, result: ProbeResult)]) -> Int32 {
        results.allSatisfy(\.result.success) ? 0 : 1
    }

    /// `{"targets": [{"name", "url", "success", "status", "cause", "duration_seconds": {phase: s}, "doctor_summary"}], "exit_code"}`.
    public static func json(_ results: [(target: MonitorTarget, result: ProbeResult)]) -> String {
        let string = DoctorRenderer.jsonString
        let items = results.map { target, result in
            let durations = zip(MetricsExposition.phases, MetricsExposition.durations(result)).map {
                ($0.0, MetricsExposition.number($0.1))
            }
            let cause = result.cause.map { cause in
                Alert.object([
                    ("proxy_status_error", cause.error.map { string($0.token) } ?? "null"),
                    ("summary", string(cause.summary)), ("fix", string(cause.fix)), ("hop", string(cause.hop.rawValue)),
                    ("proxy", cause.proxy.map(string) ?? "null"),
                ])
            }
            return Alert.object([
                ("name", string(target.name)), ("url", string(target.url.description)),
                ("success", result.success ? "true" : "false"),
                ("status", result.run.status.map(String.init) ?? "null"), ("cause", cause ?? "null"),
                ("duration_seconds", Alert.object(durations)),
                ("doctor_summary", string(DoctorRenderer.summary(result.run.steps))),
            ])
        }
        return "{\"targets\": [" + items.joined(separator: ", ") + "], \"exit_code\": \(Self.exitCode(results))}\n"
    }

    /// One line per target; a failure adds its fix and doctor's hop lines.
    public static func text(_ results: [(target: MonitorTarget, result: ProbeResult)]) -> String {
        var out = ""
        for (target, result) in results {
            let latency = StatusTable.latency(result.run.total)
            guard let cause = result.cause else {
                out += "✓ \(target.name): \(result.run.status.map(String.init) ?? "ok") in \(latency)\n"
                continue
            }
            out += "✗ \(target.name): \(cause.short) — \(cause.summary)\n  Fix: \(cause.fix)\n"
            out += DoctorRenderer.summary(result.run.steps).split(separator: "\n").map { "    \($0)\n" }.joined()
        }
        return out
    }
}
