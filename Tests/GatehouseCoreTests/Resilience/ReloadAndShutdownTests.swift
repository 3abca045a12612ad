import GatehouseConfig
import GatehouseOrigins
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import GatehouseCore

/// "Restart the web server to apply changes" must not cost a request: reloads under load, and a
/// graceful shutdown with requests in flight.
@Suite struct ReloadAndShutdownTests {
    /// Keep-alive clients sending GETs until told to stop; every answer that is not a 200 is counted.
    final class Load: Sendable {
        let answered = Atomic<Int>(0)
        let failed = Mutex<[String]>([])
        let stop = Atomic<Bool>(false)

        func run(port: Int, group: any EventLoopGroup, path: String, clients: Int, maxPerClient: Int) async {
            await withTaskGroup(of: Void.self) { tasks in
                for _ in 0..<clients {
                    tasks.addTask {
                        guard let client = try? await RawHTTPClient.connect(port: port, group: group) else {
                            self.failed.withLock { $0.append("connect") }
                            return
                        }
                        for _ in 0..<maxPerClient where !self.stop.load(ordering: .relaxed) {
                            do {
                                try await client.send(RawHTTPClient.get(path))
                                let response = try await client.response(timeout: .seconds(10))
                                self.answered.wrappingAdd(1, ordering: .relaxed)
                                if response.status != 200 {
                                    self.failed.withLock { $0.append("\(response.status) \(response.header("proxy-status") ?? "")") }
                                }
                            } catch {
                                self.failed.withLock { $0.append("\(error)") }
                                break
                            }
                        }
                        await client.close()
                    }
                }
            }
        }
    }

    @Test func twentyReloadsAddingAndRemovingAServerFailNoRequest() async throws {
        try await withGateway([.healthy(name: "a"), .healthy(name: "b"), .healthy(name: "c")]) { gateway in
            let base = gateway.proxy.snapshot.configuration
            let all = base.cluster(named: "app")?.servers ?? []
            #expect(all.count == 3)
            let load = Load()
            async let traffic: Void = load.run(
                port: gateway.port, group: gateway.group, path: "/", clients: 4, maxPerClient: 2_000)
            for round in 0..<20 {
                var configuration = base
                // Odd rounds drop the third server, even rounds bring it back.
                configuration.clusters[0].servers = round % 2 == 0 ? Array(all.prefix(2)) : all
                let report = try await gateway.proxy.reload(configuration)
                #expect(!report.changes.isEmpty)
                // Let some requests through on each configuration before the next swap.
                let target = load.answered.load(ordering: .relaxed) + 20
                let deadline = ContinuousClock.now + .seconds(10)
                while load.answered.load(ordering: .relaxed) < target, ContinuousClock.now < deadline {
                    await Task.yield()
                }
            }
            load.stop.store(true, ordering: .relaxed)
            await traffic
            #expect(load.failed.withLock { $0 } == [])
            #expect(load.answered.load(ordering: .relaxed) >= 20 * 20)
            // The last configuration has all three servers, and each answers again.
            #expect(gateway.proxy.snapshot.configuration.clusters[0].servers.count == 3)
        }
    }

    @Test func anInvalidReloadLeavesTheRunningConfiguration() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            var configuration = gateway.proxy.snapshot.configuration
            // A listener on a port that is taken (the gateway's own) cannot be bound.
            configuration.listeners.append(Listener(name: "clash", address: HostPort(host: "127.0.0.1", port: gateway.port)))
            await #expect(throws: ProxyServer.ReloadError.self) { try await gateway.proxy.reload(configuration) }
            #expect(gateway.proxy.snapshot.configuration.listeners.count == 1)
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 200)
        }
    }

    @Test func shutdownFinishesAcceptedRequestsAndClosesIdleConnections() async throws {
        let gateway = try await TestGateway.start([.healthy(name: "a")], admin: Fixtures.admin)
        do {
            #expect(try await gateway.adminRequest("GET", "/readyz").status == 200)
            // Three requests in flight (the origin answers /slow/400 after 400 ms) and one idle client.
            let busy = try await (0..<3).asyncMap { _ in
                try await RawHTTPClient.connect(port: gateway.port, group: gateway.group)
            }
            for client in busy { try await client.send(RawHTTPClient.get("/slow/400")) }
            let idle = try await RawHTTPClient.connect(port: gateway.port, group: gateway.group)
            try await idle.send(RawHTTPClient.get("/"))
            #expect(try await idle.response().status == 200)
            // Wait until the three requests have reached the origin before shutting down.
            let deadline = ContinuousClock.now + .seconds(10)
            while gateway.origins[0].requestsServed < 1 + 3, ContinuousClock.now < deadline { await Task.yield() }
            async let cut = gateway.proxy.shutdownGracefully(timeout: .seconds(10))
            // While it drains, /readyz tells load balancers to stop sending (the admin listener stays up).
            let drainDeadline = ContinuousClock.now + .seconds(10)
            while !gateway.proxy.isDraining, ContinuousClock.now < drainDeadline { await Task.yield() }
            let readiness = try await gateway.adminRequest("GET", "/readyz")
            #expect(readiness.status == 503)
            #expect(readiness.bodyText.contains("draining"))
            // Each gets its whole answer, then the connection closes (the answer says
            // Connection: close when the shutdown came before its head, as it does unless the
            // machine is slow enough for the origin to answer first).
            for client in busy {
                let response = try await client.response()
                #expect(response.status == 200)
                #expect(response.bodyText == "waited 400 ms\n")
                try await client.waitForClose()
            }
            try await idle.waitForClose()
            #expect(await cut == 0)
            // Nothing accepts any more.
            await #expect(throws: (any Error).self) {
                _ = try await RawHTTPClient.connect(port: gateway.port, group: gateway.group)
            }
        } catch {
            await gateway.shutdown()
            throw error
        }
        await gateway.shutdown()
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
