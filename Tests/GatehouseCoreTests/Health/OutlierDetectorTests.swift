import GatehouseConfig
import NIOCore
import Testing

@testable import GatehouseCore

extension HealthTests {
    @Suite("OutlierDetector")
    struct OutlierDetectorTests {
        private let t0 = HealthTests.t0

        /// A detector over members `0..<members`.
        private func detector(
            members: Int, base: Duration = .seconds(30), max: Duration = .seconds(300), percent: Int = 50
        ) -> OutlierDetector {
            var detector = OutlierDetector(
                configuration: Cluster.OutlierDetection(
                    baseEjectionTime: base, maxEjectionTime: max, maxEjectionPercent: percent))
            for id in 0..<members {
                detector.add(id)
            }
            return detector
        }

        // MARK: - Ejection

        @Test func ejectsAtThresholdForTheBaseTime() {
            var detector = self.detector(members: 3)
            let result = detector.thresholdReached(0, now: self.t0)
            #expect(result == .ejected(until: self.t0 + .seconds(30), ejectionsInARow: 1))
            #expect(detector.isEjected(0))
            #expect(!detector.isEjected(1))
            #expect(detector.ejectedUntil(0) == self.t0 + .seconds(30))
            #expect(detector.ejectedCount == 1)
            #expect(detector.totalEjections(0) == 1)
            #expect(detector.ejectionsInARow(0) == 1)
        }

        @Test func secondThresholdWhileEjectedChangesNothing() {
            var detector = self.detector(members: 3)
            _ = detector.thresholdReached(0, now: self.t0)
            #expect(detector.thresholdReached(0, now: self.t0 + .seconds(5)) == .alreadyEjected)
            #expect(detector.ejectedUntil(0) == self.t0 + .seconds(30))
            #expect(detector.totalEjections(0) == 1)
        }

        @Test func unknownMemberIsReported() {
            var detector = self.detector(members: 3)
            #expect(detector.thresholdReached(7, now: self.t0) == .unknownMember)
            #expect(!detector.isEjected(7))
            #expect(detector.ejectedCount == 0)
            #expect(detector.nextDeadline == nil)
        }

        @Test func ejectionTimeIsBaseTimesStreakCappedAtMax() {
            var detector = self.detector(members: 1, base: .seconds(30), max: .seconds(70), percent: 100)
            var now = self.t0
            var lengths: [TimeAmount] = []
            for expectedStreak in 1...4 {
                guard case .ejected(let until, let streak) = detector.thresholdReached(0, now: now) else {
                    Issue.record("ejection \(expectedStreak) was not made")
                    return
                }
                #expect(streak == expectedStreak)
                lengths.append(until - now)
                now = until
                #expect(detector.advance(now: now) == [.returned(id: 0)])
                // Fail again during the probation.
                now = now + .seconds(1)
            }
            #expect(lengths == [.seconds(30), .seconds(60), .seconds(70), .seconds(70)])
            #expect(detector.totalEjections(0) == 4)
        }

        // MARK: - Max share

        @Test func secondEjectionInThreeAtFiftyPercentIsRefused() {
            var detector = self.detector(members: 3, percent: 50)
            #expect(detector.ejectionLimit == 1)
            #expect(
                detector.thresholdReached(0, now: self.t0)
                    == .ejected(until: self.t0 + .seconds(30), ejectionsInARow: 1))
            #expect(detector.thresholdReached(1, now: self.t0) == .refused(ejectedNow: 1, limit: 1))
            #expect(!detector.isEjected(1))
            #expect(detector.totalEjections(1) == 0)
            #expect(detector.ejectedCount == 1)
        }

        @Test func singleServerIsNeverEjectedAtFiftyPercent() {
            var detector = self.detector(members: 1, percent: 50)
            #expect(detector.thresholdReached(0, now: self.t0) == .refused(ejectedNow: 0, limit: 0))
            #expect(!detector.isEjected(0))
            #expect(detector.nextDeadline == nil)
        }

        @Test func hundredPercentAllowsEjectingEveryMember() {
            var detector = self.detector(members: 3, percent: 100)
            for id in 0..<3 {
                #expect(
                    detector.thresholdReached(id, now: self.t0)
                        == .ejected(until: self.t0 + .seconds(30), ejectionsInARow: 1))
            }
            #expect(detector.ejectedCount == 3)
        }

        @Test(arguments: [(4, 50, 2), (5, 50, 2), (10, 10, 1), (9, 10, 0), (3, 0, 0), (3, 150, 3), (0, 50, 0)])
        func ejectionLimitRoundsDown(members: Int, percent: Int, limit: Int) {
            #expect(self.detector(members: members, percent: percent).ejectionLimit == limit)
        }

        @Test func removingAnEjectedMemberFreesItsShare() {
            var detector = self.detector(members: 3, percent: 50)
            _ = detector.thresholdReached(0, now: self.t0)
            #expect(detector.thresholdReached(1, now: self.t0) == .refused(ejectedNow: 1, limit: 1))
            detector.remove(0)
            #expect(detector.memberCount == 2)
            #expect(detector.ejectedCount == 0)
            #expect(!detector.isEjected(0))
            #expect(detector.totalEjections(0) == 0)
            #expect(
                detector.thresholdReached(1, now: self.t0)
                    == .ejected(until: self.t0 + .seconds(30), ejectionsInARow: 1))
        }

        @Test func addingAKnownMemberKeepsItsRecord() {
            var detector = self.detector(members: 3)
            _ = detector.thresholdReached(0, now: self.t0)
            detector.add(0)
            #expect(detector.memberCount == 3)
            #expect(detector.isEjected(0))
            #expect(detector.totalEjections(0) == 1)
        }

        // MARK: - Return and probation

        @Test func advanceReturnsAMemberAtItsDeadlineAndNotBefore() {
            var detector = self.detector(members: 3)
            _ = detector.thresholdReached(0, now: self.t0)
            #expect(detector.advance(now: self.t0 + .seconds(29)) == [])
            #expect(detector.isEjected(0))
            #expect(detector.advance(now: self.t0 + .seconds(30)) == [.returned(id: 0)])
            #expect(!detector.isEjected(0))
            #expect(detector.isOnProbation(0))
            #expect(detector.ejectedUntil(0) == nil)
            #expect(detector.ejectedCount == 0)
            #expect(detector.advance(now: self.t0 + .seconds(31)) == [])
        }

        @Test func failingProbationEjectsAgainForLonger() {
            var detector = self.detector(members: 3)
            _ = detector.thresholdReached(0, now: self.t0)
            _ = detector.advance(now: self.t0 + .seconds(30))
            let again = self.t0 + .seconds(40)
            #expect(
                detector.thresholdReached(0, now: again) == .ejected(until: again + .seconds(60), ejectionsInARow: 2))
            #expect(!detector.isOnProbation(0))
            #expect(detector.isEjected(0))
            #expect(detector.totalEjections(0) == 2)
        }

        @Test func cleanProbationForgivesTheStreak() {
            var detector = self.detector(members: 3)
            _ = detector.thresholdReached(0, now: self.t0)
            #expect(detector.advance(now: self.t0 + .seconds(30)) == [.returned(id: 0)])
            #expect(detector.advance(now: self.t0 + .seconds(59)) == [])
            #expect(detector.isOnProbation(0))
            #expect(detector.advance(now: self.t0 + .seconds(60)) == [.probationPassed(id: 0)])
            #expect(!detector.isOnProbation(0))
            #expect(detector.ejectionsInARow(0) == 0)
            let later = self.t0 + .seconds(100)
            #expect(
                detector.thresholdReached(0, now: later) == .ejected(until: later + .seconds(30), ejectionsInARow: 1))
            #expect(detector.totalEjections(0) == 2)
        }

        @Test func probationIsMeasuredFromTheLateReturn() {
            var detector = self.detector(members: 3)
            _ = detector.thresholdReached(0, now: self.t0)
            #expect(detector.advance(now: self.t0 + .seconds(45)) == [.returned(id: 0)])
            #expect(detector.nextDeadline == self.t0 + .seconds(75))
            #expect(detector.advance(now: self.t0 + .seconds(74)) == [])
            #expect(detector.advance(now: self.t0 + .seconds(75)) == [.probationPassed(id: 0)])
        }

        @Test func refusalDuringProbationKeepsTheProbation() {
            var detector = self.detector(members: 3, percent: 50)
            _ = detector.thresholdReached(0, now: self.t0)
            _ = detector.advance(now: self.t0 + .seconds(30))
            _ = detector.thresholdReached(1, now: self.t0 + .seconds(31))
            #expect(detector.thresholdReached(0, now: self.t0 + .seconds(32)) == .refused(ejectedNow: 1, limit: 1))
            #expect(detector.isOnProbation(0))
            #expect(detector.ejectionsInARow(0) == 1)
        }

        @Test func advanceReportsInDeadlineThenIdOrder() {
            var detector = self.detector(members: 3, percent: 100)
            _ = detector.thresholdReached(2, now: self.t0)
            _ = detector.thresholdReached(1, now: self.t0 + .seconds(5))
            _ = detector.thresholdReached(0, now: self.t0 + .seconds(5))
            let late = self.t0 + .seconds(100)
            #expect(detector.advance(now: late) == [.returned(id: 2), .returned(id: 0), .returned(id: 1)])
            #expect(
                detector.advance(now: late + .seconds(30)) == [
                    .probationPassed(id: 0), .probationPassed(id: 1), .probationPassed(id: 2),
                ])
            #expect(detector.nextDeadline == nil)
        }

        // MARK: - Next deadline

        @Test func nextDeadlineIsTheEarliestEjectionOrProbationEnd() {
            var detector = self.detector(members: 2, percent: 100)
            #expect(detector.nextDeadline == nil)
            _ = detector.thresholdReached(0, now: self.t0)
            _ = detector.thresholdReached(1, now: self.t0 + .seconds(10))
            #expect(detector.nextDeadline == self.t0 + .seconds(30))
            #expect(detector.advance(now: self.t0 + .seconds(30)) == [.returned(id: 0)])
            // Member 1's ejection (t0+40) ends before member 0's probation (t0+60).
            #expect(detector.nextDeadline == self.t0 + .seconds(40))
            #expect(detector.advance(now: self.t0 + .seconds(40)) == [.returned(id: 1)])
            #expect(detector.nextDeadline == self.t0 + .seconds(60))
            #expect(detector.advance(now: self.t0 + .seconds(60)) == [.probationPassed(id: 0)])
            #expect(detector.nextDeadline == self.t0 + .seconds(70))
            #expect(detector.advance(now: self.t0 + .seconds(70)) == [.probationPassed(id: 1)])
            #expect(detector.nextDeadline == nil)
        }
    }
}
