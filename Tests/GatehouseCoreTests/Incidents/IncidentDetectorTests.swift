import GatehouseConfig
import GatehouseCore
import GatehouseErrors
import Testing

/// The incident state machine, fed by hand one tick per second: no sockets, no clock.
@Suite("incident detector")
struct IncidentDetectorTests {
    /// window 10 s, 10 %, 20 requests, recovery 5 s, spike ×4.
    static let settings = IncidentSettings(
        window: .seconds(10), errorRatio: 0.1, minRequests: 20, recovery: .seconds(5), spikeFactor: 4, interval: .seconds(1))

    /// Cumulative counters and a one-second clock, as the monitor would read them.
    struct Feed {
        var detector = IncidentDetector(cluster: "app", settings: IncidentDetectorTests.settings)
        var counters = ClusterCounters()
        var second: Int64 = 0
        var nextID = 0

        /// One tick: `requests` requests of which `errors` failed with `type` on `server`.
        mutating func tick(
            _ requests: Int, errors: Int = 0, type: ProxyStatusError = .connectionRefused, server: String = "10.0.0.1:80",
            clients: [ClientCount] = []
        ) -> IncidentChange? {
            self.second += 1
            self.counters.requests += requests
            self.counters.gatewayErrors += errors
            if errors > 0 {
                self.counters.errorsByType[type, default: 0] += errors
                self.counters.errorsByServer[server, default: 0] += errors
                for _ in 0..<min(errors, ClusterCounters.keptErrorIDs) {
                    self.nextID += 1
                    self.counters.latestErrorIDs.append("req-\(self.nextID)")
                }
                self.counters.latestErrorIDs = Array(self.counters.latestErrorIDs.suffix(ClusterCounters.keptErrorIDs))
            }
            return self.detector.observe(
                IncidentDetector.Reading(
                    now: self.second * 1_000_000_000, wallMillis: 1_700_000_000_000 + self.second * 1000,
                    counters: self.counters, topClients: clients))
        }

        /// Ticks until `change` (at most `limit` ticks); the ticks it took, nil if never.
        mutating func until(_ change: IncidentChange, limit: Int = 60, _ tick: (inout Feed) -> IncidentChange?) -> Int? {
            for count in 1...limit where tick(&self) == change { return count }
            return nil
        }
    }

    @Test("healthy traffic opens nothing; errors over the ratio with enough requests open one incident")
    func opens() {
        var feed = Feed()
        for _ in 0..<15 { #expect(feed.tick(10) == nil) }
        #expect(feed.tick(10, errors: 5) == nil, "5 errors in 100 requests: 5 %")
        #expect(feed.tick(10, errors: 5) == .opened, "10 in 100: the threshold")
        let incident = feed.detector.open
        #expect(incident?.cluster == "app")
        #expect(incident?.id == "inc-1700000017000-app")
        #expect(incident?.startMillis == 1_700_000_017_000)
        #expect(incident?.errors == 10)
        #expect(incident?.cause == .connectionRefused)
        #expect(incident?.errorsByServer == ["10.0.0.1:80": 10])
        #expect(incident?.sampleRequestIDs.count == 5)
        #expect(incident?.spike == nil, "the rate did not change")
    }

    @Test("while errors go on, the incident stays the same one and its counts grow")
    func staysOpen() {
        var feed = Feed()
        #expect(feed.until(.opened) { $0.tick(10, errors: 5) } != nil)
        let id = feed.detector.open?.id
        for _ in 0..<30 { #expect(feed.tick(10, errors: 5) == .updated) }
        #expect(feed.detector.open?.id == id)
        #expect((feed.detector.open?.errors ?? 0) >= 150)
        #expect(feed.detector.open?.peakRatio == 0.5)
    }

    @Test("resolved once the ratio stayed below the threshold for the recovery period")
    func closes() {
        var feed = Feed()
        #expect(feed.until(.opened) { $0.tick(10, errors: 10) } != nil)
        // The window still holds the errors for up to 10 s, then 5 s of recovery.
        let ticks = feed.until(.resolved) { $0.tick(10) }
        #expect(ticks.map { $0 >= 5 && $0 <= 16 } == true, "\(String(describing: ticks))")
        #expect(feed.detector.open == nil)
        let resolved = feed.detector.resolved
        #expect(resolved?.endMillis != nil)
        #expect(resolved?.isOpen == false)
        for _ in 0..<20 { #expect(feed.tick(10) == nil, "nothing more after the end") }
    }

    @Test("a ratio that dips below the threshold for less than the recovery period does not close and reopen")
    func flapping() {
        var feed = Feed()
        #expect(feed.until(.opened) { $0.tick(10, errors: 10) } != nil)
        let id = feed.detector.open?.id
        var changes: [IncidentChange?] = []
        for round in 0..<6 {
            // Healthy long enough for the window ratio to drop under 10 %, shorter than recovery after that.
            for _ in 0..<12 { changes.append(feed.tick(10)) }
            for _ in 0..<3 { changes.append(feed.tick(10, errors: round % 2 == 0 ? 10 : 6)) }
        }
        #expect(!changes.contains(.resolved), "\(changes)")
        #expect(!changes.contains(.opened))
        #expect(feed.detector.open?.id == id)
    }

    @Test("too few requests never open an incident, however many fail")
    func minimumRequests() {
        var feed = Feed()
        for _ in 0..<60 { #expect(feed.tick(1, errors: 1) == nil, "10 requests per window, all failed") }
        #expect(feed.detector.open == nil)
    }

    @Test("the dominant cause is the Proxy-Status type with the most errors")
    func dominantCause() {
        var feed = Feed()
        #expect(feed.tick(20, errors: 1, type: .connectionRefused, server: "a:1") == nil)
        #expect(feed.tick(20, errors: 7, type: .connectionTimeout, server: "b:1") == .opened)
        #expect(feed.tick(20, errors: 2, type: .connectionTerminated, server: "a:1") == .updated)
        let incident = feed.detector.open
        #expect(incident?.cause == .connectionTimeout)
        #expect(incident?.errorsByType == [.connectionRefused: 1, .connectionTimeout: 7, .connectionTerminated: 2])
        #expect(incident?.affectedServers.map(\.server) == ["b:1", "a:1"])
        #expect(incident?.summary.contains("mostly connection_timeout (504)") == true)
    }

    @Test("requests per second jumping with the errors: the incident says traffic spike, with the top clients")
    func spikeHint() {
        var feed = Feed()
        for _ in 0..<110 { _ = feed.tick(2) }
        #expect(!feed.detector.spikeSuspected)
        let clients = [ClientCount(address: "203.0.113.7", requests: 300), ClientCount(address: "198.51.100.2", requests: 20)]
        var changes: [IncidentChange?] = []
        for _ in 0..<10 { changes.append(feed.tick(40, errors: 20, type: .connectionRefused, clients: clients)) }
        #expect(changes.first == .opened)
        #expect(feed.detector.spikeSuspected)
        let incident = feed.detector.open
        let factor = incident?.spike?.factor ?? 0
        #expect(factor >= 15 && factor <= 25, "40/s over 2/s: \(factor)")
        #expect(incident?.spike?.topClients.first?.address == "203.0.113.7")
        #expect(incident?.hint == "traffic spike ×20 with 502s: possible overload or attack")
        // Traffic back to its baseline: no longer suspected (the incident keeps what it saw).
        for _ in 0..<12 { _ = feed.tick(2) }
        #expect(!feed.detector.spikeSuspected)
    }

    @Test("counters that restart from zero (a new stats object) are taken as the change, not as negative")
    func counterReset() {
        var feed = Feed()
        for _ in 0..<5 { _ = feed.tick(10) }
        feed.counters = ClusterCounters()
        #expect(feed.tick(10) == nil)
        #expect(feed.detector.open == nil)
    }
}
