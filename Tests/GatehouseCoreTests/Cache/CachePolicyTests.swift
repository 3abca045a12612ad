import GatehouseConfig
import NIOCore
import NIOHTTP1
import Testing

@testable import GatehouseCore

/// The shared-cache rules as pure functions of messages and an injected clock (RFC 9111, RFC 5861).
@Suite struct CachePolicyTests {
    /// 2026-11-21T00:00:00Z.
    static let t0 = Double(HTTPDate.parse("Sat, 21 Nov 2026 00:00:00 GMT") ?? 0)
    static let route = RouteCache(staleIfError: .seconds(300), staleWhileRevalidate: .zero)

    static func headers(_ pairs: [(String, String)]) -> HTTPHeaders { HTTPHeaders(pairs) }

    static func entry(_ response: [(String, String)], request: [(String, String)] = [], at time: Double = t0) -> CachedResponse {
        var fields = response
        if !fields.contains(where: { $0.0.lowercased() == "date" }) { fields.append(("Date", HTTPDate.format(Int64(time)))) }
        return CachePolicy.entry(
            request: headers(request), status: .ok, response: headers(fields), body: ByteBuffer(string: "body"),
            requestTime: time, responseTime: time, route: route)
    }

    static func notStored(
        method: HTTPMethod = .GET, request: [(String, String)] = [], status: UInt = 200, response: [(String, String)]
    ) -> CachePolicy.NotStored? {
        let requestHeaders = headers(request)
        let responseHeaders = headers(response)
        return CachePolicy.notStored(
            method: method, request: requestHeaders, requestControl: CacheControl(requestHeaders), status: status,
            response: responseHeaders, responseControl: CacheControl(responseHeaders), maxObjectBytes: 1024)
    }

    @Test func httpDatesParseInAllThreeFormsAndFormatBack() {
        let imf = HTTPDate.parse("Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(imf == 784_111_777)
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == imf)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == imf)
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.parse("0") == nil)
        #expect(HTTPDate.parse("yesterday") == nil)
    }

    @Test func cacheControlDirectivesAreReadFromEveryFieldLine() {
        let control = CacheControl(
            Self.headers([("Cache-Control", "public, max-age=60"), ("cache-control", "s-maxage=\"30\", stale-if-error=600, x-unknown")]))
        #expect(control.isPublic)
        #expect(control.maxAge == 60)
        #expect(control.sharedMaxAge == 30)
        #expect(control.staleIfError == 600)
        // An invalid or repeated lifetime takes the stale reading.
        #expect(CacheControl(Self.headers([("Cache-Control", "max-age=abc")])).maxAge == 0)
        #expect(CacheControl(Self.headers([("Cache-Control", "max-age=60, max-age=10")])).maxAge == 10)
    }

    @Test(arguments: [
        ([("Cache-Control", "max-age=60")], [(String, String)](), HTTPMethod.GET, UInt(200), nil),
        ([("Cache-Control", "no-store, max-age=60")], [], .GET, 200, CachePolicy.NotStored.noStore),
        ([("Cache-Control", "private, max-age=60")], [], .GET, 200, .isPrivate),
        ([("Cache-Control", "max-age=60")], [("Cache-Control", "no-store")], .GET, 200, .requestNoStore),
        ([("Cache-Control", "max-age=60")], [], .POST, 200, .method),
        ([("Cache-Control", "max-age=60")], [], .HEAD, 200, .method),
        ([("Cache-Control", "max-age=60")], [], .GET, 500, .status),
        ([("Cache-Control", "max-age=60")], [], .GET, 206, .status),
        ([("Cache-Control", "max-age=60")], [("Authorization", "Bearer x")], .GET, 200, .authorization),
        ([("Cache-Control", "public, max-age=60")], [("Authorization", "Bearer x")], .GET, 200, nil),
        ([("Cache-Control", "s-maxage=60")], [("Authorization", "Bearer x")], .GET, 200, nil),
        ([("Cache-Control", "max-age=60"), ("Vary", "*")], [], .GET, 200, .varyAll),
        ([("Cache-Control", "max-age=60"), ("Set-Cookie", "a=b")], [], .GET, 200, .setCookie),
        ([("ETag", "\"a\"")], [], .GET, 200, .noFreshness),
        ([("Expires", "Sat, 21 Nov 2026 00:10:00 GMT")], [], .GET, 404, nil),
        ([("Cache-Control", "max-age=60"), ("Content-Length", "4096")], [], .GET, 200, .tooLarge),
    ] as [([(String, String)], [(String, String)], HTTPMethod, UInt, CachePolicy.NotStored?)])
    func storability(response: [(String, String)], request: [(String, String)], method: HTTPMethod, status: UInt, expected: CachePolicy.NotStored?) {
        #expect(Self.notStored(method: method, request: request, status: status, response: response) == expected)
    }

    @Test func freshnessComesFromSharedMaxAgeThenMaxAgeThenExpires() {
        #expect(Self.entry([("Cache-Control", "max-age=60, s-maxage=10")]).freshnessLifetime == 10)
        #expect(Self.entry([("Cache-Control", "max-age=60")]).freshnessLifetime == 60)
        #expect(Self.entry([("Expires", HTTPDate.format(Int64(Self.t0) + 120))]).freshnessLifetime == 120)
        // An invalid Expires is a time in the past.
        #expect(Self.entry([("Expires", "0")]).freshnessLifetime == 0)
    }

    @Test func ageCountsTheAgeItArrivedWithAndTheTimeSinceStored() {
        let entry = Self.entry([("Cache-Control", "max-age=60"), ("Age", "20")])
        #expect(entry.age(at: Self.t0) == 20)
        #expect(entry.age(at: Self.t0 + 15) == 35)
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0 + 39) == .fresh)
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0 + 41) == .revalidate)
    }

    @Test func theRequestsOwnDirectivesCanDemandRevalidation() {
        let entry = Self.entry([("Cache-Control", "max-age=600")])
        func use(_ value: String) -> CachePolicy.Use {
            CachePolicy.use(entry, request: CacheControl(Self.headers([("Cache-Control", value)])), now: Self.t0 + 100)
        }
        #expect(use("no-cache") == .revalidate)
        #expect(use("max-age=50") == .revalidate)
        #expect(use("max-age=500") == .fresh)
        #expect(use("min-fresh=550") == .revalidate)
    }

    @Test func noCacheResponsesAreStoredButAlwaysRevalidated() {
        let entry = Self.entry([("Cache-Control", "no-cache, max-age=600"), ("ETag", "\"v\"")])
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0) == .revalidate)
        #expect(!CachePolicy.mayServeOnError(entry, request: CacheControl(), now: Self.t0 + 700))
    }

    @Test func staleIfErrorWindowsComeFromTheResponseElseTheRoute() {
        let explicit = Self.entry([("Cache-Control", "max-age=10, stale-if-error=60")])
        #expect(CachePolicy.mayServeOnError(explicit, request: CacheControl(), now: Self.t0 + 69))
        #expect(!CachePolicy.mayServeOnError(explicit, request: CacheControl(), now: Self.t0 + 71))
        let routeDefault = Self.entry([("Cache-Control", "max-age=10")])
        #expect(CachePolicy.mayServeOnError(routeDefault, request: CacheControl(), now: Self.t0 + 309))
        #expect(!CachePolicy.mayServeOnError(routeDefault, request: CacheControl(), now: Self.t0 + 311))
        // A client asking for a validated answer does not get a stale one.
        #expect(!CachePolicy.mayServeOnError(
            routeDefault, request: CacheControl(Self.headers([("Cache-Control", "no-cache")])), now: Self.t0 + 20))
    }

    @Test(arguments: ["must-revalidate", "proxy-revalidate", "no-cache"])
    func directivesThatForbidStaleUseWinOverTheRouteDefault(directive: String) {
        let entry = Self.entry([("Cache-Control", "max-age=10, \(directive)")])
        #expect(!CachePolicy.mayServeOnError(entry, request: CacheControl(), now: Self.t0 + 20))
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0 + 20) == .revalidate)
    }

    @Test func sharedMaxAgeForbidsStaleUseUnlessTheOriginAllowsItExplicitly() {
        let implied = Self.entry([("Cache-Control", "s-maxage=10")])
        #expect(!CachePolicy.mayServeOnError(implied, request: CacheControl(), now: Self.t0 + 20))
        let explicit = Self.entry([("Cache-Control", "s-maxage=10, stale-if-error=60")])
        #expect(CachePolicy.mayServeOnError(explicit, request: CacheControl(), now: Self.t0 + 20))
    }

    @Test func staleWhileRevalidateIsAWindowPastFreshness() {
        let entry = Self.entry([("Cache-Control", "max-age=10, stale-while-revalidate=30")])
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0 + 5) == .fresh)
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0 + 20) == .staleWhileRevalidate)
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0 + 41) == .revalidate)
    }

    @Test func varyStoresTheSelectingValuesAndMatchesThemNormalised() {
        let entry = Self.entry(
            [("Cache-Control", "max-age=60"), ("Vary", "Accept-Language, accept-encoding")],
            request: [("Accept-Language", "fr"), ("Accept-Encoding", "gzip, br")])
        #expect(entry.varyNames == ["accept-language", "accept-encoding"])
        #expect(entry.matches(Self.headers([("accept-language", "fr"), ("Accept-Encoding", "gzip,br")])))
        #expect(!entry.matches(Self.headers([("accept-language", "de"), ("Accept-Encoding", "gzip,br")])))
        #expect(!entry.matches(Self.headers([("Accept-Encoding", "gzip,br")])))
    }

    @Test func storedFieldsLeaveOutFramingAgeAndTheRequestID() {
        let entry = Self.entry([
            ("Cache-Control", "max-age=60"), ("Content-Length", "4"), ("Connection", "keep-alive"), ("Age", "3"),
            ("X-Request-Id", "abc"), ("Content-Type", "text/plain"),
        ])
        #expect(entry.headers["content-length"].isEmpty)
        #expect(entry.headers["age"].isEmpty)
        #expect(entry.headers["x-request-id"].isEmpty)
        #expect(entry.headers["connection"].isEmpty)
        #expect(entry.headers.first(name: "content-type") == "text/plain")
    }

    @Test func a304FreshensTheStoredResponse() {
        let entry = Self.entry([("Cache-Control", "max-age=10"), ("ETag", "\"v1\""), ("X-Version", "1")])
        #expect(CachePolicy.use(entry, request: CacheControl(), now: Self.t0 + 100) == .revalidate)
        #expect(CachePolicy.validators(entry)?.first?.1 == "\"v1\"")
        let refreshed = CachePolicy.freshened(
            entry, notModified: Self.headers([("Cache-Control", "max-age=30"), ("Date", HTTPDate.format(Int64(Self.t0) + 100))]),
            requestTime: Self.t0 + 100, responseTime: Self.t0 + 100, route: Self.route)
        #expect(refreshed.freshnessLifetime == 30)
        #expect(CachePolicy.use(refreshed, request: CacheControl(), now: Self.t0 + 110) == .fresh)
        #expect(refreshed.headers.first(name: "x-version") == "1")
        #expect(refreshed.body.readableBytes == 4)
    }

    @Test func theClientsConditionalsAreAnsweredFromTheEntry() {
        let entry = Self.entry([
            ("Cache-Control", "max-age=60"), ("ETag", "W/\"v1\""), ("Last-Modified", "Fri, 20 Nov 2026 00:00:00 GMT"),
        ])
        #expect(CachePolicy.isNotModified(entry, request: Self.headers([("If-None-Match", "\"v0\", \"v1\"")])))
        #expect(CachePolicy.isNotModified(entry, request: Self.headers([("If-None-Match", "*")])))
        #expect(!CachePolicy.isNotModified(entry, request: Self.headers([("If-None-Match", "\"v2\"")])))
        #expect(CachePolicy.isNotModified(entry, request: Self.headers([("If-Modified-Since", "Sat, 21 Nov 2026 00:00:00 GMT")])))
        #expect(!CachePolicy.isNotModified(entry, request: Self.headers([("If-Modified-Since", "Thu, 19 Nov 2026 00:00:00 GMT")])))
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
        #expect(!CachePolicy.isNotModified(
            entry,
            request: Self.headers([("If-None-Match", "\"v2\""), ("If-Modified-Since", "Sat, 21 Nov 2026 00:00:00 GMT")])))
    }
}
