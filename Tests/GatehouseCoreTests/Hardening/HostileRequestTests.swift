import Testing

@testable import GatehouseCore

/// Every row of ``hostileRequests`` through the real downstream pipeline, the gateway's upstream
/// pipeline and a strict origin: the exact statuses, `Proxy-Status` token, what the origin saw and
/// whether the connection closed; then the differential check on everything that was forwarded.
/// Serialized: the rows are synchronous and would otherwise fill Swift's cooperative pool, delaying
/// the suites that measure time.
@Suite(.serialized) struct HostileRequestTests {
    @Test func theTableIsLargeEnough() {
        #expect(hostileRequests.count >= 60)
        #expect(Set(hostileRequests.map(\.name)).count == hostileRequests.count, "row names are unique")
    }

    /// Each row twice: the client's bytes in one read, and one byte per read (every parser state
    /// resumed at every offset).
    @Test(arguments: hostileRequests, [false, true])
    func hostileRequest(_ row: HostileRequest, bytewise: Bool) throws {
        let proxy = try EmbeddedProxy(requestLimits: hostileRequestLimits)
        defer { proxy.shutdown() }
        let bytes = Array(row.raw.utf8)
        let transcript = ExchangeDriver.run(
            proxy, clientBytes: bytes, methods: [], cuts: bytewise ? Array(1..<max(1, bytes.count)) : [])

        #expect(transcript.invalidUpstream.isEmpty, "the origin received invalid HTTP: \(transcript.invalidUpstream)")
        #expect(transcript.invalidClient == nil, "the client received invalid HTTP: \(transcript.invalidClient ?? "")")
        #expect(transcript.statuses == row.statuses)
        #expect(transcript.lastErrorToken == row.token)
        #expect(transcript.requestsForwarded == row.forwarded)
        #expect((transcript.partialUpstreams > 0) == row.originPartial, "origin saw an incomplete request")
        #expect(transcript.clientClosed == row.closes)
        #expect(transcript.truncatedResponse == nil)
        for upstream in 0..<proxy.upstreamCount where row.originPartial {
            // A request refused mid-body never completes at the origin: its connection is closed.
            #expect(!proxy.upstreamIsOpen(upstream))
        }

        // Differential: each forwarded request says what the client's request said.
        var reference = StrictHTTPParser(tolerating: [
            .leadingEmptyLine, .chunkExtension, .leadingZerosInLength, .extraSpaces,
        ])
        let (sent, _) = reference.parseRequests(Array(row.raw.utf8))
        let received = transcript.allForwarded
        #expect(received.count <= sent.count, "the origin received more requests than the reference parser reads")
        for (index, request) in received.enumerated() where index < sent.count {
            let differences = Differential.differences(sent: sent[index], received: request)
            #expect(differences.isEmpty, "request \(index + 1): \(differences)")
            #expect(request.startLine[2] == "HTTP/1.1")
            #expect(request.headers("host").count == 1)
        }
    }
}
