import GatehouseConfig
import GatehouseCore
import Logging
import NIOCore

/// What a gateway started from a file adds to its in-memory error history and incidents: the
/// SQLite store (when `storage` is configured) and the webhook alerts. The CLI attaches it before
/// the gateway starts and shuts it down after the gateway stops; the tests do the same.
public final class GatewayIncidents: Sendable {
    public let store: IncidentStore?
    public let sender: WebhookSender

    private init(store: IncidentStore?, sender: WebhookSender) {
        self.store = store
        self.sender = sender
    }

    /// Opens the store (restoring its errors and incidents into the proxy's history), creates the
    /// one HTTP client for webhooks, and attaches both to the proxy.
    ///
    /// - Parameter backoffBase: the wait before a webhook's first retry.
    public static func attach(
        to proxy: ProxyServer, group: any EventLoopGroup, logger: Logger, backoffBase: Duration = .milliseconds(500)
    ) async throws -> GatewayIncidents {
        let configuration = proxy.snapshot.configuration
        let stats = proxy.stats
        let metrics = proxy.metrics
        // Counted in /stats and /metrics alike.
        let count: @Sendable (GatewayStats.IncidentEvent) -> Void = { event in
            stats.count(event)
            metrics.count(event)
        }
        var store: IncidentStore?
        if let storage = configuration.storage {
            let opened = try await IncidentStore.open(storage, logger: logger, count: count)
            do {
                let history = try await opened.load(errors: stats.errors.capacity, incidents: IncidentMonitor.closedLimit)
                stats.errors.restore(history.errors)
                for incident in proxy.incidents.restore(history.incidents) { try await opened.save(incident) }
            } catch {
                await opened.close()
                throw error
            }
            proxy.incidents.attach(opened)
            store = opened
        }
        let sender = try WebhookSender(
            group: group, backoffBase: backoffBase, userAgent: "gatehouse",
            log: { logger.warning("\($0)", metadata: ["event": "webhook_failed"]) },
            outcome: { outcome in
                switch outcome {
                case .delivered: count(.webhookDelivered)
                case .failed: count(.webhookFailed)
                case .dropped: count(.webhookDropped)
                }
            })
        proxy.incidents.attach(IncidentAlerts(sender: sender) { proxy.snapshot.configuration })
        return GatewayIncidents(store: store, sender: sender)
    }

    /// Delivers (one more try each) and writes what is queued, then closes the client and the database.
    public func shutdown() async {
        await self.sender.shutdown()
        await self.store?.close()
    }
}
