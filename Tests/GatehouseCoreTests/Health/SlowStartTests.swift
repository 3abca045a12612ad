import NIOCore
import Testing

@testable import GatehouseCore

extension HealthTests {
    @Suite("SlowStart")
    struct SlowStartTests {
        private let t0 = HealthTests.t0
        private let window: Duration = .seconds(10)

        private func weight(_ configured: Int, after elapsed: TimeAmount, window: Duration? = .seconds(10)) -> Int {
            SlowStart.weight(configured: configured, since: self.t0, now: self.t0 + elapsed, window: window)
        }

        @Test func startsAtTenPercent() {
            #expect(self.weight(1, after: .zero) == 10)
            #expect(self.weight(7, after: .zero) == 70)
        }

        @Test func isFiftyFivePercentHalfWay() {
            #expect(self.weight(1, after: .seconds(5)) == 55)
            #expect(self.weight(10, after: .seconds(5)) == 550)
        }

        @Test func rampsMonotonically() {
            var previous = 0
            for tenth in 0...10 {
                let current = self.weight(3, after: .seconds(Int64(tenth)))
                #expect(current > previous)
                previous = current
            }
        }

        @Test func isFullAtTheEndAndAfter() {
            #expect(self.weight(3, after: .seconds(10)) == 300)
            #expect(self.weight(3, after: .seconds(3600)) == 300)
        }

        @Test func noWindowMeansFullWeight() {
            #expect(self.weight(4, after: .zero, window: nil) == 400)
            #expect(self.weight(4, after: .zero, window: .zero) == 400)
        }

        @Test func isNeverZero() {
            #expect(self.weight(0, after: .zero) == 1)
            #expect(self.weight(-5, after: .seconds(5)) == 1)
            #expect(self.weight(0, after: .zero, window: nil) == 1)
        }

        @Test func hugeWeightDoesNotTrap() {
            #expect(self.weight(Int.max, after: .seconds(5)) > 0)
            #expect(self.weight(Int.max / 100, after: .seconds(10)) == Int.max / 100 * 100)
        }

        @Test func progressForTheAdminAPI() {
            #expect(SlowStart.progress(since: self.t0, now: self.t0, window: self.window) == 0)
            #expect(SlowStart.progress(since: self.t0, now: self.t0 + .seconds(5), window: self.window) == 0.5)
            #expect(SlowStart.progress(since: self.t0, now: self.t0 + .seconds(10), window: self.window) == nil)
            #expect(SlowStart.progress(since: self.t0, now: self.t0 + .seconds(5), window: nil) == nil)
            // A start in the future (clocks handed in out of order) counts as just started.
            #expect(SlowStart.progress(since: self.t0 + .seconds(5), now: self.t0, window: self.window) == 0)
        }
    }
}
