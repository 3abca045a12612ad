import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseIncidents
import GatehouseOrigins
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Tracing

/// A real gateway on 127.0.0.1:0 in front of real loopback origins, with its access log in a
/// temporary file (and, when asked, its admin server on 127.0.0.1:0); everything it starts is
/// stopped by ``shutdown()``, including origins a test restarts with ``restart(origin:)``.
final class TestGateway: Sendable {
    /// The resolver a test may hand the gateway instead of getaddrinfo.
    typealias Resolver = @Sendable (String, Int, any EventLoop) -> EventLoopFuture<Result<[SocketAddress], SystemResolver.Failure>>

    let group: MultiThreadedEventLoopGroup
    let proxy: ProxyServer
    let origins: [LoopbackOrigin]
    let port: Int
    let accessLogPath: String
    /// The admin server, when the configuration has an `admin` section.
    let admin: AdminServer?
    /// The admin server's bound port (0 when there is none).
    let adminPort: Int
    /// The error store and webhook alerts, when started with `incidents: true`.
    let incidents: GatewayIncidents?
    /// Origins started during the test (restarts), stopped with the gateway.
    private let adopted = Mutex<[LoopbackOrigin]>([])
    /// Ports of killed origins, held until their restart (or the shutdown).
    private let held = Mutex<[Int: PortReservation]>([:])

    private init(
        group: MultiThreadedEventLoopGroup, proxy: ProxyServer, origins: [LoopbackOrigin], port: Int,
        accessLogPath: String, admin: AdminServer?, adminPort: Int, incidents: GatewayIncidents?
    ) {
        self.incidents = incidents
        self.group = group
        self.proxy = proxy
        self.origins = origins
        self.port = port
        self.accessLogPath = accessLogPath
        self.admin = admin
        self.adminPort = adminPort
    }

    /// Starts origins with the given behaviours and a gateway whose single cluster `app` holds them
    /// (plus `extraServers`), with the route `/` → `app` unless `routes` says otherwise.
    ///
    /// - Parameters:
    ///   - app: builds the whole cluster `app` (health check, outlier detection, balance, slow start…)
    ///     from the origins' servers (plus `extraServers`); when given, `timeouts` and `limits` are
    ///     not used (the cluster carries its own).
    ///   - admin: the admin section; when given, an ``AdminServer`` is started on its address
    ///     (use port 0) and its port is ``adminPort``.
    ///   - resolve: the resolver for servers given by name; nil = the system's.
    ///   - configure: last changes to the whole configuration (top-level sections a test needs).
    ///   - incidents: attach the error store (`storage`) and the webhook alerts, as the CLI does.
    ///   - tracer: the proxy's tracer (tracing tests); nil = tracing off.
    static func start(
        _ behaviors: [LoopbackOrigin.Behavior], extraServers: [HostPort] = [],
        timeouts: Cluster.Timeouts = Cluster.Timeouts(connect: .seconds(2), responseHeader: .seconds(5), idle: .seconds(5), request: .seconds(60)),
        limits: Cluster.Limits = Cluster.Limits(),
        routes: [Route]? = nil, extraClusters: [Cluster] = [], trustedProxies: [AddressRange] = [],
        exposeDetails: Bool = true, requestLimits: RequestLimits = RequestLimits(), threads: Int = 1,
        retries: Cluster.Retries = Cluster.Retries(attempts: 1),
        app: (([Cluster.Server]) -> Cluster)? = nil, admin: Admin? = nil, resolve: Resolver? = nil,
        configure: ((inout GatehouseConfiguration) -> Void)? = nil, incidents withIncidents: Bool = false,
        tracer: (any Tracer)? = nil
    ) async throws -> TestGateway {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        var origins: [LoopbackOrigin] = []
        do {
            for behavior in behaviors { origins.append(try await LoopbackOrigin.start(behavior, group: group)) }
        } catch {
            for origin in origins { try? await origin.stop() }
            try? await group.shutdownGracefully()
            throw error
        }
        let servers = origins.map { Cluster.Server(address: HostPort(host: $0.host, port: $0.port)) }
            + extraServers.map { Cluster.Server(address: $0) }
        let path = NSTemporaryDirectory() + "gatehouse-access-\(UUID().uuidString).log"
        var appCluster = app?(servers) ?? Cluster(name: "app", servers: servers, timeouts: timeouts, limits: limits)
        appCluster.retries = retries
        var configuration = GatehouseConfiguration(
            listeners: [Listener(name: "test", address: HostPort(host: "127.0.0.1", port: 0))],
            admin: admin,
            accessLog: .file(path),
            // One try unless a test asks for more: most tests assert what a single failure becomes.
            clusters: [appCluster] + extraClusters,
            routes: routes ?? [Route(name: "all", match: .init(), cluster: "app")],
            trustedProxies: trustedProxies, exposeDetails: exposeDetails, requestLimits: requestLimits)
        configure?(&configuration)
        var logger = Logger(label: "gatehouse-test")
        logger.logLevel = .critical
        let proxy: ProxyServer
        let addresses: [SocketAddress]
        var adminServer: AdminServer?
        var adminPort = 0
        var incidents: GatewayIncidents?
        do {
            proxy = ProxyServer(
                configuration: configuration, group: group, logger: logger,
                accessLog: try AccessLogSink(target: .file(path)), resolve: resolve, tracer: tracer)
            if withIncidents {
                incidents = try await GatewayIncidents.attach(
                    to: proxy, group: group, logger: logger, backoffBase: .milliseconds(20))
            }
            do {
                addresses = try await proxy.start()
            } catch {
                await incidents?.shutdown()
                throw error
            }
            if let admin {
                let server = AdminServer(proxy: proxy, group: group)
                adminServer = server
                do {
                    adminPort = try await server.start(host: admin.address.host, port: admin.address.port)?.port ?? 0
                } catch {
                    try? await proxy.stop()
                    await incidents?.shutdown()
                    throw error
                }
            }
        } catch {
            for origin in origins { try? await origin.stop() }
            try? await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
        return TestGateway(
            group: group, proxy: proxy, origins: origins, port: addresses.first?.port ?? 0, accessLogPath: path,
            admin: adminServer, adminPort: adminPort, incidents: incidents)
    }

    /// Stops origin `index` and holds its port without listening (connections are refused, as
    /// to a dead process), so that no server of another test is given the port before
    /// ``restart(origin:)``. Holding is best effort: without it the port is merely free.
    func kill(origin index: Int) async throws {
        let origin = self.origins[index]
        try await origin.stop()
        // SO_REUSEADDR: the origin's closed connections may keep the port in TIME_WAIT.
        let reservation = try? PortReservation(host: origin.host, port: origin.port, reuseAddress: true)
        self.held.withLock { $0[index] = reservation }
    }

    /// Starts origin `index` again, with its behaviour, on its port (after ``kill(origin:)`` or a
    /// `stop()`); the new origin is stopped with the gateway.
    func restart(origin index: Int) async throws -> LoopbackOrigin {
        self.held.withLock { $0.removeValue(forKey: index) }?.release()
        let old = self.origins[index]
        let origin = try await LoopbackOrigin.start(old.behavior, host: old.host, port: old.port, group: self.group)
        self.adopted.withLock { $0.append(origin) }
        return origin
    }

    func client(keepBody: Bool = true) async throws -> RawHTTPClient {
        try await RawHTTPClient.connect(port: self.port, group: self.group, keepBody: keepBody)
    }

    /// One request on a fresh connection.
    func request(_ raw: String, timeout: TimeAmount = .seconds(20)) async throws -> TestResponse {
        let client = try await self.client()
        defer { Task { await client.close() } }
        try await client.send(raw)
        return try await client.response(timeout: timeout)
    }

    /// The access-log lines written so far, parsed; waits (bounded) until at least `count` exist,
    /// since lines are written at the end of the event-loop iteration that finished the request.
    func accessLog(atLeast count: Int, timeout: Duration = .seconds(10)) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = (try? String(contentsOfFile: self.accessLogPath, encoding: .utf8)) ?? ""
            let lines = text.split(separator: "\n").compactMap { line in
                (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            }
            if lines.count >= count || ContinuousClock.now > deadline { return lines }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func shutdown() async {
        await self.admin?.stop()
        try? await self.proxy.stop()
        await self.incidents?.shutdown()
        for origin in self.origins + self.adopted.withLock({ $0 }) { try? await origin.stop() }
        for reservation in self.held.withLock({ $0.values }) { reservation.release() }
        try? await self.group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: self.accessLogPath)
    }
}

/// Runs `body` with a gateway and always shuts it down.
func withGateway<T>(
    _ behaviors: [LoopbackOrigin.Behavior], extraServers: [HostPort] = [],
    timeouts: Cluster.Timeouts = Cluster.Timeouts(connect: .seconds(2), responseHeader: .seconds(5), idle: .seconds(5), request: .seconds(60)),
    limits: Cluster.Limits = Cluster.Limits(), routes: [Route]? = nil, extraClusters: [Cluster] = [],
    trustedProxies: [AddressRange] = [], exposeDetails: Bool = true, requestLimits: RequestLimits = RequestLimits(),
    retries: Cluster.Retries = Cluster.Retries(attempts: 1),
    threads: Int = 1, app: (([Cluster.Server]) -> Cluster)? = nil, admin: Admin? = nil,
    resolve: TestGateway.Resolver? = nil, configure: ((inout GatehouseConfiguration) -> Void)? = nil,
    incidents: Bool = false, tracer: (any Tracer)? = nil, _ body: (TestGateway) async throws -> T
) async throws -> T {
    let gateway = try await TestGateway.start(
        behaviors, extraServers: extraServers, timeouts: timeouts, limits: limits, routes: routes,
        extraClusters: extraClusters, trustedProxies: trustedProxies, exposeDetails: exposeDetails,
        requestLimits: requestLimits, threads: threads, retries: retries, app: app, admin: admin, resolve: resolve,
        configure: configure, incidents: incidents, tracer: tracer)
    do {
        let result = try await body(gateway)
        await gateway.shutdown()
        return result
    } catch {
        await gateway.shutdown()
        throw error
    }
}
