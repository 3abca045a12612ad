import GatehouseConfig
import GatehouseErrors

/// A cluster's cumulative counters, as the stats keep them: what the detector is fed at each tick.
public struct ClusterCounters: Sendable, Equatable {
    public var requests = 0
    /// Requests the gateway answered with its own 5xx (a `ProxyFailure`); 4xx of its own (429,
    /// 400) are the client's business, not an outage.
    public var gatewayErrors = 0
    public var errorsByType: [ProxyStatusError: Int] = [:]
    public var errorsByServer: [String: Int] = [:]
    /// Upstream 5xx passed through (not gateway errors, shown beside them).
    public var receivedServerErrors = 0
    /// Request ids of the latest gateway errors, newest last.
    public var latestErrorIDs: [String] = []

    public static let keptErrorIDs = 5

    public init() {}
}

/// Decides, from one cluster's counters read once per tick, when an incident opens and when it is
/// resolved. A value type with no clock, lock or I/O: the monitor feeds it, tests feed it by hand.
///
/// - Opens when, over the sliding `window`, the cluster had at least `min_requests` requests and
///   gateway errors / requests ≥ `error_ratio`.
/// - Stays open (one incident, however the ratio wavers) until the ratio has stayed below the
///   threshold for `recovery`, then is resolved.
/// - Spike: the window's requests per second over the baseline (the 10 windows before it) ≥
///   `spike_factor` marks the incident, and asks the data path to count client addresses.
public struct IncidentDetector: Sendable {
    public let cluster: String
    public var settings: IncidentSettings
    /// The incident under way.
    public private(set) var open: Incident?
    /// Whether requests per second are `spike_factor` above the baseline now (the monitor turns
    /// client counting on while any cluster says so).
    public private(set) var spikeSuspected = false

    private var previous = ClusterCounters()
    private var ticks: [Tick] = []
    /// Monotonic time of the first tick: the baseline is only trusted once it covers a window.
    private var firstTick: Int64?
    /// Since when the ratio has been below the threshold, while open.
    private var healthySince: Int64?

    /// One tick's change.
    private struct Tick {
        var at: Int64
        var requests: Int
        var errors: Int
        var errorsByType: [ProxyStatusError: Int]
        var errorsByServer: [String: Int]
    }

    /// How many windows make the baseline.
    public static let baselineWindows = 10

    public init(cluster: String, settings: IncidentSettings) {
        self.cluster = cluster
        self.settings = settings
    }

    /// One tick's reading.
    public struct Reading: Sendable {
        /// Monotonic time, nanoseconds (any origin).
        public var now: Int64
        /// Wall clock, milliseconds since the epoch, for the incident's timestamps.
        public var wallMillis: Int64
        /// The cluster's cumulative counters.
        public var counters: ClusterCounters
        /// The heaviest clients counted since the spike was suspected (empty otherwise).
        public var topClients: [ClientCount]

        public init(now: Int64, wallMillis: Int64, counters: ClusterCounters, topClients: [ClientCount] = []) {
            self.now = now
            self.wallMillis = wallMillis
            self.counters = counters
            self.topClients = topClients
        }
    }

    /// Feeds one tick; returns what happened to the incident, if anything.
    public mutating func observe(_ reading: Reading) -> IncidentChange? {
        let now = reading.now
        let counters = reading.counters
        // Counters only grow; a smaller one means they were started afresh: take them as the change.
        let reset = counters.requests < self.previous.requests || counters.gatewayErrors < self.previous.gatewayErrors
        let base = reset ? ClusterCounters() : self.previous
        var tick = Tick(
            at: now, requests: counters.requests - base.requests, errors: counters.gatewayErrors - base.gatewayErrors,
            errorsByType: [:], errorsByServer: [:])
        if tick.errors > 0 {
            for (type, count) in counters.errorsByType where count > base.errorsByType[type] ?? 0 {
                tick.errorsByType[type] = count - (base.errorsByType[type] ?? 0)
            }
            for (server, count) in counters.errorsByServer where count > base.errorsByServer[server] ?? 0 {
                tick.errorsByServer[server] = count - (base.errorsByServer[server] ?? 0)
            }
        }
        let newIDs = counters.latestErrorIDs.filter { !base.latestErrorIDs.contains($0) }
        self.previous = counters
        if self.firstTick == nil { self.firstTick = now }
        self.ticks.append(tick)

        let window = Self.nanoseconds(self.settings.window)
        let baselineSpan = window * Int64(Self.baselineWindows)
        self.ticks.removeAll { $0.at <= now - window - baselineSpan }
        let inWindow = self.ticks.filter { $0.at > now - window }
        let requests = inWindow.reduce(0) { $0 + $1.requests }
        let errors = inWindow.reduce(0) { $0 + $1.errors }
        let ratio = requests > 0 ? Double(errors) / Double(requests) : 0
        let spike = self.spike(now: now, window: window, windowRequests: requests)
        self.spikeSuspected = spike != nil

        guard var incident = self.open else {
            guard requests >= self.settings.minRequests, ratio >= self.settings.errorRatio else { return nil }
            var byType: [ProxyStatusError: Int] = [:]
            var byServer: [String: Int] = [:]
            for tick in inWindow {
                byType.merge(tick.errorsByType, uniquingKeysWith: +)
                byServer.merge(tick.errorsByServer, uniquingKeysWith: +)
            }
            var opened = Incident(
                id: "inc-\(reading.wallMillis)-\(self.cluster)", cluster: self.cluster, startMillis: reading.wallMillis,
                updatedMillis: reading.wallMillis, requests: requests, errors: errors, errorsByType: byType,
                errorsByServer: byServer, sampleRequestIDs: Array(counters.latestErrorIDs.prefix(Incident.maxSamples)),
                peakRatio: ratio)
            if var spike {
                spike.topClients = reading.topClients
                opened.spike = spike
            }
            self.open = opened
            self.healthySince = nil
            return .opened
        }

        incident.requests += tick.requests
        incident.errors += tick.errors
        incident.errorsByType.merge(tick.errorsByType, uniquingKeysWith: +)
        incident.errorsByServer.merge(tick.errorsByServer, uniquingKeysWith: +)
        for id in newIDs where incident.sampleRequestIDs.count < Incident.maxSamples && !incident.sampleRequestIDs.contains(id) {
            incident.sampleRequestIDs.append(id)
        }
        incident.peakRatio = max(incident.peakRatio, ratio)
        if let spike {
            var kept = incident.spike ?? spike
            if spike.factor >= kept.factor {
                kept.factor = spike.factor
                kept.peakPerSecond = spike.peakPerSecond
                kept.baselinePerSecond = spike.baselinePerSecond
            }
            if !reading.topClients.isEmpty { kept.topClients = reading.topClients }
            incident.spike = kept
        }
        let changed = tick.requests > 0 || tick.errors > 0 || spike != nil
        if changed { incident.updatedMillis = reading.wallMillis }

        if ratio < self.settings.errorRatio {
            let since = self.healthySince ?? now
            self.healthySince = since
            if now - since >= Self.nanoseconds(self.settings.recovery) {
                incident.endMillis = reading.wallMillis
                incident.updatedMillis = reading.wallMillis
                self.open = nil
                self.healthySince = nil
                self.resolved = incident
                return .resolved
            }
        } else {
            self.healthySince = nil
        }
        self.open = incident
        return changed ? .updated : nil
    }

    /// The incident the last ``observe(_:)`` resolved.
    public private(set) var resolved: Incident?

    /// The spike now, if the window's rate is `spike_factor` above a baseline that covers at least a window.
    private func spike(now: Int64, window: Int64, windowRequests: Int) -> Incident.Spike? {
        guard self.settings.spikeFactor > 0, let first = self.firstTick, windowRequests >= self.settings.minRequests else {
            return nil
        }
        let baselineStart = max(first, now - window * Int64(1 + Self.baselineWindows))
        let covered = now - window - baselineStart
        guard covered >= window else { return nil }
        let baselineRequests = self.ticks.filter { $0.at > baselineStart && $0.at <= now - window }.reduce(0) { $0 + $1.requests }
        let seconds = Double(window) / 1e9
        let rate = Double(windowRequests) / seconds
        // An idle baseline counts as one request: from nothing to a flood is a spike too.
        let baseline = Double(max(baselineRequests, 1)) / (Double(covered) / 1e9)
        let factor = rate / baseline
        guard factor >= self.settings.spikeFactor else { return nil }
        return Incident.Spike(factor: factor, baselinePerSecond: baseline, peakPerSecond: rate)
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
