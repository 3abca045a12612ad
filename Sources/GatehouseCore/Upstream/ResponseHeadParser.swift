import NIOHTTP1

/// The line-level grammar of ``StrictResponseDecoder``: status line, header fields, trailers and
/// chunk-size lines, over bytes whose line ends were already checked (every LF follows a CR).
enum ResponseHeadParser {
    /// A parsed response head with the framing fields counted for ``ResponseFraming``.
    struct Head {
        var head: HTTPResponseHead
        var contentLength: (count: Int, first: String?)
        var transferEncoding: (count: Int, first: String?)
    }

    /// Parses a complete head: `bytes` runs from the status line through the empty line.
    static func parseHead(_ bytes: UnsafeRawBufferPointer) throws -> Head {
        guard let firstLF = bytes.firstIndex(of: HTTPSyntax.lf) else {
            throw ResponseDecodingError(.malformedHead, "response head without a status line")
        }
        let statusLine = UnsafeRawBufferPointer(rebasing: bytes[..<(firstLF - 1)])
        let (minor, status) = try Self.statusLine(statusLine)
        // The gateway writes the standard reason phrase; for a code NIOHTTP1 has none for (103,
        // 299…) the upstream's own, already checked for control characters, is kept.
        var responseStatus = HTTPResponseStatus(statusCode: status)
        if case .custom = responseStatus, statusLine.count > 13 {
            responseStatus = HTTPResponseStatus(
                statusCode: status,
                reasonPhrase: String(decoding: UnsafeRawBufferPointer(rebasing: statusLine[13...]), as: UTF8.self))
        }
        var fields: [(String, String)] = []
        fields.reserveCapacity(16)
        var contentLength: (count: Int, first: String?) = (0, nil)
        var transferEncoding: (count: Int, first: String?) = (0, nil)
        try Self.fields(UnsafeRawBufferPointer(rebasing: bytes[(firstLF + 1)...]), what: "response header") {
            name, value in
            switch KnownHeader(name) {
            case .contentLength:
                contentLength.count += 1
                if contentLength.first == nil { contentLength.first = value }
                // Leading zeros are valid but pointless: the gateway sends the canonical number.
                if value.utf8.count > 1, value.utf8.first == UInt8(ascii: "0"),
                    let number = RequestFraming.decimal(value)
                {
                    fields.append((name, String(number)))
                    return
                }
            case .transferEncoding:
                transferEncoding.count += 1
                if transferEncoding.first == nil { transferEncoding.first = value }
            default:
                break
            }
            fields.append((name, value))
        }
        let head = HTTPResponseHead(
            version: HTTPVersion(major: 1, minor: minor), status: responseStatus,
            headers: HTTPHeaders(fields))
        return Head(head: head, contentLength: contentLength, transferEncoding: transferEncoding)
    }

    /// Parses a trailer section (`bytes` ends with the empty line). Fields that would change the
    /// framing, routing or connection are dropped: the framing was already decided by the chunked
    /// coding, and a downstream parser that merges trailers must not see them.
    static func parseTrailers(_ bytes: UnsafeRawBufferPointer) throws -> HTTPHeaders? {
        guard bytes.count > 2 else { return nil }
        var fields: [(String, String)] = []
        try Self.fields(bytes, what: "response trailer") { name, value in
            if case .other = KnownHeader(name) { fields.append((name, value)) }
        }
        return fields.isEmpty ? nil : HTTPHeaders(fields)
    }

    /// `HTTP/1.1 200 OK`: version 1.0 or 1.1, a status 100–599, an optional reason of visible
    /// characters (a missing reason is accepted: the gateway writes its own).
    static func statusLine(_ line: UnsafeRawBufferPointer) throws -> (minor: Int, status: Int) {
        let prefix: StaticString = "HTTP/1."
        guard line.count >= 12,
            line.starts(with: UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
        else {
            throw ResponseDecodingError(.malformedHead, "malformed status line \(Self.printable(line))")
        }
        let minor: Int
        switch line[7] {
        case UInt8(ascii: "0"): minor = 0
        case UInt8(ascii: "1"): minor = 1
        default:
            throw ResponseDecodingError(
                .malformedHead, "unsupported HTTP version in status line \(Self.printable(line))")
        }
        var status = 0
        for index in 9..<12 {
            let byte = line[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                throw ResponseDecodingError(.malformedHead, "malformed status code in \(Self.printable(line))")
            }
            status = status * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard line[8] == HTTPSyntax.space, line.count == 12 || line[12] == HTTPSyntax.space else {
            throw ResponseDecodingError(.malformedHead, "malformed status line \(Self.printable(line))")
        }
        guard (100...599).contains(status) else {
            throw ResponseDecodingError(.malformedHead, "status code \(status) outside 100–599")
        }
        if line.count > 13 {
            for byte in line[13...] where !HTTPSyntax.isFieldValueByte(byte) {
                throw ResponseDecodingError(.malformedHead, "control character in the reason phrase")
            }
        }
        return (minor, status)
    }

    /// Calls `field` for each `name: value` line of a section (status line excluded) up to its
    /// empty line. Refuses obs-fold, whitespace before the colon, empty or non-token names, and
    /// control characters (CR, NUL, DEL…) in values; strips the optional whitespace around values.
    static func fields(
        _ bytes: UnsafeRawBufferPointer, what: String, _ field: (String, String) throws -> Void
    ) throws {
        var position = 0
        while position < bytes.count {
            guard let lf = bytes[position...].firstIndex(of: HTTPSyntax.lf) else { return }
            // The decoder's scan already refused a LF without CR; checked again so that no input
            // can make the ranges below invalid.
            guard lf > position, bytes[lf - 1] == HTTPSyntax.cr else {
                throw ResponseDecodingError(.malformedHead, "bare LF in a \(what)")
            }
            let end = lf - 1  // the CR
            if end == position { return }  // the empty line
            let first = bytes[position]
            if first == HTTPSyntax.space || first == HTTPSyntax.tab {
                throw ResponseDecodingError(.malformedHead, "obs-fold (a folded line) in a \(what)")
            }
            var colon = position
            while colon < end, HTTPSyntax.isTokenByte(bytes[colon]) { colon += 1 }
            guard colon > position, colon < end, bytes[colon] == UInt8(ascii: ":") else {
                throw ResponseDecodingError(
                    .malformedHead,
                    "invalid \(what) line \(Self.printable(UnsafeRawBufferPointer(rebasing: bytes[position..<end])))")
            }
            var valueStart = colon + 1
            var valueEnd = end
            while valueStart < valueEnd, bytes[valueStart] == HTTPSyntax.space || bytes[valueStart] == HTTPSyntax.tab {
                valueStart += 1
            }
            while valueEnd > valueStart,
                bytes[valueEnd - 1] == HTTPSyntax.space || bytes[valueEnd - 1] == HTTPSyntax.tab
            {
                valueEnd -= 1
            }
            for index in valueStart..<valueEnd where !HTTPSyntax.isFieldValueByte(bytes[index]) {
                throw ResponseDecodingError(.malformedHead, "control character (CR, NUL, DEL…) in a \(what) value")
            }
            try field(
                String(decoding: UnsafeRawBufferPointer(rebasing: bytes[position..<colon]), as: UTF8.self),
                String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self))
            position = lf + 1
        }
    }

    /// `1a;name=value;flag` without its CRLF: the size in hex (at most 15 digits), then chunk
    /// extensions (token names, token or quoted-string values, no whitespace), which are checked
    /// and dropped (RFC 9112 §7.1.1: a recipient ignores extensions it does not understand).
    static func parseChunkLine(_ line: UnsafeRawBufferPointer) throws -> Int64 {
        var index = 0
        var size: UInt64 = 0
        while index < line.count, let digit = HTTPSyntax.hexValue(line[index]) {
            guard index < 15 else { throw ResponseDecodingError(.invalidChunking, "chunk size too large") }
            size = size << 4 | digit
            index += 1
        }
        guard index > 0 else {
            throw ResponseDecodingError(.invalidChunking, "invalid chunk size \(Self.printable(line))")
        }
        while index < line.count {
            guard line[index] == UInt8(ascii: ";") else {
                throw ResponseDecodingError(.invalidChunking, "invalid chunk-size line \(Self.printable(line))")
            }
            index += 1
            let nameStart = index
            while index < line.count, HTTPSyntax.isTokenByte(line[index]) { index += 1 }
            guard index > nameStart else {
                throw ResponseDecodingError(.invalidChunking, "chunk extension without a name")
            }
            guard index < line.count, line[index] == UInt8(ascii: "=") else { continue }
            index += 1
            if index < line.count, line[index] == UInt8(ascii: "\"") {
                index = try Self.quotedStringEnd(line, from: index)
            } else {
                let valueStart = index
                while index < line.count, HTTPSyntax.isTokenByte(line[index]) { index += 1 }
                guard index > valueStart else {
                    throw ResponseDecodingError(.invalidChunking, "chunk extension with an empty value")
                }
            }
        }
        return Int64(size)
    }

    /// The index after the quoted-string starting at `start` (its opening quote).
    private static func quotedStringEnd(_ line: UnsafeRawBufferPointer, from start: Int) throws -> Int {
        var index = start + 1
        while index < line.count {
            let byte = line[index]
            if byte == UInt8(ascii: "\"") { return index + 1 }
            if byte == UInt8(ascii: "\\") {
                index += 1
                guard index < line.count, HTTPSyntax.isFieldValueByte(line[index]) else { break }
            } else if !HTTPSyntax.isFieldValueByte(byte) {
                break
            }
            index += 1
        }
        throw ResponseDecodingError(.invalidChunking, "invalid quoted chunk-extension value")
    }

    /// At most 64 bytes, control characters replaced, for error messages.
    static func printable(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes.prefix(64).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
