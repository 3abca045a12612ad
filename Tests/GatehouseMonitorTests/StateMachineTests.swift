import GatehouseErrors
import GatehouseMonitor
import Testing

/// The UP/DOWN logic as tables: a script of events, the actions it must produce, and the final state.
@Suite("monitor state machine")
struct StateMachineTests {
    static let refused = ProbeCause(error: .connectionRefused, hop: .tcp, summary: "refused", fix: "start it")
    static let timedOut = ProbeCause(error: .connectionTimeout, hop: .tcp, summary: "timed out", fix: "check it")

    /// `S` probe succeeded, `F` probe failed (refused), `X` probe failed (timeout), `T` re-notify timer.
    /// Actions: `-` none, else the alert's event name.
    struct Script: Sendable, CustomTestStringConvertible {
        var name: String
        var retries: Int
        var events: String
        var actions: [String]
        var final: String

        var testDescription: String { "\(self.name): retries \(self.retries), \(self.events) → \(self.actions.joined(separator: " ")) → \(self.final)" }
    }

    static let scripts: [Script] = [
        Script(name: "first success", retries: 2, events: "S", actions: ["-"], final: "UP"),
        Script(name: "one failure is not an outage", retries: 2, events: "SF", actions: ["-", "-"], final: "PENDING"),
        Script(name: "down after retries", retries: 2, events: "SFF", actions: ["-", "-", "down"], final: "DOWN"),
        Script(name: "retries 1: down at once", retries: 1, events: "SF", actions: ["-", "down"], final: "DOWN"),
        Script(name: "retries 3", retries: 3, events: "FFFF", actions: ["-", "-", "down", "-"], final: "DOWN"),
        Script(name: "down without ever being up", retries: 2, events: "FF", actions: ["-", "down"], final: "DOWN"),
        Script(name: "a success resets the streak", retries: 2, events: "FSFSF", actions: ["-", "-", "-", "-", "-"], final: "PENDING"),
        Script(name: "one success recovers", retries: 2, events: "FFS", actions: ["-", "down", "recovered"], final: "UP"),
        Script(name: "alerts once per transition", retries: 2, events: "FFFFSSFF", actions: ["-", "down", "-", "-", "recovered", "-", "-", "down"], final: "DOWN"),
        Script(name: "re-notify while down", retries: 2, events: "FFTFTS", actions: ["-", "down", "still_down", "-", "still_down", "recovered"], final: "UP"),
        Script(name: "a timer while pending or up says nothing", retries: 2, events: "TSTFT", actions: ["-", "-", "-", "-", "-"], final: "PENDING"),
        Script(name: "a stale timer after recovery says nothing", retries: 1, events: "FST", actions: ["down", "recovered", "-"], final: "UP"),
        Script(name: "retries 0 counts as 1", retries: 0, events: "F", actions: ["down"], final: "DOWN"),
    ]

    @Test(arguments: Self.scripts)
    func script(_ script: Script) {
        var machine = TargetStateMachine(retries: script.retries)
        var actions: [String] = []
        for event in script.events {
            let action: TargetStateMachine.Action
            switch event {
            case "S": action = machine.handle(.probeSucceeded)
            case "F": action = machine.handle(.probeFailed(Self.refused))
            case "X": action = machine.handle(.probeFailed(Self.timedOut))
            default: action = machine.handle(.renotifyTimerFired)
            }
            switch action {
            case .none: actions.append("-")
            case .sendAlert(let kind, _): actions.append(kind.rawValue)
            }
        }
        #expect(actions == script.actions)
        #expect(machine.label == script.final)
    }

    @Test("the alert carries the outage's cause; while down the latest cause replaces it")
    func causes() {
        var machine = TargetStateMachine(retries: 2)
        #expect(machine.handle(.probeFailed(Self.timedOut)) == .none)
        #expect(machine.state == .pending(failures: 1, cause: Self.timedOut))
        // The failure that crosses the threshold names the outage.
        #expect(machine.handle(.probeFailed(Self.refused)) == .sendAlert(.down, cause: Self.refused))
        #expect(machine.handle(.probeFailed(Self.timedOut)) == .none)
        #expect(machine.cause == Self.timedOut)
        #expect(machine.handle(.renotifyTimerFired) == .sendAlert(.stillDown, cause: Self.timedOut))
        #expect(machine.handle(.probeSucceeded) == .sendAlert(.recovered, cause: Self.timedOut))
        #expect(machine.cause == nil)
        #expect(!machine.isDown)
    }

    @Test("jitter stays within 10% of the interval")
    func jitter() {
        let interval = Duration.seconds(30)
        #expect(ProbeSchedule.delay(interval: interval, random: 0) == .seconds(27))
        #expect(ProbeSchedule.delay(interval: interval, random: 0.5) == .seconds(30))
        #expect(ProbeSchedule.delay(interval: interval, random: 0.999_999) <= .seconds(33))
        #expect(ProbeSchedule.initialDelay(interval: interval, random: 0) == .zero)
        #expect(ProbeSchedule.initialDelay(interval: interval, random: 0.999_999) < .seconds(3))
        for _ in 0..<100 {
            let delay = ProbeSchedule.delay(interval: interval, random: .random(in: 0..<1))
            #expect(delay >= .seconds(27) && delay <= .seconds(33))
        }
    }
}
