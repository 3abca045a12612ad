import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import GatehouseMonitor
import GatehouseOrigins
import Logging
import NIOCore
import NIOPosix
import Testing

/// `gatehouse monitor` against real loopback origins, a real gateway and a webhook receiver. Short
/// intervals, but every wait is on a condition with a deadline and nothing asserts a timing value.
@Suite("monitor on loopback", .timeLimit(.minutes(2)))
struct LoopbackMonitorTests {
    @Test("healthy → probe_success 1; origin stopped → down webhook (connection_refused at tcp); restarted on the same port → recovered")
    func downAndRecovered() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var receiver: WebhookReceiver?
        var origin: LoopbackOrigin?
        var monitor: MonitorService?
        do {
            let hook = try await WebhookReceiver.start(group: group)
            receiver = hook
            origin = try await LoopbackOrigin.start(.healthy(name: "app"), group: group)
            let port = origin?.port ?? 0
            let configuration = MonitorConfiguration(
                targets: [fastTarget("app", port: port, retries: 2)], listen: HostPort(host: "127.0.0.1", port: 0),
                alerts: MonitorAlerts(webhooks: [hook.url]))
            let running = try await MonitorService.start(configuration, group: group)
            monitor = running
            let up = try await waitUntil("probe_success 1") { () -> String? in
                let text = await running.scrape()
                return text.contains(#"probe_success{target="app"} 1"#) ? text : nil
            }
            #expect(up.contains(#"probe_http_status_code{target="app"} 200"#))
            #expect(up.contains(#"gatehouse_monitor_target_up{target="app",cause="none"} 1"#))
            #expect(hook.alerts.isEmpty, "no alert while up")

            try await origin?.stop()
            origin = nil
            let down = try await hook.waitForEvents(["down"])
            #expect(down.map { $0["event"] as? String } == ["down"])
            let alert = try #require(down.first)
            #expect(alert["target"] as? String == "app")
            #expect(alert["url"] as? String == "http://127.0.0.1:\(port)/")
            #expect(alert.cause("proxy_status_error") == "connection_refused")
            #expect(alert.cause("hop") == "tcp")
            #expect(alert.cause("fix")?.isEmpty == false)
            #expect((alert["doctor_summary"] as? String)?.contains("✗ tcp") == true)
            #expect(alert["since"] is String && alert["time"] is String)
            let metrics = try await waitUntil("target_up 0") { () -> String? in
                let text = await running.scrape()
                return text.contains(#"gatehouse_monitor_target_up{target="app",cause="connection_refused"} 0"#) ? text : nil
            }
            #expect(metrics.contains(#"probe_success{target="app"} 0"#))

            origin = try await LoopbackOrigin.start(.healthy(name: "app"), port: port, group: group)
            let both = try await hook.waitForEvents(["down", "recovered"])
            #expect(both.map { $0["event"] as? String } == ["down", "recovered"])
            #expect(both.last?.cause("proxy_status_error") == "connection_refused", "recovered names the outage that ended")
            #expect(both.last?["since"] as? String == alert["since"] as? String)
        } catch {
            Issue.record(error)
        }
        await monitor?.stop()
        try? await origin?.stop()
        await receiver?.stop()
        try await group.shutdownGracefully()
    }

    @Test("behind a real gateway: the cause says the origin behind it is down, unlike a direct refused probe")
    func behindGateway() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var receiver: WebhookReceiver?
        var origins: [LoopbackOrigin] = []
        var gateway: ProxyServer?
        var monitor: MonitorService?
        do {
            let hook = try await WebhookReceiver.start(group: group)
            receiver = hook
            let refusing = try await LoopbackOrigin.start(.refuse, group: group)
            origins.append(refusing)
            let healthy = try await LoopbackOrigin.start(.healthy(name: "good"), group: group)
            origins.append(healthy)
            let proxy = try await Self.gateway(refusing: refusing.port, healthy: healthy.port, group: group)
            gateway = proxy
            let gatewayPort = proxy.boundAddresses.first?.port ?? 0
            let configuration = MonitorConfiguration(
                targets: [
                    fastTarget("direct", port: refusing.port, retries: 1),
                    fastTarget("via-gateway", port: gatewayPort, path: "/app/", retries: 1),
                ],
                listen: HostPort(host: "127.0.0.1", port: 0), alerts: MonitorAlerts(webhooks: [hook.url]))
            let running = try await MonitorService.start(configuration, group: group)
            monitor = running
            let alerts = try await hook.waitForEvents(["down", "down"])
            let direct = try #require(alerts.first { $0["target"] as? String == "direct" })
            let proxied = try #require(alerts.first { $0["target"] as? String == "via-gateway" })
            #expect(direct.cause("proxy_status_error") == "connection_refused")
            #expect(direct.cause("hop") == "tcp")
            #expect((direct["cause"] as? [String: Any])?["proxy"] is NSNull)
            #expect(proxied.cause("proxy_status_error") == "connection_refused")
            #expect(proxied.cause("hop") == "behind_gateway")
            #expect(proxied.cause("proxy") == "gatehouse")
            #expect(proxied.cause("summary")?.contains("the origin behind gateway 'gatehouse' (127.0.0.1:\(refusing.port)) is down") == true)
            #expect((proxied["doctor_summary"] as? String)?.contains("✓ tcp") == true, "the gateway itself answered")
            let metrics = await running.scrape()
            #expect(metrics.contains(#"gatehouse_monitor_target_up{target="via-gateway",cause="connection_refused"} 0"#))
            #expect(metrics.contains(#"probe_http_status_code{target="via-gateway"} 502"#))
            await running.stop()
            monitor = nil

            // The other answers a gateway gives, each told apart (one probe each).
            let once = await MonitorOnce.run(
                MonitorConfiguration(targets: [
                    fastTarget("unrouted", port: gatewayPort, path: "/nowhere"),
                    fastTarget("origin-502", port: gatewayPort, path: "/good/status/502"),
                    fastTarget("bare-502", port: healthy.port, path: "/status/502"),
                    fastTarget("fine", port: gatewayPort, path: "/good/"),
                ]), group: group)
            let causes = Dictionary(uniqueKeysWithValues: once.map { ($0.target.name, $0.result.cause) })
            #expect(causes["unrouted"]??.hop == .gateway)
            #expect(causes["unrouted"]??.error == .destinationNotFound)
            #expect(causes["unrouted"]??.summary.contains("gateway 'gatehouse' is misconfigured") == true)
            #expect(causes["origin-502"]??.hop == .origin)
            #expect(causes["bare-502"]??.hop == .response)
            #expect(causes["bare-502"]??.summary.contains("unexplained") == true)
            #expect(causes["fine"] == .some(nil))
            #expect(MonitorOnce.exitCode(once) == 1)
            #expect(MonitorOnce.json(once).contains(#""hop": "origin""#))
        } catch {
            Issue.record(error)
        }
        await monitor?.stop()
        try? await gateway?.stop()
        for origin in origins { try? await origin.stop() }
        await receiver?.stop()
        try await group.shutdownGracefully()
    }

    /// A gateway with `/app/` → the refusing origin and `/good/` → the healthy one (prefix stripped),
    /// nothing else routed, details exposed so next-hop shows.
    static func gateway(refusing: Int, healthy: Int, group: any EventLoopGroup) async throws -> ProxyServer {
        let configuration = GatehouseConfiguration(
            listeners: [Listener(name: "test", address: HostPort(host: "127.0.0.1", port: 0))], accessLog: .off,
            clusters: [
                Cluster(name: "app", servers: [Cluster.Server(address: HostPort(host: "127.0.0.1", port: refusing))]),
                Cluster(name: "good", servers: [Cluster.Server(address: HostPort(host: "127.0.0.1", port: healthy))]),
            ],
            routes: [
                Route(name: "app", match: Route.Match(pathPrefix: "/app/"), cluster: "app"),
                Route(name: "good", match: Route.Match(pathPrefix: "/good/"), cluster: "good", stripPrefix: true),
            ],
            exposeDetails: true)
        var logger = Logger(label: "gatehouse-monitor-test")
        logger.logLevel = .critical
        let proxy = ProxyServer(
            configuration: configuration, group: group, logger: logger, accessLog: try AccessLogSink(target: .off))
        try await proxy.start()
        return proxy
    }
}
