import GatehouseConfig
import GatehouseDoctor
import NIOCore
import NIOPosix

/// `gatehouse monitor` running: one task per target probing on its interval, the metrics listener,
/// the webhook deliveries and the console. Started by ``start(_:console:caFile:group:)``, stopped by
/// ``stop()`` (the CLI calls it on SIGINT/SIGTERM).
///
/// The control plane only: probes use doctor's hops on the event loops, nothing here touches a
/// gateway's data path.
public final class MonitorService: Sendable {
    public let configuration: MonitorConfiguration
    public let board: MonitorBoard
    /// Where `/metrics` is served, once bound.
    public let metricsAddress: SocketAddress?
    private let metrics: MetricsServer?
    private let notifier: WebhookNotifier
    private let console: MonitorConsole
    private let probes: Task<Void, Never>
    private let background: Task<Void, Never>

    private init(
        configuration: MonitorConfiguration, board: MonitorBoard, metrics: MetricsServer?, metricsAddress: SocketAddress?,
        notifier: WebhookNotifier, console: MonitorConsole, probes: Task<Void, Never>, background: Task<Void, Never>
    ) {
        self.configuration = configuration
        self.board = board
        self.metrics = metrics
        self.metricsAddress = metricsAddress
        self.notifier = notifier
        self.console = console
        self.probes = probes
        self.background = background
    }

    /// Binds the metrics listener (if configured) and starts probing.
    ///
    /// - Parameters:
    ///   - caFile: extra trusted CA certificates (PEM) for https targets and webhooks.
    ///   - webhookTimeout: the time limit of each hop of a webhook delivery.
    /// - Throws: the bind error; nothing is left running then.
    public static func start(
        _ configuration: MonitorConfiguration, console: MonitorConsole = MonitorConsole(mode: .silent),
        caFile: String? = nil, webhookTimeout: Duration = .seconds(5),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> MonitorService {
        let board = MonitorBoard(targets: configuration.targets)
        var metrics: MetricsServer?
        var metricsAddress: SocketAddress?
        if let listen = configuration.listen {
            let server = MetricsServer(board: board, group: group)
            metricsAddress = try await server.start(host: listen.host, port: listen.port)
            metrics = server
        }
        let prober = HopProber(caFile: caFile, group: group)
        let notifier: WebhookNotifier
        do {
            notifier = try WebhookNotifier(
                webhooks: configuration.alerts.webhooks, group: group, caFile: caFile, timeout: webhookTimeout
            ) { console.problem($0) }
        } catch {
            await metrics?.stop()
            throw error
        }
        let header = Self.header(configuration, metricsAddress: metricsAddress)
        console.start(header: header)
        let background = Task {
            async let deliveries: Void = notifier.run()
            await console.run(board: board, header: header)
            await deliveries
        }
        let renotify = configuration.alerts.renotify
        let probes = Task {
            await withDiscardingTaskGroup { group in
                for target in configuration.targets {
                    let loop = TargetLoop(
                        target: target, prober: prober, board: board, notifier: notifier, console: console,
                        renotify: renotify)
                    group.addTask { await loop.run() }
                }
            }
        }
        return MonitorService(
            configuration: configuration, board: board, metrics: metrics, metricsAddress: metricsAddress,
            notifier: notifier, console: console, probes: probes, background: background)
    }

    /// Stops probing (a probe under way finishes within its time limits), delivers the alerts already
    /// queued, closes the metrics listener and restores the terminal.
    public func stop() async {
        // Cancelled loops record and alert nothing more, so the terminal and the queues can be closed
        // before the probes under way have finished (they may wait on a hung target's time limits).
        self.probes.cancel()
        self.console.finish()
        self.notifier.finish()
        await self.background.value
        await self.probes.value
        await self.metrics?.stop()
    }

    /// The table's first line: what runs, and where the metrics are.
    static func header(_ configuration: MonitorConfiguration, metricsAddress: SocketAddress?) -> String {
        let count = configuration.targets.count
        var header = "gatehouse monitor — \(count) target\(count == 1 ? "" : "s")"
        if let address = metricsAddress, let ip = address.ipAddress, let port = address.port {
            header += " — metrics on http://\(ip.contains(":") ? "[\(ip)]" : ip):\(port)/metrics"
        }
        let hooks = configuration.alerts.webhooks.count
        if hooks > 0 { header += " — alerts to \(hooks) webhook\(hooks == 1 ? "" : "s")" }
        return header + " — Ctrl-C to stop"
    }
}

/// The life of one target: probe, judge, record, alert, sleep; until cancelled.
struct TargetLoop: Sendable {
    let target: MonitorTarget
    let prober: HopProber
    let board: MonitorBoard
    let notifier: WebhookNotifier
    let console: MonitorConsole
    let renotify: Duration?

    func run() async {
        let clock = ContinuousClock()
        let probeTarget = self.target.url.probeTarget
        let request = HopRequest(
            userAgent: "gatehouse-monitor", keepBody: self.target.bodyMatch == nil ? 0 : ProbeEvaluator.bodyMatchWindow)
        var next = clock.now + ProbeSchedule.initialDelay(interval: self.target.interval, random: .random(in: 0..<1))
        var lastAlert: ContinuousClock.Instant?
        while true {
            do {
                try await clock.sleep(until: next)
            } catch {
                return  // cancelled
            }
            let started = clock.now
            let run = await self.prober.run(probeTarget, request: request, timeout: self.target.timeout)
            // Stopping while a probe ran: its result may be a failure the stop itself caused.
            if Task.isCancelled { return }
            let result = ProbeResult(run: run, cause: ProbeEvaluator.cause(of: run, target: self.target), time: .now())
            if let recorded = self.board.record(result, for: self.target.name) {
                self.console.probed(before: recorded.before, after: recorded.after)
                // A recovery's `since` is the outage's start, which the status before it holds.
                let since = recorded.action.isRecovery ? recorded.before.since : recorded.after.since
                if self.perform(recorded.action, since: since, result: result) {
                    // The re-notify clock runs only while down.
                    lastAlert = recorded.action.isRecovery ? nil : clock.now
                }
            }
            if let renotify = self.renotify, let last = lastAlert, clock.now - last >= renotify {
                let action = self.board.renotify(self.target.name)
                if self.perform(action, since: self.board.status(of: self.target.name)?.since, result: result) {
                    lastAlert = clock.now
                }
            }
            next = started + ProbeSchedule.delay(interval: self.target.interval, random: .random(in: 0..<1))
            if next < clock.now { next = clock.now }
        }
    }

    /// Sends the alert the state machine asked for; returns whether one was sent.
    private func perform(_ action: TargetStateMachine.Action, since: WallTime?, result: ProbeResult) -> Bool {
        guard case .sendAlert(let kind, let cause) = action else { return false }
        let alert = Alert(
            kind: kind, target: self.target.name, url: self.target.url.description, cause: cause,
            doctorSummary: DoctorRenderer.summary(result.run.steps), since: since, time: result.time)
        self.notifier.send(alert)
        if kind == .stillDown { self.console.renotified(alert) }
        return true
    }
}

extension TargetStateMachine.Action {
    var isRecovery: Bool {
        if case .sendAlert(.recovered, _) = self { return true }
        return false
    }
}
