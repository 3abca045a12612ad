import GatehouseConfig

/// One endpoint to diagnose: where to connect and what to ask, with the limits to compare against.
public struct ProbeTarget: Sendable, Equatable {
    /// `http` or `https`: the same as a configured URL's.
    public typealias Scheme = HTTPURL.Scheme

    public var scheme: Scheme
    /// Host name or IP literal, without IPv6 brackets.
    public var host: String
    public var port: Int
    /// Path and query sent in the request line.
    public var path: String
    /// `cluster/host:port` in `-c` mode, else `nil`.
    public var server: String?
    /// The gateway limits this target's findings are measured against.
    public var limits: ProbeLimits

    public init(
        scheme: Scheme, host: String, port: Int, path: String = "/", server: String? = nil,
        limits: ProbeLimits = ProbeLimits()
    ) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.server = server
        self.limits = limits
    }

    /// `host:port`, brackets around IPv6 literals.
    public var hostPort: String { HostPort(host: self.host, port: self.port).description }

    /// The `Host` header: the port is left out when it is the scheme's default (as browsers do).
    public var hostHeader: String {
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return self.port == self.scheme.defaultPort ? host : "\(host):\(self.port)"
    }

    /// The URL, for display.
    public var url: String { "\(self.scheme.rawValue)://\(self.hostHeader)\(self.path)" }
}

/// The gateway limits a probe's observations are compared with: a cluster's, or Gatehouse's defaults.
public struct ProbeLimits: Sendable, Equatable {
    /// Where the numbers come from, for the wording of findings.
    public enum Source: Sendable, Hashable {
        /// No configuration was given: Gatehouse's defaults.
        case defaults
        /// This cluster of the configuration.
        case cluster(String)
    }

    public var source: Source
    public var timeouts: Cluster.Timeouts
    public var poolIdleTimeout: Duration
    public var maxResponseHeaderBytes: Int

    public init(
        source: Source = .defaults, timeouts: Cluster.Timeouts = Cluster.Timeouts(),
        poolIdleTimeout: Duration = Cluster.Pool().idleTimeout,
        maxResponseHeaderBytes: Int = Cluster.Limits().maxResponseHeaderBytes
    ) {
        self.source = source
        self.timeouts = timeouts
        self.poolIdleTimeout = poolIdleTimeout
        self.maxResponseHeaderBytes = maxResponseHeaderBytes
    }

    /// The limits of a configured cluster.
    public init(cluster: Cluster) {
        self.init(
            source: .cluster(cluster.name), timeouts: cluster.timeouts, poolIdleTimeout: cluster.pool.idleTimeout,
            maxResponseHeaderBytes: cluster.limits.maxResponseHeaderBytes)
    }

    /// "your response_header timeout" or "Gatehouse's default response_header timeout": findings say
    /// whose number it is, so nobody edits a file for a default they never set.
    public func whose(_ knob: String) -> String {
        switch self.source {
        case .defaults: return "Gatehouse's default \(knob)"
        case .cluster: return "your \(knob)"
        }
    }
}

/// Everything a diagnosis run needs, validated: built by ``DoctorPlanner`` from the command line.
public struct DoctorPlan: Sendable {
    /// The target as the user wrote it, for the report's header.
    public var target: String
    /// The endpoints, in order (one, or every server of the selected clusters).
    public var probes: [ProbeTarget]
    /// The time limit of each hop.
    public var timeout: Duration
    /// How long to hold an idle keep-alive connection to see when the upstream closes it; zero disables.
    public var keepAliveMax: Duration
    /// A PEM file of extra trusted CA certificates for https targets.
    public var caFile: String?
    /// Whether to read this machine's resources (/proc).
    public var checkLocalResources: Bool

    public init(
        target: String, probes: [ProbeTarget], timeout: Duration = .seconds(5), keepAliveMax: Duration = .seconds(10),
        caFile: String? = nil, checkLocalResources: Bool = true
    ) {
        self.target = target
        self.probes = probes
        self.timeout = timeout
        self.keepAliveMax = keepAliveMax
        self.caFile = caFile
        self.checkLocalResources = checkLocalResources
    }
}

/// Why a command cannot run: bad arguments or an unreadable configuration (exit code 2).
/// Shared by `doctor` and `monitor`, which take the same kinds of targets.
public struct UsageError: Error, Sendable, CustomStringConvertible {
    /// One message per line.
    public var messages: [String]

    public init(_ messages: String...) {
        self.messages = messages
    }

    public init(messages: [String]) {
        self.messages = messages
    }

    public var description: String { self.messages.joined(separator: "\n") }
}

/// Why a diagnosis cannot run.
public typealias DoctorUsageError = UsageError

/// The command line as typed, before validation.
public struct DoctorArguments: Sendable {
    public var target: String?
    public var configPath: String?
    public var cluster: String?
    public var timeout: String
    public var keepAliveMax: String
    public var caFile: String?
    /// The path requested from each server in `-c` mode.
    public var path: String
    public var checkLocalResources: Bool

    public init(
        target: String?, configPath: String? = nil, cluster: String? = nil, timeout: String = "5s",
        keepAliveMax: String = "10s", caFile: String? = nil, path: String = "/", checkLocalResources: Bool = true
    ) {
        self.target = target
        self.configPath = configPath
        self.cluster = cluster
        self.timeout = timeout
        self.keepAliveMax = keepAliveMax
        self.caFile = caFile
        self.path = path
        self.checkLocalResources = checkLocalResources
    }
}
