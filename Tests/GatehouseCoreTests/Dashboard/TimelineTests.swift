import GatehouseCore
import GatehouseErrors
import Testing

/// The dashboard's per-cluster ring, fed by hand: no sockets, no clock.
@Suite("timeline ring")
struct TimelineTests {
    static func counters(_ requests: Int, _ byType: [ProxyStatusError: Int] = [:]) -> ClusterCounters {
        var counters = ClusterCounters()
        counters.requests = requests
        counters.errorsByType = byType
        counters.gatewayErrors = byType.values.reduce(0, +)
        return counters
    }

    /// 1_700_000_000_000 is a multiple of 5 s: bucket boundaries fall on round numbers.
    static let t0: Int64 = 1_700_000_000_000

    @Test("cumulative counters become per-bucket changes, by Proxy-Status type")
    func changesPerBucket() {
        var timeline = Timeline()
        timeline.observe(Self.counters(10), wallMillis: Self.t0)
        timeline.observe(Self.counters(14, [.connectionRefused: 2]), wallMillis: Self.t0 + 1_000)
        timeline.observe(Self.counters(20, [.connectionRefused: 3, .httpResponseTimeout: 1]), wallMillis: Self.t0 + 5_000)
        let buckets = timeline.buckets(endingAt: Self.t0 + 5_000)
        #expect(buckets.count == Timeline.bucketCount)
        let previous = buckets[buckets.count - 2]
        let current = buckets[buckets.count - 1]
        #expect(previous.requests == 14)
        #expect(previous.errors == 2)
        #expect(previous.errorsByType == [.connectionRefused: 2])
        #expect(current.requests == 6)
        #expect(current.errors == 2)
        #expect(current.errorsByType == [.connectionRefused: 1, .httpResponseTimeout: 1])
        #expect(buckets.dropLast(2).allSatisfy { $0.requests == 0 && $0.errors == 0 })
        #expect(current.index - buckets[0].index == Int64(Timeline.bucketCount - 1), "oldest first, contiguous")
    }

    @Test("after 15 minutes a bucket is gone, and a slot reused by a newer bucket does not leak the old counts")
    func wraps() {
        var timeline = Timeline()
        timeline.observe(Self.counters(7, [.connectionRefused: 7]), wallMillis: Self.t0)
        let span = Timeline.bucketMillis * Int64(Timeline.bucketCount)
        #expect(timeline.buckets(endingAt: Self.t0 + span - 1).first?.requests == 7, "still the oldest bucket")
        #expect(timeline.buckets(endingAt: Self.t0 + span).allSatisfy { $0.requests == 0 }, "one bucket later it is out")
        // The same slot, one lap later.
        timeline.observe(Self.counters(9, [.connectionRefused: 8]), wallMillis: Self.t0 + span)
        let last = timeline.buckets(endingAt: Self.t0 + span).last
        #expect(last?.requests == 2)
        #expect(last?.errorsByType == [.connectionRefused: 1])
    }

    @Test("counters started afresh (smaller than before) are taken as the change, never negative")
    func reset() {
        var timeline = Timeline()
        timeline.observe(Self.counters(100, [.connectionRefused: 50]), wallMillis: Self.t0)
        timeline.observe(Self.counters(3, [.connectionTimeout: 1]), wallMillis: Self.t0 + 5_000)
        let last = timeline.buckets(endingAt: Self.t0 + 5_000).last
        #expect(last?.requests == 3)
        #expect(last?.errorsByType == [.connectionTimeout: 1])
    }

    @Test("the JSON has one value per bucket per series, and totals that add up")
    func json() throws {
        var timeline = Timeline()
        timeline.observe(Self.counters(4, [.connectionRefused: 1]), wallMillis: Self.t0 + 2_000)
        let text = TimelineJSON.render([(name: "app", timeline: timeline)], nowMillis: Self.t0 + 2_500)
        #expect(text.hasPrefix("{\"bucket_seconds\":5,\"buckets\":180,\"start_ms\":\(Self.t0 - 179 * 5_000),\"now_ms\":\(Self.t0 + 2_500)"))
        #expect(text.contains("\"totals\":{\"requests\":4,\"errors\":1,\"errors_by_type\":{\"connection_refused\":1}}"))
        #expect(text.contains("\"errors_by_type\":{\"connection_refused\":[" + String(repeating: "0,", count: 179) + "1]}"))
    }
}
