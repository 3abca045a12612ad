#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a scalar's text is not a valid value; the walker prefixes it with what and where (a command
/// line, with the option's name).
public struct InvalidValue: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String

    public var description: String { self.reason }

    init(_ reason: String) {
        self.reason = reason
    }
}

/// The text syntaxes of configuration values, independent of YAML so they can be tested as tables.
public enum ValueSyntax {
    static let durationHint = "durations need a unit: 2s, 250ms, 5m, 1h"

    /// `250ms`, `2s`, `5m`, `1h` and compounds such as `1m30s`. A bare number is refused: `30` has
    /// cost people hours of guessing whether it meant seconds or milliseconds.
    static func duration(_ text: String) throws(InvalidValue) -> Duration {
        if !text.isEmpty, text.allSatisfy(\.isASCIIDigit) { throw InvalidValue(durationHint) }
        let syntax = InvalidValue("expected a number with a unit, like 250ms, 2s, 5m, 1h or 1m30s")
        var rest = Substring(text)
        var milliseconds: Int64 = 0
        guard !rest.isEmpty else { throw syntax }
        while !rest.isEmpty {
            let digits = rest.prefix(while: \.isASCIIDigit)
            guard !digits.isEmpty, let number = Int64(digits) else { throw syntax }
            rest = rest.dropFirst(digits.count)
            let unit = rest.prefix(while: \.isLetter)
            rest = rest.dropFirst(unit.count)
            let scale: Int64
            switch unit {
            case "ms": scale = 1
            case "s": scale = 1000
            case "m": scale = 60_000
            case "h": scale = 3_600_000
            default: throw syntax
            }
            let (scaled, overflow) = number.multipliedReportingOverflow(by: scale)
            let (sum, overflow2) = milliseconds.addingReportingOverflow(scaled)
            guard !overflow, !overflow2 else { throw InvalidValue("duration is too large") }
            milliseconds = sum
        }
        return .milliseconds(milliseconds)
    }

    /// A duration as the file would write it, for messages and `/admin/config`: `2s`, `250ms`,
    /// `1500ms`, `1m30s`, `5m`.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        var milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard milliseconds > 0 else { return "0s" }
        // `1500ms` reads better than `1s500ms`.
        if milliseconds < 60_000, milliseconds % 1000 != 0 { return "\(milliseconds)ms" }
        var text = ""
        for (unit, scale) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000), ("ms", 1)]
        where milliseconds >= scale {
            text += "\(milliseconds / scale)\(unit)"
            milliseconds %= scale
        }
        return text
    }

    /// Bytes, or a number with a unit; every unit is a power of 1024 because nobody sizing a buffer means 1000.
    static func size(_ text: String) throws(InvalidValue) -> Int64 {
        let digits = text.prefix(while: \.isASCIIDigit)
        let unit = text.dropFirst(digits.count).lowercased()
        let shift: Int64
        switch unit {
        case "", "b": shift = 0
        case "k", "kb", "kib": shift = 10
        case "m", "mb", "mib": shift = 20
        case "g", "gb", "gib": shift = 30
        default: throw InvalidValue("expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB")
        }
        guard !digits.isEmpty, let number = Int64(digits), number <= (Int64.max >> shift) else {
            throw InvalidValue(
                digits.isEmpty
                    ? "expected bytes or a number with a unit, like 65536, 32KiB, 1MiB or 1GiB" : "size is too large")
        }
        return number << shift
    }

    /// `host:port`, with IPv6 literals in brackets (`[::1]:8080`).
    static func hostPort(_ text: String, ports: ClosedRange<Int>) throws(InvalidValue) -> HostPort {
        let example = "expected host:port, e.g. 127.0.0.1:8080"
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw InvalidValue("missing ']' after the IPv6 address") }
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            guard after.first == ":" else { throw InvalidValue("missing port (\(example), [::1]:8080)") }
            guard ipv6(String(host)) != nil else { throw InvalidValue("'\(host)' is not an IPv6 address") }
            portText = after.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw InvalidValue("missing port (\(example))") }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw InvalidValue("IPv6 addresses need brackets: [\(host)]:\(portText)") }
            guard !host.isEmpty else { throw InvalidValue("missing host (use 0.0.0.0\(text) for every interface)") }
            try checkHostName(String(host))
        }
        guard !portText.isEmpty else { throw InvalidValue("missing port (\(example))") }
        guard portText.allSatisfy(\.isASCIIDigit) else { throw InvalidValue("port '\(portText)' is not a number") }
        guard let port = portText.count <= 6 ? Int(portText) : nil, ports.contains(port) else {
            throw InvalidValue("port must be between \(ports.lowerBound) and \(ports.upperBound), got \(portText)")
        }
        return HostPort(host: String(host), port: port)
    }

    /// A DNS name (RFC 1123 labels; `_` tolerated since container service names use it) or an IPv4 literal.
    static func checkHostName(_ host: String) throws(InvalidValue) {
        if host.allSatisfy({ $0.isASCIIDigit || $0 == "." }) {
            guard ipv4(host) != nil else { throw InvalidValue("'\(host)' is not an IPv4 address") }
            return
        }
        let name = host.hasSuffix(".") ? host.dropLast() : Substring(host)
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        let valid =
            !name.isEmpty && name.utf8.count <= 253
            && labels.allSatisfy { label in
                (1...63).contains(label.utf8.count) && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            }
        guard valid else { throw InvalidValue("'\(host)' is not a valid host name") }
    }

    /// Letters, digits, `-`, `.` and `_`: safe in headers, metric labels and log fields.
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) }
    }

    /// An HTTP token (RFC 9110 §5.6.2): what a header field name or a cookie name is made of.
    static func isHTTPToken(_ text: String) -> Bool {
        !text.isEmpty
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "!#$%&'*+-.^_`|~".contains($0)) }
    }

    /// What a `Host` header may hold: a host name or IPv4 address, `[IPv6]`, each with an optional port.
    static func isHostHeader(_ text: String) -> Bool {
        if (try? checkHostName(text)) != nil || (try? hostPort(text, ports: 1...65535)) != nil { return true }
        return text.hasPrefix("[") && text.hasSuffix("]") && ipv6(String(text.dropFirst().dropLast())) != nil
    }

    /// `10.0.0.0/8`, `127.0.0.1`, `::1`, `fd00::/8`. Host bits below the prefix are cleared.
    static func addressRange(_ text: String) throws(InvalidValue) -> AddressRange {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let address = String(parts[0])
        guard let bytes = ipv4(address) ?? ipv6(address) else {
            throw InvalidValue("expected an IP address or a CIDR range, like 10.0.0.0/8, 127.0.0.1 or fd00::/8")
        }
        let maximum = bytes.count * 8
        var prefixLength = maximum
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isASCIIDigit), let length = Int(parts[1].prefix(4)),
                length <= maximum
            else { throw InvalidValue("prefix length must be between 0 and \(maximum), got '\(parts[1])'") }
            prefixLength = length
        }
        var network = bytes
        for index in network.indices {
            let kept = min(8, max(0, prefixLength - index * 8))
            network[index] &= kept == 0 ? 0 : ~(0xff >> UInt8(kept))
        }
        return AddressRange(network: network, prefixLength: prefixLength)
    }

    /// The 4 bytes of a dotted-quad IPv4 address.
    static func ipv4(_ text: String) -> [UInt8]? {
        presentation(text, family: AF_INET, count: 4)
    }

    /// The 16 bytes of an IPv6 address (zone ids are not accepted: they mean nothing in a config shared across hosts).
    static func ipv6(_ text: String) -> [UInt8]? {
        presentation(text, family: AF_INET6, count: 16)
    }

    private static func presentation(_ text: String, family: Int32, count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        let result = bytes.withUnsafeMutableBytes { buffer in inet_pton(family, text, buffer.baseAddress) }
        return result == 1 ? bytes : nil
    }
}

extension Character {
    /// `0`–`9` only; `isNumber` also accepts other scripts' digits and fractions.
    var isASCIIDigit: Bool { self.isASCII && self.isNumber }
}
