import NIOCore
import Testing

@testable import GatehouseCore

/// The client-side clock of a downstream connection, driven by events and explicit instants.
@Suite struct ClientDeadlinesTests {
    let limits = ClientDeadlines.Limits(
        header: .seconds(10), keepAlive: .seconds(75), bodyMinRate: 100, bodyWindow: .seconds(10))
    let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    @Test func aConnectionThatSendsNothingIsCutAtTheHeaderLimitFromTheAccept() {
        var clock = ClientDeadlines(acceptedAt: self.t0)
        #expect(clock.check(now: self.t0 + .seconds(9), limits: self.limits, isHoldingReads: false) == nil)
        #expect(clock.check(now: self.t0 + .seconds(10), limits: self.limits, isHoldingReads: false) == .header(hasBytes: false))
    }

    @Test func aTricklingHeadIsCutAtTheHeaderLimitWhateverItSends() {
        var clock = ClientDeadlines(acceptedAt: self.t0)
        for second in 1...9 { clock.bytesArrived(at: self.t0 + .seconds(Int64(second))) }
        #expect(clock.check(now: self.t0 + .seconds(9), limits: self.limits, isHoldingReads: false) == nil)
        #expect(clock.check(now: self.t0 + .seconds(10), limits: self.limits, isHoldingReads: false) == .header(hasBytes: true))
    }

    @Test func keepAliveIdleThenTheNextHeadHasItsOwnHeaderLimit() {
        var clock = ClientDeadlines(acceptedAt: self.t0)
        clock.headReceived(at: self.t0 + .seconds(1))
        clock.requestComplete()
        #expect(clock.check(now: self.t0 + .seconds(500), limits: self.limits, isHoldingReads: false) == nil)
        let done = self.t0 + .seconds(2)
        clock.responseFinished(at: done)
        #expect(clock.check(now: done + .seconds(74), limits: self.limits, isHoldingReads: false) == nil)
        // The first byte of the next head at 60 s: from then on, the header limit.
        clock.bytesArrived(at: done + .seconds(60))
        clock.bytesArrived(at: done + .seconds(65))
        #expect(clock.check(now: done + .seconds(69), limits: self.limits, isHoldingReads: false) == nil)
        #expect(clock.check(now: done + .seconds(70), limits: self.limits, isHoldingReads: false) == .header(hasBytes: true))
        // An idle connection that sends nothing closes at the keep-alive limit.
        var idle = ClientDeadlines(acceptedAt: self.t0)
        idle.responseFinished(at: done)
        #expect(idle.check(now: done + .seconds(75), limits: self.limits, isHoldingReads: false) == .keepAlive)
    }

    @Test func aSlowBodyIsCutAfterAWindowBelowTheRate() {
        var clock = ClientDeadlines(acceptedAt: self.t0)
        clock.headReceived(at: self.t0)
        // 1 000 bytes in the first window: exactly the rate (100 B/s × 10 s) passes.
        clock.bodyReceived(1_000)
        #expect(clock.check(now: self.t0 + .seconds(5), limits: self.limits, isHoldingReads: false) == nil)
        #expect(clock.check(now: self.t0 + .seconds(10), limits: self.limits, isHoldingReads: false) == nil)
        // The next window starts over: what came before does not pay for a stall now.
        clock.bodyReceived(999)
        #expect(clock.check(now: self.t0 + .seconds(20), limits: self.limits, isHoldingReads: false) == .body(bytes: 999))
    }

    @Test func aWindowInWhichTheGatewayHeldReadsIsNotJudged() {
        var clock = ClientDeadlines(acceptedAt: self.t0)
        clock.headReceived(at: self.t0)
        clock.readsHeld()
        #expect(clock.check(now: self.t0 + .seconds(10), limits: self.limits, isHoldingReads: false) == nil)
        // Still holding at the next check: not judged either.
        #expect(clock.check(now: self.t0 + .seconds(20), limits: self.limits, isHoldingReads: true) == nil)
        // That window began held, so it is not judged; the one after, with no byte, is.
        #expect(clock.check(now: self.t0 + .seconds(30), limits: self.limits, isHoldingReads: false) == nil)
        #expect(clock.check(now: self.t0 + .seconds(40), limits: self.limits, isHoldingReads: false) == .body(bytes: 0))
    }

    @Test func noBodyRuleWhenTheRateIsZeroAndNoneOnceTheRequestIsRead() {
        var off = self.limits
        off.bodyMinRate = 0
        var clock = ClientDeadlines(acceptedAt: self.t0)
        clock.headReceived(at: self.t0)
        #expect(clock.check(now: self.t0 + .seconds(3600), limits: off, isHoldingReads: false) == nil)
        clock.requestComplete()
        #expect(clock.check(now: self.t0 + .seconds(3600), limits: self.limits, isHoldingReads: false) == nil)
        #expect(clock.state == .answering)
    }
}
