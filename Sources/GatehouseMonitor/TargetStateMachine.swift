/// The UP/DOWN logic of one target, apart from any I/O: the runner feeds it probe results and timer
/// ticks, and performs the alerts it asks for.
///
/// A target is declared DOWN only after `retries` consecutive failed probes (Uptime Kuma's
/// `maxretries`), so one lost probe is not an outage; one success declares it UP again. While DOWN, a
/// re-notify tick asks for a `still_down` alert.
public struct TargetStateMachine: Sendable, Hashable {
    /// Where the target is.
    public enum State: Sendable, Hashable {
        /// Not probed yet.
        case unknown
        case up
        /// Failing, not yet for `retries` probes in a row (Uptime Kuma's PENDING).
        case pending(failures: Int, cause: ProbeCause)
        /// Declared down; `cause` is the latest failure's.
        case down(cause: ProbeCause)
    }

    /// What happened.
    public enum Event: Sendable, Hashable {
        case probeSucceeded
        case probeFailed(ProbeCause)
        /// The re-notify interval elapsed since the last alert.
        case renotifyTimerFired
    }

    /// The kinds of alert, as the webhook's `event` field spells them.
    public enum AlertKind: String, Sendable, Hashable, CaseIterable {
        case down
        case recovered
        case stillDown = "still_down"
    }

    /// What the runner must do.
    public enum Action: Sendable, Hashable {
        case none
        /// Send this alert; `cause` is the outage's (for `recovered`, the one that ended).
        case sendAlert(AlertKind, cause: ProbeCause)
    }

    /// Consecutive failed probes that declare the target down (at least 1).
    public let retries: Int
    public private(set) var state = State.unknown

    public init(retries: Int) {
        self.retries = max(1, retries)
    }

    public mutating func handle(_ event: Event) -> Action {
        switch (self.state, event) {
        case (.down(let cause), .probeSucceeded):
            self.state = .up
            return .sendAlert(.recovered, cause: cause)
        case (_, .probeSucceeded):
            self.state = .up
            return .none
        case (.down, .probeFailed(let cause)):
            // Still down; the cause shown is the latest (an outage can change face: refused, then timeouts).
            self.state = .down(cause: cause)
            return .none
        case (.pending(let failures, _), .probeFailed(let cause)):
            return self.fail(after: failures + 1, cause)
        case (.unknown, .probeFailed(let cause)), (.up, .probeFailed(let cause)):
            return self.fail(after: 1, cause)
        case (.down(let cause), .renotifyTimerFired):
            return .sendAlert(.stillDown, cause: cause)
        case (_, .renotifyTimerFired):
            // A timer armed while down that fires after recovery: nothing to say.
            return .none
        }
    }

    private mutating func fail(after failures: Int, _ cause: ProbeCause) -> Action {
        if failures >= self.retries {
            self.state = .down(cause: cause)
            return .sendAlert(.down, cause: cause)
        }
        self.state = .pending(failures: failures, cause: cause)
        return .none
    }

    /// The state's name for the table and the logs.
    public var label: String {
        switch self.state {
        case .unknown: "UNKNOWN"
        case .up: "UP"
        case .pending: "PENDING"
        case .down: "DOWN"
        }
    }

    /// Whether the target is declared down.
    public var isDown: Bool {
        if case .down = self.state { return true }
        return false
    }

    /// The cause of the current failure streak, if failing.
    public var cause: ProbeCause? {
        switch self.state {
        case .pending(_, let cause), .down(let cause): cause
        case .unknown, .up: nil
        }
    }
}

/// When probes run: each target on its interval with up to 10% jitter, so targets started together (or
/// many monitors started by one deploy) do not probe in step.
public enum ProbeSchedule {
    /// The largest share of the interval added or removed.
    public static let jitter = 0.1

    /// The delay from one probe's start to the next: `interval` × (1 ± up to 10%). `random` is in 0..<1.
    public static func delay(interval: Duration, random: Double) -> Duration {
        interval * (1 + Self.jitter * (2 * random - 1))
    }

    /// The delay before a target's first probe: up to 10% of the interval.
    public static func initialDelay(interval: Duration, random: Double) -> Duration {
        interval * (Self.jitter * random)
    }
}
