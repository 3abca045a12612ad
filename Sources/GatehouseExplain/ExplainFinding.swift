public import GatehouseErrors

/// One cause of gateway errors found in the logs, with its evidence and fix: a line of `explain`'s verdict.
public struct ExplainFinding: Sendable, Equatable {
    /// The busiest time bucket.
    public struct Peak: Sendable, Equatable {
        /// The bucket's start (ISO 8601, UTC).
        public var start: String
        /// The bucket's width in seconds (60, or more for logs spanning a long time).
        public var seconds: Int
        /// Failures in the bucket.
        public var count: Int
    }

    /// The cause id (`shared/fixtures/logs/README.md`).
    public var cause: Cause
    /// The RFC 9209 error type; nil when the upstream itself returned the 5xx.
    public var proxyStatusError: ProxyStatusError?
    /// Failed requests (truncated 200s included).
    public var count: Int
    /// The first and last failure (ISO 8601, UTC), when the lines carry times.
    public var first: String?
    public var last: String?
    public var peak: Peak?
    /// Upstreams, most failures first (at most ten).
    public var upstreams: [String]
    /// Status codes the clients got, with counts (200 = truncated body, -1 = no response).
    public var statuses: [Int: Int]
    /// One log line that shows the cause.
    public var evidence: String
    /// Lines from other logs that decided the cause (app server, HAProxy events, a retry).
    public var related: [String]
    /// Why this cause rather than another with the same symptom.
    public var reasons: [String]
    /// The servers whose logs showed it.
    public var families: [LogFamily]
    /// What to change, with the knob in each server's configuration.
    public var fix: String

    /// The cause in plain words.
    public var explanation: String { cause.plainWords }
}

/// Turns resolved groups into findings: guesses join the stronger finding they are consistent
/// with, then findings are ranked by the number of failed requests.
struct FindingBuilder {
    /// The part of a finding under construction.
    struct Accumulator {
        var cause: Cause
        var members: [ResolvedGroup] = []
        var strength = -1
        var count = 0
        var firstTime: Int64?
        var lastTime: Int64?

        mutating func add(_ member: ResolvedGroup) {
            members.append(member)
            strength = max(strength, member.strength)
            count += member.group.count
            if let time = member.group.firstTime { firstTime = min(firstTime ?? time, time) }
            if let time = member.group.lastTime { lastTime = max(lastTime ?? time, time) }
        }
    }

    /// Guesses only join findings from the same incident: within ten minutes.
    static let mergeSlack: Int64 = 600_000

    static func findings(from resolved: [ResolvedGroup]) -> [ExplainFinding] {
        let ordered = resolved.sorted {
            ($0.strength, $0.group.count, $0.group.key.upstream) > ($1.strength, $1.group.count, $1.group.key.upstream)
        }
        var accumulators: [Cause: Accumulator] = [:]
        for member in ordered where member.strength >= Strength.inferred {
            accumulators[member.cause, default: Accumulator(cause: member.cause)].add(member)
        }
        for level in [Strength.specific, Strength.generic] {
            for var member in ordered where member.strength == level {
                let target = member.candidates
                    .compactMap { accumulators[$0] }
                    .filter {
                        $0.strength > level && member.group.overlaps($0.firstTime, $0.lastTime, slack: mergeSlack)
                    }
                    .max { ($0.strength, $0.count, $1.cause) < ($1.strength, $1.count, $0.cause) }
                if let target, target.cause != member.cause {
                    member.cause = target.cause
                    member.proxyStatus = target.cause.proxyStatus
                    member.reason = nil
                }
                accumulators[member.cause, default: Accumulator(cause: member.cause)].add(member)
            }
        }
        // A group can hold only the repeated lines of requests counted elsewhere: it names an upstream, not a finding.
        return accumulators.values.filter { $0.count > 0 }.map(finding).sorted {
            if $0.count != $1.count { return $0.count > $1.count }
            if $0.cause.rank != $1.cause.rank { return $0.cause.rank < $1.cause.rank }
            if ($0.first ?? "") != ($1.first ?? "") { return ($0.first ?? "~") < ($1.first ?? "~") }
            return $0.cause < $1.cause
        }
    }

    static func finding(_ accumulator: Accumulator) -> ExplainFinding {
        let members = accumulator.members
        var histogram = TimeHistogram()
        var upstreamCounts: [String: Int] = [:]
        var statuses: [Int: Int] = [:]
        var statusVotes: [ProxyStatusError?: Int] = [:]
        var families = Set<LogFamily>()
        var fastCGI = false
        var reasons: [String] = []
        var related: [String] = []
        for member in members {
            histogram.merge(member.group.histogram)
            upstreamCounts[member.group.key.upstream, default: 0] += member.group.lines
            for (status, count) in member.group.statuses { statuses[status, default: 0] += count }
            statusVotes[member.proxyStatus, default: 0] += member.group.count
            families.insert(member.group.key.family)
            fastCGI = fastCGI || member.group.isFastCGI
            if let reason = member.reason, !reasons.contains(reason), reasons.count < 4 { reasons.append(reason) }
            for line in member.related where !related.contains(line) && related.count < 4 { related.append(line) }
        }
        // The evidence: the first line of the most decisive group (the earliest one among equals).
        let best = members.max {
            ($0.strength, -($0.group.firstTime ?? .max), $0.group.count)
                < ($1.strength, -($1.group.firstTime ?? .max), $1.group.count)
        }
        let proxyStatus =
            statusVotes.max {
                $0.value != $1.value ? $0.value < $1.value : ($0.key != accumulator.cause.proxyStatus)
            }?.key ?? accumulator.cause.proxyStatus
        let peak = histogram.peak.map {
            ExplainFinding.Peak(start: LogTime.iso8601($0.start), seconds: Int($0.width / 1000), count: $0.count)
        }
        let upstreams = upstreamCounts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(10).map(\.key)
        return ExplainFinding(
            cause: accumulator.cause,
            proxyStatusError: proxyStatus,
            count: accumulator.count,
            first: accumulator.firstTime.map(LogTime.iso8601),
            last: accumulator.lastTime.map(LogTime.iso8601),
            peak: peak,
            upstreams: upstreams,
            statuses: statuses,
            evidence: best?.group.evidence ?? "",
            related: related,
            reasons: reasons,
            families: LogFamily.allCases.filter(families.contains),
            fix: accumulator.cause.fix(families: families, fastCGI: fastCGI)
        )
    }
}
