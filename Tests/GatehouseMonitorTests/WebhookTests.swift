import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import GatehouseMonitor
import GatehouseOrigins
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// Alert delivery: a failed webhook is logged and retried with the next alert; a hung one never holds
/// up the probes.
@Suite("monitor webhooks", .timeLimit(.minutes(2)))
struct WebhookTests {
    static func alert(_ kind: TargetStateMachine.AlertKind) -> Alert {
        Alert(
            kind: kind, target: "app", url: "http://127.0.0.1:1/",
            cause: ProbeCause(error: .connectionRefused, hop: .tcp, summary: "nothing listens", fix: "start it"),
            doctorSummary: "✗ tcp refused", since: WallTime(seconds: 1_700_000_000), time: WallTime(seconds: 1_700_000_060))
    }

    @Test("the alert's JSON has the documented fields")
    func json() {
        #expect(
            Self.alert(.stillDown).json
                == #"{"event": "still_down", "target": "app", "url": "http://127.0.0.1:1/", "cause": {"proxy_status_error": "connection_refused", "summary": "nothing listens", "fix": "start it", "hop": "tcp", "proxy": null, "status": null}, "doctor_summary": "✗ tcp refused", "since": "2023-11-14T22:13:20.000Z", "time": "2023-11-14T22:14:20.000Z"}"#
        )
    }

    @Test("a webhook that is down: the failure is logged, and the alert is sent again with the next one")
    func retriedWithNextAlert() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // A port known to be closed (the .refuse origin holds it without listening), on which the
        // receiver starts later, once the origin gives it back.
        let closed = try await LoopbackOrigin.start(.refuse, group: group)
        let url = HTTPURL(scheme: .http, host: "127.0.0.1", port: closed.port, path: "/hook")
        let logged = NIOLockedValueBox<[String]>([])
        let notifier = try WebhookNotifier(webhooks: [url], group: group) { line in
            logged.withLockedValue { $0.append(line) }
        }
        let deliveries = Task { await notifier.run() }
        var receiver: WebhookReceiver?
        do {
            notifier.send(Self.alert(.down))
            let lines = try await waitUntil("a logged failure") { () -> [String]? in
                let lines = logged.withLockedValue { $0 }
                return lines.isEmpty ? nil : lines
            }
            #expect(lines.first?.contains("alert 'down' for 'app' not delivered") == true, "\(lines)")
            #expect(lines.first?.contains("connection_refused") == true, "\(lines)")

            try await closed.stop()
            receiver = try await WebhookReceiver.start(port: closed.port, group: group)
            notifier.send(Self.alert(.recovered))
            let alerts = try await receiver?.waitForEvents(["down", "recovered"]) ?? []
            #expect(alerts.map { $0["event"] as? String } == ["down", "recovered"])
        } catch {
            Issue.record(error)
        }
        notifier.finish()
        await deliveries.value
        await receiver?.stop()
        try? await closed.stop()
        try await group.shutdownGracefully()
    }

    @Test("while down, still_down again every renotify")
    func renotify() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var receiver: WebhookReceiver?
        var refusing: LoopbackOrigin?
        var monitor: MonitorService?
        do {
            let hook = try await WebhookReceiver.start(group: group)
            receiver = hook
            let origin = try await LoopbackOrigin.start(.refuse, group: group)
            refusing = origin
            let configuration = MonitorConfiguration(
                targets: [fastTarget("app", port: origin.port, retries: 1)],
                alerts: MonitorAlerts(webhooks: [hook.url], renotify: .milliseconds(100)))
            monitor = try await MonitorService.start(configuration, group: group)
            let alerts = try await hook.waitForEvents(["down", "still_down", "still_down"])
            #expect(alerts.prefix(3).map { $0["event"] as? String } == ["down", "still_down", "still_down"])
            #expect(alerts.allSatisfy { $0["since"] as? String == alerts.first?["since"] as? String }, "one outage, one start")
        } catch {
            Issue.record(error)
        }
        await monitor?.stop()
        try? await refusing?.stop()
        await receiver?.stop()
        try await group.shutdownGracefully()
    }

    @Test("a hung webhook does not hold up the probes")
    func hungWebhook() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var origins: [LoopbackOrigin] = []
        var monitor: MonitorService?
        do {
            let hung = try await LoopbackOrigin.start(.hang, group: group)
            origins.append(hung)
            let refusing = try await LoopbackOrigin.start(.refuse, group: group)
            origins.append(refusing)
            let configuration = MonitorConfiguration(
                targets: [fastTarget("app", port: refusing.port, retries: 1)], listen: HostPort(host: "127.0.0.1", port: 0),
                alerts: MonitorAlerts(webhooks: [HTTPURL(scheme: .http, host: "127.0.0.1", port: hung.port)]))
            let running = try await MonitorService.start(configuration, webhookTimeout: .milliseconds(500), group: group)
            monitor = running
            // The down alert's delivery hangs (until its time limit); probing goes on meanwhile.
            _ = try await waitUntil("probes after the down alert") { () -> Bool? in
                let status = running.board.status(of: "app")
                return status?.machine.isDown == true && (status?.failures ?? 0) >= 5 ? true : nil
            }
            #expect(hung.requestsServed <= 1)
        } catch {
            Issue.record(error)
        }
        await monitor?.stop()
        for origin in origins { try? await origin.stop() }
        try await group.shutdownGracefully()
    }
}
