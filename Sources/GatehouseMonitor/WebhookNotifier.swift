import GatehouseConfig
import GatehouseDoctor
import GatehouseErrors

/// Posts alerts to the webhooks with doctor's hops (the same DNS, TCP, TLS and HTTP code as the probes;
/// no HTTP client library), one delivery task per webhook, so a slow or dead webhook delays neither
/// the probes nor the other webhooks.
///
/// A delivery that fails is logged and kept; it is retried, in order, when the next alert arrives for
/// that webhook, so a receiver that was down still gets the story (down, then recovered) once it is back.
public final class WebhookNotifier: Sendable {
    /// Failed alerts kept per webhook; older ones are dropped (and logged) beyond it.
    public static let maximumPending = 32

    private let webhooks: [(url: HTTPURL, stream: AsyncStream<Alert>, continuation: AsyncStream<Alert>.Continuation)]
    private let prober: HopProber
    private let timeout: Duration
    private let log: @Sendable (String) -> Void

    /// - Parameters:
    ///   - timeout: the time limit of each hop of a delivery.
    ///   - log: where failed deliveries are reported (standard error in the CLI).
    public init(
        webhooks: [HTTPURL], prober: HopProber, timeout: Duration = .seconds(5), log: @escaping @Sendable (String) -> Void
    ) {
        self.webhooks = webhooks.map { url in
            // Buffered, never blocking the sender: alerts are rare, the bound only guards a dead receiver.
            let (stream, continuation) = AsyncStream.makeStream(of: Alert.self, bufferingPolicy: .bufferingOldest(Self.maximumPending))
            return (url, stream, continuation)
        }
        self.prober = prober
        self.timeout = timeout
        self.log = log
    }

    /// Queues `alert` for every webhook; returns at once.
    public func send(_ alert: Alert) {
        for webhook in self.webhooks {
            if case .dropped = webhook.continuation.yield(alert) {
                self.log("webhook \(webhook.url): queue full, alert '\(alert.kind.rawValue)' for '\(alert.target)' dropped")
            }
        }
    }

    /// Delivers alerts until ``finish()`` has been called and every queued alert has been tried once more.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for webhook in self.webhooks {
                group.addTask { await self.deliverAll(webhook.stream, to: webhook.url) }
            }
        }
    }

    /// No more alerts: ``run()`` returns once the queued ones have been tried.
    public func finish() {
        for webhook in self.webhooks { webhook.continuation.finish() }
    }

    private func deliverAll(_ stream: AsyncStream<Alert>, to url: HTTPURL) async {
        var pending: [Alert] = []
        for await alert in stream {
            pending.append(alert)
            if pending.count > Self.maximumPending {
                let dropped = pending.count - Self.maximumPending
                pending.removeFirst(dropped)
                self.log("webhook \(url): \(dropped) undelivered alert(s) dropped (more than \(Self.maximumPending) waiting)")
            }
            while let next = pending.first {
                if let problem = await self.deliver(next, to: url) {
                    self.log(
                        "webhook \(url): alert '\(next.kind.rawValue)' for '\(next.target)' not delivered: \(problem); it is retried with the next alert"
                    )
                    break
                }
                pending.removeFirst()
            }
        }
    }

    /// `nil` when the webhook answered 2xx; otherwise what went wrong, in doctor's words.
    func deliver(_ alert: Alert, to url: HTTPURL) async -> String? {
        let request = HopRequest(
            method: "POST", headers: [.init("Content-Type", "application/json")], body: Array(alert.json.utf8),
            userAgent: "gatehouse-monitor", keepBody: 0)
        let run = await self.prober.run(url.probeTarget, request: request, timeout: self.timeout)
        guard run.responded, let status = run.status else {
            return run.verdict.cause + (run.verdict.error.map { " (\($0.token))" } ?? "")
        }
        return (200..<300).contains(status) ? nil : "the webhook answered \(status)"
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
