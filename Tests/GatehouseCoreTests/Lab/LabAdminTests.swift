import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseLab
import Logging
import NIOCore
import NIOPosix
import Testing

/// The dashboard's Lab tab through a real admin listener: `/admin/lab` lists, starts, plays and stops.
@Suite("lab: the admin API behind the dashboard's Lab tab", .timeLimit(.minutes(2)))
struct LabAdminTests {
    static func request(_ method: String, _ path: String, port: Int, group: any EventLoopGroup) async throws -> TestResponse {
        let client = try await RawHTTPClient.connect(port: port, group: group)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: admin.test\r\nConnection: close\r\n"
        if method == "POST" { text += "Content-Length: 0\r\n" }
        do {
            try await client.send(text + "\r\n")
            let response = try await client.response(timeout: .seconds(30))
            await client.close()
            return response
        } catch {
            await client.close()
            throw error
        }
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.bodyText.utf8)) as? [String: Any])
    }

    @Test("list, start, play to the win, stop; errors for unknown scenarios and moves, and without a lab")
    func playThroughTheAdminAPI() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let configuration = try ConfigurationLoader.parse(
            yaml: """
                listeners: [{ name: main, address: "127.0.0.1:1" }]
                clusters: { app: { servers: [{ address: "127.0.0.1:9" }] } }
                routes: [{ match: { path_prefix: / }, cluster: app }]
                """, file: "lab-admin.yaml")
        let proxy = ProxyServer(configuration: configuration, group: group, logger: .init(label: "test"), accessLog: try AccessLogSink(target: .off))
        let lab = LabDashboardProvider()
        let admin = AdminServer(proxy: proxy, group: group, lab: lab)
        let plain = AdminServer(proxy: proxy, group: group)
        let port = try #require(try await admin.start(host: "127.0.0.1", port: 0)?.port)
        let plainPort = try #require(try await plain.start(host: "127.0.0.1", port: 0)?.port)
        do {
            let listed = try Self.json(try await Self.request("GET", "/admin/lab", port: port, group: group))
            #expect((listed["scenarios"] as? [[String: Any]])?.count == LabCatalogue.all.count)
            #expect(listed["game"] is NSNull)
            #expect(try await Self.request("POST", "/admin/lab/start/nope", port: port, group: group).status == 404)
            #expect(try await Self.request("POST", "/admin/lab/move/9", port: port, group: group).status == 409)
            #expect(try await Self.request("GET", "/admin/lab/start/upstream-down", port: port, group: group).status == 405)

            let started = try await Self.request("POST", "/admin/lab/start/upstream-down", port: port, group: group)
            #expect(started.status == 200)
            let game = try #require(try Self.json(started)["game"] as? [String: Any])
            #expect(game["status"] as? String == "playing")
            #expect((game["opening"] as? String)?.contains("HTTP/1.1 502 Bad Gateway") == true)
            #expect(try await Self.request("POST", "/admin/lab/move/6.9", port: port, group: group).status == 400)
            for move in ["1", "5", "9"] {
                #expect(try await Self.request("POST", "/admin/lab/move/\(move)", port: port, group: group).status == 200)
            }
            let won = try #require(try Self.json(try await Self.request("GET", "/admin/lab", port: port, group: group))["game"] as? [String: Any])
            #expect(won["status"] as? String == "won")
            #expect((won["steps"] as? [[String: Any]])?.count == 3)
            #expect((won["end"] as? String)?.contains("Congratulations") == true)
            #expect(try await Self.request("POST", "/admin/lab/move/1", port: port, group: group).status == 409)

            let stopped = try Self.json(try await Self.request("POST", "/admin/lab/stop", port: port, group: group))
            #expect(stopped["game"] is NSNull)
            #expect(try await Self.request("GET", "/admin/lab", port: plainPort, group: group).status == 404)
        } catch {
            await lab.shutdown()
            await admin.stop()
            await plain.stop()
            try await group.shutdownGracefully()
            throw error
        }
        await lab.shutdown()
        await admin.stop()
        await plain.stop()
        try await group.shutdownGracefully()
    }
}
