import GatehouseConfig
import NIOCore

/// Passive health for one cluster: Envoy-style outlier ejection, as a pure value.
///
/// The data path counts consecutive failures per server (see ``counts(_:status:configuration:)``
/// for what a failure is) and calls ``thresholdReached(_:now:)`` when a run reaches the configured
/// `consecutiveFailures`. The detector decides whether to eject and for how long; a timer owned by
/// the runtime calls ``advance(now:)`` at ``nextDeadline`` to bring servers back.
///
/// The life of a member:
/// ```
/// serving ──threshold──▶ ejected ──ejection over──▶ on probation ──probation over──▶ serving
///                           ▲                            │
///                           └────────threshold───────────┘  (ejectionsInARow + 1)
/// ```
/// The n-th ejection in a row lasts `baseEjectionTime × n`, capped at `maxEjectionTime`, so a server
/// that keeps failing is tried less and less often, while one that recovers is forgiven after one
/// clean probation. At most `maxEjectionPercent` of the members (rounded down) are ejected at once:
/// passive health must never be able to empty a cluster on its own, because when every server
/// fails the same way the fault is usually ours or the network's, not the servers'.
///
/// Time only moves through ``advance(now:)``: an ejection whose end has passed stays an ejection
/// until `advance` sees it, so what the queries report and what ``thresholdReached(_:now:)`` does
/// always agree.
struct OutlierDetector: Sendable {
    /// The answer to ``thresholdReached(_:now:)``.
    enum Ejection: Sendable, Equatable {
        /// The member is out of rotation until `until`; `ejectionsInARow` counts this ejection too.
        case ejected(until: NIODeadline, ejectionsInARow: Int)
        /// Ejecting would exceed the cluster's share; the member keeps serving.
        case refused(ejectedNow: Int, limit: Int)
        /// The member is already out (a failure reported by a request that started before the ejection).
        case alreadyEjected
        /// No member has this id (removed by a reload or DNS refresh while its request was in flight).
        case unknownMember
    }

    /// A change made by ``advance(now:)``.
    enum Transition: Sendable, Equatable {
        /// The ejection ended: the member serves again, on probation.
        case returned(id: Int)
        /// The probation ended without a new ejection: the member's ejection streak is forgotten.
        case probationPassed(id: Int)
    }

    /// Where one member stands.
    private enum State: Sendable {
        /// In rotation, with a clean record.
        case serving
        /// Out of rotation until the deadline.
        case ejected(until: NIODeadline)
        /// Back in rotation, but one more threshold before the deadline ejects it for longer.
        case probation(until: NIODeadline)
    }

    /// One member's record.
    private struct Member: Sendable {
        /// Where it stands now.
        var state: State = .serving
        /// Ejections not yet forgiven by a clean probation; sets the length of the next one.
        var ejectionsInARow = 0
        /// Ejections since the member was added, for the admin API.
        var totalEjections = 0

        /// Whether the member is out of rotation.
        var isEjected: Bool {
            switch self.state {
            case .ejected: return true
            case .serving, .probation: return false
            }
        }

        /// When the member's state next changes by itself, if it does.
        var deadline: NIODeadline? {
            switch self.state {
            case .serving: return nil
            case .ejected(let until), .probation(let until): return until
            }
        }
    }

    /// The cluster's outlier settings.
    let configuration: Cluster.OutlierDetection
    /// The members by id.
    private var members: [Int: Member] = [:]

    /// A detector with no members.
    /// - Parameter configuration: The cluster's `outlier_detection` settings.
    init(configuration: Cluster.OutlierDetection) {
        self.configuration = configuration
    }

    // MARK: - Membership

    /// Adds a member; adding one that is already there keeps its record (a reload that keeps a
    /// server must not forgive its ejection).
    /// - Parameter id: The member's id.
    mutating func add(_ id: Int) {
        if self.members[id] == nil {
            self.members[id] = Member()
        }
    }

    /// Removes a member and its record; an ejected member stops counting against the share.
    /// - Parameter id: The member's id.
    mutating func remove(_ id: Int) {
        self.members[id] = nil
    }

    // MARK: - Events

    /// The data path saw `consecutiveFailures` counted failures in a row on this member (or one,
    /// while it is on probation).
    /// - Parameters:
    ///   - id: The member.
    ///   - now: The current time.
    /// - Returns: Whether the member was ejected, and until when.
    mutating func thresholdReached(_ id: Int, now: NIODeadline) -> Ejection {
        guard var member = self.members[id] else { return .unknownMember }
        switch member.state {
        case .ejected:
            return .alreadyEjected
        case .serving, .probation:
            break
        }
        let limit = self.ejectionLimit
        let ejectedNow = self.ejectedCount
        guard ejectedNow < limit else {
            // The member keeps its state (a member on probation stays on probation), so the next
            // threshold is judged again against whatever share is free by then.
            return .refused(ejectedNow: ejectedNow, limit: limit)
        }
        // A serving member has a streak of 0 (a clean probation resets it), so this is 1 for a first
        // ejection and n + 1 for a member that failed its probation.
        member.ejectionsInARow += 1
        member.totalEjections += 1
        let until = now + self.ejectionTime(inARow: member.ejectionsInARow)
        member.state = .ejected(until: until)
        self.members[id] = member
        return .ejected(until: until, ejectionsInARow: member.ejectionsInARow)
    }

    /// Ends the ejections and probations that are over.
    /// - Parameter now: The current time.
    /// - Returns: What changed, ordered by deadline, then id (so logs and tests are deterministic).
    mutating func advance(now: NIODeadline) -> [Transition] {
        var due: [(deadline: NIODeadline, id: Int)] = []
        for (id, member) in self.members {
            if let deadline = member.deadline, deadline <= now {
                due.append((deadline, id))
            }
        }
        due.sort { ($0.deadline, $0.id) < ($1.deadline, $1.id) }
        var transitions: [Transition] = []
        transitions.reserveCapacity(due.count)
        for (_, id) in due {
            guard var member = self.members[id] else { continue }
            switch member.state {
            case .serving:
                continue
            case .ejected:
                // Probation is measured from when traffic actually resumes (now), not from the
                // scheduled end of the ejection: a late timer must not shorten the trial.
                member.state = .probation(until: now + TimeAmount(self.configuration.baseEjectionTime))
                transitions.append(.returned(id: id))
            case .probation:
                member.state = .serving
                member.ejectionsInARow = 0
                transitions.append(.probationPassed(id: id))
            }
            self.members[id] = member
        }
        return transitions
    }

    // MARK: - Queries

    /// Whether the member is out of rotation.
    func isEjected(_ id: Int) -> Bool {
        self.members[id]?.isEjected ?? false
    }

    /// Whether the member is back from an ejection but not yet forgiven (the data path ejects it
    /// again on its first counted failure).
    func isOnProbation(_ id: Int) -> Bool {
        switch self.members[id]?.state {
        case .probation: return true
        case .serving, .ejected, nil: return false
        }
    }

    /// How many times the member has been ejected since it was added (0 for an unknown id).
    func totalEjections(_ id: Int) -> Int {
        self.members[id]?.totalEjections ?? 0
    }

    /// Ejections not yet forgiven by a clean probation (0 for an unknown id).
    func ejectionsInARow(_ id: Int) -> Int {
        self.members[id]?.ejectionsInARow ?? 0
    }

    /// When the member's current ejection ends; nil when it is not ejected.
    func ejectedUntil(_ id: Int) -> NIODeadline? {
        switch self.members[id]?.state {
        case .ejected(let until): return until
        case .serving, .probation, nil: return nil
        }
    }

    /// The earliest end of an ejection or a probation: when the runtime should next call ``advance(now:)``.
    var nextDeadline: NIODeadline? {
        self.members.values.lazy.compactMap(\.deadline).min()
    }

    /// How many members are out of rotation.
    var ejectedCount: Int {
        self.members.values.reduce(0) { $0 + ($1.isEjected ? 1 : 0) }
    }

    /// How many members the detector knows.
    var memberCount: Int {
        self.members.count
    }

    /// The most members that may be ejected at once: `members × maxEjectionPercent / 100`, rounded
    /// down, so one server alone is never ejected at the default 50 %.
    var ejectionLimit: Int {
        let percent = min(max(self.configuration.maxEjectionPercent, 0), 100)
        return self.members.count * percent / 100
    }

    // MARK: - Time

    /// `baseEjectionTime × inARow`, capped at `maxEjectionTime`.
    private func ejectionTime(inARow: Int) -> TimeAmount {
        let base = TimeAmount(self.configuration.baseEjectionTime).nanoseconds
        let cap = TimeAmount(self.configuration.maxEjectionTime).nanoseconds
        let (product, overflow) = base.multipliedReportingOverflow(by: Int64(clamping: max(inARow, 1)))
        return .nanoseconds(overflow ? cap : min(product, cap))
    }

}
