import ArgumentParser
import Dispatch
import GatehouseConfig
import GatehouseDoctor
import GatehouseMonitor

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `gatehouse monitor`: synthetic checks of URLs with doctor's hops; DOWN after `retries` failed probes,
/// with the cause (the probe's own hop, or the Proxy-Status of the gateway in front), metrics for
/// Prometheus, and webhook alerts.
struct Monitor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Probe URLs on an interval with doctor's hops: DOWN/UP with the cause, /metrics, webhook alerts.",
        discussion: """
            Either -c monitor.yaml, or URLs with options that apply to all of them. A target is DOWN after \
            --retries consecutive failed probes and UP again after one success; each alert (down, recovered, \
            still_down every --renotify) is POSTed as JSON to every --webhook. On a terminal a live table is \
            shown; otherwise one line per state change. --once probes each target once and exits 0 (all \
            succeeded), 1 (a probe failed) or 2 (could not run).
            """)

    @Argument(help: "URLs to probe (http://host:port/path, https://host/path).")
    var urls: [String] = []

    @Option(name: .shortAndLong, help: "A monitor file (targets, listen, alerts).")
    var config: String?

    @Option(help: "Time between probes of a target (30s by default; ±10% jitter).")
    var interval: String?

    @Option(help: "Time limit of each hop of a probe (10s, or the interval if shorter).")
    var timeout: String?

    @Option(help: "Consecutive failed probes that declare a target DOWN (2 by default).")
    var retries: Int?

    @Option(help: "Statuses that count as success: 200, 2xx, 200-399 (default), or a list: 2xx,404.")
    var expect: String?

    @Option(name: .customLong("body-match"), help: "Text the response body must contain.")
    var bodyMatch: String?

    @Option(help: "Serve Prometheus metrics on this address: GET /metrics (e.g. 127.0.0.1:9115).")
    var listen: String?

    @Option(name: .customLong("webhook"), help: "POST alerts as JSON to this URL (repeatable).")
    var webhooks: [String] = []

    @Option(help: "While a target stays down, alert again this often (e.g. 1h).")
    var renotify: String?

    @Option(name: .customLong("ca-file"), help: "PEM file of extra CA certificates to trust for https targets and webhooks.")
    var caFile: String?

    @Flag(help: "Probe each target once, print the results and exit.")
    var once = false

    @Flag(help: "With --once: print the results as JSON.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Colour the live table (default: on when standard output is a terminal).")
    var color: Bool? = nil

    func run() async throws {
        let arguments = MonitorArguments(
            configPath: self.config, urls: self.urls, interval: self.interval, timeout: self.timeout,
            retries: self.retries, expect: self.expect, bodyMatch: self.bodyMatch, listen: self.listen,
            webhooks: self.webhooks, renotify: self.renotify)
        let configuration: MonitorConfiguration
        do {
            if self.json && !self.once { throw MonitorUsageError("--json goes with --once (the running monitor's data is on /metrics)") }
            configuration = try MonitorPlanner.configuration(arguments) { path throws(ConfigurationError) in
                try ConfigurationLoader.loadMonitor(path: path)
            }
        } catch let error as MonitorUsageError {
            for message in error.messages { printError("gatehouse monitor: \(message)") }
            throw ExitCode(2)
        }

        if let caFile = self.caFile, let problem = HopProber(caFile: caFile).tlsProblem {
            printError("gatehouse monitor: cannot use --ca-file \(caFile): \(problem)")
            throw ExitCode(2)
        }

        if self.once {
            let results = await MonitorOnce.run(configuration, caFile: self.caFile)
            writeOutput(self.json ? MonitorOnce.json(results) : MonitorOnce.text(results))
            let code = MonitorOnce.exitCode(results)
            if code != 0 { throw ExitCode(code) }
            return
        }

        let terminal = isatty(STDOUT_FILENO) == 1
        let console = MonitorConsole(
            mode: terminal ? .table(color: self.color ?? true) : .log, write: { writeOutput($0) },
            writeError: { printError(String($0.dropLast($0.hasSuffix("\n") ? 1 : 0))) })
        let (signals, sources) = Self.terminationSignals()
        let service: MonitorService
        do {
            service = try await MonitorService.start(configuration, console: console, caFile: self.caFile)
        } catch {
            printError("gatehouse monitor: cannot listen on \(configuration.listen?.description ?? "?"): \(error)")
            throw ExitCode(1)
        }
        var iterator = signals.makeAsyncIterator()
        _ = await iterator.next()
        // A second signal while the probes under way finish (a hung target can take its time limits) quits at once.
        let forced = Task {
            if await iterator.next() != nil { quitNow(130) }
        }
        await service.stop()
        forced.cancel()
        withExtendedLifetime(sources) {}
    }

    /// SIGINT and SIGTERM as a stream: the default handlers would kill the process before the terminal
    /// is restored and the queued alerts are sent. The sources must be kept alive by the caller.
    private static func terminationSignals() -> (AsyncStream<Int32>, [any DispatchSourceSignal]) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { continuation.yield(signalNumber) }
            source.resume()
            sources.append(source)
        }
        return (stream, sources)
    }
}

/// Exits the process at once (the C library's `exit`, which a command's own `exit(withError:)` hides).
private func quitNow(_ code: Int32) -> Never {
    exit(code)
}
