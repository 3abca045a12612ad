/// The maze's rules as a value: which moves were played, the simulated clock, whether the cause is
/// removed, and when the game is won. It knows nothing of sockets: the runtime performs each move
/// for real and reports what it saw (did the real request succeed?); the game decides what that
/// means for the score and the end.
public struct LabGame: Sendable, Hashable {
    public enum Status: Sendable, Hashable {
        case playing
        /// The cause was removed and a real request then succeeded.
        case won
        case gaveUp
    }

    public let scenario: LabScenario
    public private(set) var moves: [LabMove] = []
    /// The simulated minutes spent so far (the score: lower is better).
    public private(set) var minutes = 0
    public private(set) var status: Status = .playing
    /// The upstream was restarted (and, if a restart is the fix, that fixed it).
    public private(set) var restarted = false
    /// For each setting, the edit (index) that wrote it last: a later edit of the same setting undoes an earlier one.
    public private(set) var lastEdit: [String: Int] = [:]
    /// Requests that succeeded while the cause was still there (a restart hid it for a while).
    public private(set) var luckySuccesses = 0
    /// The restart's relief is used up after this many requests.
    public private(set) var hiddenRequestsLeft = 0

    /// Extra minutes a move that makes things worse costs (the incident grows while you do it).
    public static let worsePenalty = 10
    /// Moves after which the game stops (a script or a player going round in circles).
    public static let maximumMoves = 60

    public init(scenario: LabScenario) {
        self.scenario = scenario
    }

    /// Whether the cause is removed right now (a restart that fixes, or a fixing edit still in force).
    public var isFixed: Bool {
        if self.scenario.restart == .fixes && self.restarted { return true }
        for (index, edit) in self.scenario.edits.enumerated() where edit.effect == .fixes {
            if edit.changes.allSatisfy({ self.lastEdit[$0.key] == index }) { return true }
        }
        return false
    }

    /// Whether the next request is expected to succeed although the cause is still there.
    public var isHidden: Bool { !self.isFixed && self.hiddenRequestsLeft > 0 }

    /// The minutes of the optimal path.
    public var optimalMinutes: Int { self.scenario.optimalPath.reduce(0) { $0 + $1.minutes } }

    /// What one move did to the game.
    public struct Outcome: Sendable, Hashable {
        public var minutes: Int
        /// Said after the tool's output: what the move means in this game.
        public var verdict: String
        public var status: Status
    }

    /// Whether `move` can be played now.
    public func allows(_ move: LabMove) -> Bool {
        guard self.status == .playing, self.moves.count < Self.maximumMoves else { return false }
        if case .edit(let index) = move { return self.scenario.edits.indices.contains(index) }
        return true
    }

    /// Plays a move. For `.retryRequest`, `requestSucceeded` is what the real request through the
    /// gateway returned (2xx, complete); it is ignored for the other moves.
    @discardableResult
    public mutating func play(_ move: LabMove, requestSucceeded: Bool = false) -> Outcome {
        guard self.allows(move) else {
            return Outcome(minutes: 0, verdict: "That move is not available now.", status: self.status)
        }
        self.moves.append(move)
        var cost = move.minutes
        var verdict: String
        switch move {
        case .readErrorLog, .runDoctor, .checkConfig, .dashboard:
            verdict = ""
        case .restartUpstream:
            self.restarted = true
            verdict = self.scenario.restartNote
            switch self.scenario.restart {
            case .fixes: break
            case .noEffect: break
            case .hidesForAWhile: self.hiddenRequestsLeft = 1
            case .worse: cost += Self.worsePenalty
            }
        case .edit(let index):
            let edit = self.scenario.edits[index]
            for change in edit.changes { self.lastEdit[change.key] = index }
            switch edit.effect {
            case .worse:
                cost += Self.worsePenalty
                verdict = "The gateway reloaded the file. Things look worse than before."
            default:
                verdict = "The gateway reloaded the file. Retry the request to see whether it helped."
            }
        case .contactProvider:
            verdict = "The provider answers, half an hour later: \"\(self.scenario.providerReply)\""
        case .wait:
            verdict =
                self.isFixed
                ? "Ten minutes pass." : "Ten minutes pass. Nothing changes by itself: the cause is still there."
        case .retryRequest:
            if requestSucceeded && self.isFixed {
                self.status = .won
                verdict = "The request succeeds and the cause is gone: fixed!"
            } else if requestSucceeded {
                self.luckySuccesses += 1
                verdict =
                    "It worked this time, but nothing was fixed: the cause is still there and will come back."
            } else if self.isFixed {
                verdict = "The cause is gone, but this request still failed: give the gateway a moment and retry."
            } else {
                verdict = "Still failing."
            }
            if self.hiddenRequestsLeft > 0 { self.hiddenRequestsLeft -= 1 }
        case .giveUp:
            self.status = .gaveUp
            verdict = "You give up. The site is still down."
        }
        self.minutes += cost
        if self.status == .playing, self.moves.count >= Self.maximumMoves {
            self.status = .gaveUp
            verdict += " Out of moves: the incident review is tomorrow morning."
        }
        return Outcome(minutes: cost, verdict: verdict, status: self.status)
    }

    /// The end screen: moves taken, time, the optimal path, the real-world fix.
    public func endScreen() -> String {
        var lines: [String] = []
        switch self.status {
        case .won: lines.append("*** Congratulations! You fixed it. ***")
        case .gaveUp: lines.append("*** Game over: the site is still broken. ***")
        case .playing: lines.append("*** Game in progress ***")
        }
        lines.append("Scenario: \(self.scenario.id) — \(self.scenario.title)")
        lines.append("Moves taken: \(self.moves.count) (\(self.moves.map(\.notation).joined(separator: ",")))")
        lines.append("Time: \(self.minutes) minutes of outage")
        let optimal = self.scenario.optimalPath
        lines.append(
            "Optimal path: \(optimal.map(\.notation).joined(separator: ",")) — \(self.optimalMinutes) minutes:")
        for (number, move) in optimal.enumerated() {
            lines.append("  \(number + 1). \(move.title(in: self.scenario))")
        }
        lines.append("The real-world fix:")
        lines.append(contentsOf: LabText.wrap(self.scenario.realWorldFix, width: 76).map { "  " + $0 })
        return lines.joined(separator: "\n")
    }
}

/// Small text helpers shared by the renderers.
public enum LabText {
    /// Word-wraps a paragraph (existing line breaks kept).
    public static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = ""
            for word in paragraph.split(separator: " ") {
                if !line.isEmpty, line.count + 1 + word.count > width {
                    lines.append(line)
                    line = ""
                }
                line += line.isEmpty ? String(word) : " " + word
            }
            lines.append(line)
        }
        return lines
    }
}
