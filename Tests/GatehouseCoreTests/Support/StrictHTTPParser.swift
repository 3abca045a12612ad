/// A small, deliberately strict HTTP/1.1 parser written for the tests, independent of NIOHTTP1 and
/// of the gateway's own decoder: the reference the hardening tests judge the gateway against.
///
/// It accepts only RFC 9112 as written: single spaces in the start line, CRLF line ends, token
/// header names with no space before the colon, no obs-fold, no control characters, exactly one
/// framing (`Content-Length` once, or `Transfer-Encoding: chunked` alone, or none), strict chunks.
/// The few tolerances RFC 9112 itself allows a recipient (a leading empty line, chunk extensions)
/// are off unless asked for, and each use is reported, so a test can tell a normalisation from a
/// strict parse.
struct StrictHTTPParser {
    /// A tolerance the parser applied.
    enum Tolerance: String, Hashable, Sendable {
        case leadingEmptyLine = "CR and LF before the request line"
        case chunkExtension = "chunk extension"
        case leadingZerosInLength = "Content-Length with leading zeros"
        case extraSpaces = "several spaces between the parts of the request line"
        case missingReason = "status line without the space and reason phrase"
    }

    struct Message: Sendable {
        /// `[method, target, version]` or `[version, status, reason]`.
        var startLine: [String]
        var headers: [(name: String, value: String)]
        var body: [UInt8]
        var framing: Framing
        var trailers: [(name: String, value: String)]

        func header(_ name: String) -> String? {
            self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        func headers(_ name: String) -> [String] {
            self.headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
        }

        var status: Int { Int(self.startLine.count > 1 ? self.startLine[1] : "") ?? 0 }
    }

    enum Framing: Equatable, Sendable {
        case none
        case length(Int)
        case chunked
        case untilClose
    }

    /// How a parse ended.
    enum Outcome: Sendable {
        /// A whole message, `consumed` bytes long.
        case complete(Message, consumed: Int)
        /// Valid so far, but the bytes end before the message does (`partial` has what was parsed).
        case incomplete(partial: Message?)
        /// Not valid HTTP/1.1, and why.
        case invalid(String)
    }

    struct Invalid: Error {
        var reason: String
    }

    var tolerances: Set<Tolerance> = []
    /// Tolerances that were needed.
    private(set) var used: Set<Tolerance> = []

    init(tolerating tolerances: Set<Tolerance> = []) {
        self.tolerances = tolerances
    }

    // MARK: - Entry points

    mutating func parseRequest(_ bytes: ArraySlice<UInt8>) -> Outcome {
        self.parse(bytes, isRequest: true, requestMethod: nil, isEOF: false)
    }

    /// - Parameter isEOF: the bytes are all there will ever be (a body without framing ends here).
    mutating func parseResponse(_ bytes: ArraySlice<UInt8>, requestMethod: String, isEOF: Bool) -> Outcome {
        self.parse(bytes, isRequest: false, requestMethod: requestMethod, isEOF: isEOF)
    }

    /// Consecutive requests, as an origin reads them off one connection.
    mutating func parseRequests(_ bytes: [UInt8]) -> (messages: [Message], rest: Outcome?) {
        var messages: [Message] = []
        var offset = 0
        while offset < bytes.count {
            switch self.parseRequest(bytes[offset...]) {
            case .complete(let message, let consumed):
                messages.append(message)
                offset += consumed
            case let other:
                return (messages, other)
            }
        }
        return (messages, nil)
    }

    // MARK: - Messages

    private mutating func parse(_ bytes: ArraySlice<UInt8>, isRequest: Bool, requestMethod: String?, isEOF: Bool)
        -> Outcome
    {
        var cursor = bytes.startIndex
        do {
            if isRequest, self.tolerances.contains(.leadingEmptyLine) {
                // As llhttp: any run of CR and LF before the request line.
                while cursor < bytes.endIndex, bytes[cursor] == 13 || bytes[cursor] == 10 {
                    self.used.insert(.leadingEmptyLine)
                    cursor += 1
                }
            }
            guard let startLine = try Self.line(bytes, &cursor) else { return .incomplete(partial: nil) }
            let start = isRequest ? try self.requestLine(startLine) : try self.statusLine(startLine)
            var headers: [(name: String, value: String)] = []
            while true {
                guard let line = try Self.line(bytes, &cursor) else { return .incomplete(partial: nil) }
                if line.isEmpty { break }
                headers.append(try Self.field(line))
            }
            var message = Message(startLine: start, headers: headers, body: [], framing: .none, trailers: [])
            message.framing = try self.framing(message, isRequest: isRequest, requestMethod: requestMethod)
            switch message.framing {
            case .none:
                return .complete(message, consumed: cursor - bytes.startIndex)
            case .length(let length):
                guard bytes.endIndex - cursor >= length else {
                    message.body = Array(bytes[cursor...])
                    return .incomplete(partial: message)
                }
                message.body = Array(bytes[cursor..<(cursor + length)])
                return .complete(message, consumed: cursor + length - bytes.startIndex)
            case .untilClose:
                message.body = Array(bytes[cursor...])
                return isEOF ? .complete(message, consumed: bytes.count) : .incomplete(partial: message)
            case .chunked:
                while true {
                    guard let sizeLine = try Self.line(bytes, &cursor) else { return .incomplete(partial: message) }
                    let size = try self.chunkSize(sizeLine)
                    if size == 0 { break }
                    guard bytes.endIndex - cursor >= size + 2 else {
                        message.body += bytes[cursor...].prefix(size)
                        return .incomplete(partial: message)
                    }
                    message.body += bytes[cursor..<(cursor + size)]
                    cursor += size
                    guard bytes[cursor] == 13, bytes[cursor + 1] == 10 else {
                        throw Invalid(reason: "chunk data not followed by CRLF")
                    }
                    cursor += 2
                }
                while true {
                    guard let line = try Self.line(bytes, &cursor) else { return .incomplete(partial: message) }
                    if line.isEmpty { break }
                    message.trailers.append(try Self.field(line))
                }
                return .complete(message, consumed: cursor - bytes.startIndex)
            }
        } catch {
            return .invalid((error as? Invalid)?.reason ?? "\(error)")
        }
    }

    private mutating func framing(_ message: Message, isRequest: Bool, requestMethod: String?) throws -> Framing {
        let lengths = message.headers("content-length")
        let codings = message.headers("transfer-encoding")
        let version = isRequest ? message.startLine[2] : message.startLine[0]
        if isRequest, version == "HTTP/1.1", message.headers("host").count != 1 {
            throw Invalid(reason: "HTTP/1.1 request needs exactly one Host")
        }
        var length: Int? = nil
        if !lengths.isEmpty {
            guard lengths.count == 1, !lengths[0].isEmpty, lengths[0].utf8.count <= 18,
                lengths[0].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let value = Int(lengths[0])
            else { throw Invalid(reason: "invalid or repeated Content-Length") }
            if lengths[0].utf8.count > 1, lengths[0].hasPrefix("0") {
                guard self.tolerances.contains(.leadingZerosInLength) else {
                    throw Invalid(reason: "leading zeros in Content-Length")
                }
                self.used.insert(.leadingZerosInLength)
            }
            length = value
        }
        if !codings.isEmpty {
            guard codings == ["chunked"] || codings.map({ $0.lowercased() }) == ["chunked"] else {
                throw Invalid(reason: "Transfer-Encoding other than a single chunked")
            }
            guard length == nil else { throw Invalid(reason: "Content-Length with Transfer-Encoding") }
            guard version == "HTTP/1.1" else { throw Invalid(reason: "Transfer-Encoding in HTTP/1.0") }
        }
        if !isRequest {
            let status = message.status
            if requestMethod == "HEAD" || status < 200 || status == 204 || status == 304 { return .none }
        }
        if !codings.isEmpty { return .chunked }
        if let length { return length == 0 ? .none : .length(length) }
        return isRequest ? .none : .untilClose
    }

    // MARK: - Lines

    /// The next CRLF-terminated line (without it), nil when the bytes end first. A bare CR or LF is invalid.
    private static func line(_ bytes: ArraySlice<UInt8>, _ cursor: inout Int) throws -> ArraySlice<UInt8>? {
        var index = cursor
        while index < bytes.endIndex {
            if bytes[index] == 10 { throw Invalid(reason: "bare LF") }
            if bytes[index] == 13 {
                guard index + 1 < bytes.endIndex else { return nil }
                guard bytes[index + 1] == 10 else { throw Invalid(reason: "bare CR") }
                let line = bytes[cursor..<index]
                cursor = index + 2
                return line
            }
            index += 1
        }
        return nil
    }

    private mutating func requestLine(_ line: ArraySlice<UInt8>) throws -> [String] {
        var parts = line.split(separator: 32, omittingEmptySubsequences: false)
        if parts.count != 3, self.tolerances.contains(.extraSpaces), line.first != 32 {
            parts = line.split(separator: 32, omittingEmptySubsequences: true)
            if parts.count == 3 { self.used.insert(.extraSpaces) }
        }
        guard parts.count == 3 else { throw Invalid(reason: "request line is not method SP target SP version") }
        guard !parts[0].isEmpty, parts[0].allSatisfy(Self.isToken) else { throw Invalid(reason: "invalid method") }
        let target = parts[1]
        let text = String(decoding: target, as: UTF8.self).lowercased()
        guard !target.isEmpty, target.allSatisfy({ $0 > 32 && $0 < 127 && !"\"<>\\^`{|}#".utf8.contains($0) }),
            text.hasPrefix("/") || text == "*" || text.hasPrefix("http://") || text.hasPrefix("https://")
        else {
            throw Invalid(reason: "invalid request target")
        }
        let version = String(decoding: parts[2], as: UTF8.self)
        guard version == "HTTP/1.1" || version == "HTTP/1.0" else { throw Invalid(reason: "invalid version") }
        return [String(decoding: parts[0], as: UTF8.self), String(decoding: target, as: UTF8.self), version]
    }

    private mutating func statusLine(_ line: ArraySlice<UInt8>) throws -> [String] {
        var line = line
        if line.count == 12, self.tolerances.contains(.missingReason) {
            self.used.insert(.missingReason)
            line = ArraySlice(line + [32])
        }
        let text = String(decoding: line, as: UTF8.self)
        guard line.count >= 13, text.hasPrefix("HTTP/1.1 ") || text.hasPrefix("HTTP/1.0 ") else {
            throw Invalid(reason: "invalid status line")
        }
        let code = line[(line.startIndex + 9)..<(line.startIndex + 12)]
        guard code.allSatisfy({ $0 >= 48 && $0 <= 57 }), line[line.startIndex + 12] == 32,
            let status = Int(String(decoding: code, as: UTF8.self)), (100...599).contains(status),
            line.dropFirst(13).allSatisfy(Self.isValueByte)
        else { throw Invalid(reason: "invalid status line") }
        return [String(text.prefix(8)), String(status), String(decoding: line.dropFirst(13), as: UTF8.self)]
    }

    private static func field(_ line: ArraySlice<UInt8>) throws -> (name: String, value: String) {
        guard let colon = line.firstIndex(of: 58), colon > line.startIndex else {
            throw Invalid(reason: "header line without name")
        }
        let name = line[..<colon]
        guard name.allSatisfy(Self.isToken) else {
            throw Invalid(reason: "invalid header name (space before colon, obs-fold?)")
        }
        var value = line[(colon + 1)...]
        while let first = value.first, first == 32 || first == 9 { value = value.dropFirst() }
        while let last = value.last, last == 32 || last == 9 { value = value.dropLast() }
        guard value.allSatisfy(Self.isValueByte) else { throw Invalid(reason: "control character in a header value") }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }

    private mutating func chunkSize(_ line: ArraySlice<UInt8>) throws -> Int {
        var digits = line
        if let semicolon = line.firstIndex(of: 59) {
            guard self.tolerances.contains(.chunkExtension) else { throw Invalid(reason: "chunk extension") }
            self.used.insert(.chunkExtension)
            digits = line[..<semicolon]
        }
        guard !digits.isEmpty, digits.count <= 15, let size = Int(String(decoding: digits, as: UTF8.self), radix: 16),
            digits.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 70) || ($0 >= 97 && $0 <= 102) })
        else { throw Invalid(reason: "invalid chunk size") }
        return size
    }

    static func isToken(_ byte: UInt8) -> Bool {
        (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
            || "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }

    static func isValueByte(_ byte: UInt8) -> Bool { byte == 9 || (byte >= 32 && byte != 127) }
}
