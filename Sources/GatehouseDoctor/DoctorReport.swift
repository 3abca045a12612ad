import GatehouseErrors

/// How one step of a diagnosis came out.
public enum StepOutcome: String, Sendable, Hashable {
    /// The hop works (or the resource is fine).
    case ok
    /// Works, but something is worth a look (a certificate expiring soon, a timing close to its limit).
    case warning
    /// The hop fails, or the configuration will make the gateway fail on it: a problem found.
    case failed
    /// Could not run because an earlier hop failed, or switched off.
    case skipped
}

/// What a step found wrong, in the RFC 9209 vocabulary the rest of Gatehouse speaks.
public struct Finding: Sendable, Hashable {
    /// The Proxy-Status error type the gateway would report for it; `nil` when no gateway error
    /// follows from it directly (an upstream's own 5xx, a busy CPU).
    public var error: ProxyStatusError?
    /// The cause in plain words, specific to this target ("nothing listens on 127.0.0.1:8080").
    public var cause: String
    /// What to do, naming the knob.
    public var fix: String
    /// The status a client sees: the error's, or the one an upstream sent itself (`received-status`).
    public var status: Int?

    public init(error: ProxyStatusError?, cause: String, fix: String? = nil, status: Int? = nil) {
        self.error = error
        self.cause = cause
        self.fix = fix ?? error?.fixHint ?? "No fix needed."
        self.status = status ?? error?.statusCode
    }
}

/// One line of the report: a hop (dns, tcp, tls, http), a comparison (timing, keepalive) or a
/// local resource (load, memory, disk, fds, ports, backlog).
public struct DoctorStep: Sendable, Hashable {
    /// The step's short name, as in the JSON report.
    public var name: String
    /// The server it concerns in `-c` mode (`cluster/host:port`); `nil` for a single target and for local resources.
    public var server: String?
    public var outcome: StepOutcome
    /// How long the step's own operation took, when it is timed.
    public var milliseconds: Double?
    /// What was observed, in words.
    public var detail: String
    /// Set for `.warning` and `.failed`.
    public var finding: Finding?

    public init(
        name: String, server: String? = nil, outcome: StepOutcome, milliseconds: Double? = nil, detail: String,
        finding: Finding? = nil
    ) {
        self.name = name
        self.server = server
        self.outcome = outcome
        self.milliseconds = milliseconds
        self.detail = detail
        self.finding = finding
    }

    /// A step that could not run; `reason` says why ("tcp failed").
    public static func skipped(_ name: String, server: String?, reason: String) -> DoctorStep {
        DoctorStep(name: name, server: server, outcome: .skipped, detail: "not run: \(reason)")
    }
}

/// The conclusion: the first problem found, explained, or "healthy".
public struct Verdict: Sendable, Hashable {
    /// No step failed (warnings may remain).
    public var healthy: Bool
    /// The Proxy-Status error type the problem produces at a gateway, if any.
    public var error: ProxyStatusError?
    /// The step that failed first.
    public var step: String?
    /// The server it concerns, in `-c` mode.
    public var server: String?
    /// The plain-words verdict.
    public var cause: String
    public var fix: String

    /// The status a client sees because of it: the error's, or an upstream's own 5xx.
    public var status: Int?

    public init(
        healthy: Bool, error: ProxyStatusError?, step: String?, server: String?, cause: String, fix: String,
        status: Int? = nil
    ) {
        self.healthy = healthy
        self.error = error
        self.status = status ?? error?.statusCode
        self.step = step
        self.server = server
        self.cause = cause
        self.fix = fix
    }
}

/// Everything `gatehouse doctor` found about a target.
public struct DoctorReport: Sendable, Hashable {
    /// The target as the user gave it (a URL, `host:port`, or the configuration file).
    public var target: String
    /// Every step in the order they ran: each server's hops, then local resources.
    public var steps: [DoctorStep]
    /// The overall verdict: the first failure over all servers.
    public var verdict: Verdict
    /// In `-c` mode, one verdict per server, in configuration order.
    public var serverVerdicts: [ServerVerdict]

    public init(target: String, steps: [DoctorStep], verdict: Verdict, serverVerdicts: [ServerVerdict] = []) {
        self.target = target
        self.steps = steps
        self.verdict = verdict
        self.serverVerdicts = serverVerdicts
    }

    /// 0 healthy, 1 a problem found (2, could not run, never comes from a report).
    public var exitCode: Int32 { self.verdict.healthy ? 0 : 1 }

}

/// The verdict for one server of a configuration (`-c` mode).
public struct ServerVerdict: Sendable, Hashable {
    /// `cluster/host:port`.
    public var server: String
    public var verdict: Verdict

    public init(server: String, verdict: Verdict) {
        self.server = server
        self.verdict = verdict
    }
}

/// Builds the verdict from step results: pure, so every wording is tested without sockets.
public enum VerdictBuilder {
    /// The first failed step decides ("stop explaining at the first hop that fails"); without one the
    /// target is healthy and the first warning, if any, is passed on as the fix to consider.
    public static func verdict(for steps: [DoctorStep]) -> Verdict {
        if let failed = steps.first(where: { $0.outcome == .failed }) {
            let finding = failed.finding ?? Finding(error: nil, cause: failed.detail)
            return Verdict(
                healthy: false, error: finding.error, step: failed.name, server: failed.server,
                cause: finding.cause, fix: finding.fix, status: finding.status)
        }
        let warnings = steps.filter { $0.outcome == .warning }
        guard let first = warnings.first else {
            return Verdict(
                healthy: true, error: nil, step: nil, server: nil,
                cause: "healthy: every hop answered, within the limits checked", fix: "Nothing to fix.")
        }
        let finding = first.finding ?? Finding(error: nil, cause: first.detail)
        let count = warnings.count == 1 ? "1 warning" : "\(warnings.count) warnings"
        return Verdict(
            healthy: true, error: nil, step: first.name, server: first.server,
            cause: "healthy, with \(count): \(finding.cause)", fix: finding.fix)
    }

    /// One verdict per server (its own hops and comparisons only), for `-c` mode.
    public static func serverVerdicts(for steps: [DoctorStep], servers: [String]) -> [ServerVerdict] {
        servers.map { server in ServerVerdict(server: server, verdict: Self.verdict(for: steps.filter { $0.server == server })) }
    }
}
