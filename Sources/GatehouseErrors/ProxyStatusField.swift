/// One member of a `Proxy-Status` field (RFC 9209 §2): the intermediary that handled the response and
/// what it says about it.
public struct ProxyStatusEntry: Sendable, Hashable {
    /// The intermediary's name (`gatehouse`, `example.net`), as a token or a string.
    public var proxy: String
    /// The `error` parameter as written (an RFC 9209 §2.3 type, or one this vocabulary does not know).
    public var error: String?
    /// `next-hop`: where the intermediary was sending the request.
    public var nextHop: String?
    /// `details`: free text for humans.
    public var details: String?
    /// `received-status`: the status the intermediary got from its next hop and passed on.
    public var receivedStatus: Int?

    public init(
        proxy: String, error: String? = nil, nextHop: String? = nil, details: String? = nil,
        receivedStatus: Int? = nil
    ) {
        self.proxy = proxy
        self.error = error
        self.nextHop = nextHop
        self.details = details
        self.receivedStatus = receivedStatus
    }

    /// The `error` parameter in the shared vocabulary, when it is one of RFC 9209's types.
    public var errorType: ProxyStatusError? { self.error.flatMap(ProxyStatusError.init(rawValue:)) }
}

/// Reads a `Proxy-Status` field: an RFC 8941 List whose members are an intermediary's name with
/// parameters. Each intermediary appends its member, so the first member is the one closest to the
/// origin and the last the one closest to the client (RFC 9209 §2).
///
/// Lenient where the field is malformed: a member that cannot be read is skipped (up to the next
/// top-level comma) rather than losing the whole field, because a monitor would rather read three good
/// members than none. Quoted strings are honoured, so a `details="a, b; c"` does not split a member.
public enum ProxyStatusField {
    /// The members of one or more field lines (several lines combine in order, RFC 9110 §5.3).
    public static func parse(_ lines: [String]) -> [ProxyStatusEntry] {
        lines.flatMap(Self.parse)
    }

    /// The members of one field value.
    public static func parse(_ value: String) -> [ProxyStatusEntry] {
        var cursor = Cursor(Array(value.utf8))
        var entries: [ProxyStatusEntry] = []
        while true {
            cursor.skipSpaces()
            if cursor.atEnd { break }
            if let entry = Self.member(&cursor) { entries.append(entry) }
            // Whatever is left of this member (after an error) is skipped up to the next comma.
            cursor.skipToComma()
            guard cursor.consume(UInt8(ascii: ",")) else { break }
        }
        return entries
    }

    private static func member(_ cursor: inout Cursor) -> ProxyStatusEntry? {
        guard let name = cursor.bareItem() else { return nil }
        var entry = ProxyStatusEntry(proxy: name)
        while true {
            cursor.skipSpaces()
            guard cursor.consume(UInt8(ascii: ";")) else { break }
            cursor.skipSpaces()
            guard let key = cursor.key() else { return entry }
            // A parameter without a value is boolean true (RFC 8941 §3.1.2).
            let value = cursor.consume(UInt8(ascii: "=")) ? cursor.bareItem() : "?1"
            guard let value else { return entry }
            switch key {
            case "error": entry.error = value
            case "next-hop": entry.nextHop = value
            case "details": entry.details = value
            case "received-status": entry.receivedStatus = Int(value)
            default: break
            }
        }
        return entry
    }

    /// A read position in the field's bytes.
    private struct Cursor {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        var atEnd: Bool { self.index >= self.bytes.count }
        var current: UInt8? { self.atEnd ? nil : self.bytes[self.index] }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard self.current == byte else { return false }
            self.index += 1
            return true
        }

        mutating func skipSpaces() {
            while let byte = self.current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { self.index += 1 }
        }

        /// Moves to the next comma outside a quoted string (or the end).
        mutating func skipToComma() {
            var quoted = false
            while let byte = self.current {
                if quoted {
                    if byte == UInt8(ascii: "\\") { self.index += 1 } else if byte == UInt8(ascii: "\"") { quoted = false }
                } else if byte == UInt8(ascii: "\"") {
                    quoted = true
                } else if byte == UInt8(ascii: ",") {
                    return
                }
                self.index += 1
            }
        }

        /// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`; upper case is tolerated.
        mutating func key() -> String? {
            let start = self.index
            while let byte = self.current, Self.isKeyCharacter(byte, first: self.index == start) { self.index += 1 }
            return self.index == start ? nil : String(decoding: self.bytes[start..<self.index], as: UTF8.self).lowercased()
        }

        /// A string (unescaped), or the text of a token, number, boolean or byte sequence as written.
        mutating func bareItem() -> String? {
            guard let first = self.current else { return nil }
            if first == UInt8(ascii: "\"") { return self.string() }
            let start = self.index
            while let byte = self.current, Self.isItemCharacter(byte) { self.index += 1 }
            return self.index == start ? nil : String(decoding: self.bytes[start..<self.index], as: UTF8.self)
        }

        private mutating func string() -> String? {
            self.index += 1
            var out: [UInt8] = []
            while let byte = self.current {
                self.index += 1
                switch byte {
                case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard let escaped = self.current else { return nil }
                    self.index += 1
                    out.append(escaped)
                default: out.append(byte)
                }
            }
            return nil
        }

        private static func isKeyCharacter(_ byte: UInt8, first: Bool) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "*"): true
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."): !first
            default: false
            }
        }

        /// Token characters (tchar, `:` and `/`), plus what numbers, booleans (`?1`) and byte
        /// sequences (`:base64=:`) are made of.
        private static func isItemCharacter(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~:/?=".utf8.contains(byte)
            }
        }
    }
}
