import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import NIOHTTP1

/// Realistic inputs for the micro-benchmarks, made once through the same code the gateway uses:
/// the configuration through the YAML loader, the route table from it, heads as a browser and a
/// typical origin send them.
enum Fixtures {
    /// Twenty routes, host-specific, wildcard and prefix-only mixed, a catch-all last; four clusters
    /// of eight servers, one per balancing policy the benchmarks measure.
    static let yaml = """
        listeners:
          - name: public
            address: 127.0.0.1:18780
        access_log:
          path: off
        clusters:
          web:
            servers: [\(servers(base: 10))]
            balance: round_robin
          api:
            servers: [\(servers(base: 20, weighted: true))]
            balance: weighted_round_robin
          search:
            servers: [\(servers(base: 30))]
            balance: least_request
          carts:
            servers: [\(servers(base: 40))]
            balance: consistent_hash
            hash_on: { cookie: cart_id }
        routes:
          - { name: shop-api-v2, match: { host: shop.example.com, path_prefix: /api/v2/ }, cluster: api }
          - { name: shop-api, match: { host: shop.example.com, path_prefix: /api/ }, cluster: api }
          - { name: shop-cart, match: { host: shop.example.com, path_prefix: /cart/ }, cluster: carts }
          - { name: shop-search, match: { host: shop.example.com, path_prefix: /search }, cluster: search }
          - { name: shop, match: { host: shop.example.com, path_prefix: / }, cluster: web }
          - { name: admin-api, match: { host: admin.example.com, path_prefix: /api/ }, cluster: api }
          - { name: admin, match: { host: admin.example.com, path_prefix: / }, cluster: web }
          - { name: tenants-api, match: { host: "*.tenants.example.com", path_prefix: /api/ }, cluster: api }
          - { name: tenants, match: { host: "*.tenants.example.com", path_prefix: / }, cluster: web }
          - { name: blog, match: { host: blog.example.com, path_prefix: / }, cluster: web }
          - { name: docs, match: { host: docs.example.com, path_prefix: / }, cluster: web }
          - { name: status, match: { host: status.example.com, path_prefix: / }, cluster: web }
          - { name: cdn, match: { host: "*.cdn.example.net", path_prefix: / }, cluster: web }
          - { name: graphql, match: { path_prefix: /graphql }, cluster: api }
          - { name: auth, match: { path_prefix: /auth/ }, cluster: api }
          - { name: uploads, match: { path_prefix: /uploads/ }, cluster: web }
          - { name: static, match: { path_prefix: /static/ }, cluster: web }
          - { name: assets, match: { path_prefix: /assets/ }, cluster: web }
          - { name: healthz, match: { path_prefix: /healthz }, cluster: web }
          - { name: default, match: { path_prefix: / }, cluster: web }
        """

    /// `127.0.0.<base+i>:8080` × 8 (addresses are only parsed here, never connected to).
    static func servers(base: Int, weighted: Bool = false) -> String {
        (1...8).map { index in
            let weight = weighted ? ", weight: \(index % 3 + 1)" : ""
            return "{ address: \"127.0.0.\(base + index):8080\"\(weight) }"
        }.joined(separator: ", ")
    }

    static let configuration: GatehouseConfiguration = {
        do {
            return try ConfigurationLoader.parse(yaml: Fixtures.yaml, file: "benchmarks.yaml")
        } catch {
            fatalError("benchmark configuration does not load: \(error)")
        }
    }()

    static let routeTable = RouteTable(routes: configuration.routes, clusters: configuration.clusters)

    /// Lookups spread over the table: early, middle, wildcard with port, prefix-only, catch-all.
    static let lookups: [(host: String?, path: String)] = [
        ("shop.example.com", "/api/v2/orders/8812?expand=items"),
        ("shop.example.com", "/product/blue-kettle"),
        ("Shop.Example.com:443", "/cart/add"),
        ("acme.tenants.example.com", "/api/users/17"),
        ("eu-1.cdn.example.net", "/img/hero.webp"),
        ("www.example.org", "/static/app.3f9c1.js"),
        ("www.example.org", "/healthz"),
        ("203.0.113.9:8080", "/favicon.ico"),
    ]

    /// A browser's navigation request: 13 header fields.
    static let browserRequest: HTTPRequestHead = {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "shop.example.com")
        headers.add(
            name: "User-Agent",
            value: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
        headers.add(name: "Accept", value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        headers.add(name: "Accept-Language", value: "en-GB,en;q=0.7,de;q=0.3")
        headers.add(name: "Accept-Encoding", value: "gzip, deflate, br, zstd")
        headers.add(name: "Referer", value: "https://shop.example.com/category/kitchen")
        headers.add(name: "Cookie", value: "session=9b1f0c2ad4e84f1f8a1c; cart_id=c-48213; theme=dark")
        headers.add(name: "Connection", value: "keep-alive")
        headers.add(name: "Upgrade-Insecure-Requests", value: "1")
        headers.add(name: "Sec-Fetch-Dest", value: "document")
        headers.add(name: "Sec-Fetch-Mode", value: "navigate")
        headers.add(name: "Sec-Fetch-Site", value: "same-origin")
        headers.add(name: "If-None-Match", value: "W/\"5e1-1a2b3c\"")
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: "/product/blue-kettle", headers: headers)
    }()

    /// An origin's 200 for that page: 12 header fields, hop-by-hop ones among them.
    static let originResponse: HTTPResponseHead = {
        var headers = HTTPHeaders()
        headers.add(name: "Date", value: "Sat, 21 Nov 2026 19:45:12 GMT")
        headers.add(name: "Content-Type", value: "text/html; charset=utf-8")
        headers.add(name: "Content-Length", value: "18342")
        headers.add(name: "Cache-Control", value: "private, max-age=0, must-revalidate")
        headers.add(name: "ETag", value: "W/\"47a6-18c2f\"")
        headers.add(name: "Last-Modified", value: "Sat, 21 Nov 2026 18:02:40 GMT")
        headers.add(name: "Vary", value: "Accept-Encoding, Cookie")
        headers.add(name: "Server", value: "app/3.4")
        headers.add(name: "Connection", value: "keep-alive")
        headers.add(name: "Keep-Alive", value: "timeout=5")
        headers.add(name: "Strict-Transport-Security", value: "max-age=31536000")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        return HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
    }()

    /// The record of a successful proxied request, as `DownstreamHandler.log(_:)` hands it to the log.
    static let successRecord: RequestRecord = {
        var record = RequestRecord()
        record.startSeconds = 1_795_808_712
        record.startNanoseconds = 418_223_000
        record.requestID = "6f1c0a9e3b7d4c21"
        record.client = "203.0.113.7"
        record.method = "GET"
        record.host = "shop.example.com"
        record.path = "/product/blue-kettle?ref=home"
        record.status = 200
        record.bytes = 18_342
        record.route = "shop"
        record.cluster = "web"
        record.upstream = "127.0.0.13:8080"
        record.upstreamStatus = 200
        record.connectMilliseconds = nil
        record.headerMilliseconds = 3.214
        record.totalMilliseconds = 4.087
        record.reusedConnection = true
        return record
    }()

    /// The record of a request whose server refused the connection (a 502 with details).
    static let failureRecord: RequestRecord = {
        var record = successRecord
        record.status = 502
        record.bytes = 172
        record.upstreamStatus = nil
        record.headerMilliseconds = nil
        record.connectMilliseconds = 0.412
        record.totalMilliseconds = 0.733
        record.reusedConnection = false
        record.failure = ProxyFailure(
            type: .connectionRefused, phase: .connect, nextHop: "127.0.0.13:8080", details: "Connection refused")
        return record
    }()
}
