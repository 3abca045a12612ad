import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import GatehouseIncidents
import GatehouseOrigins
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// Errors, incidents and their webhooks through a real gateway, admin server and webhook receiver
/// on loopback.
@Suite("incidents end to end", .timeLimit(.minutes(2)))
struct IncidentAlertsTests {
    /// Small windows and a fast tick, so an outage opens and resolves within seconds.
    static func fast(_ webhooks: [Webhook] = []) -> Alerts {
        Alerts(
            incident: IncidentSettings(
                window: .seconds(1), errorRatio: 0.5, minRequests: 5, recovery: .seconds(1), spikeFactor: 0,
                interval: .milliseconds(100)),
            webhooks: webhooks)
    }

    static let admin = Admin(address: HostPort(host: "127.0.0.1", port: 0))

    /// Sends requests one after the other until cancelled (bounded).
    static func traffic(_ gateway: TestGateway, path: String = "/") -> Task<Int, Never> {
        Task {
            var sent = 0
            while !Task.isCancelled && sent < 50_000 {
                _ = try? await gateway.request("GET \(path) HTTP/1.1\r\nHost: t.test\r\n\r\n", timeout: .seconds(5))
                sent += 1
            }
            return sent
        }
    }

    @Test("a scripted outage: the webhook gets exactly one opened and one resolved, in that order")
    func outage() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hook = try await WebhookReceiver.start(group: group)
        do {
            let webhook = Webhook(url: HTTPURL(scheme: .http, host: "127.0.0.1", port: hook.port, path: "/hook"), timeout: .seconds(2))
            try await withGateway(
                [.healthy(name: "a")], admin: Self.admin, configure: { $0.alerts = Self.fast([webhook]) }, incidents: true
            ) { gateway in
                let traffic = Self.traffic(gateway)
                let server = "127.0.0.1:\(gateway.origins[0].port)"
                do {
                    try await gateway.kill(origin: 0)
                    _ = try await eventually("the opened message", timeout: .seconds(20)) { hook.kinds.contains("opened") }
                    _ = try await gateway.restart(origin: 0)
                    _ = try await eventually("the resolved message", timeout: .seconds(20)) { hook.kinds.contains("resolved") }
                } catch {
                    traffic.cancel()
                    throw error
                }
                traffic.cancel()
                _ = await traffic.value
                #expect(hook.kinds == ["opened", "resolved"])
                let opened = hook.messages.first?["incident"] as? [String: Any]
                let resolved = hook.messages.last?["incident"] as? [String: Any]
                #expect(opened?["cluster"] as? String == "app")
                #expect(opened?["cause"] as? String == "connection_refused")
                #expect(opened?["open"] as? Bool == true)
                #expect((opened?["servers"] as? [[String: Any]])?.first?["server"] as? String == server)
                #expect(((opened?["sample_request_ids"] as? [String]) ?? []).isEmpty == false)
                #expect(resolved?["id"] as? String == opened?["id"] as? String)
                #expect(resolved?["open"] as? Bool == false)
                #expect((hook.messages.first?["summary"] as? String)?.contains("cluster app") == true)

                // The sender counts a delivery once the receiver has answered, just after it kept the body.
                _ = try await eventually("two deliveries counted") { gateway.proxy.stats.snapshot().webhooksDelivered == 2 }
                let listed = try await gateway.adminJSON("/admin/incidents")["incidents"] as? [[String: Any]] ?? []
                #expect(listed.map { $0["id"] as? String } == [opened?["id"] as? String])
                let stats = try await gateway.adminJSON("/stats")["incidents"] as? [String: Any]
                #expect(stats?["webhooks_delivered"] as? Int == 2)
                #expect(stats?["webhook_failures"] as? Int == 0)
                let metrics = try await gateway.adminRequest("GET", "/metrics").bodyText
                #expect(metrics.contains("gatehouse_alert_webhook_deliveries_total{result=\"delivered\"} 2"))
            }
        } catch {
            Issue.record(error)
        }
        await hook.stop()
        try await group.shutdownGracefully()
    }

    static func incident() -> Incident {
        Incident(
            id: "inc-1700000000000-app", cluster: "app", startMillis: 1_700_000_000_000, updatedMillis: 1_700_000_001_000,
            requests: 40, errors: 30, errorsByType: [.connectionRefused: 30], errorsByServer: ["10.0.0.1:80": 30],
            sampleRequestIDs: ["r1", "r2"], peakRatio: 0.75,
            spike: Incident.Spike(
                factor: 8, baselinePerSecond: 5, peakPerSecond: 40, topClients: [ClientCount(address: "203.0.113.7", requests: 300)]))
    }

    /// Sends through ``IncidentAlerts`` to `webhooks`, collecting outcomes and log lines.
    struct Alerting {
        let sender: WebhookSender
        let alerts: IncidentAlerts
        let outcomes = NIOLockedValueBox<[WebhookSender.Outcome]>([])
        let logged = NIOLockedValueBox<[String]>([])

        init(_ webhooks: [Webhook], group: any EventLoopGroup) throws {
            let outcomes = self.outcomes
            let logged = self.logged
            self.sender = try WebhookSender(
                group: group, backoffBase: .milliseconds(20), log: { line in logged.withLockedValue { $0.append(line) } },
                outcome: { outcome in outcomes.withLockedValue { $0.append(outcome) } })
            let configuration = GatehouseConfiguration(
                listeners: [], clusters: [], routes: [], gatewayName: "gh-1", alerts: Alerts(webhooks: webhooks))
            self.alerts = IncidentAlerts(sender: self.sender) { configuration }
        }
    }

    @Test("a webhook failing its first attempts gets the message after the retries")
    func retried() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hook = try await WebhookReceiver.start(failing: 2, group: group)
        let alerting = try Alerting(
            [Webhook(url: HTTPURL(scheme: .http, host: "127.0.0.1", port: hook.port, path: "/hook"), retries: 3)], group: group)
        do {
            alerting.alerts.incidentChanged(Self.incident(), change: .opened)
            alerting.alerts.incidentChanged(Self.incident(), change: .updated)
            _ = try await eventually("the delivery", timeout: .seconds(10)) { !hook.messages.isEmpty }
            #expect(hook.requests == 3, "two failures, then the delivery")
            #expect(hook.kinds == ["opened"], "updates are not sent")
            let message = hook.messages.first
            #expect(message?["gateway"] as? String == "gh-1")
            let incident = message?["incident"] as? [String: Any]
            #expect(incident?["id"] as? String == "inc-1700000000000-app")
            #expect(incident?["hint"] as? String == "traffic spike ×8 with 502s: possible overload or attack")
            _ = try await eventually("the outcome") { !alerting.outcomes.withLockedValue { $0 }.isEmpty }
            #expect(alerting.outcomes.withLockedValue { $0 } == [.delivered])
        } catch {
            Issue.record(error)
        }
        await alerting.sender.shutdown()
        await hook.stop()
        try await group.shutdownGracefully()
    }

    @Test("retries spent: the failure is logged and counted, and the message goes first with the next one")
    func keptForNext() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hook = try await WebhookReceiver.start(failing: 3, group: group)
        let alerting = try Alerting(
            [Webhook(url: HTTPURL(scheme: .http, host: "127.0.0.1", port: hook.port, path: "/hook"), retries: 1)], group: group)
        do {
            alerting.alerts.incidentChanged(Self.incident(), change: .opened)
            _ = try await eventually("the logged failure", timeout: .seconds(10)) {
                !alerting.logged.withLockedValue { $0 }.isEmpty
            }
            let line = alerting.logged.withLockedValue { $0.first } ?? ""
            #expect(line.contains("incident opened inc-1700000000000-app not delivered: the webhook answered 500"), "\(line)")
            var resolved = Self.incident()
            resolved.endMillis = 1_700_000_090_000
            alerting.alerts.incidentChanged(resolved, change: .resolved)
            _ = try await eventually("both messages", timeout: .seconds(10)) { hook.messages.count == 2 }
            #expect(hook.kinds == ["opened", "resolved"])
            _ = try await eventually("three outcomes") { alerting.outcomes.withLockedValue { $0 }.count == 3 }
            #expect(alerting.outcomes.withLockedValue { $0 } == [.failed, .delivered, .delivered])
        } catch {
            Issue.record(error)
        }
        await alerting.sender.shutdown()
        await hook.stop()
        try await group.shutdownGracefully()
    }

    @Test("format slack: a {\"text\": …} body in words")
    func slack() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let hook = try await WebhookReceiver.start(group: group)
        let alerting = try Alerting(
            [Webhook(url: HTTPURL(scheme: .http, host: "127.0.0.1", port: hook.port, path: "/hook"), format: .slack)],
            group: group)
        do {
            alerting.alerts.incidentChanged(Self.incident(), change: .opened)
            _ = try await eventually("the delivery", timeout: .seconds(10)) { !hook.messages.isEmpty }
            let text = hook.messages.first?["text"] as? String ?? ""
            #expect(hook.messages.first?.count == 1)
            #expect(text.hasPrefix("Incident opened on gh-1: cluster app: up to 75% gateway errors, mostly connection_refused (502)."), "\(text)")
            #expect(text.contains("traffic spike ×8 with 502s: possible overload or attack; top clients: 203.0.113.7 (300)."))
            #expect(text.contains("Request ids: r1, r2."))
        } catch {
            Issue.record(error)
        }
        await alerting.sender.shutdown()
        await hook.stop()
        try await group.shutdownGracefully()
    }

    @Test("GET /admin/errors filters by cluster, type, server and limit; bad filters are 400s that say why")
    func adminErrors() async throws {
        let routes = [
            Route(name: "other", match: Route.Match(pathPrefix: "/other"), cluster: "other"),
            Route(name: "all", match: Route.Match(), cluster: "app"),
        ]
        try await withGateway(
            [.refuse], routes: routes, extraClusters: [Cluster(name: "other", servers: [])], admin: Self.admin
        ) { gateway in
            let server = "127.0.0.1:\(gateway.origins[0].port)"
            for _ in 0..<3 { #expect(try await gateway.request("GET /x HTTP/1.1\r\nHost: t.test\r\n\r\n").status == 502) }
            for _ in 0..<2 { #expect(try await gateway.request("GET /other HTTP/1.1\r\nHost: t.test\r\n\r\n").status == 503) }
            _ = try await eventually("five errors") { gateway.proxy.stats.errors.entries().count == 5 }

            func errors(_ query: String) async throws -> [[String: Any]] {
                try await gateway.adminJSON("/admin/errors" + query)["errors"] as? [[String: Any]] ?? []
            }
            let all = try await errors("")
            #expect(all.count == 5)
            #expect(all.first?["cluster"] as? String == "other", "newest first")
            #expect(all.allSatisfy { $0["request_id"] is String && $0["total_ms"] is Double })
            #expect(try await errors("?cluster=app").map { $0["proxy_status"] as? String } == Array(repeating: "connection_refused", count: 3))
            #expect(try await errors("?type=destination_unavailable").count == 2)
            #expect(try await errors("?server=\(server)").count == 3)
            #expect(try await errors("?cluster=app&limit=2").count == 2)
            #expect(try await errors("?cluster=other&type=connection_refused").isEmpty)

            for (query, message) in [
                ("?type=bogus", "unknown Proxy-Status type 'bogus'"), ("?cluster=nope", "unknown cluster 'nope' (clusters: app, other)"),
                ("?limit=0", "limit must be an integer"), ("?color=red", "unknown parameter 'color'"),
            ] {
                let response = try await gateway.adminRequest("GET", "/admin/errors" + query)
                #expect(response.status == 400, "\(query)")
                #expect(response.bodyText.contains(message), "\(query): \(response.bodyText)")
            }
            let recent = try await gateway.adminJSON("/stats")["recent_errors"] as? [[String: Any]] ?? []
            #expect(recent.count == 5, "/stats shows the same ring")
        }
    }

    @Test("errors and incidents survive a restart: a second gateway on the same database sees the first one's")
    func survivesRestart() async throws {
        let directory = NSTemporaryDirectory() + "gatehouse-restart-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = Storage(path: directory + "/gatehouse.db")
        func configure(_ configuration: inout GatehouseConfiguration) {
            configuration.alerts = Self.fast()
            configuration.storage = storage
        }

        let (ids, incidentID) = try await withGateway([.refuse], admin: Self.admin, configure: configure, incidents: true) {
            gateway -> ([String], String) in
            for _ in 0..<10 { _ = try await gateway.request("GET / HTTP/1.1\r\nHost: t.test\r\n\r\n") }
            _ = try await eventually("ten errors recorded") { gateway.proxy.stats.errors.entries().count == 10 }
            _ = try await eventually("an open incident", timeout: .seconds(10)) {
                gateway.proxy.incidents.incidents().contains { $0.isOpen }
            }
            let ids = gateway.proxy.stats.errors.entries().map(\.requestID)
            return (ids, gateway.proxy.incidents.incidents().first?.id ?? "")
        }
        #expect(ids.count == 10)

        try await withGateway([.healthy(name: "b")], admin: Self.admin, configure: configure, incidents: true) { gateway in
            let errors = try await gateway.adminJSON("/admin/errors?limit=50")["errors"] as? [[String: Any]] ?? []
            #expect(errors.compactMap { $0["request_id"] as? String } == ids, "the same errors, newest first")
            let incidents = try await gateway.adminJSON("/admin/incidents")["incidents"] as? [[String: Any]] ?? []
            #expect(incidents.map { $0["id"] as? String } == [incidentID])
            #expect(incidents.first?["open"] as? Bool == false, "closed at restart")
            #expect(incidents.first?["interrupted"] as? Bool == true)
            #expect(incidents.first?["cause"] as? String == "connection_refused")
        }
    }
}
