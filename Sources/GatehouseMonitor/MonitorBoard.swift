import GatehouseConfig
import GatehouseCore
import GatehouseDoctor
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A wall-clock instant, for the `since` and `time` of alerts and the table.
public struct WallTime: Sendable, Hashable, Comparable {
    public var seconds: Int
    public var nanoseconds: Int

    public init(seconds: Int, nanoseconds: Int = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public static func now() -> WallTime {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return WallTime(seconds: Int(now.tv_sec), nanoseconds: Int(now.tv_nsec))
    }

    /// `2026-11-21T06:15:37.123Z`, as the access log writes it.
    public var iso8601: String { RequestRecord.iso8601(seconds: self.seconds, nanoseconds: self.nanoseconds) }

    public static func < (lhs: WallTime, rhs: WallTime) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}

/// One probe as it ran and was judged.
public struct ProbeResult: Sendable, Hashable {
    /// The hops, timings and response.
    public var run: HopRun
    /// `nil` when the probe succeeded.
    public var cause: ProbeCause?
    public var time: WallTime

    public init(run: HopRun, cause: ProbeCause?, time: WallTime) {
        self.run = run
        self.cause = cause
        self.time = time
    }

    public var success: Bool { self.cause == nil }
}

/// What is known about one target now: what the metrics, the table and `--once` show.
public struct TargetStatus: Sendable, Hashable {
    public var target: MonitorTarget
    public var machine: TargetStateMachine
    /// When the current state began (for DOWN and PENDING: the first failed probe of the streak).
    public var since: WallTime?
    public var last: ProbeResult?
    public var successes = 0
    public var failures = 0

    public init(target: MonitorTarget) {
        self.target = target
        self.machine = TargetStateMachine(retries: target.retries)
    }
}

/// The current status of every target, shared by the probing tasks (writers) and the metrics listener
/// and the table (readers). A lock rather than an actor: the metrics handler reads it synchronously
/// on its event loop.
public final class MonitorBoard: Sendable {
    private let statuses: Mutex<[TargetStatus]>

    /// What a recorded event did: the action to perform and the target's status around it.
    typealias Recorded = (action: TargetStateMachine.Action, before: TargetStatus, after: TargetStatus)

    public init(targets: [MonitorTarget]) {
        self.statuses = Mutex(targets.map(TargetStatus.init(target:)))
    }

    /// Every target, in configuration order.
    public func snapshot() -> [TargetStatus] {
        self.statuses.withLock { $0 }
    }

    /// The status of the target with this name.
    public func status(of name: String) -> TargetStatus? {
        self.statuses.withLock { all in all.first { $0.target.name == name } }
    }

    /// Feeds a probe result to the target's state machine, records it, and returns the action and the
    /// status before and after.
    func record(_ result: ProbeResult, for name: String) -> Recorded? {
        self.update(name) { status in
            let event: TargetStateMachine.Event = result.cause.map { .probeFailed($0) } ?? .probeSucceeded
            let action = status.machine.handle(event)
            status.last = result
            if result.success { status.successes += 1 } else { status.failures += 1 }
            return action
        }
    }

    /// Feeds a re-notify tick to the target's state machine.
    func renotify(_ name: String) -> TargetStateMachine.Action {
        self.update(name) { $0.machine.handle(.renotifyTimerFired) }?.action ?? .none
    }

    private func update(_ name: String, _ body: (inout TargetStatus) -> TargetStateMachine.Action) -> Recorded? {
        self.statuses.withLock { all in
            guard let index = all.firstIndex(where: { $0.target.name == name }) else { return nil }
            let before = all[index]
            let action = body(&all[index])
            // `since` moves when the state's kind changes; a failure streak keeps its start through
            // PENDING into DOWN, so an alert says when the outage began, not when it was declared.
            let after = all[index]
            switch (before.machine.state, after.machine.state) {
            case (.up, .up), (.down, .down), (.pending, .pending), (.pending, .down): break
            default: all[index].since = after.last?.time ?? WallTime.now()
            }
            return (action, before, all[index])
        }
    }
}
