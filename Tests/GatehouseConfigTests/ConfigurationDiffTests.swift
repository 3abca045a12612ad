import GatehouseConfig
import Testing

/// `ConfigurationDiff.changes`: what `gatehouse check --diff` prints and a reload reports.
@Suite struct ConfigurationDiffTests {
    static func address(_ port: Int) -> HostPort { HostPort(host: "127.0.0.1", port: port) }

    static let base = GatehouseConfiguration(
        listeners: [Listener(name: "public", address: Self.address(8080))],
        clusters: [
            Cluster(name: "app", servers: [Cluster.Server(address: Self.address(3000))]),
            Cluster(name: "old", servers: [Cluster.Server(address: Self.address(4000))]),
        ],
        routes: [
            Route(name: "api", match: Route.Match(pathPrefix: "/api/"), cluster: "app"),
            Route(name: "rest", match: Route.Match(), cluster: "old"),
        ])

    @Test func noChangeIsEmpty() {
        #expect(ConfigurationDiff.changes(Self.base, Self.base).isEmpty)
    }

    @Test func clustersServersRoutesAndListeners() {
        var new = Self.base
        new.clusters[0].servers.append(Cluster.Server(address: Self.address(3001)))
        new.clusters[0].timeouts.connect = .seconds(1)
        new.clusters.remove(at: 1)
        new.clusters.append(Cluster(name: "fresh", servers: [Cluster.Server(address: Self.address(5000))]))
        new.routes[1].cluster = "fresh"
        new.routes.append(Route(name: "health", match: Route.Match(pathPrefix: "/healthz"), cluster: "app"))
        new.listeners[0].maxConnections = 100
        new.listeners.append(Listener(name: "internal", address: Self.address(8081)))
        #expect(
            ConfigurationDiff.changes(Self.base, new) == [
                "cluster app: server 127.0.0.1:3001 added",
                "cluster app: settings changed",
                "cluster fresh added",
                "cluster old removed",
                "route health added",
                "route rest changed",
                "listener public on 127.0.0.1:8080: settings changed",
                "listener internal on 127.0.0.1:8081 added",
            ])
    }

    @Test func aMovedListenerIsRemovedAndAddedAndReorderedRoutesAreAChange() {
        var new = Self.base
        new.listeners[0].address = Self.address(9090)
        new.routes.reverse()
        new.routes.remove(at: 0)
        #expect(
            ConfigurationDiff.changes(Self.base, new) == [
                "route rest removed",
                "listener public on 127.0.0.1:9090 added",
                "listener public on 127.0.0.1:8080 removed",
            ])
        var reordered = Self.base
        reordered.routes.reverse()
        #expect(ConfigurationDiff.changes(Self.base, reordered) == ["routes reordered"])
        var serverGone = Self.base
        serverGone.clusters[0].servers = [Cluster.Server(address: Self.address(3002))]
        #expect(
            ConfigurationDiff.changes(Self.base, serverGone) == [
                "cluster app: server 127.0.0.1:3002 added", "cluster app: server 127.0.0.1:3000 removed",
            ])
    }
}
