import NIOCore
import Testing

@testable import GatehouseCore

extension Unit {
    /// The upstream pool's state machine without a channel or a clock: fixed instants only.
    @Suite struct PoolStateMachineTests {
        typealias Machine = UpstreamConnectionPool.StateMachine

        /// A fixed instant `seconds` (plus `millis`) after an arbitrary origin well away from zero.
        static func at(_ seconds: Int64, millis: Int64 = 0) -> NIODeadline {
            .uptimeNanoseconds(UInt64(1_000_000_000_000 + seconds * 1_000_000_000 + millis * 1_000_000))
        }

        /// A machine with these connections parked (reusable) at the given seconds.
        static func parked(_ parks: [(id: Int, at: Int64)], maxIdle: Int = 8, timeout: TimeAmount = .seconds(10))
            -> Machine
        {
            var machine = Machine(maxIdle: maxIdle, idleTimeout: timeout)
            for park in parks { _ = machine.connectionReleased(id: park.id, isReusable: true, now: Self.at(park.at)) }
            return machine
        }

        @Test func emptyPoolOpensANewConnection() {
            var machine = Machine(maxIdle: 4, idleTimeout: .seconds(10))
            #expect(machine.leaseRequested(now: Self.at(0)) == .createConnection(closeExpired: []))
            #expect(machine.idle.isEmpty)
        }

        @Test func firstParkArmsTheSweepAndLaterParksDoNot() {
            var machine = Machine(maxIdle: 4, idleTimeout: .seconds(10))
            #expect(machine.connectionReleased(id: 1, isReusable: true, now: Self.at(0)) == .park(armSweep: true))
            #expect(machine.connectionReleased(id: 2, isReusable: true, now: Self.at(1)) == .park(armSweep: false))
            #expect(machine.connectionReleased(id: 3, isReusable: true, now: Self.at(2)) == .park(armSweep: false))
            #expect(
                machine.idle == [
                    .init(id: 1, since: Self.at(0), expires: Self.at(10)), .init(id: 2, since: Self.at(1), expires: Self.at(11)),
                    .init(id: 3, since: Self.at(2), expires: Self.at(12)),
                ])
        }

        @Test func idleConnectionsAreReusedLastInFirstOut() {
            var machine = Self.parked([(1, 0), (2, 1), (3, 2)])
            #expect(machine.leaseRequested(now: Self.at(3)) == .useIdle(id: 3, closeExpired: []))
            #expect(machine.leaseRequested(now: Self.at(3)) == .useIdle(id: 2, closeExpired: []))
            #expect(machine.leaseRequested(now: Self.at(3)) == .useIdle(id: 1, closeExpired: []))
            #expect(machine.leaseRequested(now: Self.at(3)) == .createConnection(closeExpired: []))
        }

        @Test func aReleasedConnectionGoesBackOnTopOfTheStack() {
            var machine = Self.parked([(1, 0), (2, 1)])
            #expect(machine.leaseRequested(now: Self.at(2)) == .useIdle(id: 2, closeExpired: []))
            #expect(machine.connectionReleased(id: 2, isReusable: true, now: Self.at(3)) == .park(armSweep: false))
            #expect(machine.idle.map(\.id) == [1, 2])
            #expect(machine.idle.last?.since == Self.at(3))
            #expect(machine.leaseRequested(now: Self.at(4)) == .useIdle(id: 2, closeExpired: []))
        }

        struct ExpiryCase: Sendable, CustomTestStringConvertible {
            var leaseAfterMillis: Int64
            var expected: Machine.LeaseAction
            var testDescription: String { "lease \(self.leaseAfterMillis) ms after parking" }
        }

        /// idle_timeout 10 s: a connection idle for strictly less is reused; at exactly 10 s it has expired.
        static let expiryCases: [ExpiryCase] = [
            ExpiryCase(leaseAfterMillis: 0, expected: .useIdle(id: 7, closeExpired: [])),
            ExpiryCase(leaseAfterMillis: 9_999, expected: .useIdle(id: 7, closeExpired: [])),
            ExpiryCase(leaseAfterMillis: 10_000, expected: .createConnection(closeExpired: [7])),
            ExpiryCase(leaseAfterMillis: 10_001, expected: .createConnection(closeExpired: [7])),
            ExpiryCase(leaseAfterMillis: 3_600_000, expected: .createConnection(closeExpired: [7])),
        ]

        @Test(arguments: Self.expiryCases)
        func leaseHonoursTheIdleTimeout(_ testCase: ExpiryCase) {
            var machine = Self.parked([(7, 0)])
            #expect(machine.leaseRequested(now: Self.at(0, millis: testCase.leaseAfterMillis)) == testCase.expected)
            #expect(machine.idle.isEmpty)
        }

        @Test func leaseClosesEveryExpiredConnectionItMeets() {
            var machine = Self.parked([(1, 0), (2, 5)])
            // Both expired (5 + 10 ≤ 16): closed newest first, as they are popped, then a new connection.
            #expect(machine.leaseRequested(now: Self.at(16)) == .createConnection(closeExpired: [2, 1]))
            #expect(machine.idle.isEmpty)
        }

        @Test func leaseStopsAtTheFirstFreshConnectionAndLeavesOlderOnesToTheSweep() {
            var machine = Self.parked([(1, 0), (2, 8)])
            #expect(machine.leaseRequested(now: Self.at(12)) == .useIdle(id: 2, closeExpired: []))
            #expect(machine.idle == [.init(id: 1, since: Self.at(0), expires: Self.at(10))])
            let sweep = machine.sweepTimerFired(now: Self.at(12))
            #expect(sweep.close == [1])
            #expect(sweep.next == nil)
            #expect(machine.idle.isEmpty)
        }

        @Test(arguments: [false, true])
        func aNonReusableConnectionIsClosed(alreadyHoldingOne: Bool) {
            var machine = alreadyHoldingOne ? Self.parked([(1, 0)]) : Machine(maxIdle: 8, idleTimeout: .seconds(10))
            #expect(machine.connectionReleased(id: 9, isReusable: false, now: Self.at(1)) == .close)
            #expect(machine.idle.map(\.id) == (alreadyHoldingOne ? [1] : []))
        }

        @Test func maxIdleCapsTheParkedConnections() {
            var machine = Machine(maxIdle: 2, idleTimeout: .seconds(10))
            #expect(machine.connectionReleased(id: 1, isReusable: true, now: Self.at(0)) == .park(armSweep: true))
            #expect(machine.connectionReleased(id: 2, isReusable: true, now: Self.at(1)) == .park(armSweep: false))
            #expect(machine.connectionReleased(id: 3, isReusable: true, now: Self.at(2)) == .close)
            #expect(machine.idle.map(\.id) == [1, 2])
            // Taking one out makes room again.
            #expect(machine.leaseRequested(now: Self.at(3)) == .useIdle(id: 2, closeExpired: []))
            #expect(machine.connectionReleased(id: 3, isReusable: true, now: Self.at(4)) == .park(armSweep: false))
            #expect(machine.idle.map(\.id) == [1, 3])
        }

        @Test func maxIdleZeroNeverParks() {
            var machine = Machine(maxIdle: 0, idleTimeout: .seconds(10))
            #expect(machine.connectionReleased(id: 1, isReusable: true, now: Self.at(0)) == .close)
            #expect(machine.idle.isEmpty)
            #expect(machine.leaseRequested(now: Self.at(1)) == .createConnection(closeExpired: []))
        }

        @Test func aClosedIdleConnectionIsForgotten() {
            var machine = Self.parked([(1, 0), (2, 1), (3, 2)])
            machine.connectionClosed(id: 2)
            #expect(machine.idle.map(\.id) == [1, 3])
            machine.connectionClosed(id: 42)  // not idle (leased, or unknown): nothing changes
            #expect(machine.idle.map(\.id) == [1, 3])
            #expect(machine.leaseRequested(now: Self.at(3)) == .useIdle(id: 3, closeExpired: []))
            #expect(machine.leaseRequested(now: Self.at(3)) == .useIdle(id: 1, closeExpired: []))
            #expect(machine.leaseRequested(now: Self.at(3)) == .createConnection(closeExpired: []))
        }

        @Test func sweepClosesExpiredConnectionsAndSchedulesTheNextExpiry() {
            var machine = Self.parked([(1, 0), (2, 4), (3, 8)])
            let nothing = machine.sweepTimerFired(now: Self.at(9))
            #expect(nothing.close == [])
            #expect(nothing.next == Self.at(10))

            let first = machine.sweepTimerFired(now: Self.at(10))
            #expect(first.close == [1])
            #expect(first.next == Self.at(14))
            #expect(machine.idle.map(\.id) == [2, 3])

            let rest = machine.sweepTimerFired(now: Self.at(30))
            #expect(rest.close == [2, 3])
            #expect(rest.next == nil)
            #expect(machine.idle.isEmpty)
        }

        @Test func sweepThatEmptiesThePoolDisarmsSoTheNextParkRearms() {
            var machine = Self.parked([(1, 0)])
            let sweep = machine.sweepTimerFired(now: Self.at(10))
            #expect(sweep.close == [1])
            #expect(sweep.next == nil)
            #expect(machine.connectionReleased(id: 2, isReusable: true, now: Self.at(11)) == .park(armSweep: true))
        }

        @Test func sweepStaysArmedWhileALeaseEmptiesThePool() {
            var machine = Self.parked([(1, 0)])
            #expect(machine.leaseRequested(now: Self.at(1)) == .useIdle(id: 1, closeExpired: []))
            // The timer scheduled by the first park has not fired yet: no second timer.
            #expect(machine.connectionReleased(id: 1, isReusable: true, now: Self.at(2)) == .park(armSweep: false))
            let sweep = machine.sweepTimerFired(now: Self.at(10))
            #expect(sweep.close == [])
            #expect(sweep.next == Self.at(12))
        }

        @Test func sweepOnAnEmptyPoolDisarms() {
            var machine = Machine(maxIdle: 4, idleTimeout: .seconds(10))
            let sweep = machine.sweepTimerFired(now: Self.at(0))
            #expect(sweep.close == [])
            #expect(sweep.next == nil)
        }

        @Test func drainClosesEveryIdleConnection() {
            var machine = Self.parked([(1, 0), (2, 1), (3, 2)])
            #expect(machine.drain() == [1, 2, 3])
            #expect(machine.idle.isEmpty)
            #expect(machine.drain() == [])
            #expect(machine.leaseRequested(now: Self.at(3)) == .createConnection(closeExpired: []))
        }

        /// The shell cancels the sweep timer when it drains, so a connection parked afterwards must arm a
        /// new one; otherwise it would sit idle past `idle_timeout` with no timer to close it.
        @Test func aParkAfterDrainArmsANewSweep() {
            var machine = Self.parked([(1, 0)])
            #expect(machine.drain() == [1])
            #expect(machine.connectionReleased(id: 2, isReusable: true, now: Self.at(1)) == .park(armSweep: true))
        }
    }
}

extension Unit {
    /// The keep-alive race, prevented in the pool: idle limits kept below what the upstream announces
    /// or is seen to do.
    @Suite struct PoolIdleLimitTests {
        typealias Machine = UpstreamConnectionPool.StateMachine

        static func at(_ seconds: Int64, millis: Int64 = 0) -> NIODeadline {
            .uptimeNanoseconds(UInt64(1_000_000_000_000 + seconds * 1_000_000_000 + millis * 1_000_000))
        }

        @Test func anAnnouncedKeepAliveTimeoutShortensTheIdleLimit() {
            var machine = Machine(maxIdle: 4, idleTimeout: .seconds(30))
            // Keep-Alive: timeout=5 → 4 s (a fifth below).
            _ = machine.connectionReleased(id: 1, isReusable: true, now: Self.at(0), advertised: .seconds(5))
            #expect(machine.idle.first?.expires == Self.at(4))
            #expect(machine.leaseRequested(now: Self.at(3, millis: 999)) == .useIdle(id: 1, closeExpired: []))
            _ = machine.connectionReleased(id: 1, isReusable: true, now: Self.at(4), advertised: .seconds(5))
            #expect(machine.leaseRequested(now: Self.at(8)) == .createConnection(closeExpired: [1]))
        }

        @Test func aShortAnnouncedTimeoutKeepsAtLeastAQuarterSecondMargin() {
            #expect(Machine.safelyBelow(.seconds(1)) == .milliseconds(750))
            #expect(Machine.safelyBelow(.seconds(10)) == .seconds(8))
            #expect(Machine.safelyBelow(.milliseconds(100)) == .milliseconds(50))
        }

        @Test func anUpstreamClosingIdleConnectionsIsLearnedFrom() {
            var machine = Machine(maxIdle: 4, idleTimeout: .seconds(30))
            _ = machine.connectionReleased(id: 1, isReusable: true, now: Self.at(0))
            // The upstream closes it after 5 s idle (Node's default keepAliveTimeout).
            #expect(machine.connectionClosed(id: 1, now: Self.at(5)) == .seconds(5))
            #expect(machine.idleLimit(advertised: nil, now: Self.at(5)) == .seconds(4))
            _ = machine.connectionReleased(id: 2, isReusable: true, now: Self.at(6))
            #expect(machine.idle.first?.expires == Self.at(10))
            // Forgotten after five minutes without a new observation.
            #expect(machine.idleLimit(advertised: nil, now: Self.at(5 + 301)) == .seconds(30))
        }

        @Test func quickClosesAndOurOwnClosesAreNotLearned() {
            var machine = Machine(maxIdle: 4, idleTimeout: .seconds(30))
            _ = machine.connectionReleased(id: 1, isReusable: true, now: Self.at(0))
            // 100 ms after parking: a restart, not a keep-alive timeout.
            #expect(machine.connectionClosed(id: 1, now: Self.at(0, millis: 100)) == .milliseconds(100))
            #expect(machine.learnedLimit == nil)
            // A connection not idle in the pool (leased, or closed by us) teaches nothing.
            #expect(machine.connectionClosed(id: 9, now: Self.at(50)) == nil)
            #expect(machine.learnedLimit == nil)
        }

        @Test func theSweepFollowsTheEarliestExpiry() {
            var machine = Machine(maxIdle: 4, idleTimeout: .seconds(30))
            _ = machine.connectionReleased(id: 1, isReusable: true, now: Self.at(0))
            _ = machine.connectionReleased(id: 2, isReusable: true, now: Self.at(1), advertised: .seconds(2))
            let sweep = machine.sweepTimerFired(now: Self.at(3))
            #expect(sweep.close == [2])
            #expect(sweep.next == Self.at(30))
        }
    }
}
