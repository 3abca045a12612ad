import Foundation
import GatehouseConfig
import GatehouseCore
import GatehouseOrigins
import Testing

/// One misbehaving loopback origin per failure class: each must produce its status code, its exact
/// RFC 9209 type in `Proxy-Status`, the problem+json body and the access-log fields.
@Suite struct FailureClassTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var behavior: LoopbackOrigin.Behavior
        var status: Int
        var type: String
        var timeouts = Cluster.Timeouts(connect: .seconds(2), responseHeader: .milliseconds(400), idle: .seconds(5), request: .seconds(30))
        var limits = Cluster.Limits()
        var testDescription: String { self.name }
    }

    static let beforeHead: [Case] = [
        Case(name: "refused", behavior: .refuse, status: 502, type: "connection_refused"),
        Case(name: "closed before head", behavior: .closeBeforeHead, status: 502, type: "connection_terminated"),
        Case(name: "reset before head", behavior: .resetBeforeHead, status: 502, type: "connection_terminated"),
        Case(name: "hang (response_header timeout)", behavior: .hang, status: 504, type: "connection_read_timeout"),
        Case(name: "malformed status line", behavior: .malformedStatusLine, status: 502, type: "http_protocol_error"),
        Case(name: "malformed header", behavior: .malformedHeader, status: 502, type: "http_protocol_error"),
        Case(
            name: "oversized header section", behavior: .oversizedHeader(bytes: 40 * 1024), status: 502,
            type: "http_response_header_section_size"),
        Case(
            name: "whole-request timeout", behavior: .slowHead(delay: .seconds(5)), status: 504, type: "http_response_timeout",
            timeouts: .init(connect: .seconds(2), responseHeader: .seconds(10), idle: .seconds(10), request: .milliseconds(300))),
    ]

    @Test(arguments: Self.beforeHead)
    func failureBeforeResponseHeadIsAnsweredAndClassified(_ testCase: Case) async throws {
        try await withGateway([testCase.behavior], timeouts: testCase.timeouts, limits: testCase.limits) { gateway in
            let response = try await gateway.request(
                RawHTTPClient.get("/some/path", headers: ["Accept: application/problem+json"]))
            #expect(response.status == testCase.status)
            let proxyStatus = try #require(response.header("proxy-status"))
            #expect(proxyStatus.hasPrefix("gatehouse; error=\(testCase.type)"))
            #expect(proxyStatus.contains("next-hop=\"\(gateway.origins[0].address)\""))
            #expect(response.header("content-type") == "application/problem+json")
            let problem = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
            #expect(problem["status"] as? Int == testCase.status)
            #expect(problem["proxy_status"] as? String == testCase.type)
            let requestID = try #require(response.header("x-request-id"))
            #expect(problem["request_id"] as? String == requestID)

            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["status"] as? Int == testCase.status)
            #expect(log["proxy_status"] as? String == testCase.type)
            #expect(log["request_id"] as? String == requestID)
            #expect(log["upstream"] as? String == gateway.origins[0].address)
            #expect(log["route"] as? String == "all")
            #expect(log["cluster"] as? String == "app")
            #expect(log["path"] as? String == "/some/path")
        }
    }

    static let afterHead: [Case] = [
        Case(name: "closed mid-body", behavior: .closeMidBody, status: 200, type: "http_response_incomplete"),
        Case(name: "reset mid-body", behavior: .resetMidBody, status: 200, type: "connection_terminated"),
        Case(name: "bad chunking", behavior: .badChunking, status: 200, type: "http_response_transfer_coding"),
        Case(
            name: "stalled mid-body (idle timeout)", behavior: .stallMidBody, status: 200, type: "connection_read_timeout",
            timeouts: .init(connect: .seconds(2), responseHeader: .seconds(5), idle: .milliseconds(300), request: .seconds(30))),
    ]

    /// Once the head is on its way the status cannot change: the client gets a cut-off response
    /// (the connection closes), and the access log still names the cause.
    @Test(arguments: Self.afterHead)
    func failureAfterResponseHeadTruncatesAndIsLogged(_ testCase: Case) async throws {
        try await withGateway([testCase.behavior], timeouts: testCase.timeouts) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == testCase.status)
            #expect(response.isTruncated)
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["proxy_status"] as? String == testCase.type)
            #expect(log["upstream_status"] as? Int == 200)
        }
    }

    @Test func unresolvableNameIsDNSError() async throws {
        let missing = HostPort(host: "gatehouse-test.invalid", port: 80)
        try await withGateway([], extraServers: [missing]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 502)
            #expect(response.header("proxy-status")?.hasPrefix("gatehouse; error=dns_error") == true)
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["proxy_status"] as? String == "dns_error")
        }
    }

    @Test func emptyClusterIsDestinationUnavailable() async throws {
        let empty = Cluster(name: "empty", servers: [])
        let routes = [Route(name: "empty", match: .init(pathPrefix: "/"), cluster: "empty")]
        try await withGateway([.healthy(name: "a")], routes: routes, extraClusters: [empty]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 503)
            #expect(response.header("proxy-status") == "gatehouse; error=destination_unavailable; details=\"cluster empty has no servers\"")
        }
    }

    @Test func noMatchingRouteIsDestinationNotFound() async throws {
        let routes = [Route(name: "api", match: .init(host: "api.example.com"), cluster: "app")]
        try await withGateway([.healthy(name: "a")], routes: routes) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/", host: "other.example.com"))
            #expect(response.status == 404)
            #expect(response.header("proxy-status")?.hasPrefix("gatehouse; error=destination_not_found") == true)
            #expect(gateway.origins[0].requestsServed == 0)
        }
    }

    @Test func upstreamOwn502IsPassedThroughWithReceivedStatus() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/status/502"))
            #expect(response.status == 502)
            #expect(response.header("proxy-status") == "gatehouse; received-status=502; next-hop=\"\(gateway.origins[0].address)\"")
            let log = try #require(try await gateway.accessLog(atLeast: 1).first)
            #expect(log["proxy_status"] is NSNull)
            #expect(log["received_status"] as? Int == 502)
        }
    }

    @Test func forwardingLoopIsDetectedFromVia() async throws {
        try await withGateway([.healthy(name: "a")]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/", headers: ["Via: 1.1 edge, 1.1 gatehouse"]))
            #expect(response.status == 502)
            #expect(response.header("proxy-status")?.hasPrefix("gatehouse; error=proxy_loop_detected") == true)
            #expect(gateway.origins[0].requestsServed == 0)
        }
    }

    @Test func internalAddressesStayHiddenUnlessExposed() async throws {
        try await withGateway([.refuse], exposeDetails: false) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/"))
            #expect(response.status == 502)
            #expect(response.header("proxy-status") == "gatehouse; error=connection_refused")
            #expect(!response.bodyText.contains(gateway.origins[0].address))
            #expect(response.bodyText.contains(try #require(response.header("x-request-id"))))
        }
    }

    @Test func browsersGetTheHopChainPage() async throws {
        try await withGateway([.refuse]) { gateway in
            let response = try await gateway.request(RawHTTPClient.get("/", headers: ["Accept: text/html,application/xhtml+xml"]))
            #expect(response.status == 502)
            #expect(response.header("content-type") == "text/html; charset=utf-8")
            #expect(response.bodyText.contains("✗ Upstream"))
            #expect(response.bodyText.contains("connection_refused"))
        }
    }
}
