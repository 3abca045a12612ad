import NIOCore
import NIOHTTP1

/// A stored response with the times its freshness is computed from (RFC 9111 §4.2). Times are
/// wall-clock epoch seconds, because `Date`, `Expires` and `Age` are; the clock is always passed in.
struct CachedResponse: Sendable {
    var status: HTTPResponseStatus
    /// The upstream's header fields, without framing, hop-by-hop, `Age` and `X-Request-Id` (each
    /// answer gets its own).
    var headers: HTTPHeaders
    var body: ByteBuffer
    /// When the request that fetched (or last revalidated) it was sent, and when its answer came.
    var requestTime: Double
    var responseTime: Double
    /// §4.2.3 `corrected_initial_age`: the age it already had when it arrived.
    var correctedInitialAge: Double
    /// §4.2.1: how long it is fresh, from s-maxage, max-age or Expires − Date.
    var freshnessLifetime: Double
    /// Past freshness, how long it may answer instead of an upstream error (RFC 5861), and while
    /// one request revalidates it: the response's own directives, else the route's defaults.
    var staleIfError: Double
    var staleWhileRevalidate: Double
    /// False when a directive forbids any stale use (must-revalidate, proxy-revalidate, no-cache,
    /// or s-maxage without an explicit stale extension).
    var mayServeStale: Bool
    /// `no-cache`: stored, but every use needs a successful revalidation first.
    var alwaysRevalidate: Bool
    var etag: String?
    var lastModified: String?
    /// Lower-cased `Vary` field names and, for each, the request's value when stored (nil: absent).
    var varyNames: [String]
    var varyValues: [String?]

    /// Bytes charged to the store's budget: the body, the fields, and a fixed overhead.
    var size: Int {
        var size = self.body.readableBytes + 256
        for (name, value) in self.headers { size += name.utf8.count + value.utf8.count + 4 }
        return size
    }

    /// §4.2.3 `current_age`.
    func age(at now: Double) -> Double {
        self.correctedInitialAge + max(0, now - self.responseTime)
    }

    /// Seconds past freshness (negative while fresh).
    func staleness(at now: Double) -> Double {
        self.age(at: now) - self.freshnessLifetime
    }

    /// Whether the request's selecting fields match the ones this variant was stored for (§4.1).
    func matches(_ request: HTTPHeaders) -> Bool {
        for (index, name) in self.varyNames.enumerated() where Self.varyValue(name, in: request) != self.varyValues[index] {
            return false
        }
        return true
    }

    /// A request's value of a selecting field, normalised: every field line joined, spaces around
    /// commas removed, so `gzip, br` and `gzip,br` select the same variant.
    static func varyValue(_ name: String, in request: HTTPHeaders) -> String? {
        let values = request[name]
        guard !values.isEmpty else { return nil }
        return values.flatMap { $0.split(separator: ",") }
            .map { part in
                var trimmed = part
                while let first = trimmed.first, first == " " || first == "\t" { trimmed = trimmed.dropFirst() }
                while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
                return String(trimmed)
            }
            .joined(separator: ",")
    }
}
