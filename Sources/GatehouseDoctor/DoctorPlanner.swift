import GatehouseConfig
import NIOSSL

/// Turns the command line into a ``DoctorPlan``: target parsing, durations, cluster selection. Pure
/// (the configuration is loaded by a function passed in), so every rule is tested without files.
public enum DoctorPlanner {
    /// Validates `arguments`; `loadConfiguration` reads a file (``ConfigurationLoader/load(path:)`` in the CLI).
    public static func plan(
        _ arguments: DoctorArguments,
        loadConfiguration: (String) throws(ConfigurationError) -> GatehouseConfiguration
    ) throws(DoctorUsageError) -> DoctorPlan {
        guard let timeout = Self.parseDuration(arguments.timeout), timeout > .zero else {
            throw DoctorUsageError("invalid --timeout '\(arguments.timeout)': use a positive duration such as 5s or 500ms")
        }
        guard let keepAliveMax = Self.parseDuration(arguments.keepAliveMax) else {
            throw DoctorUsageError(
                "invalid --keepalive-max '\(arguments.keepAliveMax)': use a duration such as 10s, or 0 to disable")
        }
        guard arguments.path.hasPrefix("/") else {
            throw DoctorUsageError("invalid --path '\(arguments.path)': it must start with /")
        }
        if let caFile = arguments.caFile {
            // Read now, so an unreadable file is a usage error (exit 2) rather than a TLS failure later.
            guard let certificates = try? NIOSSLCertificate.fromPEMFile(caFile), !certificates.isEmpty else {
                throw DoctorUsageError("cannot read CA certificates from --ca-file \(caFile) (a PEM file is expected)")
            }
        }
        var configuration: GatehouseConfiguration?
        if let path = arguments.configPath {
            do {
                configuration = try loadConfiguration(path)
            } catch {
                throw DoctorUsageError(messages: error.diagnostics.map(\.description) + ["cannot use configuration \(path)"])
            }
        } else if arguments.cluster != nil {
            throw DoctorUsageError("--cluster needs a configuration: -c FILE")
        }

        var probes: [ProbeTarget]
        if let text = arguments.target {
            var probe = try Self.parseTarget(text)
            if let configuration {
                probe.limits = ProbeLimits(cluster: try Self.cluster(for: probe, named: arguments.cluster, in: configuration))
            }
            probes = [probe]
        } else if let configuration {
            probes = try Self.serverProbes(configuration, cluster: arguments.cluster, path: arguments.path)
        } else {
            throw DoctorUsageError(
                "give a target: a URL (https://shop.example.com/cart), host:port, or -c gatehouse.yaml [--cluster NAME]")
        }
        // Without --ca-file, the CA the checked cluster trusts (a TLS cluster's ca_file), as the gateway does.
        // (One CA for the run: with several TLS clusters of different CAs, name one with --cluster.)
        let checked = arguments.cluster.flatMap { configuration?.cluster(named: $0) }.map { [$0] } ?? configuration?.clusters ?? []
        let clusterCA = arguments.target == nil ? checked.lazy.compactMap(\.tls?.caFile).first : nil
        return DoctorPlan(
            target: arguments.target ?? arguments.configPath ?? "", probes: probes, timeout: timeout,
            keepAliveMax: keepAliveMax, caFile: arguments.caFile ?? clusterCA,
            checkLocalResources: arguments.checkLocalResources)
    }

    /// `http://host:port/path`, `https://host/path?query`, `host:port` or `[v6]:port` (plain HTTP, `GET /`).
    public static func parseTarget(_ text: String) throws(DoctorUsageError) -> ProbeTarget {
        let invalid = DoctorUsageError(
            "invalid target '\(text)': expected a URL (http://host:port/path, https://host/path) or host:port")
        var rest = Substring(text)
        var scheme = ProbeTarget.Scheme.http
        var explicitScheme = false
        if let separator = Self.schemeSeparator(in: rest) {
            guard let parsed = ProbeTarget.Scheme(rawValue: rest[..<separator].lowercased()) else {
                throw DoctorUsageError("unsupported scheme in '\(text)': doctor checks http:// and https:// URLs")
            }
            scheme = parsed
            explicitScheme = true
            rest = rest[rest.index(separator, offsetBy: 3)...]
        }
        let pathStart = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" }
        let authority = pathStart.map { rest[..<$0] } ?? rest
        var path = pathStart.map { String(rest[$0...]) } ?? "/"
        if let fragment = path.firstIndex(of: "#") { path = String(path[..<fragment]) }
        if path.hasPrefix("?") { path = "/" + path }
        if path.isEmpty { path = "/" }
        guard !authority.contains("@") else {
            throw DoctorUsageError("invalid target '\(text)': credentials in the URL are not supported")
        }
        let host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty, !host.contains(":") || authority.hasPrefix("[") else { throw invalid }
        let port: Int
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw DoctorUsageError("invalid port in '\(text)': expected 1-65535")
            }
            port = value
        } else if explicitScheme {
            port = scheme.defaultPort
        } else {
            throw DoctorUsageError("invalid target '\(text)': give host:port, or a URL with http:// or https://")
        }
        return ProbeTarget(scheme: scheme, host: String(host), port: port, path: path)
    }

    /// Where `://` starts, if the text has a scheme.
    private static func schemeSeparator(in text: Substring) -> Substring.Index? {
        var index = text.startIndex
        while index < text.endIndex {
            if text[index...].hasPrefix("://") { return index }
            if text[index] == "/" { return nil }
            index = text.index(after: index)
        }
        return nil
    }

    /// `250ms`, `2s`, `1.5s`, `5m`, or a bare number of seconds (`5`, `0.5`).
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(suffix: String, seconds: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        let trimmed = text.trimmed(" ")
        for unit in units where trimmed.hasSuffix(unit.suffix) {
            guard let value = Double(trimmed.dropLast(unit.suffix.count)), value >= 0, value.isFinite else { return nil }
            return .milliseconds(Int64((value * unit.seconds * 1000).rounded()))
        }
        guard let value = Double(trimmed), value >= 0, value.isFinite else { return nil }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// The cluster whose limits apply to a URL given together with `-c`: the named one, else the one
    /// that has this address as a server, else the only one.
    static func cluster(for probe: ProbeTarget, named name: String?, in configuration: GatehouseConfiguration)
        throws(DoctorUsageError) -> Cluster
    {
        if let name {
            guard let cluster = configuration.cluster(named: name) else {
                throw Self.unknownCluster(name, configuration)
            }
            return cluster
        }
        let matching = configuration.clusters.filter { cluster in
            cluster.servers.contains { $0.address.host == probe.host && $0.address.port == probe.port }
        }
        if let only = matching.first, matching.count == 1 { return only }
        if let only = configuration.clusters.first, configuration.clusters.count == 1 { return only }
        throw DoctorUsageError(
            "\(probe.hostPort) matches \(matching.isEmpty ? "no" : "more than one") cluster's servers: name the cluster whose limits apply with --cluster NAME"
        )
    }

    static func serverProbes(_ configuration: GatehouseConfiguration, cluster name: String?, path: String)
        throws(DoctorUsageError) -> [ProbeTarget]
    {
        var clusters = configuration.clusters
        if let name {
            guard let cluster = configuration.cluster(named: name) else { throw Self.unknownCluster(name, configuration) }
            clusters = [cluster]
        }
        let probes = clusters.flatMap { cluster in
            cluster.servers.map { server in
                ProbeTarget(
                    scheme: cluster.tls == nil ? .http : .https, host: server.address.host, port: server.address.port,
                    path: path, server: "\(cluster.name)/\(server.address)", limits: ProbeLimits(cluster: cluster))
            }
        }
        guard !probes.isEmpty else {
            throw DoctorUsageError("no servers to check: the selected clusters are empty (a gateway answers 503 destination_unavailable)")
        }
        return probes
    }

    private static func unknownCluster(_ name: String, _ configuration: GatehouseConfiguration) -> DoctorUsageError {
        let names = configuration.clusters.map { "'\($0.name)'" }.joined(separator: ", ")
        return DoctorUsageError("no cluster named '\(name)' in the configuration (clusters: \(names))")
    }
}

extension StringProtocol {
    /// The text without leading and trailing `character`s (Foundation-free).
    func trimmed(_ character: Character) -> String {
        var slice = Substring(self)
        while slice.first == character { slice = slice.dropFirst() }
        while slice.last == character { slice = slice.dropLast() }
        return String(slice)
    }
}
