/// What a reload from one configuration to another changes: the one diff behind `gatehouse check --diff`
/// and the report of `POST /admin/reload`.
public enum ConfigurationDiff {
    /// One line per change, in this order: clusters (added, servers added or removed, settings changed,
    /// removed), routes (a changed rate_limit is a changed route), listeners, client_timeouts, then alerts and storage, then tracing (which a reload does not
    /// apply: said so in its line). Empty when nothing has changed.
    public static func changes(_ old: GatehouseConfiguration, _ new: GatehouseConfiguration) -> [String] {
        self.clusters(old, new) + self.routes(old, new) + self.listeners(old, new) + self.clientTimeouts(old, new)
            + self.alerts(old, new) + self.tracing(old, new)
    }

    /// Client time limits apply at once, to connections already open too (each sweep reads them).
    static func clientTimeouts(_ old: GatehouseConfiguration, _ new: GatehouseConfiguration) -> [String] {
        old.clientTimeouts == new.clientTimeouts ? [] : ["client_timeouts changed"]
    }

    /// Incident settings and webhooks apply at once; the storage file is opened at start only.
    static func alerts(_ old: GatehouseConfiguration, _ new: GatehouseConfiguration) -> [String] {
        var changes: [String] = []
        if old.alerts.incident != new.alerts.incident { changes.append("alerts: incident settings changed") }
        let was = Set(old.alerts.webhooks.map(\.url.description))
        let now = Set(new.alerts.webhooks.map(\.url.description))
        for hook in new.alerts.webhooks where !was.contains(hook.url.description) {
            changes.append("alerts: webhook \(hook.url) added")
        }
        for hook in old.alerts.webhooks where !now.contains(hook.url.description) {
            changes.append("alerts: webhook \(hook.url) removed")
        }
        let before = Dictionary(old.alerts.webhooks.map { ($0.url.description, $0) }, uniquingKeysWith: { first, _ in first })
        for hook in new.alerts.webhooks where before[hook.url.description].map({ $0 != hook }) ?? false {
            changes.append("alerts: webhook \(hook.url) changed")
        }
        if old.storage != new.storage { changes.append("storage changed (applies at the next start)") }
        if old.cache != new.cache { changes.append("cache: store limits changed") }
        return changes
    }

    /// The exporter runs for the life of the process, so a changed section waits for a restart;
    /// the line says so rather than let the operator believe it applied.
    static func tracing(_ old: GatehouseConfiguration, _ new: GatehouseConfiguration) -> [String] {
        switch (old.tracing, new.tracing) {
        case (nil, nil): return []
        case (nil, .some): return ["tracing added (takes effect at the next restart)"]
        case (.some, nil): return ["tracing removed (takes effect at the next restart)"]
        case (.some(let before), .some(let after)):
            return before == after ? [] : ["tracing changed (takes effect at the next restart)"]
        }
    }

    static func clusters(_ old: GatehouseConfiguration, _ new: GatehouseConfiguration) -> [String] {
        var changes: [String] = []
        let oldClusters = Dictionary(old.clusters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let newClusters = Dictionary(new.clusters.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for cluster in new.clusters {
            guard let before = oldClusters[cluster.name] else {
                changes.append("cluster \(cluster.name) added")
                continue
            }
            let was = Set(before.servers.map(\.address.description))
            let now = Set(cluster.servers.map(\.address.description))
            for server in cluster.servers.map(\.address.description) where !was.contains(server) {
                changes.append("cluster \(cluster.name): server \(server) added")
            }
            for server in before.servers.map(\.address.description) where !now.contains(server) {
                changes.append("cluster \(cluster.name): server \(server) removed")
            }
            var settings = before
            settings.servers = cluster.servers
            if settings != cluster { changes.append("cluster \(cluster.name): settings changed") }
        }
        for cluster in old.clusters where newClusters[cluster.name] == nil {
            changes.append("cluster \(cluster.name) removed")
        }
        return changes
    }

    static func routes(_ old: GatehouseConfiguration, _ new: GatehouseConfiguration) -> [String] {
        var changes: [String] = []
        let oldRoutes = Set(old.routes.map(\.name))
        let newRoutes = Set(new.routes.map(\.name))
        for route in new.routes where !oldRoutes.contains(route.name) { changes.append("route \(route.name) added") }
        for route in old.routes where !newRoutes.contains(route.name) { changes.append("route \(route.name) removed") }
        let before = Dictionary(old.routes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for route in new.routes where before[route.name].map({ $0 != route }) ?? false {
            changes.append("route \(route.name) changed")
        }
        // First match wins, so the order of the routes that stay is a change of its own.
        let kept = old.routes.map(\.name).filter(newRoutes.contains)
        if kept != new.routes.map(\.name).filter(oldRoutes.contains) { changes.append("routes reordered") }
        return changes
    }

    /// A listener is known by its name and address: one that moves is removed and added.
    static func listeners(_ old: GatehouseConfiguration, _ new: GatehouseConfiguration) -> [String] {
        var changes: [String] = []
        func key(_ listener: Listener) -> String { "\(listener.name) on \(listener.address)" }
        let oldListeners = Dictionary(old.listeners.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
        let newKeys = Set(new.listeners.map(key))
        for listener in new.listeners {
            guard let before = oldListeners[key(listener)] else {
                changes.append("listener \(key(listener)) added")
                continue
            }
            if before.tls != listener.tls {
                // Renewed files count too (the certificates are compared, not the paths): worth saying.
                changes.append("listener \(key(listener)): tls changed (new connections use the new certificates)")
            } else if before != listener {
                changes.append("listener \(key(listener)): settings changed")
            }
        }
        for listener in old.listeners where !newKeys.contains(key(listener)) {
            changes.append("listener \(key(listener)) removed")
        }
        return changes
    }
}
