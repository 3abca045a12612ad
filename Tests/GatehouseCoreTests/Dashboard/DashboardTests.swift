import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// The dashboard page and `/admin/timeline` through a real gateway and admin server on loopback.
@Suite("dashboard", .timeLimit(.minutes(2)))
struct DashboardTests {
    /// A fast tick, so the timeline has the requests within a fraction of a second.
    static func fastTick(_ configuration: inout GatehouseConfiguration) {
        configuration.alerts = Alerts(incident: IncidentSettings(interval: .milliseconds(100)))
    }

    @Test("/ serves the page, its script and style are embedded, nothing refers to another host")
    func page() async throws {
        try await withGateway([.healthy(name: "a")], admin: Fixtures.admin) { gateway in
            let page = try await gateway.adminRequest("GET", "/")
            #expect(page.status == 200)
            #expect(page.header("content-type") == "text/html; charset=utf-8")
            #expect(page.header("content-security-policy")?.contains("connect-src 'self'") == true)
            #expect(page.bodyText.contains("<script src=\"dashboard.js\""))
            #expect(page.bodyText.contains("id=\"clusters\""))
            let script = try await gateway.adminRequest("GET", "/dashboard.js")
            #expect(script.status == 200)
            #expect(script.header("content-type") == "text/javascript; charset=utf-8")
            #expect(script.bodyText.contains("admin/timeline"))
            #expect(script.bodyText.contains("document.body.dataset.state = \"live\""))
            let style = try await gateway.adminRequest("GET", "/dashboard.css")
            #expect(style.status == 200)
            #expect(style.header("content-type") == "text/css; charset=utf-8")
            for response in [page, script, style] {
                // No CDN, no font or image from elsewhere: no absolute URL at all.
                #expect(!response.bodyText.contains("http://") && !response.bodyText.contains("https://"))
                #expect(!response.bodyText.contains("//cdn") && !response.bodyText.contains("src=\"//"))
            }
        }
    }

    @Test("with a token the page still loads (it asks for the token), the API and timeline do not")
    func token() async throws {
        let path = NSTemporaryDirectory() + "gatehouse-admin-token-\(UUID().uuidString)"
        let token = "dash-\(UUID().uuidString)"
        try Data(token.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withGateway([.healthy(name: "a")], admin: Admin(address: HostPort(host: "127.0.0.1", port: 0), tokenFile: path)) {
            gateway in
            #expect(try await gateway.adminRequest("GET", "/").status == 200)
            #expect(try await gateway.adminRequest("GET", "/dashboard.js").status == 200)
            #expect(try await gateway.adminRequest("GET", "/admin/timeline").status == 401)
            #expect(try await gateway.adminRequest("GET", "/stats").status == 401)
            #expect(try await gateway.adminRequest("GET", "/admin/timeline", token: token).status == 200)
            let script = try await gateway.adminRequest("GET", "/dashboard.js")
            #expect(script.bodyText.contains("Authorization") && script.bodyText.contains("sessionStorage"))
        }
    }

    @Test("/admin/timeline counts a scripted burst of errors by Proxy-Status type")
    func timelineCountsABurst() async throws {
        try await withGateway([.healthy(name: "a"), .refuse], admin: Fixtures.admin, configure: Self.fastTick) { gateway in
            var refused = 0
            var ok = 0
            for _ in 0..<10 {
                let response = try await gateway.request(RawHTTPClient.get("/"))
                if response.status == 502 { refused += 1 } else if response.status == 200 { ok += 1 }
            }
            #expect(refused > 0 && ok > 0, "round robin over a healthy and a refusing server")
            #expect(refused + ok == 10)
            var cluster: [String: Any] = [:]
            try await eventually("the timeline has the 10 requests", timeout: .seconds(10)) {
                let document = try await gateway.adminJSON("/admin/timeline")
                cluster = (document["clusters"] as? [[String: Any]])?.first { $0["name"] as? String == "app" } ?? [:]
                return (cluster["totals"] as? [String: Any])?["requests"] as? Int == 10
            }
            let document = try await gateway.adminJSON("/admin/timeline")
            #expect(document["bucket_seconds"] as? Int == 5)
            #expect(document["buckets"] as? Int == 180)
            #expect((document["now_ms"] as? Int ?? 0) >= (document["start_ms"] as? Int ?? .max))
            let requests = try #require(cluster["requests"] as? [Int])
            let errors = try #require(cluster["errors"] as? [Int])
            let byType = try #require(cluster["errors_by_type"] as? [String: [Int]])
            #expect(requests.count == 180 && errors.count == 180)
            #expect(requests.reduce(0, +) == 10)
            #expect(errors.reduce(0, +) == refused)
            #expect(Array(byType.keys) == ["connection_refused"])
            #expect(byType["connection_refused"]?.count == 180)
            #expect(byType["connection_refused"]?.reduce(0, +) == refused)
            let totals = try #require(cluster["totals"] as? [String: Any])
            #expect(totals["errors"] as? Int == refused)
            #expect((totals["errors_by_type"] as? [String: Int]) == ["connection_refused": refused])
        }
    }

    @Test("the old routes still answer: /stats, /admin/upstreams, /admin/errors, /admin/incidents, /metrics")
    func oldRoutes() async throws {
        try await withGateway([.healthy(name: "a")], admin: Fixtures.admin) { gateway in
            #expect(try await gateway.request(RawHTTPClient.get("/")).status == 200)
            #expect(try await gateway.adminJSON("/stats")["requests"] as? Int == 1)
            #expect(try await gateway.upstreams().addresses == gateway.origins.map(\.address))
            #expect(try await gateway.adminJSON("/admin/errors")["errors"] is [Any])
            #expect(try await gateway.adminJSON("/admin/incidents")["incidents"] is [Any])
            let metrics = try await gateway.adminRequest("GET", "/metrics")
            #expect(metrics.status == 200 && metrics.bodyText.contains("gatehouse_"))
            let missing = try await gateway.adminRequest("GET", "/nope")
            #expect(missing.status == 404 && missing.bodyText.contains("/admin/timeline"))
        }
    }
}
