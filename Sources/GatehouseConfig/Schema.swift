// The key tables of the file. Each mapping kind has a `fields` table: to support a new key, add one
// `Field` line (and the draft property it fills). Cross-checks that need the whole file run in `finish`.

/// The top level of the file while it is read; becomes a `GatehouseConfiguration` once nothing is wrong.
struct RootDraft {
    var listeners: [Listener]?
    /// Where each listener address was given, to point at the first user of a clashing address.
    var listenerAddresses: [HostPort: (name: String, location: SourceLocation)] = [:]
    var admin: Located<Admin>?
    var accessLog = AccessLogTarget.stdout
    var clusters: [Cluster]?
    /// Every cluster name defined, including clusters with errors, so routes naming them raise no second error.
    var clusterNames: [String]?
    var routes: [Route]?
    var clusterReferences: [(name: String, location: SourceLocation)] = []
    var trustedProxies: [AddressRange] = []
    var exposeDetails = false
    var gatewayName = "gatehouse"
    var requestLimits = RequestLimits()
    var alerts = Alerts()
    var storage: Storage?
    var tracing: TracingConfiguration?
    var clientTimeouts = ClientTimeouts()
    var cache = CacheStorage()

    static let fields: [Field<RootDraft>] = [
        Field(
            "listeners", .list(of: .mapping(ListenerDraft.fields), nonEmpty: true), required: true,
            doc: "The listeners that accept downstream HTTP/1.1 connections."
        ) { $0.readListeners($1) },
        Field(
            "admin", .mapping(AdminDraft.fields),
            doc: "The admin listener: /healthz, /readyz, /stats, /admin/upstreams, /admin/config, reload and drain."
        ) { $0.readAdmin($1) },
        Field("access_log", .mapping(AccessLogDraft.fields), doc: "Where the JSON access log goes.") {
            $0.accessLog = AccessLogDraft.read($1) ?? $0.accessLog
        },
        Field(
            "clusters", .named(.mapping(ClusterDraft.fields), nonEmpty: true), required: true,
            doc: "Upstream clusters by name (letters, digits, '-', '.', '_'); routes name them."
        ) { $0.readClusters($1) },
        Field(
            "routes", .list(of: .mapping(RouteDraft.fields), nonEmpty: true), required: true,
            doc: "Routes, in order: the first match wins."
        ) { $0.readRoutes($1) },
        Field(
            "trusted_proxies", .list(of: RootDraft.addressRangeShape),
            doc: "Peers whose X-Forwarded-For / Forwarded headers are extended rather than replaced."
        ) { $0.trustedProxies = Self.addressRanges($1) },
        Field(
            "expose_details", .boolean,
            doc: "Whether error responses may show upstream addresses and details to clients (default false)."
        ) { $0.exposeDetails = $1.bool() ?? false },
        Field(
            "gateway_name", .token, doc: "The name this gateway uses in Via and Proxy-Status (default gatehouse)."
        ) { $0.gatewayName = Self.token($1) ?? $0.gatewayName },
        Field(
            "request_limits", section: RequestLimits.fields, into: \.requestLimits,
            doc: "Limits on what downstream clients may send."),
        Field(
            "client_timeouts", section: ClientTimeouts.fields, into: \.clientTimeouts,
            doc: "Time limits on what clients send (slowloris, slow POST) and on idle keep-alive connections."),
        Field("alerts", section: Alerts.fields, into: \.alerts, doc: "Incidents from gateway-error ratios, and their webhooks."),
        Field("storage", .mapping(Storage.Draft.fields), doc: "Where errors and incidents are kept across restarts (SQLite).") {
            $0.storage = Storage.read($1)
        },
        Field("tracing", TracingDraft.shape, doc: "Span export over OTLP/HTTP (off when absent).") {
            $0.tracing = TracingDraft.read($1)
        },
        Field(
            "cache", .mapping(CacheStorage.fields),
            doc: "The in-memory response cache shared by the routes that set cache (byte budget, largest object)."
        ) { $0.cache = CacheStorage.read($1) },
    ]

    /// The checks that span sections, then the configuration if the walk found nothing wrong.
    func finish(_ walker: Walker) -> GatehouseConfiguration? {
        // With no cluster defined, "needs at least one entry" already says it all.
        if let defined = self.clusterNames, !defined.isEmpty {
            for reference in self.clusterReferences where !defined.contains(reference.name) {
                let hint =
                    Walker.suggestion(for: reference.name, among: defined).map { "; did you mean '\($0)'?" }
                    ?? " (defined: \(defined.joined(separator: ", ")))"
                walker.error("unknown cluster '\(reference.name)'\(hint)", at: reference.location)
            }
        }
        if let admin = self.admin, let owner = self.listenerAddresses[admin.value.address] {
            walker.error(
                "admin address \(admin.value.address) is already used by listener '\(owner.name)' at \(owner.location)",
                at: admin.location)
        }
        guard walker.diagnostics.isEmpty, let listeners, let clusters, let routes else { return nil }
        return GatehouseConfiguration(
            listeners: listeners, admin: self.admin?.value, accessLog: self.accessLog, clusters: clusters,
            routes: routes, trustedProxies: self.trustedProxies, exposeDetails: self.exposeDetails,
            gatewayName: self.gatewayName, requestLimits: self.requestLimits, alerts: self.alerts, storage: self.storage,
            tracing: self.tracing, clientTimeouts: self.clientTimeouts, cache: self.cache)
    }

    mutating func readListeners(_ value: Value) {
        guard let items = value.sequence(nonEmpty: true) else { return }
        var listeners: [Listener] = []
        var names: [String: SourceLocation] = [:]
        for item in items {
            var draft = ListenerDraft()
            item.walk(fields: ListenerDraft.fields, into: &draft)
            if let name = draft.name {
                if let first = names[name.value] {
                    item.walker.error(
                        "duplicate listener name '\(name.value)' (already used at \(first))", at: name.location)
                }
                names[name.value] = names[name.value] ?? name.location
            }
            guard let name = draft.name?.value, let address = draft.address else { continue }
            // Port 0 asks the kernel for a free port, so two such listeners never clash.
            if address.value.port != 0, let first = self.listenerAddresses[address.value] {
                item.walker.error(
                    "duplicate listener address \(address.value) (already used by listener '\(first.name)' at \(first.location))",
                    at: address.location)
            } else if address.value.port != 0 {
                self.listenerAddresses[address.value] = (name, address.location)
            }
            listeners.append(
                Listener(name: name, address: address.value, maxConnections: draft.maxConnections, tls: draft.tls))
        }
        self.listeners = listeners
    }

    mutating func readAdmin(_ value: Value) {
        var draft = AdminDraft()
        value.walk(fields: AdminDraft.fields, into: &draft)
        guard let address = draft.address else { return }
        let admin = Admin(address: address.value, tokenFile: draft.tokenFile)
        // The admin API can drain servers and reload the config: never open to the network unguarded.
        if !admin.isLoopback && !draft.tokenFileGiven {
            value.walker.error(
                "admin address \(address.value) is not loopback: set token_file (a file holding a bearer token) or listen on 127.0.0.1",
                at: address.location)
        }
        self.admin = Located(value: admin, location: address.location)
    }

    struct AdminDraft {
        var address: Located<HostPort>?
        var tokenFile: String?
        /// Whether token_file was written, valid or not (a wrong one has its own error).
        var tokenFileGiven = false

        static let fields: [Field<AdminDraft>] = [
            Field("address", .hostPort, required: true, doc: "host:port of the admin listener; loopback unless token_file is set.") {
                draft, value in
                draft.address = value.hostPort(ports: 1...65535).map { value.at($0) }
            },
            Field(
                "token_file", .nonEmptyText,
                doc: "A file holding the bearer token that admin requests must carry; required off loopback."
            ) { draft, value in
                draft.tokenFileGiven = true
                draft.tokenFile = value.nonEmptyString()
            },
        ]
    }

    mutating func readRoutes(_ value: Value) {
        guard let items = value.sequence(nonEmpty: true) else { return }
        var routes: [Route] = []
        for item in items {
            var draft = RouteDraft()
            item.walk(fields: RouteDraft.fields, into: &draft)
            if draft.stripPrefix, let rewrite = draft.rewritePrefix {
                item.walker.error(
                    "strip_prefix and rewrite_prefix cannot be combined (rewrite_prefix: / strips the prefix)",
                    at: rewrite.location)
            }
            guard let cluster = draft.cluster else { continue }
            self.clusterReferences.append((cluster.value, cluster.location))
            routes.append(
                Route(
                    name: draft.name ?? item.subject, match: draft.match, cluster: cluster.value,
                    stripPrefix: draft.stripPrefix, rewritePrefix: draft.rewritePrefix?.value,
                    hostRewrite: draft.hostRewrite, rateLimit: draft.rateLimit, cache: draft.cache))
        }
        self.routes = routes
    }

    /// An IPv4 or IPv6 address, optionally with a prefix length.
    static let addressRangeShape = ValueShape.pattern(
        "^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$", hint: "an IP address or a CIDR range, like 10.0.0.0/8", sample: "127.0.0.1/32")

    static func addressRanges(_ value: Value) -> [AddressRange] {
        guard let items = value.sequence(nonEmpty: false) else { return [] }
        return items.compactMap { item -> AddressRange? in
            guard let text = item.string() else { return nil }
            do throws(InvalidValue) {
                return try ValueSyntax.addressRange(text)
            } catch {
                item.error("invalid address range '\(text)': \(error.reason)")
                return nil
            }
        }
    }

    /// A name that goes into headers (`Via`, `Proxy-Status`), so it must be a plain token.
    static func token(_ value: Value) -> String? {
        guard let text = value.nonEmptyString() else { return nil }
        guard ValueSyntax.isToken(text) else {
            value.error("\(value.subject) may only contain letters, digits, '-', '.' and '_', got '\(text)'")
            return nil
        }
        return text
    }
}

/// A listener entry while it is read.
struct ListenerDraft {
    var name: Located<String>?
    var address: Located<HostPort>?
    var maxConnections = 0
    var tls: ListenerTLS?

    static let fields: [Field<ListenerDraft>] = [
        Field("name", .nonEmptyText, required: true, doc: "The listener's name, unique, used in logs and metrics.") {
            draft, value in draft.name = value.nonEmptyString().map { value.at($0) }
        },
        Field("address", .hostPort, required: true, doc: "host:port to listen on; port 0 asks for a free port.") {
            draft, value in
            draft.address = value.hostPort(ports: 0...65535).map { value.at($0) }
        },
        Field(
            "max_connections", .integer(0...Int.max),
            doc: "Open downstream connections beyond which new ones are answered 503 and closed (0 = unlimited)."
        ) { $0.maxConnections = $1.int(0...Int.max) ?? $0.maxConnections },
        Field(
            "tls", .mapping(ListenerTLSDraft.fields),
            doc: "TLS termination: certificates chosen by SNI, minimum version, ALPN (plain HTTP when absent)."
        ) { $0.tls = ListenerTLSDraft.read($1) },
    ]
}

/// The `access_log` section while it is read.
enum AccessLogDraft {
    static let fields: [Field<AccessLogTarget?>] = [
        Field("path", .nonEmptyText, required: true, doc: "stdout, off, or a file path to append to.") { target, value in
            target = value.nonEmptyString().map { path in
                switch path {
                case "stdout": .stdout
                case "off": .off
                default: .file(path)
                }
            }
        }
    ]

    static func read(_ value: Value) -> AccessLogTarget? {
        var target: AccessLogTarget?
        value.walk(fields: Self.fields, into: &target)
        return target
    }
}

extension RequestLimits {
    static let fields: [Field<RequestLimits>] = [
        Field(
            "max_header_bytes", .size(1024...Int64(Int.max)),
            doc: "Largest request head (request line + headers) accepted. Beyond it: 431."
        ) { $0.maxHeaderBytes = $1.size(1024...Int64(Int.max)).map(Int.init) ?? $0.maxHeaderBytes },
        Field(
            "max_body_bytes", .size(0...Int64.max),
            doc: "Largest request body accepted (0 = unlimited, streamed). Beyond it: 413."
        ) { $0.maxBodyBytes = $1.size(0...Int64.max) ?? $0.maxBodyBytes },
        Field(
            "max_request_line_bytes", .size(256...Int64(Int.max)),
            doc: "Longest request target accepted. Beyond it: 414."
        ) { $0.maxRequestLineBytes = $1.size(256...Int64(Int.max)).map(Int.init) ?? $0.maxRequestLineBytes },
        Field(
            "max_header_count", .integer(1...65_000),
            doc: "Most header fields in a request head (trailers included). Beyond it: 431."
        ) { $0.maxHeaderCount = $1.int(1...65_000) ?? $0.maxHeaderCount },
        Field(
            "max_pipelined_requests", .integer(0...10_000),
            doc: "Most requests a client may pipeline behind the one being answered; the next is answered 503."
        ) { $0.maxPipelinedRequests = $1.int(0...10_000) ?? $0.maxPipelinedRequests },
    ]
}

/// A route entry while it is read.
struct RouteDraft {
    var name: String?
    var match = Route.Match()
    var cluster: Located<String>?
    var stripPrefix = false
    var rewritePrefix: Located<String>?
    var hostRewrite = Route.HostRewrite.preserve
    var rateLimit: RateLimit?
    var cache: RouteCache?

    static let fields: [Field<RouteDraft>] = [
        Field("name", .nonEmptyText, doc: "The route's name in logs and metrics (default routes[N]).") {
            $0.name = $1.nonEmptyString()
        },
        Field(
            "match", section: Route.Match.fields, into: \.match,
            doc: "What requests the route takes; all of them when empty."),
        Field("cluster", .nonEmptyText, required: true, doc: "The cluster that serves the route's requests.") {
            draft, value in
            draft.cluster = value.nonEmptyString().map { value.at($0) }
        },
        Field("strip_prefix", .boolean, doc: "Remove match.path_prefix from the path sent upstream.") {
            $0.stripPrefix = $1.bool() ?? false
        },
        Field("rewrite_prefix", .pathPrefix, doc: "Replace match.path_prefix with this in the path sent upstream.") {
            draft, value in draft.rewritePrefix = Self.pathPrefix(value).map { value.at($0) }
        },
        Field(
            "host_rewrite", .nonEmptyText,
            doc: "The Host sent upstream: preserve (the client's, default), upstream (the server's host:port) or a fixed host."
        ) { $0.hostRewrite = Self.hostRewrite($1) ?? $0.hostRewrite },
        Field(
            "rate_limit", .mapping(RateLimitDraft.fields),
            doc: "A token bucket per client address or header value, shared by all event loops; beyond it: 429 http_request_denied."
        ) { $0.rateLimit = RateLimitDraft.read($1) },
        Field(
            "cache", RouteCache.shape,
            doc: "Cache GET/HEAD responses (RFC 9111 shared cache): true, false, or {stale_if_error, stale_while_revalidate, coalesce_timeout}."
        ) { $0.cache = RouteCache.read($1) },
    ]

    static func pathPrefix(_ value: Value) -> String? {
        guard let text = value.string() else { return nil }
        guard text.hasPrefix("/"), !text.contains(where: { $0.isWhitespace || $0 == "?" || $0 == "#" }) else {
            value.error("\(value.subject) must be a path starting with '/' (no spaces, '?' or '#'), got '\(text)'")
            return nil
        }
        return text
    }

    static func hostRewrite(_ value: Value) -> Route.HostRewrite? {
        guard let text = value.nonEmptyString() else { return nil }
        switch text {
        case "preserve": return .preserve
        case "upstream": return .upstream
        default:
            if (try? ValueSyntax.checkHostName(text)) != nil
                || (try? ValueSyntax.hostPort(text, ports: 1...65535)) != nil
            {
                return .fixed(text)
            }
            value.error(
                "expected preserve, upstream or a host such as api.example.com for \(value.subject), got '\(text)'")
            return nil
        }
    }
}

extension Route.Match {
    static let fields: [Field<Route.Match>] = [
        Field("host", .nonEmptyText, doc: "An exact host (shop.example.com) or *.example.com for any subdomain.") {
            $0.host = Self.host($1)
        },
        Field("path_prefix", .pathPrefix, doc: "Paths starting with this (a plain byte prefix).") {
            $0.pathPrefix = RouteDraft.pathPrefix($1) ?? $0.pathPrefix
        },
    ]

    /// An exact host or `*.suffix`, lowercased because Host matching is case-insensitive.
    static func host(_ value: Value) -> String? {
        guard let text = value.nonEmptyString() else { return nil }
        let name = text.hasPrefix("*.") ? String(text.dropFirst(2)) : text
        guard (try? ValueSyntax.checkHostName(name)) != nil else {
            value.error("expected a host such as shop.example.com or *.example.com for \(value.subject), got '\(text)'")
            return nil
        }
        return text.lowercased()
    }
}
