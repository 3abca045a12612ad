import GatehouseConfig
import NIOCore
import NIOHTTP1

/// The cache's part of one exchange on a caching route: what was found, what is being fetched and
/// copied. Exists only for requests of routes with `cache`, so other routes pay one nil check.
/// Loop-bound, like its ``Exchange``.
final class CacheExchange {
    let cache: ResponseCache
    let route: RouteCache
    /// Route, host and target: the primary key (RFC 9111 §2).
    let key: String
    let requestControl: CacheControl
    /// What the request path needs to go on after a coalesced wait.
    let resume: Resume

    /// The variant found for the request, when it could not answer by itself (stale or to
    /// revalidate): revalidated upstream, or kept to answer if the upstream fails.
    var stored: (slot: Int, response: CachedResponse)?
    /// The upstream request carries the stored response's validators (ours, not the client's).
    var revalidating = false
    /// This request fetches the key for others waiting on it (must land the flight).
    var isLeader = false
    /// It already waited for another request once (it never waits twice).
    var waited = false
    var waiterID: Int?
    var waitTimer: Scheduled<Void>?
    /// When the request went upstream (for the stored response's age).
    var requestTime: Double = 0
    var outcome = CacheOutcome.miss
    /// The `Cache-Status` value of the response being forwarded.
    var statusField: String?
    /// The response being copied into the store, within `max_object_bytes`.
    var capture: Capture?
    /// The fields of a 304 answering our revalidation; its end (no body) then answers from the store.
    var notModified: HTTPHeaders?

    /// A forwarded response on its way into the store.
    struct Capture {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
        var responseTime: Double
        var limit: Int
    }

    /// The parts of the request path computed before the cache was consulted.
    struct Resume {
        var entry: RouteTable.Entry
        var target: RequestTarget
        var facts: RequestFraming.Facts
    }

    init(cache: ResponseCache, route: RouteCache, key: String, requestControl: CacheControl, resume: Resume) {
        self.cache = cache
        self.route = route
        self.key = key
        self.requestControl = requestControl
        self.resume = resume
    }

    /// The primary key: the request's host and target, and everything about the route that
    /// decides what the upstream is asked (its name, cluster and rewrites), so two routes — or
    /// one route changed by a reload — never share an entry.
    static func key(route: Route, host: String?, target: String) -> String {
        var key = route.name + "\n" + route.cluster + "\n" + route.match.pathPrefix + "\n"
        key += (route.stripPrefix ? "strip" : "") + "\n" + (route.rewritePrefix ?? "") + "\n"
        switch route.hostRewrite {
        case .preserve: key += "preserve"
        case .upstream: key += "upstream"
        case .fixed(let value): key += "fixed " + value
        }
        return key + "\n" + (host?.lowercased() ?? "") + "\n" + target
    }

    /// `Cache-Status` (RFC 9211) for `gatehouse`.
    static func field(_ gateway: String, _ parameters: String) -> String {
        gateway + "; " + parameters
    }
}

@available(*, unavailable)
extension CacheExchange: Sendable {}
