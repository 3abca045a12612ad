import GatehouseConfig
@testable import GatehouseCore
import GatehouseErrors
import GatehouseOrigins
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Servers given by name: the system resolver for `localhost`, and a scripted resolver (handed to
/// the gateway in place of getaddrinfo) for names that stop resolving or change addresses.
@Suite(.serialized) struct UpstreamDNSTests {
    @Test func serverGivenAsLocalhostResolvesAndServes() async throws {
        try await withGateway(
            [.healthy(name: "a")],
            app: { servers in
                // localhost may also resolve to ::1, where nothing listens: the health check takes it out.
                let named = servers.map { Cluster.Server(address: HostPort(host: "localhost", port: $0.address.port)) }
                return Cluster(
                    name: "app", servers: named, timeouts: Fixtures.timeouts, healthCheck: Fixtures.check(fall: 1))
            },
            admin: Fixtures.admin
        ) { gateway in
            let origin = gateway.origins[0]
            try await eventually("localhost resolved and checked") {
                let view = try await gateway.upstreams()
                return view.state(origin.address) == "healthy"
                    && view.addresses.allSatisfy { $0 == origin.address || view.state($0) == "unhealthy" }
            }
            let view = try await gateway.upstreams()
            #expect(view.server(origin.address)?["server"] as? String == "localhost:\(origin.port)")
            #expect(view.dnsErrors.isEmpty)
            for _ in 0..<10 {
                let response = try await gateway.request(RawHTTPClient.get("/"))
                #expect(response.status == 200)
                #expect(response.bodyText == "hello from a\n")
            }
        }
    }

    @Test func nameThatStopsResolvingKeepsItsAddressesAndANewAddressSetIsFollowed() async throws {
        let resolver = ScriptedResolver()
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b")],
            app: { servers in
                // Only a is configured, by name; b is where the name will point later.
                Cluster(
                    name: "app", servers: [Cluster.Server(address: HostPort(host: "app.internal", port: servers[0].address.port))],
                    timeouts: Fixtures.timeouts, dnsRefresh: .milliseconds(100))
            },
            admin: Fixtures.admin, resolve: resolver.resolve
        ) { gateway in
            let (a, b) = (gateway.origins[0], gateway.origins[1])
            #expect(try await gateway.upstreams().addresses == [a.address])
            #expect(try await Self.origins(5, gateway) == ["a"])

            // The resolver starts failing: the last good address stays and keeps serving.
            resolver.answer(.failure(SystemResolver.Failure(code: EAI_AGAIN, message: "Temporary failure in name resolution")))
            try await eventually("the failure is reported") {
                try await gateway.upstreams().dnsErrors["app.internal"]?.contains("EAI_AGAIN") == true
            }
            let failing = try await gateway.upstreams()
            #expect(failing.addresses == [a.address])
            #expect(failing.state(a.address) == "healthy")
            #expect(try await Self.origins(5, gateway) == ["a"])

            // It resolves again, to two addresses: both serve.
            try resolver.answer(
                .addresses([
                    SocketAddress(ipAddress: "127.0.0.1", port: a.port), SocketAddress(ipAddress: "127.0.0.1", port: b.port),
                ]))
            try await eventually("b added") {
                let view = try await gateway.upstreams()
                return view.addresses == [a.address, b.address] && view.dnsErrors.isEmpty
            }
            #expect(try await Self.origins(6, gateway) == ["a", "b"])

            // a's address goes away: it is retired and only b serves.
            try resolver.answer(.addresses([SocketAddress(ipAddress: "127.0.0.1", port: b.port)]))
            try await eventually("a removed") { try await gateway.upstreams().addresses == [b.address] }
            #expect(try await Self.origins(5, gateway) == ["b"])
            #expect(resolver.lookups >= 4)
        }
    }

    @Test(arguments: [(EAI_NONAME, 502, "dns_error"), (EAI_AGAIN, 504, "dns_timeout")])
    func nameThatNeverResolvedIsAnsweredWithItsDNSError(code: Int32, status: Int, token: String) async throws {
        let resolver = ScriptedResolver()
        resolver.answer(.failure(SystemResolver.Failure(code: code, message: "scripted")))
        try await withGateway(
            [],
            app: { _ in
                Cluster(
                    name: "app", servers: [Cluster.Server(address: HostPort(host: "gone.internal", port: 8080))],
                    timeouts: Fixtures.timeouts, dnsRefresh: .seconds(30))
            },
            admin: Fixtures.admin, resolve: resolver.resolve
        ) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == status)
            #expect(response.header("proxy-status")?.contains("error=\(token)") == true)
            #expect(response.header("proxy-status")?.contains("gone.internal") == true)
            let view = try await gateway.upstreams()
            #expect(view.addresses.isEmpty)
            #expect(view.dnsErrors["gone.internal"] != nil)
        }
    }

    /// The gateway waits a bounded time (`resolveLimit`) for the first resolution of its names; an
    /// answer that comes later must still be published to the event loops, whether it is addresses
    /// or a failure (the failure is what clients are told). Driven on the controller directly, so
    /// the limit can be 50 ms instead of the gateway's 5 s.
    @Test(arguments: [true, false])
    func firstAnswerArrivingAfterTheStartupLimitIsPublished(resolves: Bool) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let configuration = GatehouseConfiguration(
            listeners: [], accessLog: .off,
            clusters: [
                Cluster(
                    name: "app", servers: [Cluster.Server(address: HostPort(host: "slow.internal", port: 8080))],
                    dnsRefresh: .seconds(30))
            ],
            routes: [Route(name: "all", match: .init(), cluster: "app")])
        var logger = Logger(label: "gatehouse-test")
        logger.logLevel = .critical
        let answer: Result<[SocketAddress], SystemResolver.Failure> =
            resolves
            ? .success([try SocketAddress(ipAddress: "127.0.0.1", port: 8080)])
            : .failure(SystemResolver.Failure(code: EAI_NONAME, message: "Name or service not known"))
        // The lookup answers when the test says so: after the startup limit, whatever the machine's load.
        let pending = Mutex<EventLoopPromise<Result<[SocketAddress], SystemResolver.Failure>>?>(nil)
        let release = { pending.withLock { promise in defer { promise = nil }; return promise }?.succeed(answer) }
        let controller = UpstreamController(
            snapshot: ProxySnapshot(configuration: configuration), loop: group.next(), logger: logger,
            resolve: { _, _, eventLoop in
                let promise = eventLoop.makePromise(of: Result<[SocketAddress], SystemResolver.Failure>.self)
                pending.withLock { $0 = promise }
                return promise.futureResult
            })
        do {
            try await controller.start(resolveLimit: .milliseconds(50)).get()
            #expect(controller.memberships[0].endpoints.isEmpty)
            release()
            try await eventually("the late answer published", timeout: .seconds(5)) {
                let membership = controller.memberships[0]
                return resolves
                    ? membership.endpoints.map(\.display) == ["127.0.0.1:8080"]
                    : membership.emptyFailure?.type == .dnsError
            }
        } catch {
            release()
            try? await controller.stop().get()
            try? await group.shutdownGracefully()
            throw error
        }
        try? await controller.stop().get()
        try? await group.shutdownGracefully()
    }

    /// The set of `X-Origin`s of `count` requests, sorted.
    private static func origins(_ count: Int, _ gateway: TestGateway) async throws -> [String] {
        var seen: Set<String> = []
        for _ in 0..<count {
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 200)
            seen.insert(response.header("x-origin") ?? "-")
        }
        return seen.sorted()
    }
}

/// A resolver whose answer the test sets; until it is set, a name resolves to 127.0.0.1 on the
/// port it is asked for.
final class ScriptedResolver: Sendable {
    enum Answer: Sendable {
        case loopback
        case addresses([SocketAddress])
        case failure(SystemResolver.Failure)
    }

    private let current = Mutex<Answer>(.loopback)
    private let count = Atomic<Int>(0)

    func answer(_ answer: Answer) {
        self.current.withLock { $0 = answer }
    }

    /// How many lookups were made.
    var lookups: Int { self.count.load(ordering: .relaxed) }

    var resolve: TestGateway.Resolver {
        { [self] _, port, eventLoop in
            self.count.wrappingAdd(1, ordering: .relaxed)
            let result: Result<[SocketAddress], SystemResolver.Failure>
            switch self.current.withLock({ $0 }) {
            case .loopback:
                do {
                    result = .success([try SocketAddress(ipAddress: "127.0.0.1", port: port)])
                } catch {
                    result = .failure(SystemResolver.Failure(code: EAI_FAIL, message: "\(error)"))
                }
            case .addresses(let addresses): result = .success(addresses)
            case .failure(let failure): result = .failure(failure)
            }
            return eventLoop.makeSucceededFuture(result)
        }
    }
}
