import Foundation
import NIOHTTP1

/// What one run through an ``EmbeddedProxy`` looked like from both ends: the bytes each upstream
/// connection received (parsed strictly), the bytes the client received (parsed strictly), and
/// whether the client connection was closed.
struct ExchangeTranscript {
    /// Per upstream connection: every byte it received.
    var upstreamBytes: [[UInt8]] = []
    /// Per upstream connection: the complete requests it received, in order.
    var forwarded: [[StrictHTTPParser.Message]] = []
    /// Upstream connections whose bytes end in a request that never completed.
    var partialUpstreams = 0
    /// Upstream bytes that are not valid HTTP/1.1: always a gateway bug.
    var invalidUpstream: [String] = []
    var clientBytes: [UInt8] = []
    /// The final (non-1xx) responses the client received, in order.
    var responses: [StrictHTTPParser.Message] = []
    /// 1xx responses the client received.
    var informational: [StrictHTTPParser.Message] = []
    /// The client's bytes end in a response that never completed (truncated).
    var truncatedResponse: StrictHTTPParser.Message?
    /// The client's bytes are not valid HTTP/1.1: always a gateway bug.
    var invalidClient: String?
    var clientClosed = false

    var requestsForwarded: Int { self.forwarded.reduce(0) { $0 + $1.count } }
    var allForwarded: [StrictHTTPParser.Message] { self.forwarded.flatMap { $0 } }
    var statuses: [Int] { self.responses.map(\.status) }

    /// The `error=` token of the last response's `Proxy-Status`, if it has one.
    var lastErrorToken: String? {
        guard let value = self.responses.last?.header("proxy-status"),
            let range = value.range(of: "error=")
        else { return nil }
        return String(value[range.upperBound...].prefix { $0 != ";" })
    }
}

/// Plays the origin and the client around an ``EmbeddedProxy``.
enum ExchangeDriver {
    /// What the origin answers to its `n`th complete request (1-based, across connections).
    typealias Responder = (_ request: StrictHTTPParser.Message, _ number: Int) -> [UInt8]

    /// A 200 whose body names the request: `ok-<n> <method> <target>` (announced, not sent, for HEAD).
    static func echoResponder(_ request: StrictHTTPParser.Message, _ number: Int) -> [UInt8] {
        let body = "ok-\(number) \(request.startLine[0]) \(request.startLine[1])"
        let head = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        return Array((request.startLine[0] == "HEAD" ? head : head + body).utf8)
    }

    /// Sends `clientBytes`, answers every complete request the upstream side receives with
    /// `responder`, until nothing moves; then parses both sides.
    static func run(
        _ proxy: EmbeddedProxy, clientBytes: [UInt8], responder: Responder = ExchangeDriver.echoResponder
    ) -> ExchangeTranscript {
        Self.run(proxy, clientBytes: clientBytes, methods: [], responder: responder)
    }

    /// As above; `methods` are the client's request methods in order, for reading HEAD responses.
    static func run(
        _ proxy: EmbeddedProxy, clientBytes: [UInt8], methods: [String], cuts: [Int] = [],
        responder: Responder = ExchangeDriver.echoResponder
    ) -> ExchangeTranscript {
        // `cuts`: offsets where the client's bytes are split into separate reads.
        for piece in Mutator.pieces(clientBytes, cuts: cuts) { proxy.send(piece) }
        var transcript = ExchangeTranscript()
        var answered: [Int] = []
        var number = 0
        var progress = true
        while progress {
            progress = false
            for index in 0..<proxy.upstreamCount {
                if transcript.upstreamBytes.count <= index {
                    transcript.upstreamBytes.append([])
                    answered.append(0)
                }
                transcript.upstreamBytes[index] += proxy.upstreamReceived(index)
                var parser = StrictHTTPParser()
                let (messages, _) = parser.parseRequests(transcript.upstreamBytes[index])
                while answered[index] < messages.count, proxy.upstreamIsOpen(index) {
                    number += 1
                    let request = messages[answered[index]]
                    answered[index] += 1
                    proxy.respond(responder(request, number), on: index)
                    progress = true
                }
            }
        }
        Self.parseUpstream(&transcript)
        transcript.clientBytes = proxy.clientReceived()
        transcript.clientClosed = proxy.clientClosed
        Self.parseClient(&transcript, methods: methods)
        return transcript
    }

    static func parseUpstream(_ transcript: inout ExchangeTranscript) {
        transcript.forwarded = []
        transcript.partialUpstreams = 0
        transcript.invalidUpstream = []
        for bytes in transcript.upstreamBytes {
            var parser = StrictHTTPParser()
            let (messages, rest) = parser.parseRequests(bytes)
            transcript.forwarded.append(messages)
            switch rest {
            case .none, .complete: break
            case .incomplete: transcript.partialUpstreams += 1
            case .invalid(let reason): transcript.invalidUpstream.append(reason)
            }
        }
    }

    /// Parses the client's bytes as consecutive responses; `methods` are the request methods in
    /// order (HEAD responses have no body), GET assumed beyond them.
    static func parseClient(_ transcript: inout ExchangeTranscript, methods: [String]) {
        let bytes = transcript.clientBytes
        var offset = 0
        var index = 0
        while offset < bytes.count {
            var parser = StrictHTTPParser()
            let method = index < methods.count ? methods[index] : "GET"
            switch parser.parseResponse(bytes[offset...], requestMethod: method, isEOF: transcript.clientClosed) {
            case .complete(let message, let consumed):
                offset += consumed
                if message.status < 200 {
                    transcript.informational.append(message)
                } else {
                    transcript.responses.append(message)
                    index += 1
                }
            case .incomplete(let partial):
                transcript.truncatedResponse = partial
                return
            case .invalid(let reason):
                transcript.invalidClient = reason
                return
            }
        }
    }
}

/// The differential check: a request the origin received must say what the client's request
/// said, read by the strict parser (with the tolerances the gateway normalises).
enum Differential {
    /// Fields the gateway sets, removes or re-serialises itself.
    static let gatewayFields: Set<String> = [
        "host", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade",
        "expect", "via", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-request-id",
        "proxy-status",
    ]

    /// The end-to-end fields of a message, lower-cased names, in order.
    static func endToEnd(_ message: StrictHTTPParser.Message) -> [String] {
        let named = Set(
            message.headers("connection").flatMap { $0.split(separator: ",") }.map {
                $0.trimmingCharacters().lowercased()
            })
        return message.headers.compactMap { field in
            let name = field.name.lowercased()
            if Self.gatewayFields.contains(name) || name.hasPrefix("proxy-") || named.contains(name) { return nil }
            return "\(name): \(field.value)"
        }
    }

    /// The origin-form target of a request target (absolute form reduced to its path).
    static func originForm(_ target: String) -> String {
        let lower = target.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return target }
        let rest = target.drop { $0 != "/" }.dropFirst(2)
        guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        return rest[slash] == "?" ? "/" + rest[slash...] : String(rest[slash...])
    }

    /// Differences between what the client sent (`sent`) and what the origin received (`received`), empty when none.
    static func differences(sent: StrictHTTPParser.Message, received: StrictHTTPParser.Message) -> [String] {
        var problems: [String] = []
        if sent.startLine[0] != received.startLine[0] {
            problems.append("method \(sent.startLine[0]) became \(received.startLine[0])")
        }
        if Self.originForm(sent.startLine[1]) != received.startLine[1] {
            problems.append("target \(sent.startLine[1]) became \(received.startLine[1])")
        }
        if sent.body != received.body {
            problems.append("body of \(sent.body.count) bytes became \(received.body.count) bytes")
        }
        if Self.endToEnd(sent) != Self.endToEnd(received) {
            problems.append("fields \(Self.endToEnd(sent)) became \(Self.endToEnd(received))")
        }
        let sentTrailers = sent.trailers.map { "\($0.name.lowercased()): \($0.value)" }
        let receivedTrailers = received.trailers.map { "\($0.name.lowercased()): \($0.value)" }
        if sentTrailers != receivedTrailers { problems.append("trailers \(sentTrailers) became \(receivedTrailers)") }
        if received.headers("content-length").count + received.headers("transfer-encoding").count > 1 {
            problems.append("more than one framing field forwarded")
        }
        return problems
    }
}
