import Testing

@testable import GatehouseCore

/// Seeded random-mutation fuzzing of both directions through the real pipelines (in memory), run
/// in CI for a bounded number of iterations (`GATEHOUSE_FUZZ_ITERATIONS`, default 20 000 each;
/// `GATEHOUSE_FUZZ_SEED` to explore other inputs). A finding is reported with its iteration and
/// input, so it replays.
///
/// Invariants, every iteration: no crash or trap; every byte sent upstream and downstream
/// re-parses under the strict reference parser with exactly one framing; every forwarded request
/// says what the client's request said (differential); every response reaches the client of its
/// own exchange and no other; an upstream connection is pooled only after exactly one complete
/// response and nothing else.
@Suite(.serialized) struct FuzzTests {
    static let requestSeeds: [[UInt8]] = [
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET /p?q=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Id: 7\r\n\r\n",
        "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nhe\r\n3\r\nllo\r\n0\r\nX-T: 1\r\n\r\n",
        "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET http://a/abs HTTP/1.1\r\nHost: a\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    ].map { Array($0.utf8) }

    static let responseSeeds: [[UInt8]] = [
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a=b\r\nhe\r\n3\r\nllo\r\n0\r\nX-T: 1\r\n\r\n",
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close",
        "HTTP/1.1 503 Unavailable\r\nContent-Length: 4\r\nRetry-After: 1\r\n\r\nbusy",
    ].map { Array($0.utf8) }

    // MARK: - Requests

    @Test func mutatedRequestsKeepTheInvariants() async throws {
        // The campaigns start once the other suites — some of which measure time — are mostly
        // done, and then run on an idle-priority thread of their own.
        try await Task.sleep(for: FuzzSettings.startDelay)
        let findings = try await OffPool.run { try Self.requestCampaign() }
        #expect(findings.isEmpty, "\(findings.joined(separator: "\n"))")
    }

    @Test func mutatedResponsesKeepTheInvariants() async throws {
        let findings = try await OffPool.run { try Self.responseCampaign() }
        #expect(findings.isEmpty, "\(findings.joined(separator: "\n"))")
    }

    static func requestCampaign() throws -> [String] {
        let corpus = Self.requestSeeds + hostileRequests.map { Array($0.raw.utf8) }
        var mutator = Mutator(seed: FuzzSettings.seed)
        var findings: [String] = []
        var forwarded = 0
        var proxy = try EmbeddedProxy(requestLimits: hostileRequestLimits)
        for iteration in 0..<FuzzSettings.iterations {
            if iteration % 250 == 0 {
                proxy.shutdown()
                proxy = try EmbeddedProxy(requestLimits: hostileRequestLimits)
            } else {
                try proxy.reconnectClient()
            }
            // Valid seeds more often than hostile rows, so that mutations also explore what passes.
            let seed = mutator.chance(60) ? mutator.pick(Self.requestSeeds) : mutator.pick(corpus)
            let input = mutator.mutate(seed, others: corpus)
            let cuts = mutator.cuts(input)
            let (finding, count) = Self.checkRequest(input, cuts: cuts, proxy: proxy)
            forwarded += count
            if let finding {
                findings.append("iteration \(iteration): \(finding)\n  input: \(Mutator.show(input)) cut at \(cuts)")
                if findings.count >= 5 { break }
            }
        }
        proxy.shutdown()
        print(
            "request fuzz: \(FuzzSettings.iterations) iterations, corpus \(corpus.count), \(forwarded) requests forwarded, \(findings.count) findings"
        )
        return findings
    }

    /// One iteration; returns a finding (nil when every invariant holds) and how many requests were forwarded.
    static func checkRequest(_ input: [UInt8], cuts: [Int], proxy: EmbeddedProxy) -> (String?, Int) {
        var reference = StrictHTTPParser(tolerating: [
            .leadingEmptyLine, .chunkExtension, .leadingZerosInLength, .extraSpaces,
        ])
        let (sent, _) = reference.parseRequests(input)
        let transcript = ExchangeDriver.run(
            proxy, clientBytes: input, methods: sent.map { $0.startLine[0] }, cuts: cuts)
        let received = transcript.allForwarded
        if let invalid = transcript.invalidUpstream.first {
            return ("the origin received invalid HTTP: \(invalid)", received.count)
        }
        if let invalid = transcript.invalidClient {
            return (
                "the client received invalid HTTP (\(invalid)): \(Mutator.show(transcript.clientBytes))", received.count
            )
        }
        for (index, request) in received.enumerated() {
            guard index < sent.count else {
                return ("request \(index + 1) was forwarded but the strict parser refuses it", received.count)
            }
            let differences = Differential.differences(sent: sent[index], received: request)
            if !differences.isEmpty { return ("request \(index + 1) differs: \(differences)", received.count) }
        }
        // Each origin response reaches this client, in order, for the request it answers.
        var next = 1
        for response in transcript.responses where response.header("proxy-status") == nil {
            let body = String(decoding: response.body, as: UTF8.self)
            guard next <= received.count else {
                return ("a response no forwarded request asked for: \(body)", received.count)
            }
            let request = received[next - 1]
            if request.startLine[0] != "HEAD", body != "ok-\(next) \(request.startLine[0]) \(request.startLine[1])" {
                return ("response \(next) is \(body.debugDescription)", received.count)
            }
            next += 1
        }
        if transcript.truncatedResponse != nil && !transcript.clientClosed {
            return ("a truncated response on a connection left open", received.count)
        }
        return (nil, received.count)
    }

    // MARK: - Responses

    static func responseCampaign() throws -> [String] {
        let corpus = Self.responseSeeds + hostileResponses.map { Array($0.response.utf8) }
        var mutator = Mutator(seed: FuzzSettings.seed ^ 0xFFFF)
        var findings: [String] = []
        var passed = 0
        var refused = 0
        var pooled = 0
        var proxy = try EmbeddedProxy()
        for iteration in 0..<FuzzSettings.iterations {
            if iteration % 250 == 0 {
                proxy.shutdown()
                proxy = try EmbeddedProxy()
            }
            let seed = mutator.chance(60) ? mutator.pick(Self.responseSeeds) : mutator.pick(corpus)
            let input = mutator.mutate(seed, others: corpus)
            let method = mutator.chance(15) ? "HEAD" : "GET"
            let close = mutator.chance(30)
            let cuts = mutator.cuts(input)
            let result = Self.checkResponse(
                input, cuts: cuts, method: method, closeAfter: close, iteration: iteration, proxy: proxy)
            switch result.outcome {
            case .passed: passed += 1
            case .refused: refused += 1
            case .other: break
            }
            if result.pooled { pooled += 1 }
            if let finding = result.finding {
                findings.append(
                    "iteration \(iteration) (\(method), close \(close)): \(finding)\n  input: \(Mutator.show(input)) cut at \(cuts)"
                )
                if findings.count >= 5 { break }
            }
        }
        proxy.shutdown()
        print(
            "response fuzz: \(FuzzSettings.iterations) iterations, corpus \(corpus.count), \(passed) passed on, \(refused) refused, \(pooled) connections pooled, \(findings.count) findings"
        )
        return findings
    }

    struct ResponseResult {
        enum Outcome { case passed, refused, other }
        var finding: String?
        var outcome = Outcome.other
        var pooled = false
    }

    static func checkResponse(
        _ input: [UInt8], cuts: [Int], method: String, closeAfter: Bool, iteration: Int, proxy: EmbeddedProxy
    ) -> ResponseResult {
        var result = ResponseResult()
        if proxy.clientClosed { try? proxy.reconnectClient() }
        proxy.send("\(method) /f\(iteration) HTTP/1.1\r\nHost: a\r\n\r\n")
        guard let index = Self.upstreamWithBytes(proxy) else {
            result.finding = "the request did not reach exactly one upstream connection"
            return result
        }
        for piece in Mutator.pieces(input, cuts: cuts) { proxy.respond(piece, on: index) }
        var closed = closeAfter
        if closeAfter {
            proxy.closeUpstream(index)
            Self.closeRaceRetry(proxy, iteration: iteration)
        }

        var client = ExchangeTranscript()
        client.clientBytes = proxy.clientReceived()
        ExchangeDriver.parseClient(&client, methods: [method])
        if client.responses.isEmpty && client.invalidClient == nil && !proxy.clientClosed && !closed {
            // The exchange is still waiting for bytes (a short body, a body until close, a partial
            // head): the upstream closes, which ends it one way or the other.
            closed = true
            proxy.closeUpstream(index)
            Self.closeRaceRetry(proxy, iteration: iteration)
            let earlier = client.clientBytes
            client = ExchangeTranscript()
            client.clientBytes = earlier + proxy.clientReceived()
            ExchangeDriver.parseClient(&client, methods: [method])
        }
        client.clientClosed = proxy.clientClosed
        if let invalid = client.invalidClient {
            result.finding = "the client received invalid HTTP: \(invalid)"
            return result
        }
        if client.truncatedResponse != nil && !client.clientClosed {
            result.finding = "a truncated response on a connection left open"
            return result
        }
        // The reference reading of what the upstream sent: 1xx responses, then the final one.
        var offset = 0
        var informational: [Int] = []
        var final: StrictHTTPParser.Outcome = .incomplete(partial: nil)
        while offset <= input.count {
            var reference = StrictHTTPParser(tolerating: [.chunkExtension, .leadingZerosInLength, .missingReason])
            final = reference.parseResponse(input[offset...], requestMethod: method, isEOF: closed)
            guard case .complete(let message, let consumed) = final, message.status < 200, message.status != 101 else {
                break
            }
            informational.append(message.status)
            offset += consumed
        }
        if let response = client.responses.first, response.header("proxy-status") == nil {
            result.outcome = .passed
            guard case .complete(let expected, _) = final else {
                result.finding = "passed on a response the strict parser does not accept: \(final)"
                return result
            }
            if expected.status != response.status || (method != "HEAD" && expected.body != response.body) {
                result.finding =
                    "passed on status \(response.status) body \(response.body.count) bytes; upstream said \(expected.status), \(expected.body.count) bytes"
                return result
            }
            if client.informational.map(\.status) != informational.filter({ $0 != 100 }) {
                result.finding = "1xx passed on: \(client.informational.map(\.status)), upstream sent \(informational)"
                return result
            }
        } else if client.responses.first?.status == 502 {
            result.outcome = .refused
        }
        // Pooled only after exactly one complete, reusable response and nothing else.
        if proxy.upstreamIsOpen(index) {
            result.pooled = true
            guard case .complete(let message, let consumed) = final, offset + consumed == input.count, !closed,
                Self.isKeepAlive(message), message.framing != .untilClose
            else {
                result.finding = "the upstream connection was kept after \(final)"
                return result
            }
        }

        // The next exchange sees nothing of this one.
        if proxy.clientClosed { try? proxy.reconnectClient() }
        proxy.send("GET /check\(iteration) HTTP/1.1\r\nHost: a\r\n\r\n")
        guard let next = Self.upstreamWithBytes(proxy, keep: true) else {
            result.finding = "the check request did not reach exactly one upstream connection"
            return result
        }
        var parser = StrictHTTPParser()
        let (requests, rest) = parser.parseRequests(next.bytes)
        guard requests.map({ $0.startLine[1] }) == ["/check\(iteration)"], rest == nil else {
            result.finding = "the check request arrived as \(Mutator.show(next.bytes))"
            return result
        }
        let marker = "marker-\(iteration)"
        proxy.respond("HTTP/1.1 200 OK\r\nContent-Length: \(marker.utf8.count)\r\n\r\n\(marker)", on: next.index)
        var second = ExchangeTranscript()
        second.clientBytes = proxy.clientReceived()
        ExchangeDriver.parseClient(&second, methods: ["GET"])
        guard second.statuses == [200], second.informational.isEmpty, second.truncatedResponse == nil,
            second.responses.first.map({ String(decoding: $0.body, as: UTF8.self) }) == marker
        else {
            result.finding = "the next exchange received \(Mutator.show(second.clientBytes))"
            return result
        }
        return result
    }

    /// RFC 9112 §9.3: HTTP/1.1 unless `close`, HTTP/1.0 only with `keep-alive`.
    static func isKeepAlive(_ message: StrictHTTPParser.Message) -> Bool {
        let tokens = message.headers("connection").flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters().lowercased()
        }
        if tokens.contains("close") { return false }
        return message.startLine[0] == "HTTP/1.1" || tokens.contains("keep-alive")
    }

    /// A reused connection closed without a byte of answer is the keep-alive race: the gateway
    /// sends the request once more on a fresh connection. That try is closed silently too, so the
    /// exchange ends as a single silent close would (the race is retried only once).
    private static func closeRaceRetry(_ proxy: EmbeddedProxy, iteration: Int) {
        guard let retry = Self.upstreamWithBytes(proxy, keep: true),
            String(decoding: retry.bytes, as: UTF8.self).contains(" /f\(iteration) HTTP/1.1")
        else { return }
        proxy.closeUpstream(retry.index)
    }

    /// The one upstream connection that received bytes since the last look.
    private static func upstreamWithBytes(_ proxy: EmbeddedProxy) -> Int? {
        Self.upstreamWithBytes(proxy, keep: true)?.index
    }

    private static func upstreamWithBytes(_ proxy: EmbeddedProxy, keep: Bool) -> (index: Int, bytes: [UInt8])? {
        var found: (Int, [UInt8])? = nil
        for index in 0..<proxy.upstreamCount {
            let bytes = proxy.upstreamReceived(index)
            if bytes.isEmpty { continue }
            if found != nil { return nil }
            found = (index, bytes)
        }
        return found
    }
}
