import GatehouseDoctor
import GatehouseErrors

/// One alert: a target went down, recovered, or is still down. Posted as JSON to every webhook.
public struct Alert: Sendable, Hashable {
    public var kind: TargetStateMachine.AlertKind
    /// The target's name.
    public var target: String
    public var url: String
    /// The outage's cause (for `recovered`, the one that ended).
    public var cause: ProbeCause
    /// The hops of the probe that triggered the alert, one line each, as `gatehouse doctor` prints them.
    public var doctorSummary: String
    /// When the outage began: the first failed probe of the streak.
    public var since: WallTime?
    public var time: WallTime

    public init(
        kind: TargetStateMachine.AlertKind, target: String, url: String, cause: ProbeCause, doctorSummary: String,
        since: WallTime?, time: WallTime
    ) {
        self.kind = kind
        self.target = target
        self.url = url
        self.cause = cause
        self.doctorSummary = doctorSummary
        self.since = since
        self.time = time
    }

    /// `{"event": "down", "target": …, "url": …, "cause": {"proxy_status_error": …, "summary": …, "fix": …,
    /// "hop": …, "proxy": …, "status": …}, "doctor_summary": …, "since": …, "time": …}`.
    public var json: String {
        let string = DoctorRenderer.jsonString
        let cause = [
            ("proxy_status_error", self.cause.error.map { string($0.token) } ?? "null"),
            ("summary", string(self.cause.summary)),
            ("fix", string(self.cause.fix)),
            ("hop", string(self.cause.hop.rawValue)),
            ("proxy", self.cause.proxy.map(string) ?? "null"),
            ("status", self.cause.status.map(String.init) ?? "null"),
        ]
        let fields = [
            ("event", string(self.kind.rawValue)),
            ("target", string(self.target)),
            ("url", string(self.url)),
            ("cause", Self.object(cause)),
            ("doctor_summary", string(self.doctorSummary)),
            ("since", self.since.map { string($0.iso8601) } ?? "null"),
            ("time", string(self.time.iso8601)),
        ]
        return Self.object(fields)
    }

    /// The log line for a state change: `… shop DOWN: connection_refused at tcp — nothing listens on …`.
    public var logLine: String {
        let state: String
        switch self.kind {
        case .down: state = "DOWN"
        case .recovered: state = "UP (recovered)"
        case .stillDown: state = "STILL DOWN"
        }
        let detail =
            self.kind == .recovered
            ? "was down since \(self.since?.iso8601 ?? "?"): \(self.cause.short)"
            : "\(self.cause.short) — \(self.cause.summary)"
        return "\(self.time.iso8601) \(self.target) \(state): \(detail)"
    }

    static func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(DoctorRenderer.jsonString($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}
