import AsyncHTTPClient
import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// Posts messages to webhooks through one shared async-http-client `HTTPClient`: the one delivery
/// mechanism of the gateway's incident alerts and of `gatehouse monitor`.
///
/// Each webhook has its own queue and delivery task, so a slow or dead receiver delays neither the
/// sender (``send(_:to:)`` returns at once) nor the other webhooks. A message is tried `1 + retries`
/// times with exponential backoff, each attempt under the webhook's timeout; if every attempt fails
/// it is logged, counted, and kept (up to ``maximumPending``): it is tried again, in order, before
/// the next message, so a receiver that was down still gets the story (opened, then resolved).
public final class WebhookSender: Sendable {
    /// One message for one webhook.
    public struct Message: Sendable {
        public var body: [UInt8]
        public var contentType: String
        /// How the logs name it: `incident opened inc-… (cluster app)`, `alert 'down' for 'app'`.
        public var label: String

        public init(body: [UInt8], contentType: String = "application/json", label: String) {
            self.body = body
            self.contentType = contentType
            self.label = label
        }
    }

    /// Where and how to deliver.
    public struct Target: Sendable, Hashable {
        public var url: HTTPURL
        public var timeout: Duration
        public var retries: Int

        public init(url: HTTPURL, timeout: Duration = .seconds(5), retries: Int = 3) {
            self.url = url
            self.timeout = timeout
            self.retries = retries
        }
    }

    /// What happened to a message, for counters.
    public enum Outcome: Sendable {
        case delivered
        /// Every attempt failed (the message is kept for the next round).
        case failed
        /// The queue was full: the message is gone.
        case dropped
    }

    /// Undelivered messages kept per webhook; older ones are dropped (and logged) beyond it.
    public static let maximumPending = 32

    private struct Queue: Sendable {
        var continuation: AsyncStream<Message>.Continuation
        var task: Task<Void, Never>
    }

    private let client: HTTPClient
    private let queues = Mutex<[Target: Queue]>([:])
    private let stopping = Atomic<Bool>(false)
    private let backoffBase: Duration
    private let userAgent: String
    private let log: @Sendable (String) -> Void
    private let outcome: @Sendable (Outcome) -> Void

    /// - Parameters:
    ///   - group: the event loops the client uses (the gateway's or the monitor's).
    ///   - caFile: extra trusted CA certificates (PEM) for https webhooks.
    ///   - backoffBase: the wait before the first retry; doubled for each next one, at most 30 s.
    ///   - log: where failures are reported.
    ///   - outcome: counts deliveries, failures and drops.
    public init(
        group: any EventLoopGroup, caFile: String? = nil, backoffBase: Duration = .milliseconds(500),
        userAgent: String = "gatehouse", log: @escaping @Sendable (String) -> Void,
        outcome: @escaping @Sendable (Outcome) -> Void = { _ in }
    ) throws {
        var configuration = HTTPClient.Configuration()
        if let caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
            configuration.tlsConfiguration = tls
        }
        // A webhook that redirects is misconfigured; following it would post the alert twice at worst.
        configuration.redirectConfiguration = .disallow
        // A refused connection fails the attempt at once; the retries (with their backoff and
        // their log line) are ours, not the pool's silent ones until the deadline.
        configuration.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroupProvider: .shared(group), configuration: configuration)
        self.backoffBase = backoffBase
        self.userAgent = userAgent
        self.log = log
        self.outcome = outcome
    }

    /// Queues `message` for `target`; returns at once.
    public func send(_ message: Message, to target: Target) {
        guard !self.stopping.load(ordering: .relaxed) else { return }
        let continuation = self.queues.withLock { queues -> AsyncStream<Message>.Continuation in
            if let queue = queues[target] { return queue.continuation }
            let (stream, continuation) = AsyncStream.makeStream(
                of: Message.self, bufferingPolicy: .bufferingOldest(Self.maximumPending))
            let task = Task { await self.deliverAll(stream, to: target) }
            queues[target] = Queue(continuation: continuation, task: task)
            return continuation
        }
        if case .dropped = continuation.yield(message) {
            self.outcome(.dropped)
            self.log("webhook \(target.url): queue full, \(message.label) dropped")
        }
    }

    /// No more messages: what is queued is tried once more (no retries), then the client is shut down.
    public func shutdown() async {
        self.stopping.store(true, ordering: .relaxed)
        let queues = self.queues.withLock { $0.values }
        for queue in queues { queue.continuation.finish() }
        for queue in queues { await queue.task.value }
        try? await self.client.shutdown()
    }

    private func deliverAll(_ stream: AsyncStream<Message>, to target: Target) async {
        var pending: [Message] = []
        for await message in stream {
            pending.append(message)
            if pending.count > Self.maximumPending {
                let dropped = pending.count - Self.maximumPending
                pending.removeFirst(dropped)
                for _ in 0..<dropped { self.outcome(.dropped) }
                self.log("webhook \(target.url): \(dropped) undelivered message(s) dropped (more than \(Self.maximumPending) waiting)")
            }
            while let next = pending.first {
                if let problem = await self.deliverWithRetries(next, to: target) {
                    self.outcome(.failed)
                    self.log("webhook \(target.url): \(next.label) not delivered: \(problem); it is retried with the next message")
                    break
                }
                self.outcome(.delivered)
                pending.removeFirst()
            }
        }
    }

    private func deliverWithRetries(_ message: Message, to target: Target) async -> String? {
        var attempt = 0
        while true {
            guard let problem = await self.deliver(message, to: target) else { return nil }
            attempt += 1
            guard attempt <= target.retries, !self.stopping.load(ordering: .relaxed) else { return problem }
            let exponent = min(attempt - 1, 16)
            let delay = min(self.backoffBase * (1 << exponent), .seconds(30))
            do {
                try await Task.sleep(for: delay)
            } catch {
                return problem
            }
        }
    }

    /// nil when the webhook answered 2xx; otherwise what went wrong, with the RFC 9209 type when
    /// the gateway's own vocabulary has one.
    func deliver(_ message: Message, to target: Target) async -> String? {
        var request = HTTPClientRequest(url: target.url.description)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: message.contentType)
        request.headers.add(name: "User-Agent", value: self.userAgent)
        request.body = .bytes(ByteBuffer(bytes: message.body))
        do {
            let response = try await self.client.execute(request, timeout: .nanoseconds(Self.nanoseconds(target.timeout)))
            // Read (and bound) the body so the connection can be reused.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let status = Int(response.status.code)
            return (200..<300).contains(status) ? nil : "the webhook answered \(status)"
        } catch {
            return Self.describe(error, url: target.url)
        }
    }

    static func describe(_ error: any Error, url: HTTPURL) -> String {
        if let client = error as? HTTPClientError {
            switch client {
            case .connectTimeout: return "connect timed out (connection_timeout)"
            case .deadlineExceeded, .readTimeout: return "no answer within the timeout (connection_read_timeout)"
            case .remoteConnectionClosed: return "the webhook closed the connection (connection_terminated)"
            default: return "\(client)"
            }
        }
        let failure = ProxyFailure.classify(error, phase: .connect, nextHop: "\(url.host):\(url.port)")
        return "\(failure.type.summary) (\(failure.type.token))"
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
