import GatehouseConfig
import Testing

@testable import GatehouseCore

extension Unit {
    /// Route matching (first match wins) and the path rewrite sent upstream.
    @Suite struct RouteTableTests {
        static let clusters = [
            Cluster(name: "shop", servers: [.init(address: HostPort(host: "127.0.0.1", port: 3000))]),
            Cluster(name: "tenants", servers: [.init(address: HostPort(host: "127.0.0.1", port: 3001))]),
            Cluster(name: "fallback", servers: [.init(address: HostPort(host: "127.0.0.1", port: 3002))]),
        ]

        /// Lower-cased hosts, as the configuration loader stores them.
        static let table = RouteTable(
            routes: [
                Route(name: "shop-api", match: .init(host: "shop.example.com", pathPrefix: "/api/"), cluster: "shop"),
                Route(name: "shop", match: .init(host: "shop.example.com", pathPrefix: "/"), cluster: "shop"),
                Route(
                    name: "tenants", match: .init(host: "*.tenants.example.com", pathPrefix: "/"), cluster: "tenants"),
                Route(name: "loopback6", match: .init(host: "::1", pathPrefix: "/"), cluster: "shop"),
                Route(name: "static", match: .init(host: nil, pathPrefix: "/static"), cluster: "fallback"),
                Route(name: "ghost", match: .init(host: "ghost.example.com", pathPrefix: "/"), cluster: "missing"),
                Route(name: "catch-all", match: .init(host: nil, pathPrefix: "/"), cluster: "fallback"),
            ], clusters: Self.clusters)

        struct MatchCase: Sendable, CustomTestStringConvertible {
            var host: String?
            var path: String
            var route: String?
            var testDescription: String { "\(self.host ?? "(no host)") \(self.path)" }
        }

        static let matchCases: [MatchCase] = [
            MatchCase(host: "shop.example.com", path: "/api/users", route: "shop-api"),
            MatchCase(host: "shop.example.com", path: "/api/", route: "shop-api"),
            MatchCase(host: "shop.example.com", path: "/api", route: "shop"),
            MatchCase(host: "shop.example.com", path: "/", route: "shop"),
            MatchCase(host: "shop.example.com", path: "/static/app.js", route: "shop"),
            MatchCase(host: "SHOP.Example.COM", path: "/api/x", route: "shop-api"),
            MatchCase(host: "shop.example.com:8080", path: "/api/x", route: "shop-api"),
            MatchCase(host: "Shop.Example.Com:443", path: "/", route: "shop"),
            MatchCase(host: "shop.example.com.evil", path: "/", route: "catch-all"),
            MatchCase(host: "xshop.example.com", path: "/", route: "catch-all"),
            MatchCase(host: "a.tenants.example.com", path: "/x", route: "tenants"),
            MatchCase(host: "a.b.tenants.example.com:9000", path: "/x", route: "tenants"),
            MatchCase(host: "A.TENANTS.EXAMPLE.COM", path: "/x", route: "tenants"),
            MatchCase(host: "tenants.example.com", path: "/x", route: "catch-all"),
            MatchCase(host: ".tenants.example.com", path: "/x", route: "catch-all"),
            MatchCase(host: "eviltenants.example.com", path: "/x", route: "catch-all"),
            MatchCase(host: "[::1]:8080", path: "/", route: "loopback6"),
            MatchCase(host: "[::1]", path: "/", route: "loopback6"),
            MatchCase(host: "[::2]:8080", path: "/", route: "catch-all"),
            MatchCase(host: "other.example", path: "/static/app.js", route: "static"),
            MatchCase(host: nil, path: "/static", route: "static"),
            MatchCase(host: nil, path: "/", route: "catch-all"),
            MatchCase(host: "ghost.example.com", path: "/", route: "ghost"),
        ]

        @Test(arguments: Self.matchCases)
        func firstMatchingRouteWins(_ testCase: MatchCase) {
            #expect(Self.table.match(host: testCase.host, path: testCase.path)?.route.name == testCase.route)
        }

        @Test func noRouteMatchesWithoutACatchAll() {
            let table = RouteTable(
                routes: [Route(name: "only", match: .init(host: "a.example", pathPrefix: "/api"), cluster: "shop")],
                clusters: Self.clusters)
            #expect(table.match(host: "a.example", path: "/other") == nil)
            #expect(table.match(host: "b.example", path: "/api") == nil)
            #expect(table.match(host: nil, path: "/api") == nil)
            #expect(table.match(host: "a.example", path: "/api/v1")?.route.name == "only")
        }

        @Test func clusterIndexIsResolvedAndAMissingClusterIsMinusOne() throws {
            let shop = try #require(Self.table.match(host: "shop.example.com", path: "/"))
            #expect(shop.clusterIndex == 0)
            let tenants = try #require(Self.table.match(host: "x.tenants.example.com", path: "/"))
            #expect(tenants.clusterIndex == 1)
            let ghost = try #require(Self.table.match(host: "ghost.example.com", path: "/"))
            #expect(ghost.clusterIndex == -1)
        }

        struct PortCase: Sendable, CustomTestStringConvertible {
            var host: String
            var bare: String
            var testDescription: String { self.host }
        }

        @Test(arguments: [
            PortCase(host: "example.com", bare: "example.com"),
            PortCase(host: "example.com:8080", bare: "example.com"),
            PortCase(host: "10.0.0.1:80", bare: "10.0.0.1"),
            PortCase(host: "[::1]:8080", bare: "::1"),
            PortCase(host: "[2001:db8::1]", bare: "2001:db8::1"),
            PortCase(host: "[::1", bare: "[::1"),
        ])
        func portIsStripped(_ testCase: PortCase) {
            #expect(String(RouteTable.stripPort(testCase.host)) == testCase.bare)
        }

        // MARK: - Rewrite

        struct RewriteCase: Sendable, CustomTestStringConvertible {
            var prefix: String
            var strip: Bool = false
            var rewrite: String? = nil
            var path: String
            var expected: String
            var testDescription: String {
                let option = self.rewrite.map { "rewrite=\($0)" } ?? (self.strip ? "strip" : "as is")
                return "\(self.prefix) \(option): \(self.path) → \(self.expected)"
            }
        }

        static let rewriteCases: [RewriteCase] = [
            // Neither option: the path is sent as received.
            RewriteCase(prefix: "/api", path: "/api/users?x=1", expected: "/api/users?x=1"),
            // strip_prefix, prefix without a trailing slash.
            RewriteCase(prefix: "/api", strip: true, path: "/api/users", expected: "/users"),
            RewriteCase(prefix: "/api", strip: true, path: "/api", expected: "/"),
            RewriteCase(prefix: "/api", strip: true, path: "/api/", expected: "/"),
            RewriteCase(prefix: "/api", strip: true, path: "/api?x=1", expected: "/?x=1"),
            RewriteCase(prefix: "/api", strip: true, path: "/api/users?q=/a/b", expected: "/users?q=/a/b"),
            // The prefix is a plain byte prefix (as nginx's `location /api`): `/apiary` is under `/api`.
            RewriteCase(prefix: "/api", strip: true, path: "/apiary", expected: "/ary"),
            // strip_prefix, prefix with a trailing slash.
            RewriteCase(prefix: "/api/", strip: true, path: "/api/users", expected: "/users"),
            RewriteCase(prefix: "/api/", strip: true, path: "/api/", expected: "/"),
            RewriteCase(prefix: "/api/", strip: true, path: "/api/?x=1", expected: "/?x=1"),
            RewriteCase(prefix: "/api/", strip: true, path: "/api/v1/users?id=3", expected: "/v1/users?id=3"),
            // The root prefix: stripping it changes nothing.
            RewriteCase(prefix: "/", strip: true, path: "/users", expected: "/users"),
            RewriteCase(prefix: "/", strip: true, path: "/", expected: "/"),
            // A path outside the prefix is left alone.
            RewriteCase(prefix: "/api", strip: true, path: "/other", expected: "/other"),
            // rewrite_prefix.
            RewriteCase(prefix: "/api", rewrite: "/v2", path: "/api/users", expected: "/v2/users"),
            RewriteCase(prefix: "/api", rewrite: "/v2", path: "/api", expected: "/v2"),
            RewriteCase(prefix: "/api", rewrite: "/v2", path: "/api?x=1", expected: "/v2?x=1"),
            RewriteCase(prefix: "/api", rewrite: "/v2/", path: "/api/users", expected: "/v2/users"),
            RewriteCase(prefix: "/api", rewrite: "/v2/", path: "/api", expected: "/v2/"),
            RewriteCase(prefix: "/api/", rewrite: "/v2", path: "/api/users", expected: "/v2/users"),
            RewriteCase(prefix: "/api/", rewrite: "/v2/", path: "/api/users?x=1", expected: "/v2/users?x=1"),
            RewriteCase(prefix: "/api/", rewrite: "/v2/", path: "/api/", expected: "/v2/"),
            RewriteCase(prefix: "/old", rewrite: "/", path: "/old/page", expected: "/page"),
            RewriteCase(prefix: "/", rewrite: "/app", path: "/users?x=1", expected: "/app/users?x=1"),
            RewriteCase(prefix: "/", rewrite: "/app", path: "/", expected: "/app"),
            RewriteCase(prefix: "/", rewrite: "/app", path: "/?x=1", expected: "/app?x=1"),
            RewriteCase(prefix: "/api", rewrite: "", path: "/api/users", expected: "/users"),
            RewriteCase(prefix: "/api", rewrite: "", path: "/api", expected: "/"),
            // rewrite_prefix wins over strip_prefix when both are set.
            RewriteCase(prefix: "/api", strip: true, rewrite: "/v2", path: "/api/users", expected: "/v2/users"),
        ]

        @Test(arguments: Self.rewriteCases)
        func pathIsRewritten(_ testCase: RewriteCase) {
            let route = Route(
                name: "r", match: .init(pathPrefix: testCase.prefix), cluster: "shop", stripPrefix: testCase.strip,
                rewritePrefix: testCase.rewrite)
            #expect(RouteTable.rewrite(path: testCase.path, route: route) == testCase.expected)
        }
    }
}
