import GatehouseConfig
import GatehouseCore
import GatehouseErrors

/// Tells the configured webhooks when an incident opens and when it is resolved (not of every
/// update: one "opened" and one "resolved" per incident), through the ``WebhookSender``.
public final class IncidentAlerts: IncidentSink {
    private let sender: WebhookSender
    private let configuration: @Sendable () -> GatehouseConfiguration

    /// - Parameter configuration: the running configuration: webhooks added by a reload are used
    ///   from the next notification on.
    public init(sender: WebhookSender, configuration: @escaping @Sendable () -> GatehouseConfiguration) {
        self.sender = sender
        self.configuration = configuration
    }

    public func errorRecorded(_ entry: GatewayErrorEntry) {}

    public func incidentChanged(_ incident: Incident, change: IncidentChange) {
        guard change != .updated else { return }
        let configuration = self.configuration()
        for hook in configuration.alerts.webhooks {
            let body: String
            let label = "incident \(change.rawValue) \(incident.id)"
            switch hook.format {
            case .json: body = Self.json(incident, change: change, gateway: configuration.gatewayName)
            case .slack: body = Self.slack(incident, change: change, gateway: configuration.gatewayName)
            }
            self.sender.send(
                WebhookSender.Message(body: Array(body.utf8), label: label),
                to: WebhookSender.Target(url: hook.url, timeout: hook.timeout, retries: hook.retries))
        }
    }

    /// `{"kind": "opened", "gateway": …, "summary": …, "incident": {id, cluster, cause, counts, servers, samples, hint…}}`.
    public static func json(_ incident: Incident, change: IncidentChange, gateway: String) -> String {
        "{\"kind\":\"\(change.rawValue)\",\"gateway\":\(JSONText.quoted(gateway)),\"summary\":"
            + JSONText.quoted(Self.text(incident, change: change, gateway: gateway)) + ",\"incident\":"
            + IncidentJSON.incident(incident) + "}"
    }

    /// `{"text": "…"}`: what Slack-compatible incoming webhooks take.
    public static func slack(_ incident: Incident, change: IncidentChange, gateway: String) -> String {
        "{\"text\":" + JSONText.quoted(Self.text(incident, change: change, gateway: gateway)) + "}"
    }

    /// The message in words, for chat.
    static func text(_ incident: Incident, change: IncidentChange, gateway: String) -> String {
        var text: String
        switch change {
        case .opened, .updated:
            text = "Incident opened on \(gateway): \(incident.summary)."
        case .resolved:
            let minutes = Double((incident.endMillis ?? incident.updatedMillis) - incident.startMillis) / 60_000
            text = "Incident resolved on \(gateway): cluster \(incident.cluster) recovered after "
            text += minutes < 1 ? "\(Int(minutes * 60)) s" : "\(Int(minutes.rounded())) min"
            text += " (\(incident.errors) gateway errors of \(incident.requests) requests"
            text += incident.cause.map { ", mostly \($0.token)" } ?? ""
            text += ")."
        }
        if let cause = incident.cause, change == .opened { text += " \(cause.summary)" }
        let servers = incident.affectedServers.prefix(5).map { "\($0.server) (\($0.errors))" }
        if !servers.isEmpty { text += " Servers: \(servers.joined(separator: ", "))." }
        if let hint = incident.hint {
            text += " \(hint)"
            let clients = incident.spike?.topClients.prefix(5).map { "\($0.address) (\($0.requests))" } ?? []
            text += clients.isEmpty ? "." : "; top clients: \(clients.joined(separator: ", "))."
        }
        if !incident.sampleRequestIDs.isEmpty { text += " Request ids: \(incident.sampleRequestIDs.joined(separator: ", "))." }
        text += " Incident \(incident.id)."
        return text
    }
}
