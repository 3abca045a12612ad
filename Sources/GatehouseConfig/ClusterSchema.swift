import Yams

// The key tables under `clusters:`.

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
            draft.crossCheck(value.walker)
            guard let servers = draft.servers else { continue }
            clusters.append(
                Cluster(
                    name: entry.name, servers: servers, balance: draft.balance?.value ?? .roundRobin, hashOn: draft.hashOn?.value,
                    timeouts: draft.timeouts, pool: draft.pool, limits: draft.limits, healthCheck: draft.healthCheck,
                    outlierDetection: draft.outlierDetection, slowStart: draft.slowStart,
                    panicThreshold: draft.panicThreshold, dnsRefresh: draft.dnsRefresh, retries: draft.retries))
        }
        self.clusters = clusters
    }
}

/// A cluster while it is read.
struct ClusterDraft {
    var servers: [Cluster.Server]?
    var balance: Located<Cluster.Balance>?
    var hashOn: Located<Cluster.HashKey>?
    /// Whether the keys were written, valid or not: a wrong value already has its own error.
    var balanceGiven = false
    var hashOnGiven = false
    var timeouts = Cluster.Timeouts()
    var pool = Cluster.Pool()
    var limits = Cluster.Limits()
    var healthCheck: Cluster.HealthCheck?
    var outlierDetection: Cluster.OutlierDetection?
    var slowStart: Duration?
    var panicThreshold = 50
    var dnsRefresh = Duration.seconds(30)
    var retries = Cluster.Retries()

    static let fields: [Field<ClusterDraft>] = [
        Field("servers", required: true) { $0.servers = Self.servers($1) },
        Field("balance") { draft, value in
            draft.balanceGiven = true
            if let balance = value.choice("balance", of: Cluster.Balance.self) { draft.balance = value.at(balance) }
        },
        Field("hash_on") { draft, value in
            draft.hashOnGiven = true
            draft.hashOn = Self.hashKey(value).map { value.at($0) }
        },
        Field("timeouts") { $1.walk(fields: Cluster.Timeouts.fields, into: &$0.timeouts) },
        Field("pool") { $1.walk(fields: Cluster.Pool.fields, into: &$0.pool) },
        Field("limits") { $1.walk(fields: Cluster.Limits.fields, into: &$0.limits) },
        Field("health_check") { draft, value in
            var check = HealthCheckDraft()
            value.walk(fields: HealthCheckDraft.fields, into: &check)
            draft.healthCheck = check.finish(value)
        },
        Field("outlier_detection") { draft, value in
            var detection = OutlierDetectionDraft()
            value.walk(fields: OutlierDetectionDraft.fields, into: &detection)
            draft.outlierDetection = detection.finish(value)
        },
        Field("slow_start") { $0.slowStart = $1.duration() },
        Field("panic_threshold") { $0.panicThreshold = $1.percent() ?? $0.panicThreshold },
        Field("dns_refresh") { $0.dnsRefresh = $1.duration() ?? $0.dnsRefresh },
        Field("retries") { draft, value in
            value.walk(fields: Cluster.Retries.fields, into: &draft.retries)
            if draft.retries.backoffMax < draft.retries.backoffBase {
                value.error("retries backoff max must not be shorter than its base")
            }
        },
    ]

    /// Checks between keys: a policy that needs a key, a key that its policy would ignore.
    func crossCheck(_ walker: Walker) {
        // An unknown policy's needs are unknown: its own error says it all.
        if self.balanceGiven && self.balance == nil { return }
        let balance = self.balance?.value ?? .roundRobin
        if let located = self.balance, balance == .consistentHash, !self.hashOnGiven {
            walker.error(
                "balance: consistent_hash needs hash_on (header: NAME, cookie: NAME or client_address)",
                at: located.location)
        }
        if let hashOn = self.hashOn, balance != .consistentHash {
            walker.error(
                "hash_on only applies to balance: consistent_hash (balance is \(balance.rawValue))", at: hashOn.location)
        }
    }

    /// `client_address`, `{header: NAME}` or `{cookie: NAME}`.
    static func hashKey(_ value: Value) -> Cluster.HashKey? {
        switch value.node {
        case .scalar(let scalar) where !Walker.isNull(scalar) && scalar.string == "client_address":
            return .clientAddress
        case .mapping:
            let reported = value.walker.diagnostics.count
            var key: Cluster.HashKey?
            value.walk(fields: Self.hashKeyFields, into: &key)
            // An empty mapping; a wrong key or value inside has been reported already.
            if key == nil, value.walker.diagnostics.count == reported {
                value.error("hash_on needs one of header or cookie")
            }
            return key
        default:
            value.error(
                "expected client_address, {header: NAME} or {cookie: NAME} for hash_on, got \(Walker.describe(value.node))")
            return nil
        }
    }

    static let hashKeyFields: [Field<Cluster.HashKey?>] = [
        Field("header") { key, value in
            guard let name = Self.token(value, "header") else { return }
            if key != nil { value.error("hash_on takes one of header or cookie, not both") }
            key = .header(name.lowercased())
        },
        Field("cookie") { key, value in
            guard let name = Self.token(value, "cookie") else { return }
            if key != nil { value.error("hash_on takes one of header or cookie, not both") }
            key = .cookie(name)
        },
    ]

    /// A header or cookie name; one with a space, ':' or '=' could never match a request.
    static func token(_ value: Value, _ kind: String) -> String? {
        guard let name = value.nonEmptyString() else { return nil }
        guard ValueSyntax.isHTTPToken(name) else {
            value.error("\(value.subject) must be a \(kind) name (letters, digits and !#$%&'*+-.^_`|~), got '\(name)'")
            return nil
        }
        return name
    }

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
        },
        Field("max_connections") { $0.maxConnections = $1.int(0...Int.max) ?? $0.maxConnections },
        Field("max_pending_requests") { $0.maxPendingRequests = $1.int(0...Int.max) ?? $0.maxPendingRequests },
        Field("max_requests") { $0.maxRequests = $1.int(0...Int.max) ?? $0.maxRequests },
    ]
}

extension Cluster.Retries {
    static let fields: [Field<Cluster.Retries>] = [
        Field("attempts") { $0.attempts = $1.int(1...10) ?? $0.attempts },
        Field("per_try_timeout") { $0.perTryTimeout = $1.duration() },
        Field("retry_on") { retries, value in
            guard let items = value.sequence(nonEmpty: false) else { return }
            var conditions: Set<Cluster.Retries.Condition> = []
            var statuses: Set<Int> = []
            for item in items {
                guard let text = item.string() else { continue }
                if let status = Int(text) {
                    if (500...599).contains(status) { statuses.insert(status) } else {
                        item.error("only 5xx statuses can be retried, got \(status)")
                    }
                } else if let condition = item.choice("retry condition", of: Cluster.Retries.Condition.self) {
                    conditions.insert(condition)
                }
            }
            retries.conditions = conditions
            retries.statuses = statuses
        },
        Field("methods") { retries, value in
            guard let items = value.sequence(nonEmpty: false) else { return }
            retries.idempotentMethods = Set(items.compactMap { item -> String? in
                guard let method = item.nonEmptyString() else { return nil }
                guard method.allSatisfy({ $0.isASCII && $0.isUppercase }) else {
                    item.error("methods are upper-case tokens like GET or PUT, got '\(method)'")
                    return nil
                }
                return method
            })
        },
        Field("backoff") { $1.walk(fields: Self.backoffFields, into: &$0) },
        Field("budget") { $1.walk(fields: Self.budgetFields, into: &$0) },
        Field("buffer_body") {
            $0.bufferBodyBytes = $1.size(0...Int64(Int32.max)).map(Int.init) ?? $0.bufferBodyBytes
        },
    ]

    static let backoffFields: [Field<Cluster.Retries>] = [
        Field("base") { $0.backoffBase = $1.duration() ?? $0.backoffBase },
        Field("max") { $0.backoffMax = $1.duration() ?? $0.backoffMax },
    ]

    static let budgetFields: [Field<Cluster.Retries>] = [
        Field("percent") { $0.budgetPercent = $1.percent() ?? $0.budgetPercent },
        Field("min_per_second") { $0.minRetriesPerSecond = $1.int(0...100_000) ?? $0.minRetriesPerSecond },
    ]
}

/// A `health_check:` block while it is read.
struct HealthCheckDraft {
    var type = "http"
    var path: Located<String>?
    var check = Cluster.HealthCheck()
    var jitter: Duration?
    /// Where each key was written and whether its value was valid: cross-checks point at the key
    /// that breaks them, and say nothing about a key whose own error is already reported.
    var written: [String: (location: SourceLocation, valid: Bool)] = [:]

    /// Records where `key` was written; returns `parsed`.
    mutating func note<Parsed>(_ key: String, _ value: Value, _ parsed: Parsed?) -> Parsed? {
        self.written[key] = (value.location, parsed != nil)
        return parsed
    }

    static let fields: [Field<HealthCheckDraft>] = [
        Field("type") { draft, value in
            guard let text = value.string() else { return }
            guard ["http", "tcp"].contains(text) else {
                value.error("unknown health check type '\(text)' (allowed: http, tcp)")
                return
            }
            draft.type = text
        },
        Field("path") { draft, value in
            guard let path = value.nonEmptyString() else { return }
            guard path.hasPrefix("/"), !path.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
                value.error("health check path must start with '/' and contain no spaces, got '\(path)'")
                return
            }
            draft.path = value.at(path)
        },
        Field("interval") { draft, value in
            draft.check.interval = draft.note("interval", value, value.duration()) ?? draft.check.interval
        },
        // 0 is a legitimate jitter (probes exactly on the interval), unlike a 0 limit.
        Field("jitter") { draft, value in draft.jitter = draft.note("jitter", value, value.duration(allowingZero: true)) },
        Field("timeout") { draft, value in
            draft.check.timeout = draft.note("timeout", value, value.duration()) ?? draft.check.timeout
        },
        Field("healthy_threshold") { $0.check.healthyThreshold = $1.int(1...100) ?? $0.check.healthyThreshold },
        Field("unhealthy_threshold") { $0.check.unhealthyThreshold = $1.int(1...100) ?? $0.check.unhealthyThreshold },
        Field("expected_statuses") { draft, value in
            if let ranges = draft.note("expected_statuses", value, Self.statusRanges(value)) {
                draft.check.expectedStatuses = ranges
            }
        },
        Field("expected_body") { draft, value in
            draft.check.expectedBody = draft.note("expected_body", value, value.nonEmptyString())
        },
        Field("host") { draft, value in draft.check.host = draft.note("host", value, Self.host(value)) },
    ]

    func finish(_ value: Value) -> Cluster.HealthCheck {
        var check = self.check
        if self.type == "tcp" {
            check.kind = .tcp
            if let path = self.path {
                value.walker.error("a tcp health check has no path (use type: http)", at: path.location)
            }
            if let body = self.written["expected_body"], body.valid {
                value.walker.error("a tcp health check cannot expect a body (use type: http)", at: body.location)
            }
            if let statuses = self.written["expected_statuses"], statuses.valid {
                value.walker.error("a tcp health check has no status to expect (use type: http)", at: statuses.location)
            }
            if let host = self.written["host"], host.valid {
                value.walker.error("a tcp health check sends no Host header (use type: http)", at: host.location)
            }
        } else {
            check.kind = .http(path: self.path?.value ?? "/")
        }
        check.jitter = self.jitter ?? check.interval / 10
        let interval = self.written["interval"]
        let timing = ["interval", "jitter", "timeout"].compactMap { self.written[$0] }
        // A timing whose own value was refused has already been reported; comparing its default would mislead.
        guard timing.allSatisfy(\.valid) else { return check }
        func described(_ key: String, _ duration: Duration) -> String {
            "(\(ValueSyntax.format(duration))" + (self.written[key] == nil ? ", the default)" : ")")
        }
        if let jitter = self.written["jitter"], check.jitter >= check.interval {
            value.walker.error(
                "health check jitter \(described("jitter", check.jitter)) must be shorter than its interval \(described("interval", check.interval))",
                at: jitter.location)
        }
        if check.timeout > check.interval {
            value.walker.error(
                "health check timeout \(described("timeout", check.timeout)) must not be longer than its interval \(described("interval", check.interval)): shorten the timeout or lengthen the interval",
                at: self.written["timeout"]?.location ?? interval?.location ?? value.location)
        }
        return check
    }

    /// The probe's Host header: sent as written, so it must be one.
    static func host(_ value: Value) -> String? {
        guard let text = value.nonEmptyString() else { return nil }
        guard ValueSyntax.isHostHeader(text) else {
            value.error(
                "expected a host such as api.example.com or api.example.com:8080 for \(value.subject), got '\(text)'")
            return nil
        }
        return text
    }

    /// `[200, "200-299", "2xx"]`; every invalid entry is reported.
    static func statusRanges(_ value: Value) -> [ClosedRange<Int>]? {
        guard let items = value.sequence(nonEmpty: true) else { return nil }
        var ranges: [ClosedRange<Int>] = []
        for item in items {
            guard let text = item.string() else { continue }
            if let range = Self.statusRange(text) {
                ranges.append(range)
            } else {
                item.error("invalid status '\(text)' for \(item.subject): expected 200, 200-299 or 2xx (100–599)")
            }
        }
        // Nil after any error, so the cross-checks leave a list that already has one alone.
        return ranges.isEmpty || ranges.count < items.count ? nil : ranges
    }

    static func statusRange(_ text: String) -> ClosedRange<Int>? {
        let valid = 100...599
        if let status = Int(text) { return valid.contains(status) ? status...status : nil }
        if text.count == 3, text.hasSuffix("xx"), let digit = text.first?.wholeNumberValue, (1...5).contains(digit) {
            return digit * 100...digit * 100 + 99
        }
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]), valid.contains(low),
            valid.contains(high), low <= high
        else { return nil }
        return low...high
    }
}

/// An `outlier_detection:` block while it is read.
struct OutlierDetectionDraft {
    var detection = Cluster.OutlierDetection()
    /// Where the ejection times were written (valid ones only), to point the cross-check at them.
    var base: SourceLocation?
    var max: SourceLocation?
    var invalidTime = false

    static let fields: [Field<OutlierDetectionDraft>] = [
        Field("consecutive_failures") {
            $0.detection.consecutiveFailures = $1.int(1...1000) ?? $0.detection.consecutiveFailures
        },
        Field("count_5xx") { $0.detection.countServerErrors = $1.bool() ?? $0.detection.countServerErrors },
        Field("base_ejection_time") { draft, value in
            guard let time = value.duration() else {
                draft.invalidTime = true
                return
            }
            draft.detection.baseEjectionTime = time
            draft.base = value.location
        },
        Field("max_ejection_time") { draft, value in
            guard let time = value.duration() else {
                draft.invalidTime = true
                return
            }
            draft.detection.maxEjectionTime = time
            draft.max = value.location
        },
        Field("max_ejection_percent") {
            $0.detection.maxEjectionPercent = $1.percent() ?? $0.detection.maxEjectionPercent
        },
    ]

    func finish(_ value: Value) -> Cluster.OutlierDetection {
        let detection = self.detection
        if !self.invalidTime, detection.maxEjectionTime < detection.baseEjectionTime {
            let base = "(\(ValueSyntax.format(detection.baseEjectionTime))" + (self.base == nil ? ", the default)" : ")")
            let max = "(\(ValueSyntax.format(detection.maxEjectionTime))" + (self.max == nil ? ", the default)" : ")")
            value.walker.error(
                "max_ejection_time \(max) must not be shorter than base_ejection_time \(base)",
                at: self.max ?? self.base ?? value.location)
        }
        return detection
    }
}
