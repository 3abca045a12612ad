import GatehouseConfig
import NIOCore
import NIOHTTP1

/// The rules of a shared cache (RFC 9111), as pure functions of the messages and the time: what
/// may be stored, for how long it is fresh, when a stored response may answer, when it may stand
/// in for an upstream error. The handler feeds messages in; nothing here does I/O.
///
/// Deliberately conservative, because a shared cache that answers one client with another's
/// response is worse than no cache:
/// - only GET responses are stored, only with explicit freshness (s-maxage, max-age or Expires;
///   no heuristic freshness), only the statuses of RFC 9110 §15.1 that are cacheable by default;
/// - never `private`, `no-store` (request or response), `Vary: *`, a `Set-Cookie` response, a
///   partial (206 / `Content-Range`) one, or one with trailers;
/// - a request with `Authorization` only when the response says `public`, `s-maxage` or
///   `must-revalidate` (§3.5).
enum CachePolicy {
    /// Statuses heuristically cacheable (RFC 9110 §15.1) less 206: the ones a shared cache may keep.
    static let cacheableStatuses: Set<UInt> = [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]

    /// Why a response is not stored (nil: it may be).
    enum NotStored: String, Sendable, Equatable {
        case method, requestNoStore = "request-no-store", noStore = "no-store", isPrivate = "private", status
        case authorization, varyAll = "vary-star", setCookie = "set-cookie", noFreshness = "no-freshness"
        case partial, tooLarge = "too-large"
    }

    /// Whether the response to this request may be stored.
    static func notStored(
        method: HTTPMethod, request: HTTPHeaders, requestControl: CacheControl, status: UInt, response: HTTPHeaders,
        responseControl: CacheControl, maxObjectBytes: Int64
    ) -> NotStored? {
        if method != .GET { return .method }
        if requestControl.noStore { return .requestNoStore }
        if responseControl.noStore { return .noStore }
        if responseControl.isPrivate { return .isPrivate }
        if !Self.cacheableStatuses.contains(status) { return .status }
        if request.contains(name: "authorization"),
            !(responseControl.isPublic || responseControl.mustRevalidate || responseControl.sharedMaxAge != nil)
        {
            return .authorization
        }
        if Self.varyNames(response) == nil { return .varyAll }
        if response.contains(name: "set-cookie") { return .setCookie }
        if response.contains(name: "content-range") { return .partial }
        if responseControl.sharedMaxAge == nil, responseControl.maxAge == nil, !response.contains(name: "expires") {
            return .noFreshness
        }
        if let length = response.first(name: "content-length").flatMap({ Int64($0) }), length > maxObjectBytes {
            return .tooLarge
        }
        return nil
    }

    /// The lower-cased field names of `Vary`, nil for `Vary: *` (never matches a later request).
    static func varyNames(_ response: HTTPHeaders) -> [String]? {
        var names: [String] = []
        for field in response[canonicalForm: "vary"] {
            for name in CacheControl.split(String(field)) {
                if name == "*" { return nil }
                let lower = name.lowercased()
                if !names.contains(lower) { names.append(lower) }
            }
        }
        return names
    }

    /// The entry for a response that may be stored.
    ///
    /// - Parameters:
    ///   - requestTime: when the request went upstream; `responseTime`: when the head came back.
    static func entry(
        request: HTTPHeaders, status: HTTPResponseStatus, response: HTTPHeaders, body: ByteBuffer, requestTime: Double,
        responseTime: Double, route: RouteCache
    ) -> CachedResponse {
        var headers = HTTPHeaders()
        for (name, value) in response where !Self.isNotStoredField(name) { headers.add(name: name, value: value) }
        let control = CacheControl(response)
        let names = Self.varyNames(response) ?? []
        var entry = CachedResponse(
            status: status, headers: headers, body: body, requestTime: requestTime, responseTime: responseTime,
            correctedInitialAge: 0, freshnessLifetime: 0, staleIfError: 0, staleWhileRevalidate: 0, mayServeStale: false,
            alwaysRevalidate: false, etag: response.first(name: "etag"), lastModified: response.first(name: "last-modified"),
            varyNames: names, varyValues: names.map { CachedResponse.varyValue($0, in: request) })
        Self.computeFreshness(&entry, control: control, age: Self.ageValue(response), route: route)
        return entry
    }

    /// Freshening after a 304 (§4.3.4): the 304's fields replace the stored ones of the same name
    /// (framing fields excepted), and the times start again from this exchange.
    static func freshened(
        _ stored: CachedResponse, notModified: HTTPHeaders, requestTime: Double, responseTime: Double, route: RouteCache
    ) -> CachedResponse {
        var entry = stored
        var replaced = Set<String>()
        for (name, _) in notModified where !Self.isNotStoredField(name) && name.lowercased() != "content-length" {
            replaced.insert(name.lowercased())
        }
        var headers = HTTPHeaders()
        for (name, value) in stored.headers where !replaced.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        for (name, value) in notModified where replaced.contains(name.lowercased()) {
            headers.add(name: name, value: value)
        }
        entry.headers = headers
        entry.requestTime = requestTime
        entry.responseTime = responseTime
        entry.etag = headers.first(name: "etag")
        entry.lastModified = headers.first(name: "last-modified")
        Self.computeFreshness(&entry, control: CacheControl(headers), age: Self.ageValue(notModified), route: route)
        return entry
    }

    /// `Age` as received (the stored fields leave it out: each answer gets its own).
    private static func ageValue(_ headers: HTTPHeaders) -> Double {
        headers.first(name: "age").flatMap { CacheControl.seconds(Substring($0)) }.map(Double.init) ?? 0
    }

    private static func computeFreshness(_ entry: inout CachedResponse, control: CacheControl, age ageValue: Double, route: RouteCache) {
        let headers = entry.headers
        let date = headers.first(name: "date").flatMap(HTTPDate.parse).map(Double.init) ?? entry.responseTime
        // §4.2.1: s-maxage, then max-age, then Expires − Date; an invalid Expires is in the past.
        if let shared = control.sharedMaxAge {
            entry.freshnessLifetime = Double(shared)
        } else if let maxAge = control.maxAge {
            entry.freshnessLifetime = Double(maxAge)
        } else if let expires = headers.first(name: "expires") {
            entry.freshnessLifetime = HTTPDate.parse(expires).map { max(0, Double($0) - date) } ?? 0
        } else {
            entry.freshnessLifetime = 0
        }
        // §4.2.3.
        let apparentAge = max(0, entry.responseTime - date)
        let responseDelay = max(0, entry.responseTime - entry.requestTime)
        entry.correctedInitialAge = max(apparentAge, ageValue + responseDelay)
        entry.alwaysRevalidate = control.noCache
        // s-maxage implies proxy-revalidate (§5.2.2.10) unless the origin allows stale use explicitly.
        let explicit = control.staleIfError != nil || control.staleWhileRevalidate != nil
        entry.mayServeStale =
            !control.mustRevalidate && !control.proxyRevalidate && !control.noCache
            && (control.sharedMaxAge == nil || explicit)
        entry.staleIfError = control.staleIfError.map(Double.init) ?? Self.seconds(route.staleIfError)
        entry.staleWhileRevalidate = control.staleWhileRevalidate.map(Double.init) ?? Self.seconds(route.staleWhileRevalidate)
    }

    /// Fields the store never keeps: framing and hop-by-hop ones (the answer gets its own), `Age`
    /// (computed per answer) and `X-Request-Id` (the request's, not the response's).
    static func isNotStoredField(_ name: String) -> Bool {
        switch name.lowercased() {
        case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
            "content-length", "age", "x-request-id", "proxy-authenticate":
            return true
        default:
            return false
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: - Using a stored response

    /// What a request may do with the stored response it selects.
    enum Use: Sendable, Equatable {
        /// Answer with it: fresh (or stale within the client's `max-stale`).
        case fresh
        /// Stale, within stale-while-revalidate: answer with it unless nobody is revalidating yet.
        case staleWhileRevalidate
        /// It needs a successful revalidation first (stale, `no-cache`, or the client asked).
        case revalidate
    }

    /// §4 and §5.2.1: the request's own directives, then the response's freshness.
    static func use(_ entry: CachedResponse, request: CacheControl, now: Double) -> Use {
        if request.noCache || entry.alwaysRevalidate { return .revalidate }
        let age = entry.age(at: now)
        if let maxAge = request.maxAge, age > Double(maxAge) { return .revalidate }
        let remaining = entry.freshnessLifetime - age
        if let minFresh = request.minFresh, remaining < Double(minFresh) { return .revalidate }
        if remaining > 0 { return .fresh }
        guard entry.mayServeStale else { return .revalidate }
        if let maxStale = request.maxStale, -remaining <= Double(maxStale) { return .fresh }
        if -remaining <= entry.staleWhileRevalidate { return .staleWhileRevalidate }
        return .revalidate
    }

    /// Whether the stored response may answer instead of an upstream failure at `now` (RFC 5861
    /// §4): within its stale-if-error window, no directive forbidding stale use, and not a client
    /// that asked for a validated answer (`no-cache`).
    static func mayServeOnError(_ entry: CachedResponse, request: CacheControl, now: Double) -> Bool {
        guard !request.noCache, !entry.alwaysRevalidate else { return false }
        let staleness = entry.staleness(at: now)
        if staleness <= 0 { return true }
        return entry.mayServeStale && staleness <= entry.staleIfError
    }

    /// The conditional fields for revalidating `entry` (§4.3.1), nil when it has no validator.
    static func validators(_ entry: CachedResponse) -> [(String, String)]? {
        var fields: [(String, String)] = []
        if let etag = entry.etag { fields.append(("If-None-Match", etag)) }
        if let lastModified = entry.lastModified { fields.append(("If-Modified-Since", lastModified)) }
        return fields.isEmpty ? nil : fields
    }

    /// Whether the client's own conditional request is satisfied by `entry` (RFC 9110 §13.1.2 and
    /// §13.1.3, weak comparison): the answer is then 304.
    static func isNotModified(_ entry: CachedResponse, request: HTTPHeaders) -> Bool {
        let noneMatch = request[canonicalForm: "if-none-match"]
        if !noneMatch.isEmpty {
            guard let etag = entry.etag else { return false }
            let stored = Self.opaqueTag(Substring(etag))
            // `canonicalForm` has already split the lists at their commas.
            return noneMatch.contains { $0 == "*" || Self.opaqueTag($0) == stored }
        }
        guard let since = request.first(name: "if-modified-since").flatMap(HTTPDate.parse),
            let modified = entry.lastModified.flatMap(HTTPDate.parse)
        else { return false }
        return modified <= since
    }

    /// An entity tag without its weakness prefix.
    private static func opaqueTag(_ tag: Substring) -> Substring {
        var trimmed = tag
        while let first = trimmed.first, first == " " { trimmed = trimmed.dropFirst() }
        while let last = trimmed.last, last == " " { trimmed = trimmed.dropLast() }
        return trimmed.hasPrefix("W/") ? trimmed.dropFirst(2) : trimmed
    }
}
