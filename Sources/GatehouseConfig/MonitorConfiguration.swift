/// A validated `monitor.yaml`: the URLs `gatehouse monitor` probes, where it exposes its metrics and
/// where it sends alerts. Built by ``ConfigurationLoader/loadMonitor(path:)``, or from the command line.
public struct MonitorConfiguration: Sendable, Equatable {
    /// In file order; names are unique.
    public var targets: [MonitorTarget]
    /// Where `GET /metrics` is served; `nil`: no metrics listener.
    public var listen: HostPort?
    public var alerts: MonitorAlerts

    public init(targets: [MonitorTarget], listen: HostPort? = nil, alerts: MonitorAlerts = MonitorAlerts()) {
        self.targets = targets
        self.listen = listen
        self.alerts = alerts
    }
}

/// One URL to probe and what counts as healthy.
public struct MonitorTarget: Sendable, Hashable {
    /// Blackbox_exporter's and Uptime Kuma's usual period.
    public static let defaultInterval: Duration = .seconds(30)
    /// Two failures in a row before DOWN: one lost probe is not an outage.
    public static let defaultRetries = 2
    /// The time limit of each hop, unless the interval is shorter.
    public static let defaultTimeout: Duration = .seconds(10)

    /// The name in metrics labels, the status table and alerts (the URL when not given).
    public var name: String
    public var url: HTTPURL
    public var interval: Duration
    /// The time limit of each hop (DNS, connect, TLS, response), as `gatehouse doctor --timeout`.
    public var timeout: Duration
    public var expectStatus: StatusExpectation
    /// A substring the body must contain (in its first 64 KiB).
    public var bodyMatch: String?
    /// How many consecutive failed probes declare the target DOWN (Uptime Kuma's `maxretries`); one
    /// success declares it UP again.
    public var retries: Int

    public init(
        name: String? = nil, url: HTTPURL, interval: Duration = MonitorTarget.defaultInterval, timeout: Duration? = nil,
        expectStatus: StatusExpectation = .success, bodyMatch: String? = nil, retries: Int = MonitorTarget.defaultRetries
    ) {
        self.name = name ?? url.description
        self.url = url
        self.interval = interval
        self.timeout = timeout ?? min(Self.defaultTimeout, interval)
        self.expectStatus = expectStatus
        self.bodyMatch = bodyMatch
        self.retries = retries
    }
}

/// Where alerts go.
public struct MonitorAlerts: Sendable, Equatable {
    /// Each alert is POSTed as JSON to every one of them.
    public var webhooks: [HTTPURL]
    /// While a target stays down, alert again this often (`still_down`); `nil`: once per transition only.
    public var renotify: Duration?

    public init(webhooks: [HTTPURL] = [], renotify: Duration? = nil) {
        self.webhooks = webhooks
        self.renotify = renotify
    }
}

/// The statuses that count as success: `200`, `2xx`, `200-399`, or a list of them.
public struct StatusExpectation: Sendable, Hashable, CustomStringConvertible {
    /// 2xx and 3xx, as blackbox_exporter and Uptime Kuma accept by default.
    public static let success = StatusExpectation(ranges: [200...399])

    public var ranges: [ClosedRange<Int>]

    public init(ranges: [ClosedRange<Int>]) {
        self.ranges = ranges
    }

    /// `200`, `2xx`, `200-399`, or several separated by commas (`2xx,404`).
    public init(parsing text: String) throws(InvalidValue) {
        var ranges: [ClosedRange<Int>] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            ranges.append(try ValueSyntax.statusRange(String(item).trimmingSpaces))
        }
        self.init(ranges: ranges)
    }

    public func matches(_ status: Int) -> Bool {
        self.ranges.contains { $0.contains(status) }
    }

    /// `200-399`, `2xx`, `200`; several joined with `,`.
    public var description: String {
        self.ranges.map { range in
            if range.lowerBound == range.upperBound { return "\(range.lowerBound)" }
            if range.lowerBound % 100 == 0, range.upperBound == range.lowerBound + 99 { return "\(range.lowerBound / 100)xx" }
            return "\(range.lowerBound)-\(range.upperBound)"
        }.joined(separator: ",")
    }
}

/// An `http://` or `https://` URL: a target to probe, or a webhook to post to.
public struct HTTPURL: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`.
    public enum Scheme: String, Sendable, Hashable {
        case http
        case https

        /// The port a URL without one means.
        public var defaultPort: Int { self == .https ? 443 : 80 }
    }

    public var scheme: Scheme
    /// Host name or IP literal, without IPv6 brackets.
    public var host: String
    public var port: Int
    /// Path and query, starting with `/`.
    public var path: String

    public init(scheme: Scheme, host: String, port: Int? = nil, path: String = "/") {
        self.scheme = scheme
        self.host = host
        self.port = port ?? scheme.defaultPort
        self.path = path
    }

    /// Parses `http://host[:port][/path][?query]`; a fragment is dropped.
    public init(parsing text: String) throws(InvalidValue) {
        self = try ValueSyntax.httpURL(text)
    }

    /// The URL with the port left out when it is the scheme's default.
    public var description: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        let port = self.port == self.scheme.defaultPort ? "" : ":\(self.port)"
        return "\(self.scheme.rawValue)://\(host)\(port)\(self.path)"
    }
}

/// The value syntaxes of configuration files, for values given elsewhere (command-line options), so
/// `--interval 30s` and `interval: 30s` accept and refuse the same things.
public enum ConfigSyntax {
    /// `250ms`, `2s`, `5m`, `1h`, `1m30s`: a unit is required.
    public static func duration(_ text: String) throws(InvalidValue) -> Duration {
        try ValueSyntax.duration(text)
    }

    /// `host:port`, `[::1]:port`; port 0 means any free port.
    public static func hostPort(_ text: String) throws(InvalidValue) -> HostPort {
        try ValueSyntax.hostPort(text, ports: 0...65535)
    }
}

extension ValueSyntax {
    /// `200`, `2xx` or `200-399`, within 100–599.
    static func statusRange(_ text: String) throws(InvalidValue) -> ClosedRange<Int> {
        let invalid = InvalidValue("expected a status (200), a class (2xx) or a range (200-399), got '\(text)'")
        let range: ClosedRange<Int>
        if text.count == 3, text.lowercased().hasSuffix("xx"), let first = text.first?.wholeNumberValue {
            range = first * 100...first * 100 + 99
        } else if let dash = text.firstIndex(of: "-") {
            guard let low = Self.status(text[..<dash]), let high = Self.status(text[text.index(after: dash)...]) else {
                throw invalid
            }
            guard low <= high else { throw InvalidValue("the range \(text) is empty: write the lower status first") }
            range = low...high
        } else {
            guard let status = Self.status(Substring(text)) else { throw invalid }
            range = status...status
        }
        guard range.lowerBound >= 100, range.upperBound <= 599 else {
            throw InvalidValue("statuses are between 100 and 599, got '\(text)'")
        }
        return range
    }

    private static func status(_ text: Substring) -> Int? {
        text.count == 3 && text.allSatisfy(\.isASCIIDigit) ? Int(text) : nil
    }

    /// `http(s)://host[:port][/path][?query][#fragment]`: no credentials, no spaces.
    static func httpURL(_ text: String) throws(InvalidValue) -> HTTPURL {
        guard !text.contains(where: { $0.isWhitespace || ($0.asciiValue.map { $0 < 0x20 || $0 == 0x7f } ?? false) }) else {
            throw InvalidValue("a URL cannot contain spaces or control characters (encode them: %20)")
        }
        guard let separator = Self.schemeSeparator(in: text) else {
            throw InvalidValue("expected a URL starting with http:// or https://")
        }
        let schemeText = text[..<separator].lowercased()
        guard let scheme = HTTPURL.Scheme(rawValue: schemeText) else {
            throw InvalidValue("unsupported scheme '\(schemeText)': expected http:// or https://")
        }
        let rest = text[text.index(separator, offsetBy: 3)...]
        let pathStart = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" }
        let authority = String(pathStart.map { rest[..<$0] } ?? rest)
        var path = pathStart.map { String(rest[$0...]) } ?? "/"
        if let fragment = path.firstIndex(of: "#") { path = String(path[..<fragment]) }
        if path.hasPrefix("?") || path.isEmpty { path = "/" + path }
        guard !authority.isEmpty else { throw InvalidValue("the URL has no host") }
        guard !authority.contains("@") else { throw InvalidValue("credentials in the URL are not supported") }
        // With a port, the address syntax of the rest of the file (IPv6 in brackets included).
        if authority.hasSuffix("]") || !authority.contains(":") {
            var host = authority
            if host.hasPrefix("[") {
                host = String(host.dropFirst().dropLast())
                guard Self.ipv6(host) != nil else { throw InvalidValue("'\(host)' is not an IPv6 address") }
            } else {
                try Self.checkHostName(host)
            }
            return HTTPURL(scheme: scheme, host: host, port: nil, path: path)
        }
        let address = try Self.hostPort(authority, ports: 1...65535)
        return HTTPURL(scheme: scheme, host: address.host, port: address.port, path: path)
    }

    private static func schemeSeparator(in text: String) -> String.Index? {
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].hasPrefix("://") { return index }
            if !(text[index].isLetter || text[index] == "+" || text[index] == "-" || text[index] == ".") { return nil }
            index = text.index(after: index)
        }
        return nil
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces (Foundation-free).
    var trimmingSpaces: String {
        var slice = Substring(self)
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return String(slice)
    }
}
