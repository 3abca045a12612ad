import GatehouseErrors

/// One cluster's last minutes as fixed buckets of requests and gateway errors by Proxy-Status type,
/// for the dashboard's charts (`/admin/timeline`).
///
/// A bounded ring fed by the ``IncidentMonitor``'s tick with the same cumulative counters its
/// detector reads: no second sampler, nothing on the data path. A value type with no clock, lock or
/// I/O; the monitor passes the wall time in, tests pass it by hand.
///
/// Buckets are aligned on wall-clock multiples of ``bucketMillis`` so that every cluster's points
/// share their timestamps. A tick's change goes wholly into the bucket its time falls in: with a
/// tick slower than a bucket (`alerts.incident.interval` above 5 s) some buckets stay empty and
/// the next holds several seconds.
public struct Timeline: Sendable {
    /// Bucket width.
    public static let bucketMillis: Int64 = 5_000
    /// Buckets kept: 15 minutes.
    public static let bucketCount = 180

    /// One bucket's counts.
    public struct Bucket: Sendable, Equatable {
        /// Wall-clock start of the bucket divided by ``Timeline/bucketMillis``: identifies the slot's owner.
        public var index: Int64
        public var requests = 0
        public var errors = 0
        public var errorsByType: [ProxyStatusError: Int] = [:]

        public init(index: Int64) { self.index = index }
    }

    /// The ring: slot `index % bucketCount`; a slot whose bucket index is not the expected one is stale.
    private var slots: [Bucket?]
    private var previous = ClusterCounters()

    public init() {
        self.slots = Array(repeating: nil, count: Self.bucketCount)
    }

    /// Adds the change since the last reading to the bucket `wallMillis` falls in.
    public mutating func observe(_ counters: ClusterCounters, wallMillis: Int64) {
        // Counters only grow; a smaller one means they were started afresh: take them as the change.
        let reset = counters.requests < self.previous.requests || counters.gatewayErrors < self.previous.gatewayErrors
        let base = reset ? ClusterCounters() : self.previous
        self.previous = counters
        let requests = counters.requests - base.requests
        let errors = counters.gatewayErrors - base.gatewayErrors
        let index = Self.bucketIndex(wallMillis)
        let slot = Int(index.modulo(Int64(Self.bucketCount)))
        var bucket = self.slots[slot].flatMap { $0.index == index ? $0 : nil } ?? Bucket(index: index)
        bucket.requests += requests
        bucket.errors += errors
        if errors > 0 {
            for (type, count) in counters.errorsByType where count > base.errorsByType[type] ?? 0 {
                bucket.errorsByType[type, default: 0] += count - (base.errorsByType[type] ?? 0)
            }
        }
        self.slots[slot] = bucket
    }

    /// The ``bucketCount`` buckets ending with the one `wallMillis` falls in, oldest first; a bucket
    /// nobody wrote (no tick then, or before the gateway started) counts zero.
    public func buckets(endingAt wallMillis: Int64) -> [Bucket] {
        let last = Self.bucketIndex(wallMillis)
        return (0..<Int64(Self.bucketCount)).map { offset in
            let index = last - Int64(Self.bucketCount) + 1 + offset
            let slot = Int(index.modulo(Int64(Self.bucketCount)))
            if let bucket = self.slots[slot], bucket.index == index { return bucket }
            return Bucket(index: index)
        }
    }

    static func bucketIndex(_ wallMillis: Int64) -> Int64 {
        // Floor division, so a clock before 1970 (tests) still lands in the right bucket.
        wallMillis >= 0 ? wallMillis / Self.bucketMillis : (wallMillis - Self.bucketMillis + 1) / Self.bucketMillis
    }
}

extension Int64 {
    /// The non-negative remainder.
    fileprivate func modulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}

/// The `/admin/timeline` document.
public enum TimelineJSON {
    /// `{"bucket_seconds":5,"start_ms":…,"now_ms":…,"clusters":[{"name":…,"requests":[…],"errors":[…],
    /// "errors_by_type":{"connection_refused":[…]},"totals":{…}}]}`: one array element per bucket,
    /// oldest first; the last bucket is the one under way (`now_ms` says how far into it).
    public static func render(_ timelines: [(name: String, timeline: Timeline)], nowMillis: Int64) -> String {
        let start = (Timeline.bucketIndex(nowMillis) - Int64(Timeline.bucketCount) + 1) * Timeline.bucketMillis
        var json = "{\"bucket_seconds\":\(Timeline.bucketMillis / 1000),\"buckets\":\(Timeline.bucketCount)"
        json += ",\"start_ms\":\(start),\"now_ms\":\(nowMillis),\"clusters\":["
        json += timelines.map { name, timeline in
            let buckets = timeline.buckets(endingAt: nowMillis)
            var item = "{\"name\":\(JSONText.quoted(name))"
            item += ",\"requests\":[" + buckets.map { String($0.requests) }.joined(separator: ",") + "]"
            item += ",\"errors\":[" + buckets.map { String($0.errors) }.joined(separator: ",") + "]"
            var totals: [ProxyStatusError: Int] = [:]
            for bucket in buckets { totals.merge(bucket.errorsByType, uniquingKeysWith: +) }
            // Only the types seen in the window, in the enum's order (stable colours in the legend).
            let types = ProxyStatusError.allCases.filter { totals[$0] != nil }
            item += ",\"errors_by_type\":{"
            item += types.map { type in
                "\"\(type.token)\":[" + buckets.map { String($0.errorsByType[type] ?? 0) }.joined(separator: ",") + "]"
            }.joined(separator: ",")
            item += "},\"totals\":{\"requests\":\(buckets.reduce(0) { $0 + $1.requests })"
            item += ",\"errors\":\(buckets.reduce(0) { $0 + $1.errors }),\"errors_by_type\":{"
            item += types.map { "\"\($0.token)\":\(totals[$0] ?? 0)" }.joined(separator: ",")
            return item + "}}}"
        }.joined(separator: ",")
        return json + "]}\n"
    }
}
