import GatehouseConfig

/// The immutable route table of one configuration snapshot: first match wins.
///
/// Built once per configuration; matching is allocation-free (host and path compared as UTF-8).
public struct RouteTable: Sendable {
    /// A route compiled for matching, with the index of its cluster in the snapshot.
    ///
    /// A class: every request passes its entry along (forwarding, the cache), and copying a struct
    /// holding the whole `Route` retained and released each of its strings and arrays; one
    /// reference is one retain.
    public final class Entry: Sendable {
        public let route: Route
        public let clusterIndex: Int
        /// The route's position in the configuration (its metrics series).
        public let index: Int
        /// Lower-cased exact host, or nil when the route matches any host.
        let exactHost: String?
        /// Lower-cased suffix including the dot (`.example.com`) for `*.example.com`.
        let hostSuffix: String?
        /// `route.match.pathPrefix`, kept beside the host fields the loop reads.
        let pathPrefix: String

        init(route: Route, clusterIndex: Int, index: Int, exactHost: String?, hostSuffix: String?) {
            self.route = route
            self.clusterIndex = clusterIndex
            self.index = index
            self.exactHost = exactHost
            self.hostSuffix = hostSuffix
            self.pathPrefix = route.match.pathPrefix
        }
    }

    public private(set) var entries: [Entry]

    /// Compiles the routes; a route whose cluster is missing is kept and answers
    /// `proxy_configuration_error` (validation normally refuses such a file).
    public init(routes: [Route], clusters: [Cluster]) {
        self.entries = routes.enumerated().map { index, route in
            let clusterIndex = clusters.firstIndex { $0.name == route.cluster } ?? -1
            var exactHost: String? = nil
            var hostSuffix: String? = nil
            if let host = route.match.host?.lowercased() {
                if host.hasPrefix("*.") { hostSuffix = String(host.dropFirst()) } else { exactHost = host }
            }
            return Entry(route: route, clusterIndex: clusterIndex, index: index, exactHost: exactHost, hostSuffix: hostSuffix)
        }
    }

    /// The first route matching the request's host (port ignored, case-insensitive) and path.
    ///
    /// - Parameters:
    ///   - host: the `Host` header value (may carry a port), nil if absent.
    ///   - path: the request target (origin form; the query is part of it).
    public func match(host: String?, path: String) -> Entry? {
        let bareHost = host.map(Self.stripPort)
        for entry in self.entries {
            if let exact = entry.exactHost {
                guard let bareHost, Self.equalsIgnoringCase(bareHost, exact) else { continue }
            } else if let suffix = entry.hostSuffix {
                guard let bareHost, bareHost.utf8.count > suffix.utf8.count,
                    Self.hasSuffixIgnoringCase(bareHost, suffix)
                else { continue }
            }
            if path.utf8.starts(with: entry.pathPrefix.utf8) { return entry }
        }
        return nil
    }

    /// The path to send upstream after `strip_prefix` / `rewrite_prefix`.
    public static func rewrite(path: String, route: Route) -> String {
        let prefix = route.match.pathPrefix
        guard route.stripPrefix || route.rewritePrefix != nil, path.utf8.starts(with: prefix.utf8) else { return path }
        let rest = Substring(path.utf8.dropFirst(prefix.utf8.count))
        let replacement = route.rewritePrefix ?? "/"
        // Join so that exactly one slash separates the new prefix from the rest: `/api` + `/users`
        // and `/api/` + `users` both give `/users` when stripping.
        if replacement.hasSuffix("/") && rest.hasPrefix("/") { return replacement + rest.dropFirst() }
        if !replacement.hasSuffix("/") && !rest.hasPrefix("/") && !rest.isEmpty && !rest.hasPrefix("?") {
            return replacement + "/" + rest
        }
        if rest.isEmpty || rest.hasPrefix("?") {
            return (replacement.isEmpty ? "/" : replacement) + rest
        }
        return replacement + rest
    }

    static func stripPort(_ host: String) -> Substring {
        let utf8 = host.utf8
        if utf8.first == UInt8(ascii: "[") {
            // IPv6 literal: keep what is inside the brackets.
            if let close = utf8.firstIndex(of: UInt8(ascii: "]")) {
                return Substring(host.utf8[utf8.index(after: utf8.startIndex)..<close])
            }
            return Substring(host)
        }
        if let colon = utf8.lastIndex(of: UInt8(ascii: ":")) { return Substring(host.utf8[..<colon]) }
        return Substring(host)
    }

    static func equalsIgnoringCase(_ left: Substring, _ lowerRight: String) -> Bool {
        guard left.utf8.count == lowerRight.utf8.count else { return false }
        return zip(left.utf8, lowerRight.utf8).allSatisfy { Self.lower($0) == $1 }
    }

    static func hasSuffixIgnoringCase(_ text: Substring, _ lowerSuffix: String) -> Bool {
        let start = text.utf8.index(text.utf8.endIndex, offsetBy: -lowerSuffix.utf8.count)
        return zip(text.utf8[start...], lowerSuffix.utf8).allSatisfy { Self.lower($0) == $1 }
    }

    @inline(__always) static func lower(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }
}
