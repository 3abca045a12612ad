import GatehouseErrors
import Testing

@testable import GatehouseCore

/// Every row of ``hostileResponses`` through the real pipelines: what the client receives (status,
/// `Proxy-Status`, 1xx, body, truncation), what the log says, whether the upstream connection goes
/// back to the pool — and that the next exchange sees none of the row's bytes.
/// Serialized: the rows are synchronous and would otherwise fill Swift's cooperative pool, delaying
/// the suites that measure time.
@Suite(.serialized) struct HostileResponseTests {
    @Test func theTableIsLargeEnough() {
        #expect(hostileResponses.count >= 60)
        #expect(Set(hostileResponses.map(\.name)).count == hostileResponses.count, "row names are unique")
    }

    /// Each row twice: the upstream's bytes in one read, and one byte per read.
    @Test(arguments: hostileResponses, [false, true])
    func hostileResponse(_ row: HostileResponse, bytewise: Bool) throws {
        let proxy = try EmbeddedProxy()
        defer { proxy.shutdown() }
        proxy.send("\(row.method) /1 HTTP/1.1\r\nHost: a\r\n\r\n")
        try #require(proxy.upstreamCount == 1)
        _ = proxy.upstreamReceived(0)
        let bytes = Array(row.response.utf8)
        for piece in Mutator.pieces(bytes, cuts: bytewise ? Array(1..<max(1, bytes.count)) : []) {
            proxy.respond(piece)
        }
        if row.closeAfter { proxy.closeUpstream(0) }
        if let later = row.later { proxy.respond(later) }

        var first = ExchangeTranscript()
        first.clientBytes = proxy.clientReceived()
        first.clientClosed = proxy.clientClosed
        ExchangeDriver.parseClient(&first, methods: [row.method])
        #expect(first.invalidClient == nil, "the client received invalid HTTP: \(first.invalidClient ?? "")")
        #expect(first.informational.map(\.status) == row.informational)
        let errors = proxy.errors.map(\.token)
        switch row.outcome {
        case .passed(let status, let body):
            #expect(first.statuses == [status])
            #expect(first.truncatedResponse == nil)
            if let body { #expect(first.responses.first.map { String(decoding: $0.body, as: UTF8.self) } == body) }
            #expect(first.responses.first?.header("proxy-status") == nil)
            #expect(errors.isEmpty)
            #expect(!first.clientClosed)
        case .refused(let token):
            #expect(first.statuses == [502])
            #expect(first.lastErrorToken == token)
            #expect(errors == [token])
            #expect(!first.clientClosed)
        case .truncated(let status, let token):
            #expect(first.statuses.isEmpty)
            #expect(first.truncatedResponse?.status == status, "the client must see the head, then a cut")
            #expect(first.clientClosed)
            #expect(errors == [token])
        }
        #expect(proxy.upstreamIsOpen(0) == row.reused, "the upstream connection is pooled only if reusable")

        // The next exchange: on the same upstream connection only if it was reusable, and nothing
        // of the row's bytes reaches it.
        if proxy.clientClosed { try proxy.reconnectClient() }
        proxy.send("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
        let index = row.reused ? 0 : 1
        try #require(proxy.upstreamCount == index + 1)
        var parser = StrictHTTPParser()
        let (requests, rest) = parser.parseRequests(proxy.upstreamReceived(index))
        #expect(requests.map { $0.startLine[1] } == ["/2"])
        #expect(rest == nil)
        proxy.respond("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond", on: index)
        var second = ExchangeTranscript()
        second.clientBytes = proxy.clientReceived()
        ExchangeDriver.parseClient(&second, methods: ["GET"])
        #expect(second.statuses == [200])
        #expect(second.responses.first.map { String(decoding: $0.body, as: UTF8.self) } == "second")
        #expect(second.informational.isEmpty && second.truncatedResponse == nil && second.invalidClient == nil)
    }
}
