import Testing

@testable import GatehouseCore

extension Unit {
    /// The retry budget over its 10-second window, with fixed seconds only (no clock).
    @Suite struct RetryBudgetTests {
        /// A second well away from zero, as `NIODeadline.uptimeNanoseconds / 1e9` gives after a boot.
        static let t0: Int64 = 86_400

        /// Withdraws until refused (at most `limit` times) and returns how many were granted.
        static func drain(_ budget: inout RetryBudget, at second: Int64, limit: Int = 10_000) -> Int {
            var granted = 0
            while granted < limit, budget.withdraw(second: second) { granted += 1 }
            return granted
        }

        static func record(_ budget: inout RetryBudget, _ count: Int, at second: Int64) {
            for _ in 0..<count { budget.recordRequest(second: second) }
        }

        @Test func theFloorAllowsMinPerSecondTimesTheWindowWithoutAnyRequest() {
            var budget = RetryBudget(percent: 0, minPerSecond: 2)
            // 2 per second over a 10 s window: 20 retries, the 21st refused.
            let drained1 = Self.drain(&budget, at: Self.t0)
            #expect(drained1 == 20)
            let granted2 = budget.withdraw(second: Self.t0)
            #expect(!granted2)
            let granted3 = budget.withdraw(second: Self.t0 + 9)
            #expect(!granted3)
        }

        @Test func theFloorIsAWindowAllowanceNotAPerSecondOne() {
            var budget = RetryBudget(percent: 0, minPerSecond: 1)
            // All 10 may be spent in one second; the next second gets none.
            let drained4 = Self.drain(&budget, at: Self.t0)
            #expect(drained4 == 10)
            let granted5 = budget.withdraw(second: Self.t0 + 1)
            #expect(!granted5)
        }

        @Test func percentOfTheWindowsRequestsIsAllowed() {
            var budget = RetryBudget(percent: 20, minPerSecond: 0)
            Self.record(&budget, 100, at: Self.t0)
            let drained6 = Self.drain(&budget, at: Self.t0)
            #expect(drained6 == 20)
            // More requests later in the window add to the allowance.
            Self.record(&budget, 50, at: Self.t0 + 3)
            let drained7 = Self.drain(&budget, at: Self.t0 + 3)
            #expect(drained7 == 10)
        }

        @Test(arguments: [(requests: 4, allowed: 0), (requests: 5, allowed: 1), (requests: 9, allowed: 1), (requests: 10, allowed: 2)])
        func thePercentShareRoundsDown(requests: Int, allowed: Int) {
            var budget = RetryBudget(percent: 20, minPerSecond: 0)
            Self.record(&budget, requests, at: Self.t0)
            let drained = Self.drain(&budget, at: Self.t0)
            #expect(drained == allowed)
        }

        @Test func theLargerOfFloorAndPercentApplies() {
            var budget = RetryBudget(percent: 10, minPerSecond: 1)
            Self.record(&budget, 50, at: Self.t0)
            // 10 % of 50 is 5, below the floor of 10.
            let drained8 = Self.drain(&budget, at: Self.t0)
            #expect(drained8 == 10)
            var busy = RetryBudget(percent: 10, minPerSecond: 1)
            Self.record(&busy, 500, at: Self.t0)
            let drained9 = Self.drain(&busy, at: Self.t0)
            #expect(drained9 == 50)
        }

        @Test func bothZeroMeansNoRetryAtAll() {
            var budget = RetryBudget(percent: 0, minPerSecond: 0)
            Self.record(&budget, 1_000, at: Self.t0)
            let granted10 = budget.withdraw(second: Self.t0)
            #expect(!granted10)
        }

        @Test func aRefusedWithdrawalSpendsNothing() {
            var budget = RetryBudget(percent: 50, minPerSecond: 0)
            Self.record(&budget, 2, at: Self.t0)
            let granted11 = budget.withdraw(second: Self.t0)
            #expect(granted11)
            for _ in 0..<5 {
                let refused = !budget.withdraw(second: Self.t0)
                #expect(refused)
            }
            // Two more requests allow exactly one more retry: the refusals were not counted as spent.
            Self.record(&budget, 2, at: Self.t0)
            let drained12 = Self.drain(&budget, at: Self.t0)
            #expect(drained12 == 1)
        }

        @Test func requestsAndRetriesLeaveTheWindowSecondBySecond() {
            var budget = RetryBudget(percent: 20, minPerSecond: 0)
            Self.record(&budget, 50, at: Self.t0)
            Self.record(&budget, 50, at: Self.t0 + 5)
            let drained13 = Self.drain(&budget, at: Self.t0 + 5)
            #expect(drained13 == 20)
            // t0's requests leave at t0 + 10: 50 requests → 10 allowed, but the 20 retries of t0 + 5 remain.
            let granted14 = budget.withdraw(second: Self.t0 + 10)
            #expect(!granted14)
            // At t0 + 15 the retries of t0 + 5 have left too, and so have their requests.
            let granted15 = budget.withdraw(second: Self.t0 + 15)
            #expect(!granted15)
            Self.record(&budget, 10, at: Self.t0 + 15)
            let drained16 = Self.drain(&budget, at: Self.t0 + 15)
            #expect(drained16 == 2)
        }

        @Test func theLastSecondOfTheWindowStillCounts() {
            var budget = RetryBudget(percent: 100, minPerSecond: 0)
            Self.record(&budget, 3, at: Self.t0)
            let granted17 = budget.withdraw(second: Self.t0 + 9)
            #expect(granted17)
            let drained18 = Self.drain(&budget, at: Self.t0 + 9)
            #expect(drained18 == 2)
            // At t0 + 10 the requests are gone, the retries (spent at t0 + 9) are not.
            Self.record(&budget, 3, at: Self.t0 + 10)
            let granted19 = budget.withdraw(second: Self.t0 + 10)
            #expect(!granted19)
        }

        @Test func aLongSilenceEmptiesTheWindow() {
            var budget = RetryBudget(percent: 20, minPerSecond: 0)
            Self.record(&budget, 100, at: Self.t0)
            let drained20 = Self.drain(&budget, at: Self.t0)
            #expect(drained20 == 20)
            let granted21 = budget.withdraw(second: Self.t0 + 3_600)
            #expect(!granted21)
            Self.record(&budget, 100, at: Self.t0 + 3_600)
            let drained22 = Self.drain(&budget, at: Self.t0 + 3_600)
            #expect(drained22 == 20)
        }

        @Test func aSteadyRateKeepsASteadyAllowance() {
            var budget = RetryBudget(percent: 10, minPerSecond: 0)
            var granted = 0
            // 100 requests a second for a minute, retrying whenever allowed.
            for second in Self.t0..<(Self.t0 + 60) {
                Self.record(&budget, 100, at: second)
                granted += Self.drain(&budget, at: second)
            }
            // Never more than 10 % of the requests of any window; about 10 % overall.
            #expect(granted <= 600)
            #expect(granted >= 590)
        }
    }

    /// Exponential backoff with full jitter, drawn from a seeded generator.
    @Suite struct RetryBackoffTests {
        static let base = Int64(25_000_000)
        static let cap = Int64(250_000_000)

        static func draws(retry: Int, base: Int64 = Self.base, max: Int64 = Self.cap, count: Int = 2_000, seed: UInt64 = 42) -> [Int64] {
            var random = SplitMix64(seed: seed)
            return (0..<count).map { _ in RetryBackoff.delayNanoseconds(retry: retry, base: base, max: max, using: &random) }
        }

        @Test(arguments: [
            (retry: 0, base: Int64(25_000_000), max: Int64(250_000_000)), (retry: -3, base: 25_000_000, max: 250_000_000),
            (retry: 1, base: 0, max: 250_000_000), (retry: 1, base: 25_000_000, max: 0),
        ])
        func degenerateInputsMeanNoWait(retry: Int, base: Int64, max: Int64) {
            #expect(Self.draws(retry: retry, base: base, max: max, count: 50).allSatisfy { $0 == 0 })
        }

        /// The ceiling of the n-th retry: base × 2^(n-1), capped.
        @Test(arguments: [(1, Int64(25_000_000)), (2, 50_000_000), (3, 100_000_000), (4, 200_000_000), (5, 250_000_000), (12, 250_000_000)])
        func everyDelayIsWithinZeroAndTheCeiling(retry: Int, ceiling: Int64) {
            let draws = Self.draws(retry: retry)
            #expect(draws.allSatisfy { $0 >= 0 && $0 <= ceiling })
            // Full jitter spans the range: with 2000 draws, both ends are approached.
            #expect(draws.max() ?? 0 > ceiling * 95 / 100)
            #expect(draws.min() ?? ceiling < ceiling * 5 / 100)
        }

        @Test func theMeanDoublesWithEachRetryUntilTheCap() {
            let means = (1...6).map { retry in Double(Self.draws(retry: retry).reduce(0, +)) / 2_000 }
            // Uniform over [0, ceiling]: the mean is half the ceiling, within a few percent for 2000 draws.
            let expected: [Double] = [12.5e6, 25e6, 50e6, 100e6, 125e6, 125e6]
            for (mean, want) in zip(means, expected) {
                #expect(abs(mean - want) / want < 0.05, "mean \(mean) ns, expected about \(want) ns")
            }
        }

        @Test func hugeRetryCountsAndOverflowStayAtTheCap() {
            #expect(Self.draws(retry: 64).allSatisfy { $0 <= Self.cap })
            #expect(Self.draws(retry: Int.max).allSatisfy { $0 <= Self.cap })
            // base × 2^(n-1) overflows Int64: the cap applies, it does not wrap to a negative value.
            let draws = Self.draws(retry: 40, base: Int64.max / 4, max: 1_000_000_000)
            #expect(draws.allSatisfy { $0 >= 0 && $0 <= 1_000_000_000 })
            #expect(draws.max() ?? 0 > 900_000_000)
        }

        @Test func aMaxBelowTheBaseCapsEvenTheFirstRetry() {
            #expect(Self.draws(retry: 1, base: 100_000_000, max: 10_000_000).allSatisfy { $0 <= 10_000_000 })
        }

        @Test func theSameSeedGivesTheSameDelaysAndTheyAreSpread() {
            let first = Self.draws(retry: 3, count: 100, seed: 7)
            #expect(first == Self.draws(retry: 3, count: 100, seed: 7))
            #expect(first != Self.draws(retry: 3, count: 100, seed: 8))
            // Jitter: many distinct values, not a fixed step.
            #expect(Set(first).count > 90)
        }
    }
}
