import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Logging
import NIOCore
import NIOPosix

/// A real gateway on 127.0.0.1:0 in front of real loopback origins, with its access log in a
/// temporary file; everything it starts is stopped by ``shutdown()``.
final class TestGateway: Sendable {
    let group: MultiThreadedEventLoopGroup
    let proxy: ProxyServer
    let origins: [LoopbackOrigin]
    let port: Int
    let accessLogPath: String

    private init(group: MultiThreadedEventLoopGroup, proxy: ProxyServer, origins: [LoopbackOrigin], port: Int, accessLogPath: String) {
        self.group = group
        self.proxy = proxy
        self.origins = origins
        self.port = port
        self.accessLogPath = accessLogPath
    }

    /// Starts origins with the given behaviours and a gateway whose single cluster `app` holds them
    /// (plus `extraServers`), with the route `/` → `app` unless `routes` says otherwise.
    static func start(
        _ behaviors: [LoopbackOrigin.Behavior], extraServers: [HostPort] = [],
        timeouts: Cluster.Timeouts = Cluster.Timeouts(connect: .seconds(2), responseHeader: .seconds(5), idle: .seconds(5), request: .seconds(60)),
        limits: Cluster.Limits = Cluster.Limits(),
        routes: [Route]? = nil, extraClusters: [Cluster] = [], trustedProxies: [AddressRange] = [],
        exposeDetails: Bool = true, requestLimits: RequestLimits = RequestLimits(), threads: Int = 1,
        retries: Cluster.Retries = Cluster.Retries(attempts: 1)
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
        let configuration = GatehouseConfiguration(
            listeners: [Listener(name: "test", address: HostPort(host: "127.0.0.1", port: 0))],
            accessLog: .file(path),
            // One try: these tests assert what a single failure becomes; retries have their own tests.
            clusters: [
                Cluster(name: "app", servers: servers, timeouts: timeouts, limits: limits, retries: retries)
            ] + extraClusters,
            routes: routes ?? [Route(name: "all", match: .init(), cluster: "app")],
            trustedProxies: trustedProxies, exposeDetails: exposeDetails, requestLimits: requestLimits)
        var logger = Logger(label: "gatehouse-test")
        logger.logLevel = .critical
        let proxy = ProxyServer(
            configuration: configuration, group: group, logger: logger, accessLog: try AccessLogSink(target: .file(path)))
        let addresses = try await proxy.start()
        return TestGateway(group: group, proxy: proxy, origins: origins, port: addresses.first?.port ?? 0, accessLogPath: path)
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
        try? await self.proxy.stop()
        for origin in self.origins { try? await origin.stop() }
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
    _ body: (TestGateway) async throws -> T
) async throws -> T {
    let gateway = try await TestGateway.start(
        behaviors, extraServers: extraServers, timeouts: timeouts, limits: limits, routes: routes,
        extraClusters: extraClusters, trustedProxies: trustedProxies, exposeDetails: exposeDetails,
        requestLimits: requestLimits, retries: retries)
    do {
        let result = try await body(gateway)
        await gateway.shutdown()
        return result
    } catch {
        await gateway.shutdown()
        throw error
    }
}
