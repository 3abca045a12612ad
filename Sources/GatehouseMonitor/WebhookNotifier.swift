import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors
import GatehouseIncidents
import NIOCore
import NIOPosix

/// Posts the monitor's alerts to its webhooks through the gateway's ``WebhookSender`` (one
/// async-http-client, one queue and delivery task per webhook), so a slow or dead webhook delays
/// neither the probes nor the other webhooks.
///
/// A delivery that fails is logged and kept; it is retried, in order, when the next alert arrives for
/// that webhook, so a receiver that was down still gets the story (down, then recovered) once it is back.
public final class WebhookNotifier: Sendable {
    /// Failed alerts kept per webhook; older ones are dropped (and logged) beyond it.
    public static let maximumPending = WebhookSender.maximumPending

    private let targets: [WebhookSender.Target]
    private let sender: WebhookSender
    private let finished: AsyncStream<Void>
    private let finishing: AsyncStream<Void>.Continuation

    /// - Parameters:
    ///   - caFile: extra trusted CA certificates (PEM) for https webhooks.
    ///   - timeout: the time limit of each delivery.
    ///   - log: where failed deliveries are reported (standard error in the CLI).
    public init(
        webhooks: [HTTPURL], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, caFile: String? = nil,
        timeout: Duration = .seconds(5), log: @escaping @Sendable (String) -> Void
    ) throws {
        // No retries in a row: the next alert (or the next renotify) is the retry, as before.
        self.targets = webhooks.map { WebhookSender.Target(url: $0, timeout: timeout, retries: 0) }
        self.sender = try WebhookSender(group: group, caFile: caFile, userAgent: "gatehouse-monitor", log: log)
        (self.finished, self.finishing) = AsyncStream.makeStream(of: Void.self)
    }

    /// Queues `alert` for every webhook; returns at once.
    public func send(_ alert: Alert) {
        let message = WebhookSender.Message(
            body: Array(alert.json.utf8), label: "alert '\(alert.kind.rawValue)' for '\(alert.target)'")
        for target in self.targets { self.sender.send(message, to: target) }
    }

    /// Delivers alerts until ``finish()`` has been called and every queued alert has been tried once more.
    public func run() async {
        for await _ in self.finished {}
        await self.sender.shutdown()
    }

    /// No more alerts: ``run()`` returns once the queued ones have been tried.
    public func finish() {
        self.finishing.finish()
    }
}

extension HTTPURL {
    /// The URL as doctor's hops take it.
    public var probeTarget: ProbeTarget {
        let scheme: ProbeTarget.Scheme
        switch self.scheme {
        case .http: scheme = .http
        case .https: scheme = .https
        }
        return ProbeTarget(scheme: scheme, host: self.host, port: self.port, path: self.path)
    }
}
