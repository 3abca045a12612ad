import Yams

// The response cache's settings: one byte budget for the whole gateway (top-level `cache:`), and per
// route whether it caches and how long a stale copy may stand in for a failing upstream.

/// The top-level `cache` section: the in-memory store shared by every caching route.
public struct CacheStorage: Sendable, Equatable {
    /// The store's byte budget (bodies and headers); least recently used entries go beyond it.
    public var maxBytes: Int64 = 64 * 1024 * 1024
    /// The largest response kept; a larger one streams to its client and is not stored.
    public var maxObjectBytes: Int64 = 1024 * 1024

    public init(maxBytes: Int64 = 64 * 1024 * 1024, maxObjectBytes: Int64 = 1024 * 1024) {
        self.maxBytes = maxBytes
        self.maxObjectBytes = maxObjectBytes
    }
}

/// A route's `cache`: present when the route caches (RFC 9111 shared cache).
public struct RouteCache: Sendable, Equatable {
    /// How long past its freshness a stored response may be served when the upstream fails (a
    /// Proxy-Status error or a 5xx), when the response itself carries no `stale-if-error`.
    public var staleIfError: Duration = .seconds(300)
    /// How long past its freshness a stored response may be served while one request revalidates
    /// it, when the response carries no `stale-while-revalidate`.
    public var staleWhileRevalidate: Duration = .zero
    /// How long a waiting request may wait for an identical request already under way before it
    /// goes upstream itself (request coalescing).
    public var coalesceTimeout: Duration = .seconds(5)

    public init(
        staleIfError: Duration = .seconds(300), staleWhileRevalidate: Duration = .zero,
        coalesceTimeout: Duration = .seconds(5)
    ) {
        self.staleIfError = staleIfError
        self.staleWhileRevalidate = staleWhileRevalidate
        self.coalesceTimeout = coalesceTimeout
    }
}

extension CacheStorage {
    static let fields: [Field<CacheStorage>] = [
        Field(
            "max_bytes", .size(1024...Int64.max),
            doc: "The byte budget of the in-memory response cache shared by caching routes (default 64MiB)."
        ) { $0.maxBytes = $1.size(1024...Int64.max) ?? $0.maxBytes },
        Field(
            "max_object_bytes", .size(1...Int64.max),
            doc: "The largest response stored (default 1MiB); larger ones stream through uncached."
        ) { $0.maxObjectBytes = $1.size(1...Int64.max) ?? $0.maxObjectBytes },
    ]

    /// The section; a max_object_bytes above max_bytes is no error (each alone has a sensible
    /// default): a response larger than the whole budget is simply never stored.
    static func read(_ value: Value) -> CacheStorage {
        var storage = CacheStorage()
        value.walk(fields: Self.fields, into: &storage)
        return storage
    }
}

extension RouteCache {
    static let fields: [Field<RouteCache>] = [
        Field(
            "stale_if_error", .durationOrZero,
            doc: "How long past freshness a stored copy may answer instead of an upstream error, when the response sends no stale-if-error (default 5m; 0 = only when it does)."
        ) { $0.staleIfError = $1.duration(allowingZero: true) ?? $0.staleIfError },
        Field(
            "stale_while_revalidate", .durationOrZero,
            doc: "How long past freshness a stored copy may answer while one request revalidates it, when the response sends no stale-while-revalidate (default 0)."
        ) { $0.staleWhileRevalidate = $1.duration(allowingZero: true) ?? $0.staleWhileRevalidate },
        Field(
            "coalesce_timeout", .duration,
            doc: "How long a request waits for an identical one already going upstream before it goes itself (default 5s)."
        ) { $0.coalesceTimeout = $1.duration() ?? $0.coalesceTimeout },
    ]

    /// `true` (the defaults), `false` (no caching) or a mapping of the fields.
    static let shape = ValueShape.anyOf(.boolean, .mapping(Self.fields))

    static func read(_ value: Value) -> RouteCache? {
        if case .scalar = value.node {
            return (value.bool() ?? false) ? RouteCache() : nil
        }
        var cache = RouteCache()
        value.walk(fields: Self.fields, into: &cache)
        return cache
    }
}
