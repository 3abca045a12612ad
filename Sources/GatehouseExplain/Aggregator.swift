/// Counts per time bucket, with a bounded number of buckets: when a log spans more time than
/// `maxBuckets × width`, the width doubles and buckets merge, so memory stays flat for any input.
struct TimeHistogram: Sendable {
    static let maxBuckets = 512
    /// Bucket width in milliseconds (one minute, doubled as needed).
    var width: Int64 = 60_000
    var buckets: [Int64: Int] = [:]

    mutating func add(_ time: Int64, count: Int = 1) {
        buckets[Self.floor(time, width), default: 0] += count
        if buckets.count > Self.maxBuckets { coarsen(to: width * 2) }
    }

    mutating func coarsen(to newWidth: Int64) {
        guard newWidth > width else { return }
        var merged: [Int64: Int] = [:]
        for (start, count) in buckets { merged[Self.floor(start, newWidth), default: 0] += count }
        width = newWidth
        buckets = merged
        if buckets.count > Self.maxBuckets { coarsen(to: width * 2) }
    }

    mutating func merge(_ other: TimeHistogram) {
        coarsen(to: other.width)
        for (start, count) in other.buckets { add(start, count: count) }
    }

    /// The busiest bucket (the earliest one on a tie).
    var peak: (start: Int64, width: Int64, count: Int)? {
        buckets.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }
            .map { ($0.key, width, $0.value) }
    }

    static func floor(_ time: Int64, _ width: Int64) -> Int64 {
        let remainder = time % width
        return time - (remainder >= 0 ? remainder : remainder + width)
    }
}

/// Identifies one group of failures: the same class, on the same upstream, in the same kind of log.
struct GroupKey: Hashable, Sendable {
    var failureClass: FailureClass
    var family: LogFamily
    var duplicatesErrorLog: Bool
    var upstream: String
}

/// Bounded statistics about one group: counters, the first and last time, one evidence line.
struct FailureGroup: Sendable {
    var key: GroupKey
    /// Failed requests (lines of one nginx request count once).
    var count = 0
    /// Lines, including the repeats of one request.
    var lines = 0
    var firstTime: Int64?
    var lastTime: Int64?
    /// The first line of the group.
    var evidence: String
    var histogram = TimeHistogram()
    /// Failures that came right after a success on the same upstream (a pooled connection could be reused).
    var followsSuccess = 0
    /// Failures at least a second after the connection was ready (a timer fired on the upstream's side).
    var slow = 0
    var nonIdempotent = 0
    /// Failures after which HAProxy had retried the connection.
    var retried = 0
    var maxConcurrency = 0
    var firstRequestHash: UInt64 = 0
    var variedRequests = false
    var statuses: [Int: Int] = [:]
    var isFastCGI = false
    var upstreamIsSelf = 0
    /// Failures whose line carried a duration (the denominator of `slow`).
    var durationSamples = 0

    init(key: GroupKey, evidence: String) {
        self.key = key
        self.evidence = evidence
    }

    /// Whether this group overlaps `other`'s time span, give or take `slack` milliseconds (true when either has no time).
    func overlaps(_ first: Int64?, _ last: Int64?, slack: Int64) -> Bool {
        guard let firstTime, let lastTime, let first, let last else { return true }
        return firstTime <= last + slack && first <= lastTime + slack
    }
}

/// The last failure seen on one nginx connection, to count a retried request once.
struct RecentFailure: Equatable, Sendable {
    var failureClass: FailureClass
    var request: UInt64
    var second: Int64
}

/// What the access and traffic logs say about one upstream over time.
struct UpstreamState: Sendable {
    var lastWasSuccess = false
    var successes = 0
    /// Closes/resets before the response, seen in access or traffic logs.
    var terminated = 0
    var terminatedAfterSuccess = 0
    var slowTerminated = 0
    /// nginx retried on a fresh connection to the same server after a cached one failed.
    var retriedOnSameServer = 0
}

/// What HAProxy's event lines say about one backend.
struct BackendState: Sendable {
    var reasons: Set<DownReason> = []
    var noServerAvailable = 0
    var unixSocketBacklog = 0
    /// Up to three event lines, shown as context.
    var lines: [String] = []
}

/// A counted fact from context lines, with its time span and first line.
struct Signal: Sendable {
    var count = 0
    var firstTime: Int64?
    var lastTime: Int64?
    var line: String?

    mutating func record(time: Int64?, line text: String) {
        count += 1
        if line == nil { line = text }
        if let time {
            firstTime = min(firstTime ?? time, time)
            lastTime = max(lastTime ?? time, time)
        }
    }

    /// Whether the signal happened around a group's failures (within ten minutes; always when times are unknown).
    func covers(_ group: FailureGroup) -> Bool {
        count > 0 && group.overlaps(firstTime, lastTime, slack: 600_000)
    }
}

/// Everything `explain` keeps while streaming: bounded by the number of distinct (class, upstream)
/// pairs, never by the number of lines.
struct Aggregator: Sendable {
    /// Caps that keep memory bounded whatever the input.
    static let maxGroups = 4096
    static let maxUpstreams = 100_000
    static let maxConnections = 4096

    var groups: [GroupKey: FailureGroup] = [:]
    var upstreams: [UInt64: UpstreamState] = [:]
    var backends: [String: BackendState] = [:]
    /// The last failure per nginx connection (`pid#tid: *conn`): class, request and second.
    var recentConnections: [UInt64: RecentFailure] = [:]
    var workerKilled = Signal()
    var poolExhausted = Signal()
    var serverDisabled = Signal()
    /// The first nginx access line showing a same-server retry, as keep-alive evidence.
    var retryLine: String?
    var nginxErrorFailures = 0

    mutating func record(_ event: LogEvent, line: LogLine) {
        switch event {
        case .success(let hash, let retried):
            guard var state = upstreams[hash] ?? (upstreams.count < Self.maxUpstreams ? UpstreamState() : nil) else {
                return
            }
            state.lastWasSuccess = true
            state.successes += 1
            if retried {
                state.retriedOnSameServer += 1
                if retryLine == nil { retryLine = line.text() }
            }
            upstreams[hash] = state
        case .failure(let failure):
            record(failure)
        case .context(let context, let time, let text):
            record(context, time: time, line: text)
        case .ignored:
            break
        }
    }

    mutating func record(_ context: ContextEvent, time: Int64?, line: String) {
        func noteBackend(_ name: String, _ update: (inout BackendState) -> Void) {
            guard backends[name] != nil || backends.count < Self.maxGroups else { return }
            var state = backends[name] ?? BackendState()
            update(&state)
            if state.lines.count < 3, !state.lines.contains(line) { state.lines.append(line) }
            backends[name] = state
        }
        switch context {
        case .nginxServerDisabled: serverDisabled.record(time: time, line: line)
        case .appWorkerKilled: workerKilled.record(time: time, line: line)
        case .appPoolExhausted: poolExhausted.record(time: time, line: line)
        case .haproxyServerDown(let backend, let reason): noteBackend(backend) { $0.reasons.insert(reason) }
        case .haproxyNoServerAvailable(let backend): noteBackend(backend) { $0.noServerAvailable += 1 }
        case .haproxyUnixSocketBacklog(let backend): noteBackend(backend) { $0.unixSocketBacklog += 1 }
        }
    }

    mutating func record(_ failure: FailureEvent) {
        var countsAsRequest = true
        if failure.family == .nginx, !failure.duplicatesErrorLog, failure.failureClass != .named(.upstreamReturned502) {
            nginxErrorFailures += 1
            // The lines of one request that nginx retried on the next server (same connection, request and
            // second) count once; later requests on the same keep-alive connection count again.
            if let connection = failure.connectionKey {
                let recent = RecentFailure(
                    failureClass: failure.failureClass,
                    request: failure.requestHash,
                    second: (failure.time ?? 0) / 1000
                )
                if recentConnections[connection] == recent { countsAsRequest = false }
                if recentConnections.count >= Self.maxConnections { recentConnections.removeAll(keepingCapacity: true) }
                recentConnections[connection] = recent
            }
        }
        var followsSuccess = false
        var isSlow = false
        if let duration = failure.durationMillis, duration >= 1000 { isSlow = true }
        // Per-upstream sequence: only lines that see both successes and failures (access, traffic, Gatehouse).
        if failure.family != .nginx || failure.duplicatesErrorLog
            || failure.failureClass == .named(.upstreamReturned502)
        {
            let hash = failure.upstream.upstreamHash
            if var state = upstreams[hash] ?? (upstreams.count < Self.maxUpstreams ? UpstreamState() : nil) {
                followsSuccess = state.lastWasSuccess
                state.lastWasSuccess = false
                if case .terminatedBeforeResponse = failure.failureClass {
                    state.terminated += 1
                    if followsSuccess { state.terminatedAfterSuccess += 1 }
                    if isSlow { state.slowTerminated += 1 }
                }
                upstreams[hash] = state
            }
        }
        var key = GroupKey(
            failureClass: failure.failureClass,
            family: failure.family,
            duplicatesErrorLog: failure.duplicatesErrorLog,
            upstream: failure.upstream
        )
        if groups[key] == nil, groups.count >= Self.maxGroups { key.upstream = "(other upstreams)" }
        var group = groups[key] ?? FailureGroup(key: key, evidence: failure.line)
        group.lines += 1
        if let time = failure.time, let first = group.firstTime, time < first {
            group.evidence = failure.line  // files need not come in time order: keep the earliest line
        }
        if countsAsRequest {
            group.count += 1
            if followsSuccess { group.followsSuccess += 1 }
            if failure.durationMillis != nil { group.durationSamples += 1 }
            if isSlow { group.slow += 1 }
            if failure.isNonIdempotent { group.nonIdempotent += 1 }
            if failure.retried { group.retried += 1 }
            group.statuses[failure.status, default: 0] += 1
            if let time = failure.time {
                group.firstTime = min(group.firstTime ?? time, time)
                group.lastTime = max(group.lastTime ?? time, time)
                group.histogram.add(time)
            }
        }
        group.maxConcurrency = max(group.maxConcurrency, failure.concurrency ?? 0)
        if group.lines == 1 {
            group.firstRequestHash = failure.requestHash
        } else if failure.requestHash != group.firstRequestHash {
            group.variedRequests = true
        }
        group.isFastCGI = group.isFastCGI || failure.isFastCGI
        if failure.upstreamIsSelf { group.upstreamIsSelf += 1 }
        groups[key] = group
    }
}
