import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// The balancing policies through a real gateway: which loopback origin answers (its `X-Origin`)
/// is what each policy promises. The gateway runs one event loop, so there is one balancer cursor
/// and the counts below are exact, not statistical.
@Suite(.serialized) struct BalancingIntegrationTests {
    @Test func weightedRoundRobinGivesEachServerExactlyItsShare() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b")],
            app: { servers in
                var weighted = servers
                weighted[0].weight = 3
                return Cluster(name: "app", servers: weighted, balance: .weightedRoundRobin, timeouts: Fixtures.timeouts)
            }
        ) { gateway in
            // Ten whole cycles of the total weight (4).
            let sequence = try await Self.origins(answering: 40, through: gateway)
            #expect(sequence.filter { $0 == "a" }.count == 30)
            #expect(sequence.filter { $0 == "b" }.count == 10)
            // Smooth: b is never picked twice in a row.
            let bTwiceInARow = zip(sequence, sequence.dropFirst()).contains { $0 == "b" && $1 == "b" }
            #expect(!bTwiceInARow)
        }
    }

    @Test func leastRequestSendsNewRequestsToTheIdleServer() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b")],
            app: { servers in Cluster(name: "app", servers: servers, balance: .leastRequest, timeouts: Fixtures.timeouts) },
            admin: Fixtures.admin
        ) { gateway in
            // One request keeps a server busy; with two servers, power of two choices compares both,
            // so every new request must go to the other one while it lasts.
            let slow = try await gateway.client()
            do {
                try await slow.send(RawHTTPClient.get("/slow/5000"))
                var busy = ""
                try await eventually("the slow request is in flight") {
                    let view = try await gateway.upstreams()
                    busy = view.addresses.first { view.number("active_requests", of: $0) == 1 } ?? ""
                    return !busy.isEmpty
                }
                let busyIndex = try #require(gateway.origins.firstIndex { $0.address == busy })
                let idleName = busyIndex == 0 ? "b" : "a"
                let client = try await gateway.client()
                for _ in 0..<20 {
                    try await client.send(RawHTTPClient.get("/"))
                    let response = try await client.response()
                    #expect(response.status == 200)
                    #expect(response.header("x-origin") == idleName)
                }
                await client.close()
                // The busy origin saw the slow request only.
                #expect(gateway.origins[busyIndex].requestsServed == 1)
                #expect(gateway.origins[1 - busyIndex].requestsServed == 20)
            } catch {
                await slow.close()
                throw error
            }
            await slow.close()
        }
    }

    @Test func consistentHashSendsAKeyToTheSameServerEveryTime() async throws {
        try await withGateway(
            [.healthy(name: "a"), .healthy(name: "b"), .healthy(name: "c")],
            app: { servers in
                Cluster(
                    name: "app", servers: servers, balance: .consistentHash, hashOn: .header("x-user"),
                    timeouts: Fixtures.timeouts)
            }
        ) { gateway in
            let client = try await gateway.client()
            var owners: [Int: String] = [:]
            for round in 0..<3 {
                for key in 0..<30 {
                    try await client.send(RawHTTPClient.get("/", headers: ["X-User: user-\(key)"]))
                    let response = try await client.response()
                    #expect(response.status == 200)
                    let origin = response.header("x-origin") ?? "-"
                    if round == 0 {
                        owners[key] = origin
                    } else {
                        #expect(owners[key] == origin, "key user-\(key) moved")
                    }
                }
            }
            await client.close()
            // Thirty keys over three servers: all on one would mean the header is not hashed.
            #expect(Set(owners.values).count > 1)
        }
    }

    /// `X-Origin` of `count` GETs of `/` sent one after the other on one keep-alive connection; any
    /// other status than 200 is recorded.
    private static func origins(answering count: Int, through gateway: TestGateway, headers: [String] = [])
        async throws -> [String]
    {
        let client = try await gateway.client()
        var origins: [String] = []
        do {
            for _ in 0..<count {
                try await client.send(RawHTTPClient.get("/", headers: headers))
                let response = try await client.response()
                #expect(response.status == 200)
                origins.append(response.header("x-origin") ?? "-")
            }
        } catch {
            await client.close()
            throw error
        }
        await client.close()
        return origins
    }
}
