import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import NIOCore
import Testing

/// The admin listener over real sockets: the `/admin/upstreams` report, drain and enable with a
/// request in flight, error answers, `/admin/config`, `/stats`, `/readyz` and the bearer token.
@Suite(.serialized) struct AdminAPITests {
    @Test func upstreamsReportHasEveryField() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b")],
            app: { servers in
                Cluster(name: "app", servers: servers, timeouts: Fixtures.timeouts, healthCheck: Fixtures.check())
            },
            admin: Fixtures.admin
        ) { gateway in
            try await eventually("both servers healthy") { try await gateway.upstreams().states == ["healthy", "healthy"] }
            let response = try await gateway.adminRequest("GET", "/admin/upstreams")
            #expect(response.status == 200)
            #expect(response.header("content-type") == "application/json")
            #expect(response.header("cache-control") == "no-store")
            let view = try UpstreamsView(try JSONObject.parse(response.body), cluster: "app")
            #expect(Set(view.document.keys) == ["panic_mode_entries", "clusters"])
            #expect(
                Set(view.cluster.keys) == [
                    "name", "balance", "healthy", "total", "panic", "panic_threshold", "dns_errors", "servers",
                ])
            #expect(view.cluster["balance"] as? String == "round_robin")
            #expect(view.cluster["total"] as? Int == 2)
            #expect(view.healthy == 2)
            #expect(view.cluster["panic_threshold"] as? Int == 50)
            #expect(view.dnsErrors.isEmpty)
            #expect(view.addresses == gateway.origins.map(\.address))
            for server in view.servers {
                #expect(
                    Set(server.keys) == [
                        "server", "address", "state", "why", "since", "active_requests", "requests",
                        "consecutive_failures", "errors", "ejections", "ejected_for_seconds", "probation", "weight",
                        "effective_weight", "slow_start_progress", "health_check",
                    ])
                let check = try #require(server["health_check"] as? [String: Any])
                #expect(Set(check.keys) == ["last", "last_error", "passes_in_a_row", "failures_in_a_row"])
                #expect((check["last"] as? String)?.hasPrefix("HTTP 200") == true)
                #expect(check["last_error"] is NSNull)
                #expect(server["server"] as? String == server["address"] as? String)
                #expect(server["weight"] as? Int == 1)
                #expect((server["effective_weight"] as? NSNumber)?.doubleValue == 1)
                #expect(server["slow_start_progress"] is NSNull)
                #expect(server["ejected_for_seconds"] is NSNull)
                #expect(server["probation"] as? Bool == false)
                #expect((server["since"] as? String)?.isEmpty == false)
            }
        }
    }

    @Test func drainLetsTheRequestInFlightFinishAndEnableBringsTheServerBack() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b")],
            app: { servers in Cluster(name: "app", servers: servers, timeouts: Fixtures.timeouts) },
            admin: Fixtures.admin
        ) { gateway in
            let slow = try await gateway.client()
            do {
                try await slow.send(RawHTTPClient.get("/slow/2000"))
                var busy = ""
                try await eventually("the slow request is in flight") {
                    let view = try await gateway.upstreams()
                    busy = view.addresses.first { view.number("active_requests", of: $0) == 1 } ?? ""
                    return !busy.isEmpty
                }
                let busyName = busy == gateway.origins[0].address ? "a" : "b"
                let otherName = busyName == "a" ? "b" : "a"

                let drained = try await gateway.adminRequest("POST", "/admin/upstreams/app/\(busy)/drain")
                #expect(drained.status == 200)
                let answer = try JSONObject.parse(drained.body)
                #expect(answer["state"] as? String == "draining")
                #expect(answer["changed"] as? Bool == true)
                #expect(answer["active_requests"] as? Int == 1)
                #expect(answer["server"] as? String == busy)
                #expect(try await gateway.upstreams().state(busy) == "draining")

                // New requests avoid the drained server …
                for _ in 0..<10 {
                    let response = try await gateway.request(RawHTTPClient.get("/"))
                    #expect(response.status == 200)
                    #expect(response.header("x-origin") == otherName)
                }
                // … while the one in flight completes.
                let finished = try await slow.response(timeout: .seconds(10))
                #expect(finished.status == 200)
                #expect(finished.header("x-origin") == busyName)
                try await eventually("\(busy) drained") { try await gateway.upstreams().state(busy) == "drained" }
                let again = try JSONObject.parse(try await gateway.adminRequest("POST", "/admin/upstreams/app/\(busy)/drain").body)
                #expect(again["state"] as? String == "drained")
                #expect(again["changed"] as? Bool == false)

                // Every server drained: 503 destination_unavailable, saying so.
                let other = busy == gateway.origins[0].address ? gateway.origins[1].address : gateway.origins[0].address
                #expect(try await gateway.adminRequest("POST", "/admin/upstreams/app/\(other)/drain").status == 200)
                let none = try await gateway.request(RawHTTPClient.get("/"))
                #expect(none.status == 503)
                #expect(none.header("proxy-status")?.contains("error=destination_unavailable") == true)
                #expect(none.header("proxy-status")?.contains("drained") == true)
                #expect(try await gateway.adminRequest("POST", "/admin/upstreams/app/\(other)/enable").status == 200)

                let enabled = try await gateway.adminRequest("POST", "/admin/upstreams/app/\(busy)/enable")
                let enabledAnswer = try JSONObject.parse(enabled.body)
                #expect(enabled.status == 200)
                #expect(enabledAnswer["state"] as? String == "enabled")
                #expect(enabledAnswer["changed"] as? Bool == true)
                #expect(try await gateway.upstreams().state(busy) == "healthy")
                var names: [String] = []
                for _ in 0..<4 { names.append(try await gateway.request(RawHTTPClient.get("/")).header("x-origin") ?? "-") }
                #expect(names.filter { $0 == busyName }.count == 2, "round robin over both again: \(names)")
            } catch {
                await slow.close()
                throw error
            }
            await slow.close()
        }
    }

    @Test func enabledServerRampsUpWithSlowStart() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b")],
            app: { servers in
                Cluster(name: "app", servers: servers, timeouts: Fixtures.timeouts, slowStart: .seconds(5))
            },
            admin: Fixtures.admin
        ) { gateway in
            let (a, b) = (gateway.origins[0].address, gateway.origins[1].address)
            // The first servers start at full weight.
            #expect(try await gateway.upstreams().number("effective_weight", of: a) == 1)
            // The server may be named percent-encoded in the path.
            let encoded = a.replacingOccurrences(of: ":", with: "%3A")
            let drained = try await gateway.adminRequest("POST", "/admin/upstreams/app/\(encoded)/drain")
            #expect(drained.status == 200)
            #expect(try JSONObject.parse(drained.body)["state"] as? String == "drained")
            #expect(try await gateway.upstreams().number("effective_weight", of: a) == 0)
            #expect(try await gateway.adminRequest("POST", "/admin/upstreams/app/\(a)/enable").status == 200)

            let view = try await gateway.upstreams()
            let progress = try #require(view.number("slow_start_progress", of: a))
            #expect(progress >= 0 && progress < 1)
            let effective = try #require(view.number("effective_weight", of: a))
            #expect(effective >= 0.1 && effective < 1)
            #expect(view.server(b)?["slow_start_progress"] is NSNull)
            #expect(view.number("effective_weight", of: b) == 1)
            var fromA = 0
            for _ in 0..<20 {
                let response = try await gateway.request(RawHTTPClient.get("/"))
                #expect(response.status == 200)
                if response.header("x-origin") == "a" { fromA += 1 }
            }
            // At about a tenth of b's weight, a gets a small share, not half.
            #expect(fromA < 10, "a answered \(fromA) of 20 right after enable")
        }
    }

    @Test func wrongTargetsAndMethodsAreAnsweredAsJSON() async throws {
        try await withGateway([.healthy(name: "a")], admin: Fixtures.admin) { gateway in
            let server = gateway.origins[0].address
            let cases: [(method: String, path: String, status: Int, mentions: String)] = [
                ("POST", "/admin/upstreams/nope/\(server)/drain", 404, "no cluster named nope"),
                ("POST", "/admin/upstreams/app/10.9.9.9:1/drain", 404, "has no server 10.9.9.9:1"),
                ("POST", "/admin/upstreams/app/10.9.9.9:1/enable", 404, server),
                ("GET", "/admin/upstreams/app/\(server)/drain", 405, "use POST"),
                ("GET", "/admin/upstreams/app/\(server)/enable", 405, "use POST"),
                ("GET", "/admin/nothing", 404, "not found"),
                ("POST", "/admin/upstreams", 404, "not found"),
            ]
            for item in cases {
                let response = try await gateway.adminRequest(item.method, item.path)
                #expect(response.status == item.status, "\(item.method) \(item.path)")
                #expect(response.header("content-type") == "application/json")
                let error = try JSONObject.parse(response.body)["error"] as? String
                #expect(error?.contains(item.mentions) == true, "\(item.method) \(item.path): \(error ?? "-")")
            }
            // Nothing was drained by the failed calls.
            #expect(try await gateway.upstreams().state(server) == "healthy")
        }
    }

    @Test func configAndStatsAreJSON() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b")],
            app: { servers in
                Cluster(
                    name: "app", servers: servers, balance: .leastRequest, timeouts: Fixtures.timeouts,
                    healthCheck: Fixtures.check(path: "/status/204"),
                    outlierDetection: Cluster.OutlierDetection(consecutiveFailures: 3), slowStart: .seconds(10),
                    panicThreshold: 30)
            },
            admin: Fixtures.admin
        ) { gateway in
            let config = try await gateway.adminJSON("/admin/config")
            let clusters = try #require(config["clusters"] as? [String: Any])
            let app = try #require(clusters["app"] as? [String: Any])
            let servers = try #require(app["servers"] as? [[String: Any]])
            #expect(servers.compactMap { $0["address"] as? String } == gateway.origins.map(\.address))
            #expect(app["balance"] as? String == "least_request")
            #expect(app["slow_start"] as? String == "10s")
            #expect(app["panic_threshold"] as? Int == 30)
            let check = try #require(app["health_check"] as? [String: Any])
            #expect(check["path"] as? String == "/status/204")
            #expect(check["interval"] as? String == "100ms")
            #expect((app["outlier_detection"] as? [String: Any])?["consecutive_failures"] as? Int == 3)
            #expect((config["admin"] as? [String: Any])?["address"] as? String == "127.0.0.1:0")

            #expect(try await gateway.request(RawHTTPClient.get("/")).status == 200)
            let stats = try await gateway.adminJSON("/stats")
            #expect(stats["requests"] as? Int == 1)
            #expect((stats["status"] as? [String: Any])?["2xx"] as? Int == 1)
            // `/` was an alias of /stats; it is the dashboard page now.
            let root = try await gateway.adminRequest("GET", "/")
            #expect(root.status == 200)
            #expect(root.header("content-type")?.hasPrefix("text/html") == true)
        }
    }

    @Test func readyzWaitsForTheFirstRoundOfHealthChecks() async throws {
        // The hanging server's first check cannot end while it hangs (its timeout is far away): the
        // gateway is not ready. Stopping that server ends the check (the connection closes).
        try await withGateway(
            [.healthy(name: "a"), .hang],
            app: { servers in
                var check = Fixtures.check()
                check.timeout = .seconds(20)
                return Cluster(name: "app", servers: servers, timeouts: Fixtures.timeouts, healthCheck: check)
            },
            admin: Fixtures.admin
        ) { gateway in
            let hanging = gateway.origins[1]
            let early = try await gateway.adminRequest("GET", "/readyz")
            #expect(early.status == 503)
            let reason = try JSONObject.parse(early.body)
            #expect(reason["ready"] as? Bool == false)
            #expect((reason["reason"] as? String)?.contains("first health checks") == true)
            #expect(try await gateway.adminRequest("GET", "/healthz").status == 200)
            try await eventually("a checked") { try await gateway.upstreams().state(gateway.origins[0].address) == "healthy" }
            #expect(try await gateway.adminRequest("GET", "/readyz").status == 503)

            try await hanging.stop()
            try await eventually("ready") { try await gateway.adminRequest("GET", "/readyz").status == 200 }
            // Ready means checked, not healthy: the stopped server is out.
            #expect(try await gateway.upstreams().state(hanging.address) == "unhealthy")
        }
    }

    @Test func bearerTokenGuardsEverythingButHealthzAndReadyz() async throws {
        let path = NSTemporaryDirectory() + "gatehouse-admin-token-\(UUID().uuidString)"
        let token = "s3cret-\(UUID().uuidString)"
        try Data("  \(token)\n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await withGateway(
            [.healthy(name: "a")], admin: Admin(address: HostPort(host: "127.0.0.1", port: 0), tokenFile: path)
        ) { gateway in
            let server = gateway.origins[0].address
            for (method, target) in [
                ("GET", "/admin/upstreams"), ("GET", "/admin/config"), ("GET", "/stats"),
                ("POST", "/admin/upstreams/app/\(server)/drain"),
            ] {
                for offered in [nil, "wrong", token + "x", String(token.dropLast())] {
                    let response = try await gateway.adminRequest(method, target, token: offered)
                    #expect(response.status == 401, "\(method) \(target) with \(offered ?? "no token")")
                    #expect(response.header("www-authenticate")?.hasPrefix("Bearer ") == true)
                    #expect(response.header("content-type") == "application/json")
                }
            }
            #expect(try await gateway.adminRequest("GET", "/healthz").status == 200)
            #expect(try await gateway.adminRequest("GET", "/readyz").status == 200)
            // The refused drain did nothing.
            let view = try await gateway.upstreams(token: token)
            #expect(view.state(server) == "healthy")
            let config = try await gateway.adminRequest("GET", "/admin/config", token: token)
            #expect(config.status == 200)
            #expect(config.bodyText.contains(path))
            #expect(!config.bodyText.contains(token), "the token itself never appears")
        }
    }

    @Test func unusableTokenFileStopsTheAdminServerFromStarting() async throws {
        let path = NSTemporaryDirectory() + "gatehouse-admin-token-\(UUID().uuidString)"
        try Data(" \n".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        for file in [path, path + "-missing"] {
            await #expect(throws: AdminTokenError.self) {
                try await withGateway(
                    [.healthy(name: "a")], admin: Admin(address: HostPort(host: "127.0.0.1", port: 0), tokenFile: file)
                ) { _ in }
            }
        }
    }
}
