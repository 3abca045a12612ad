// The key tables under `clusters:`. Later issues add `health_check`, `outlier_detection`, `retries` and
// `slow_start` as lines in `ClusterDraft.fields`.

extension RootDraft {
    mutating func readClusters(_ value: Value) {
        guard let entries = value.namedEntries(nonEmpty: true) else { return }
        self.clusterNames = entries.map(\.name)
        var clusters: [Cluster] = []
        for entry in entries {
            // Cluster names show up in metrics labels and log fields, so keep them to a plain token.
            if !ValueSyntax.isToken(entry.name) {
                value.walker.error(
                    "cluster name '\(entry.name)' may only contain letters, digits, '-', '.' and '_'", at: entry.keyNode
                )
            }
            var draft = ClusterDraft()
            value.walker.walk(
                entry.value.node, subject: "cluster '\(entry.name)'", fields: ClusterDraft.fields, into: &draft)
            guard let servers = draft.servers else { continue }
            clusters.append(
                Cluster(
                    name: entry.name, servers: servers, balance: draft.balance, timeouts: draft.timeouts,
                    pool: draft.pool, limits: draft.limits))
        }
        self.clusters = clusters
    }
}

/// A cluster while it is read.
struct ClusterDraft {
    var servers: [Cluster.Server]?
    var balance = Cluster.Balance.roundRobin
    var timeouts = Cluster.Timeouts()
    var pool = Cluster.Pool()
    var limits = Cluster.Limits()

    static let fields: [Field<ClusterDraft>] = [
        Field("servers", required: true) { $0.servers = Self.servers($1) },
        Field("balance") { $0.balance = $1.choice("balance", of: Cluster.Balance.self) ?? $0.balance },
        Field("timeouts") { $1.walk(fields: Cluster.Timeouts.fields, into: &$0.timeouts) },
        Field("pool") { $1.walk(fields: Cluster.Pool.fields, into: &$0.pool) },
        Field("limits") { $1.walk(fields: Cluster.Limits.fields, into: &$0.limits) },
    ]

    static func servers(_ value: Value) -> [Cluster.Server]? {
        guard let items = value.sequence(nonEmpty: true) else { return nil }
        var servers: [Cluster.Server] = []
        var seen: [HostPort: SourceLocation] = [:]
        for item in items {
            var draft = ServerDraft()
            item.walk(fields: ServerDraft.fields, into: &draft)
            guard let address = draft.address else { continue }
            if let first = seen[address.value] {
                item.walker.error(
                    "duplicate server \(address.value) (already listed at \(first))", at: address.location)
                continue
            }
            seen[address.value] = address.location
            servers.append(Cluster.Server(address: address.value, weight: draft.weight))
        }
        return servers
    }
}

/// A server entry while it is read.
struct ServerDraft {
    var address: Located<HostPort>?
    var weight = 1

    static let fields: [Field<ServerDraft>] = [
        Field("address", required: true) { draft, value in
            draft.address = value.hostPort(ports: 1...65535).map { value.at($0) }
        },
        Field("weight") { $0.weight = $1.int(1...1000) ?? $0.weight },
    ]
}

extension Cluster.Timeouts {
    static let fields: [Field<Cluster.Timeouts>] = [
        Field("connect") { $0.connect = $1.duration() ?? $0.connect },
        Field("response_header") { $0.responseHeader = $1.duration() ?? $0.responseHeader },
        Field("idle") { $0.idle = $1.duration() ?? $0.idle },
        Field("request") { $0.request = $1.duration() ?? $0.request },
    ]
}

extension Cluster.Pool {
    static let fields: [Field<Cluster.Pool>] = [
        Field("max_idle_per_server") { $0.maxIdlePerServer = $1.int(0...Int.max) ?? $0.maxIdlePerServer },
        Field("idle_timeout") { $0.idleTimeout = $1.duration() ?? $0.idleTimeout },
    ]
}

extension Cluster.Limits {
    static let fields: [Field<Cluster.Limits>] = [
        Field("max_response_header_bytes") {
            $0.maxResponseHeaderBytes = $1.size(1024...Int64(Int.max)).map(Int.init) ?? $0.maxResponseHeaderBytes
        }
    ]
}
