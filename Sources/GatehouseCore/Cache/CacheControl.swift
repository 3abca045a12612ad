import GatehouseErrors
import NIOHTTP1

/// The `Cache-Control` directives a shared cache acts on (RFC 9111 §5.2), read from every
/// `Cache-Control` field of a request or response. Unknown directives are ignored (§5.2.3).
///
/// Qualified `private="..."` and `no-cache="..."` are read as their unqualified forms: a shared
/// cache may not store such a response at all, or must revalidate it every time — stricter than
/// required, never wrong.
struct CacheControl: Sendable, Equatable {
    var maxAge: Int64?
    var sharedMaxAge: Int64?
    var noStore = false
    var noCache = false
    var isPrivate = false
    var isPublic = false
    var mustRevalidate = false
    var proxyRevalidate = false
    var staleIfError: Int64?
    var staleWhileRevalidate: Int64?
    /// Request only: the client accepts a response this much past its freshness (nil = not sent;
    /// `max-stale` without a value is any staleness).
    var maxStale: Int64?
    var minFresh: Int64?

    init() {}

    /// The directives of all the `Cache-Control` fields in `headers`.
    init(_ headers: HTTPHeaders) {
        for field in headers[canonicalForm: "cache-control"] {
            for directive in Self.split(String(field)) {
                self.apply(directive)
            }
        }
    }

    private mutating func apply(_ directive: Substring) {
        let name: Substring
        var argument: Substring?
        if let equals = directive.firstIndex(of: "=") {
            name = directive[..<equals]
            var value = directive[directive.index(after: equals)...]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = value.dropFirst().dropLast() }
            argument = value
        } else {
            name = directive
        }
        switch name.lowercased() {
        // Repeated or malformed lifetimes take the shortest reading (§4.2.1: invalid means stale).
        case "max-age": self.maxAge = min(self.maxAge ?? .max, Self.seconds(argument) ?? 0)
        case "s-maxage": self.sharedMaxAge = min(self.sharedMaxAge ?? .max, Self.seconds(argument) ?? 0)
        case "no-store": self.noStore = true
        case "no-cache": self.noCache = true
        case "private": self.isPrivate = true
        case "public": self.isPublic = true
        case "must-revalidate": self.mustRevalidate = true
        case "proxy-revalidate": self.proxyRevalidate = true
        case "stale-if-error": self.staleIfError = Self.seconds(argument)
        case "stale-while-revalidate": self.staleWhileRevalidate = Self.seconds(argument)
        case "max-stale": self.maxStale = argument == nil ? Int64.max : Self.seconds(argument)
        case "min-fresh": self.minFresh = Self.seconds(argument)
        default: break
        }
    }

    /// A delta-seconds argument (RFC 9111 §1.2.2): digits only; too large a value is the largest
    /// (2^31 is "infinity" to the RFC). A malformed one is nil: an invalid `max-age` then counts as
    /// 0 (stale), the safe reading (§4.2.1).
    static func seconds(_ argument: Substring?) -> Int64? {
        guard let argument, !argument.isEmpty, argument.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return nil
        }
        if argument.utf8.count > 10 { return 2_147_483_648 }
        return min(Int64(argument) ?? 2_147_483_648, 2_147_483_648)
    }

    /// Splits a field value on commas outside quoted strings, trimming spaces.
    static func split(_ field: String) -> [Substring] {
        var parts: [Substring] = []
        var start = field.startIndex
        var quoted = false
        var index = field.startIndex
        while index < field.endIndex {
            let character = field[index]
            if character == "\"" {
                quoted.toggle()
            } else if character == ",", !quoted {
                parts.append(field[start..<index])
                start = field.index(after: index)
            }
            index = field.index(after: index)
        }
        parts.append(field[start...])
        return parts.compactMap { part in
            var trimmed = part
            while let first = trimmed.first, first == " " || first == "\t" { trimmed = trimmed.dropFirst() }
            while let last = trimmed.last, last == " " || last == "\t" { trimmed = trimmed.dropLast() }
            return trimmed.isEmpty ? nil : trimmed
        }
    }
}

/// HTTP dates (RFC 9110 §5.6.7): IMF-fixdate, as every current server sends it, plus the obsolete
/// RFC 850 and asctime forms a recipient must accept. Epoch seconds, no Foundation.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    private static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Epoch seconds of an HTTP date, nil when it is not one.
    static func parse(_ text: String) -> Int64? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        var day: Int?
        var month: Int?
        var year: Int?
        var time: (Int, Int, Int)?
        for word in words {
            if word.contains(":") {
                let parts = word.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 3 else { return nil }
                time = (parts[0], parts[1], parts[2])
            } else if word.contains("-") {
                // RFC 850: 06-Nov-94
                let parts = word.split(separator: "-")
                guard parts.count == 3, let d = Int(parts[0]), let y = Int(parts[2]),
                    let m = Self.months.firstIndex(of: parts[1].lowercased())
                else { return nil }
                day = d
                month = m + 1
                year = y < 100 ? (y < 70 ? 2000 + y : 1900 + y) : y
            } else if let number = Int(word) {
                if number > 31 || day != nil { year = number } else { day = number }
            } else if let m = Self.months.firstIndex(of: word.lowercased()) {
                month = m + 1
            } else if word.uppercased() == "GMT" || word.count >= 3 {
                continue
            } else {
                return nil
            }
        }
        guard let day, let month, let year, let time, (1...31).contains(day), (0...23).contains(time.0),
            (0...59).contains(time.1), (0...60).contains(time.2)
        else { return nil }
        let (hour, minute, second) = time
        return Int64(CivilDate.days(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func format(_ seconds: Int64) -> String {
        let days = CivilDate.days(fromEpochSeconds: Int(seconds))
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        let (year, month, day) = CivilDate.fromDays(days)
        let weekday = Self.weekdays[((days % 7) + 7) % 7]
        return "\(weekday), \(Self.two(day)) \(Self.monthNames[month - 1]) \(year) "
            + "\(Self.two(secondOfDay / 3600)):\(Self.two(secondOfDay / 60 % 60)):\(Self.two(secondOfDay % 60)) GMT"
    }

    private static func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}
