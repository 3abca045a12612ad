import GatehouseErrors

/// One thing wrong with the bytes of a response, named the way nginx names it in its error log, so
/// an operator who greps for "upstream sent invalid header" finds it.
public struct FramingProblem: Sendable, Hashable {
    /// What a gateway reports for it.
    public var error: ProxyStatusError
    public var message: String

    public init(_ error: ProxyStatusError, _ message: String) {
        self.error = error
        self.message = message
    }
}

/// What the validator read from a response's bytes.
public struct ResponseFramingReport: Sendable, Hashable {
    /// The final (non-1xx) status line, as received.
    public var statusLine: String?
    public var statusCode: Int?
    /// Status line to blank line included, in bytes; `nil` when the head never ended.
    public var headerSectionSize: Int?
    /// How the body is delimited: `Content-Length: N`, `chunked`, `until close`, `none`.
    public var framing: String?
    /// Body bytes received (all of them, even past what was kept for checking).
    public var bodyBytes: Int
    public var problems: [FramingProblem]
}

/// Validates a response's framing from its raw bytes: status line, header lines, header section size,
/// Content-Length against the body received, chunked coding. Pure; the probe's NIOHTTP1 decoder decides
/// what the gateway would do, this names what is wrong in words.
public enum ResponseFramingValidator {
    /// - Parameters:
    ///   - bytes: the start of what the upstream sent (all of it, unless `received` is larger).
    ///   - received: how many bytes the upstream sent in all (≥ `bytes.count`).
    ///   - closed: whether the upstream closed the connection after them.
    ///   - headerLimit: the largest header section the gateway accepts.
    ///   - headRequest: the request was HEAD (no body follows).
    public static func validate(
        _ bytes: [UInt8], received: Int, closed: Bool, headerLimit: Int, headRequest: Bool = false
    ) -> ResponseFramingReport {
        var report = ResponseFramingReport(bodyBytes: 0, problems: [])
        var start = 0
        while true {
            guard let end = Self.headEnd(bytes, from: start) else {
                Self.unfinishedHead(bytes, from: start, received: received, closed: closed, limit: headerLimit, into: &report)
                return report
            }
            let lines = Self.lines(bytes[start..<end])
            report.headerSectionSize = end + 4 - start
            guard let statusLine = lines.first, let code = Self.statusCode(of: statusLine) else {
                report.statusLine = lines.first.map { Format.quoteBytes($0) }
                report.problems.append(
                    FramingProblem(
                        .httpProtocolError,
                        "upstream sent no valid HTTP/1.0 header: \"\(Format.quoteBytes(lines.first ?? []))\" (not an HTTP status line: is it speaking HTTP on that port?)"
                    ))
                return report
            }
            report.statusLine = String(decoding: statusLine, as: UTF8.self)
            report.statusCode = code
            let fields = Self.fields(Array(lines.dropFirst()), into: &report.problems)
            if end + 4 - start > headerLimit {
                report.problems.append(
                    FramingProblem(
                        .httpResponseHeaderSectionSize,
                        "upstream sent too big header: the header section is \(Format.bytes(end + 4 - start)) (\(end + 4 - start) bytes), over the \(Format.bytes(headerLimit)) limit"
                    ))
            }
            if (100..<200).contains(code), code != 101 {
                start = end + 4
                continue
            }
            let body = Array(bytes[min(end + 4, bytes.count)...])
            let bodyReceived = max(0, received - (end + 4))
            report.bodyBytes = bodyReceived
            let noBody = headRequest || code == 204 || code == 304 || code == 101
            Self.checkBody(
                fields: fields, body: body, bodyReceived: bodyReceived, complete: received == bytes.count,
                closed: closed, noBody: noBody, into: &report)
            return report
        }
    }

    // MARK: - Head

    private static func headEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 3 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10, bytes[index + 2] == 13, bytes[index + 3] == 10 {
                return index
            }
            index += 1
        }
        return nil
    }

    private static func unfinishedHead(
        _ bytes: [UInt8], from start: Int, received: Int, closed: Bool, limit: Int, into report: inout ResponseFramingReport
    ) {
        let got = received - start
        // Something that is not an HTTP status line says more (wrong port, wrong protocol) than the close.
        if let firstLine = Self.lines(bytes[start...]).first, !firstLine.isEmpty {
            report.statusLine = Format.quoteBytes(firstLine)
            if Self.statusCode(of: firstLine) == nil, firstLine.count >= 12 || bytes[start...].contains(10) {
                report.problems.append(
                    FramingProblem(
                        .httpProtocolError, "upstream sent no valid HTTP/1.0 header: \"\(Format.quoteBytes(firstLine))\""))
            }
        }
        if got > limit {
            report.problems.append(
                FramingProblem(
                    .httpResponseHeaderSectionSize,
                    "upstream sent too big header: more than \(Format.bytes(got)) without the end of the header section, over the \(Format.bytes(limit)) limit"
                ))
        } else if closed {
            let what = got == 0 ? "without sending a byte" : "after \(got) bytes of the response head"
            report.problems.append(
                FramingProblem(
                    .connectionTerminated,
                    "upstream prematurely closed connection while reading response header from upstream (\(what))"))
        }
    }

    /// Lines split at CRLF (a bare LF also ends a line, as parsers accept; a bare CR does not).
    private static func lines(_ bytes: ArraySlice<UInt8>) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in bytes {
            if byte == 10 {
                if current.last == 13 { current.removeLast() }
                lines.append(current)
                current = []
            } else {
                current.append(byte)
            }
        }
        lines.append(current)
        return lines
    }

    /// `HTTP/1.x DDD[ reason]` → DDD; anything else → nil.
    static func statusCode(of line: [UInt8]) -> Int? {
        let prefix = Array("HTTP/1.".utf8)
        guard line.count >= 12, Array(line[0..<7]) == prefix, line[7] == UInt8(ascii: "0") || line[7] == UInt8(ascii: "1"),
            line[8] == UInt8(ascii: " ")
        else { return nil }
        let digits = line[9..<12]
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), line.count == 12 || line[12] == UInt8(ascii: " ") else {
            return nil
        }
        return digits.reduce(0) { $0 * 10 + Int($1 - 48) }
    }

    /// The header fields, lower-cased names; each malformed line becomes a problem.
    private static func fields(_ lines: [[UInt8]], into problems: inout [FramingProblem]) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0,
                line[..<colon].allSatisfy(Self.isTokenCharacter)
            else {
                let why =
                    line.first == 32 || line.first == 9
                    ? " (obsolete line folding)" : line.contains(UInt8(ascii: ":")) ? " (invalid character in the name)" : " (no colon)"
                problems.append(FramingProblem(.httpProtocolError, "upstream sent invalid header: \"\(Format.quoteBytes(line))\"\(why)"))
                continue
            }
            let value = line[(colon + 1)...]
            if value.contains(where: { ($0 < 32 && $0 != 9) || $0 == 127 }) {
                let what = value.contains(13) ? "a bare CR" : value.contains(0) ? "a NUL byte" : "a control character"
                problems.append(
                    FramingProblem(.httpProtocolError, "upstream sent invalid header: \"\(Format.quoteBytes(line))\" (\(what) in the value)"))
                continue
            }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            var text = String(decoding: value, as: UTF8.self)
            while text.first == " " || text.first == "\t" { text.removeFirst() }
            while text.last == " " || text.last == "\t" { text.removeLast() }
            fields.append((name, text))
        }
        return fields
    }

    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }

    // MARK: - Body

    private static func checkBody(
        fields: [(name: String, value: String)], body: [UInt8], bodyReceived: Int, complete: Bool, closed: Bool,
        noBody: Bool, into report: inout ResponseFramingReport
    ) {
        let lengths = fields.filter { $0.name == "content-length" }.flatMap { $0.value.split(separator: ",") }
            .map { $0.trimmed(" ") }
        let codings = fields.filter { $0.name == "transfer-encoding" }.flatMap { $0.value.split(separator: ",") }
            .map { $0.trimmed(" ").lowercased() }
        if !codings.isEmpty {
            if !lengths.isEmpty {
                report.problems.append(
                    FramingProblem(.httpProtocolError, "upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"))
            }
            guard codings.last == "chunked" else {
                report.problems.append(
                    FramingProblem(
                        .httpResponseTransferCoding, "upstream sent unknown \"Transfer-Encoding\": \"\(codings.joined(separator: ", "))\""))
                return
            }
            report.framing = "chunked"
            if !noBody { Self.checkChunks(body, complete: complete, closed: closed, into: &report) }
            return
        }
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), let declared = Int(first), declared >= 0,
                first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 })
            else {
                report.problems.append(
                    FramingProblem(.httpProtocolError, "upstream sent invalid \"Content-Length\" header: \"\(lengths.joined(separator: ", "))\""))
                return
            }
            report.framing = "Content-Length: \(declared)"
            if noBody { return }
            if bodyReceived < declared, closed {
                report.problems.append(
                    FramingProblem(
                        .httpResponseIncomplete,
                        "upstream prematurely closed connection while reading upstream: Content-Length \(declared), \(bodyReceived) bytes of body received"
                    ))
            } else if bodyReceived > declared {
                report.problems.append(
                    FramingProblem(
                        .httpProtocolError,
                        "upstream sent more data than specified in \"Content-Length\" header: \(declared) declared, \(bodyReceived) bytes followed the head"
                    ))
            }
            return
        }
        report.framing = noBody ? "none" : "until close"
    }

    /// Walks the chunks that were kept; `complete` says whether `body` is all that arrived.
    private static func checkChunks(_ body: [UInt8], complete: Bool, closed: Bool, into report: inout ResponseFramingReport) {
        var index = 0
        while true {
            guard let lineEnd = Self.crlf(in: body, from: index) else { break }
            let line = body[index..<lineEnd]
            let sizeText = line.prefix { $0 != UInt8(ascii: ";") }.filter { $0 != 32 && $0 != 9 }
            guard !sizeText.isEmpty, sizeText.count <= 16, let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16)
            else {
                report.problems.append(
                    FramingProblem(
                        .httpResponseTransferCoding, "upstream sent invalid chunked response: chunk size line \"\(Format.quoteBytes(line))\""))
                return
            }
            if size == 0 { return }
            let dataEnd = lineEnd + 2 + size
            guard dataEnd + 2 <= body.count else { break }
            guard body[dataEnd] == 13, body[dataEnd + 1] == 10 else {
                report.problems.append(
                    FramingProblem(.httpResponseTransferCoding, "upstream sent invalid chunked response: chunk data longer than its size (\(size))"))
                return
            }
            index = dataEnd + 2
        }
        if complete, closed {
            report.problems.append(
                FramingProblem(
                    .httpResponseIncomplete, "upstream prematurely closed connection while reading upstream: the chunked body has no last chunk"))
        }
    }

    private static func crlf(in bytes: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < bytes.count {
            if bytes[index] == 13, bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }
}
