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
                    panicThreshold: draft.panicThreshold, dnsRefresh: draft.dnsRefresh, retries: draft.retries,
                    tls: draft.tls))
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
    var tls: UpstreamTLS?

    static let fields: [Field<ClusterDraft>] = [
        Field(
            "servers", .list(of: .mapping(ServerDraft.fields), nonEmpty: true), required: true,
            doc: "The cluster's servers; a DNS name is resolved again every dns_refresh, each address balanced alone."
        ) { $0.servers = Self.servers($1) },
        Field("balance", .choice(Cluster.Balance.self), doc: "The balancing policy (default round_robin).") {
            draft, value in
            draft.balanceGiven = true
            if let balance = value.choice("balance", of: Cluster.Balance.self) { draft.balance = value.at(balance) }
        },
        Field(
            "hash_on", .anyOf(.words(["client_address"]), .mapping(ClusterDraft.hashKeyFields)),
            doc: "What consistent_hash hashes: client_address, {header: NAME} or {cookie: NAME}."
        ) { draft, value in
            draft.hashOnGiven = true
            draft.hashOn = Self.hashKey(value).map { value.at($0) }
        },
        Field("timeouts", section: Cluster.Timeouts.fields, into: \.timeouts, doc: "Per-phase time limits."),
        Field("pool", section: Cluster.Pool.fields, into: \.pool, doc: "The per-event-loop upstream connection pool."),
        Field(
            "limits", section: Cluster.Limits.fields, into: \.limits,
            doc: "Limits on what the upstream may send, and circuit breakers on what the gateway sends it."),
        Field(
            "health_check", .mapping(HealthCheckDraft.fields),
            doc: "Active health checking: probes each server on an interval; only healthy servers get traffic."
        ) { draft, value in
            var check = HealthCheckDraft()
            value.walk(fields: HealthCheckDraft.fields, into: &check)
            draft.healthCheck = check.finish(value)
        },
        Field(
            "outlier_detection", .mapping(OutlierDetectionDraft.fields),
            doc: "Passive health: ejects a server that keeps failing real requests ({} for the defaults)."
        ) { draft, value in
            var detection = OutlierDetectionDraft()
            value.walk(fields: OutlierDetectionDraft.fields, into: &detection)
            draft.outlierDetection = detection.finish(value)
        },
        Field(
            "slow_start", .duration,
            doc: "A server that becomes healthy again gets its share ramped up over this window."
        ) { $0.slowStart = $1.duration() },
        Field(
            "panic_threshold", .percent,
            doc: "Below this share of healthy servers, balance across all of them (default 50%; 0 = never)."
        ) { $0.panicThreshold = $1.percent() ?? $0.panicThreshold },
        Field("dns_refresh", .duration, doc: "How often servers given by DNS name are resolved again (default 30s).") {
            $0.dnsRefresh = $1.duration() ?? $0.dnsRefresh
        },
        Field(
            "retries", .mapping(Cluster.Retries.fields),
            doc: "Which failed attempts are tried again, how often, and within what budget."
        ) { draft, value in
            value.walk(fields: Cluster.Retries.fields, into: &draft.retries)
            if draft.retries.backoffMax < draft.retries.backoffBase {
                value.error("retries backoff max must not be shorter than its base")
            }
        },
        Field(
            "tls", UpstreamTLSDraft.shape,
            doc: "TLS to the servers: true, or {ca_file, server_name, verify, client_certificate}; verified by default."
        ) { $0.tls = UpstreamTLSDraft.read($1) },
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
        Field("header", .nonEmptyText, doc: "Hash this request header's value.") { key, value in
            guard let name = Self.token(value, "header") else { return }
            if key != nil { value.error("hash_on takes one of header or cookie, not both") }
            key = .header(name.lowercased())
        },
        Field("cookie", .nonEmptyText, doc: "Hash this cookie's value.") { key, value in
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
        Field("address", .hostPort, required: true, doc: "host:port of the server; the host may be a DNS name.") {
            draft, value in
            draft.address = value.hostPort(ports: 1...65535).map { value.at($0) }
        },
        Field("weight", .integer(1...1000), doc: "The server's share relative to the others (default 1).") {
            $0.weight = $1.int(1...1000) ?? $0.weight
        },
    ]
}

extension Cluster.Timeouts {
    static let fields: [Field<Cluster.Timeouts>] = [
        Field("connect", .duration, doc: "TCP connect (plus DNS). Exceeded: 504 connection_timeout.") {
            $0.connect = $1.duration() ?? $0.connect
        },
        Field(
            "response_header", .duration,
            doc: "From the request being sent to the first byte of the response head. Exceeded: 504 connection_read_timeout."
        ) { $0.responseHeader = $1.duration() ?? $0.responseHeader },
        Field(
            "idle", .duration,
            doc: "Longest silence between bytes in either direction once the exchange is under way."
        ) { $0.idle = $1.duration() ?? $0.idle },
        Field("request", .duration, doc: "The whole exchange. Exceeded: 504 http_response_timeout.") {
            $0.request = $1.duration() ?? $0.request
        },
    ]
}

extension Cluster.Pool {
    static let fields: [Field<Cluster.Pool>] = [
        Field(
            "max_idle_per_server", .integer(0...Int.max),
            doc: "Idle keep-alive connections kept per server per event loop (0 = no reuse)."
        ) { $0.maxIdlePerServer = $1.int(0...Int.max) ?? $0.maxIdlePerServer },
        Field(
            "idle_timeout", .duration,
            doc: "An idle connection older than this is closed; keep it below the upstream's keep-alive timeout."
        ) { $0.idleTimeout = $1.duration() ?? $0.idleTimeout },
    ]
}

extension Cluster.Limits {
    static let fields: [Field<Cluster.Limits>] = [
        Field(
            "max_response_header_bytes", .size(1024...Int64(Int.max)),
            doc: "Largest response header section accepted. Beyond it: 502 http_response_header_section_size."
        ) { $0.maxResponseHeaderBytes = $1.size(1024...Int64(Int.max)).map(Int.init) ?? $0.maxResponseHeaderBytes },
        Field(
            "max_connections", .integer(0...Int.max),
            doc: "Open upstream connections of the cluster (0 = unlimited); beyond it: 503 connection_limit_reached."
        ) { $0.maxConnections = $1.int(0...Int.max) ?? $0.maxConnections },
        Field(
            "max_pending_requests", .integer(0...Int.max),
            doc: "Requests waiting for a new upstream connection (0 = unlimited)."
        ) { $0.maxPendingRequests = $1.int(0...Int.max) ?? $0.maxPendingRequests },
        Field("max_requests", .integer(0...Int.max), doc: "Requests in flight to the cluster (0 = unlimited).") {
            $0.maxRequests = $1.int(0...Int.max) ?? $0.maxRequests
        },
    ]
}

extension Cluster.Retries {
    static let fields: [Field<Cluster.Retries>] = [
        Field("attempts", .integer(1...10), doc: "Tries in all, the first included (1 = no retries).") {
            $0.attempts = $1.int(1...10) ?? $0.attempts
        },
        Field("per_try_timeout", .duration, doc: "The response-header limit of each try (default timeouts.response_header).") {
            $0.perTryTimeout = $1.duration()
        },
        Field(
            "retry_on",
            .list(
                of: .anyOf(
                    .choice(Condition.self), .integer(500...599),
                    .pattern("^5[0-9][0-9]$", hint: "a 5xx status", sample: "502"))),
            doc: "Failures that are retried: connect_failure, reset, read_timeout, or 5xx statuses such as 503."
        ) { retries, value in
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
        Field(
            "methods", .list(of: .pattern("^[A-Z]+$", hint: "an upper-case method", sample: "GET")),
            doc: "Methods retried after the request may have reached the upstream (idempotent ones)."
        ) { retries, value in
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
        Field(
            "backoff", section: Cluster.Retries.backoffFields, into: \.self,
            doc: "Exponential backoff between tries with full jitter: random(0, min(max, base × 2^(n-1)))."),
        Field(
            "budget", section: Cluster.Retries.budgetFields, into: \.self,
            doc: "Retries may add at most percent of the cluster's request rate, but min_per_second always."),
        Field(
            "buffer_body", .size(0...Int64(Int32.max)),
            doc: "Request bodies up to this size are held so a try can be replayed; a longer body is never retried."
        ) { $0.bufferBodyBytes = $1.size(0...Int64(Int32.max)).map(Int.init) ?? $0.bufferBodyBytes },
    ]

    static let backoffFields: [Field<Cluster.Retries>] = [
        Field("base", .duration, doc: "The first backoff's ceiling.") { $0.backoffBase = $1.duration() ?? $0.backoffBase },
        Field("max", .duration, doc: "No backoff is longer.") { $0.backoffMax = $1.duration() ?? $0.backoffMax },
    ]

    static let budgetFields: [Field<Cluster.Retries>] = [
        Field("percent", .percent, doc: "Share of the request rate retries may add (default 20%).") {
            $0.budgetPercent = $1.percent() ?? $0.budgetPercent
        },
        Field("min_per_second", .integer(0...100_000), doc: "Retries per second always allowed (default 10).") {
            $0.minRetriesPerSecond = $1.int(0...100_000) ?? $0.minRetriesPerSecond
        },
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
        Field("type", .words(["http", "tcp"]), doc: "http (GET path, default) or tcp (a connection opens).") {
            draft, value in
            guard let text = value.string() else { return }
            guard ["http", "tcp"].contains(text) else {
                value.error("unknown health check type '\(text)' (allowed: http, tcp)")
                return
            }
            draft.type = text
        },
        Field("path", .pathPrefix, doc: "The path probed by an http check (default /).") { draft, value in
            guard let path = value.nonEmptyString() else { return }
            guard path.hasPrefix("/"), !path.contains(where: { $0 == " " || $0 == "\r" || $0 == "\n" }) else {
                value.error("health check path must start with '/' and contain no spaces, got '\(path)'")
                return
            }
            draft.path = value.at(path)
        },
        Field("interval", .duration, doc: "Between probes of each server.") { draft, value in
            draft.check.interval = draft.note("interval", value, value.duration()) ?? draft.check.interval
        },
        // 0 is a legitimate jitter (probes exactly on the interval), unlike a 0 limit.
        Field("jitter", .durationOrZero, doc: "Each wait is interval ± up to this much (default interval / 10).") { draft, value in draft.jitter = draft.note("jitter", value, value.duration(allowingZero: true)) },
        Field("timeout", .duration, doc: "A probe not finished in this time fails; at most the interval.") {
            draft, value in
            draft.check.timeout = draft.note("timeout", value, value.duration()) ?? draft.check.timeout
        },
        Field("healthy_threshold", .integer(1...100), doc: "Consecutive passes that make an unhealthy server healthy.") { $0.check.healthyThreshold = $1.int(1...100) ?? $0.check.healthyThreshold },
        Field(
            "unhealthy_threshold", .integer(1...100), doc: "Consecutive failures that make a healthy server unhealthy."
        ) { $0.check.unhealthyThreshold = $1.int(1...100) ?? $0.check.unhealthyThreshold },
        Field(
            "expected_statuses", .list(of: .statusRange, nonEmpty: true),
            doc: "Statuses that pass: 200, \"2xx\" or \"200-299\" (default 200-399)."
        ) { draft, value in
            if let ranges = draft.note("expected_statuses", value, Self.statusRanges(value)) {
                draft.check.expectedStatuses = ranges
            }
        },
        Field("expected_body", .nonEmptyText, doc: "Text the response body (its first 64 KiB) must contain.") {
            draft, value in
            draft.check.expectedBody = draft.note("expected_body", value, value.nonEmptyString())
        },
        Field("host", .nonEmptyText, doc: "The probe's Host header (default the server's host:port).") {
            draft, value in draft.check.host = draft.note("host", value, Self.host(value)) },
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
        Field(
            "consecutive_failures", .integer(1...1000),
            doc: "Consecutive gateway failures (connect failures, resets, timeouts, malformed responses) that eject."
        ) {
            $0.detection.consecutiveFailures = $1.int(1...1000) ?? $0.detection.consecutiveFailures
        },
        Field("count_5xx", .boolean, doc: "Whether a 5xx answered by the server counts as a failure too.") { $0.detection.countServerErrors = $1.bool() ?? $0.detection.countServerErrors },
        Field(
            "base_ejection_time", .duration,
            doc: "The first ejection lasts this long; the n-th in a row lasts n times as long."
        ) { draft, value in
            guard let time = value.duration() else {
                draft.invalidTime = true
                return
            }
            draft.detection.baseEjectionTime = time
            draft.base = value.location
        },
        Field("max_ejection_time", .duration, doc: "No ejection lasts longer than this.") { draft, value in
            guard let time = value.duration() else {
                draft.invalidTime = true
                return
            }
            draft.detection.maxEjectionTime = time
            draft.max = value.location
        },
        Field(
            "max_ejection_percent", .percent, doc: "Never more than this share of the cluster is ejected at once."
        ) {
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
