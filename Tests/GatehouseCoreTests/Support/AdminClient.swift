import Foundation
import GatehouseCore
import NIOCore

/// The admin API as the loopback tests read it: requests on fresh connections to the gateway's
/// admin port, and `/admin/upstreams` parsed into a small view.
extension TestGateway {
    /// One admin request on a fresh connection, with `Authorization: Bearer token` when given.
    func adminRequest(_ method: String = "GET", _ path: String, token: String? = nil) async throws -> TestResponse {
        precondition(self.adminPort != 0, "the gateway was started without an admin section")
        let client = try await RawHTTPClient.connect(port: self.adminPort, group: self.group)
        var text = "\(method) \(path) HTTP/1.1\r\nHost: admin.test\r\nConnection: close\r\n"
        if let token { text += "Authorization: Bearer \(token)\r\n" }
        if method == "POST" { text += "Content-Length: 0\r\n" }
        do {
            try await client.send(text + "\r\n")
            let response = try await client.response(timeout: .seconds(10))
            await client.close()
            return response
        } catch {
            await client.close()
            throw error
        }
    }

    /// An admin answer's body as a JSON object.
    func adminJSON(_ path: String, token: String? = nil) async throws -> [String: Any] {
        let response = try await self.adminRequest("GET", path, token: token)
        guard response.status == 200 else {
            throw TestClientError(description: "GET \(path) answered \(response.status): \(response.bodyText)")
        }
        return try JSONObject.parse(response.body)
    }

    /// `GET /admin/upstreams`, viewed for one cluster.
    func upstreams(cluster: String = "app", token: String? = nil) async throws -> UpstreamsView {
        try UpstreamsView(try await self.adminJSON("/admin/upstreams", token: token), cluster: cluster)
    }
}

/// JSON helpers for the tests.
enum JSONObject {
    static func parse(_ bytes: [UInt8]) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw TestClientError(description: "not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
        }
        return object
    }
}

/// One cluster of an `/admin/upstreams` answer.
struct UpstreamsView {
    /// The whole document.
    let document: [String: Any]
    /// The cluster's object.
    let cluster: [String: Any]
    /// The cluster's `servers` (one per endpoint).
    let servers: [[String: Any]]

    init(_ document: [String: Any], cluster name: String) throws {
        self.document = document
        let clusters = document["clusters"] as? [[String: Any]] ?? []
        guard let cluster = clusters.first(where: { $0["name"] as? String == name }) else {
            throw TestClientError(description: "no cluster \(name) in /admin/upstreams")
        }
        self.cluster = cluster
        self.servers = cluster["servers"] as? [[String: Any]] ?? []
    }

    var panicModeEntries: Int { self.document["panic_mode_entries"] as? Int ?? -1 }
    var panic: Bool { self.cluster["panic"] as? Bool ?? false }
    var healthy: Int { self.cluster["healthy"] as? Int ?? -1 }
    var dnsErrors: [String: String] { self.cluster["dns_errors"] as? [String: String] ?? [:] }
    /// Every endpoint's `address`, in report order.
    var addresses: [String] { self.servers.compactMap { $0["address"] as? String } }

    /// The endpoint whose `address` (`ip:port`) is this.
    func server(_ address: String) -> [String: Any]? {
        self.servers.first { $0["address"] as? String == address }
    }

    /// The endpoint's `state` (`healthy`, `unhealthy`, `ejected`, `draining`, …), nil if absent.
    func state(_ address: String) -> String? {
        self.server(address)?["state"] as? String
    }

    /// A numeric field of an endpoint, as a Double (the report writes `0.1` and `1` alike).
    func number(_ field: String, of address: String) -> Double? {
        (self.server(address)?[field] as? NSNumber)?.doubleValue
    }

    /// The endpoint's `errors` by Proxy-Status type.
    func errors(_ address: String) -> [String: Int] {
        self.server(address)?["errors"] as? [String: Int] ?? [:]
    }

    /// The states of all endpoints, in report order.
    var states: [String] { self.servers.compactMap { $0["state"] as? String } }
}

/// Polls `condition` every 20 ms until it holds, at most `timeout`; returns how long it took.
/// A state is always waited for this way, never with a fixed sleep.
@discardableResult
func eventually(
    _ what: String, timeout: Duration = .seconds(5), _ condition: () async throws -> Bool
) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    while true {
        if try await condition() { return clock.now - start }
        if clock.now - start > timeout {
            throw TestClientError(description: "timed out after \(timeout) waiting for: \(what)")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
}
