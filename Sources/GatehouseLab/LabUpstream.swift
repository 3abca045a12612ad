import GatehouseOrigins
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A running upstream of a scenario: one of GatehouseOrigins' loopback origins, or the lab's
/// keep-alive race app. Restartable on the same port.
final class LabUpstream: Sendable {
    let name: String
    let port: Int
    private let running: NIOLockedValueBox<Running?>
    private let group: any EventLoopGroup
    /// The scenario's certificates, for `.tls` behaviours.
    private let pki: TestPKI?
    /// Request heads received across restarts.
    private let counted = Synchronization.Atomic<Int>(0)

    enum Running: Sendable {
        case origin(LoopbackOrigin)
        case race(RaceApp)
        case tls(TLSOrigin)
    }

    private init(name: String, port: Int, running: Running, group: any EventLoopGroup, pki: TestPKI?) {
        self.name = name
        self.port = port
        self.running = NIOLockedValueBox(running)
        self.group = group
        self.pki = pki
    }

    static func start(
        name: String, behavior: LabBehavior, port: Int = 0, group: any EventLoopGroup, pki: TestPKI? = nil
    ) async throws -> LabUpstream {
        let running = try await Self.launch(behavior, port: port, group: group, pki: pki)
        let bound: Int
        switch running {
        case .origin(let origin): bound = origin.port
        case .race(let app): bound = app.port
        case .tls(let origin): bound = origin.port
        }
        return LabUpstream(name: name, port: bound, running: running, group: group, pki: pki)
    }

    private static func launch(
        _ behavior: LabBehavior, port: Int, group: any EventLoopGroup, pki: TestPKI?
    ) async throws -> Running {
        let origin: LoopbackOrigin.Behavior
        switch behavior {
        case .healthy: origin = .healthy(name: "app")
        case .down: origin = .refuse
        case .slow(let milliseconds): origin = .slowHead(delay: .milliseconds(milliseconds))
        case .crashMidBody: origin = .closeMidBody
        case .oversizedHeader(let bytes): origin = .oversizedHeader(bytes: bytes)
        case .notHTTP: origin = .malformedStatusLine
        case .keepAliveRace(let idle, let lazy):
            return .race(try await RaceApp.start(port: port, idle: .milliseconds(Int64(idle)), lazyClose: .milliseconds(Int64(lazy)), group: group))
        case .tls(let leaf):
            guard let pki else { throw LabError("the scenario has no certificates for its HTTPS upstream") }
            let files = pki.leaf(leaf)
            return .tls(try await TLSOrigin.start(certificate: files.certificate, key: files.key, keepAlive: true, port: port))
        }
        return .origin(try await LoopbackOrigin.start(origin, port: port, group: group))
    }

    /// `127.0.0.1:PORT`.
    var address: String { "127.0.0.1:\(self.port)" }

    /// Request heads received so far (across restarts).
    var requestsReceived: Int {
        let current: Int
        switch self.running.withLockedValue({ $0 }) {
        case .origin(let origin): current = origin.requestsServed
        case .race(let app): current = app.requestsReceived
        // Connections, not requests: near enough for a lab (nothing counts them there).
        case .tls(let origin): current = origin.connectionsAccepted
        case nil: current = 0
        }
        return self.counted.load(ordering: .relaxed) + current
    }

    /// Stops the process and starts it again on the same port with `behavior`.
    func restart(as behavior: LabBehavior) async throws {
        try await self.stop()
        // The same port, as a restarted service would bind it (SO_REUSEADDR: earlier connections may
        // still be in TIME_WAIT).
        let running = try await Self.launch(behavior, port: self.port, group: self.group, pki: self.pki)
        self.running.withLockedValue { $0 = running }
    }

    func stop() async throws {
        let old = self.running.withLockedValue { value -> Running? in
            defer { value = nil }
            return value
        }
        switch old {
        case .origin(let origin):
            self.counted.add(origin.requestsServed, ordering: .relaxed)
            try await origin.stop()
        case .race(let app):
            self.counted.add(app.requestsReceived, ordering: .relaxed)
            try await app.stop()
        case .tls(let origin):
            self.counted.add(origin.connectionsAccepted, ordering: .relaxed)
            try await origin.stop()
        case nil:
            break
        }
    }
}

/// An HTTP/1.1 app with a keep-alive timeout of `idle` and a lazy idle timer: a request that arrives
/// on a connection idle at least `idle` is dropped unanswered (the app's timer fired as it came in),
/// while the app closes idle connections by itself only at `lazyClose`. Between the two lies the
/// keep-alive race, widened from microseconds to a window a person can hit (as in the corpus).
final class RaceApp: Sendable {
    let port: Int
    private let channel: any Channel
    private let children: NIOLockedValueBox<[ObjectIdentifier: any Channel]>
    private let received: Synchronization.Atomic<Int>

    private init(port: Int, channel: any Channel, children: NIOLockedValueBox<[ObjectIdentifier: any Channel]>) {
        self.port = port
        self.channel = channel
        self.children = children
        self.received = Synchronization.Atomic(0)
    }

    var requestsReceived: Int { self.received.load(ordering: .relaxed) }

    static func start(port: Int, idle: TimeAmount, lazyClose: TimeAmount, group: any EventLoopGroup) async throws -> RaceApp {
        let children = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let counter = RaceCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                children.withLockedValue { $0[ObjectIdentifier(channel)] = channel }
                channel.closeFuture.whenComplete { _ in _ = children.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(channel)) } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(RaceAppHandler(idle: idle, lazyClose: lazyClose, counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        let app = RaceApp(port: channel.localAddress?.port ?? port, channel: channel, children: children)
        counter.app = app
        return app
    }

    func countRequest() {
        self.received.add(1, ordering: .relaxed)
    }

    func stop() async throws {
        try? await self.channel.close()
        let open = self.children.withLockedValue { Array($0.values) }
        for child in open { try? await child.close() }
    }
}

/// Lets a handler count into its app, which exists only after the bind.
final class RaceCounter: Sendable {
    private let box = NIOLockedValueBox<RaceApp?>(nil)
    var app: RaceApp? {
        get { self.box.withLockedValue { $0 } }
        set { self.box.withLockedValue { $0 = newValue } }
    }
}

private final class RaceAppHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let idle: TimeAmount
    private let lazyClose: TimeAmount
    private let counter: RaceCounter
    private var lastResponse: NIODeadline?
    private var idleTimer: Scheduled<Void>?
    private var head: HTTPRequestHead?

    init(idle: TimeAmount, lazyClose: TimeAmount, counter: RaceCounter) {
        self.idle = idle
        self.lazyClose = lazyClose
        self.counter = counter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.counter.app?.countRequest()
            self.idleTimer?.cancel()
            if let last = self.lastResponse, NIODeadline.now() - last >= self.idle {
                // The keep-alive timer fired as this request came in: the app closes without a byte.
                context.close(promise: nil)
                return
            }
            self.head = head
        case .body:
            break
        case .end:
            guard let head = self.head else { return }
            self.head = nil
            let text = head.method == .POST ? "order accepted\n" : "hello from app\n"
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/plain")
            headers.add(name: "Content-Length", value: String(text.utf8.count))
            headers.add(name: "X-Origin", value: "app")
            context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            self.lastResponse = .now()
            let channel = context.channel
            self.idleTimer = context.eventLoop.scheduleTask(in: self.lazyClose) { channel.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension RaceAppHandler: Sendable {}
