/// A game being played: the rules (``LabGame``) over a running scenario (``LabRuntime``). Each
/// move is performed for real, then scored. Used by the terminal, the scripted mode and the
/// dashboard's Lab tab alike.
public actor LabSession {
    /// One played move as the transcript shows it.
    public struct Step: Sendable, Hashable {
        public var number: Int
        public var move: LabMove
        public var title: String
        /// What the real tool printed.
        public var output: String
        /// What it means in the game.
        public var verdict: String
        public var minutes: Int
        public var totalMinutes: Int
        public var status: LabGame.Status
    }

    public let runtime: LabRuntime
    public private(set) var game: LabGame
    public private(set) var steps: [Step] = []
    /// The opening: the story and the symptom (a real request).
    public private(set) var opening = ""
    /// Whether the opening request succeeded (never, in a scenario worth playing).
    public private(set) var symptomSucceeded = false

    public static func start(_ scenario: LabScenario) async throws -> LabSession {
        let runtime = try await LabRuntime.start(scenario)
        let session = LabSession(runtime: runtime, game: LabGame(scenario: scenario))
        await session.open()
        return session
    }

    private init(runtime: LabRuntime, game: LabGame) {
        self.runtime = runtime
        self.game = game
    }

    private func open() async {
        let scenario = self.game.scenario
        let story = await self.runtime.resolve(scenario.story)
        let symptom = await self.runtime.requestTranscript()
        self.symptomSucceeded = symptom.succeeded
        let base = await self.runtime.gatewayBase
        var text = "=== gatehouse lab: \(scenario.title) ===\n"
        text += LabText.wrap(story, width: 78).joined(separator: "\n") + "\n\n"
        text += "The gateway: \(base)/   (a real Gatehouse, its files in \(self.runtime.directory))\n"
        text += "The symptom, a real request through it:\n" + symptom.text
        self.opening = text
    }

    /// The scenario's edits as the menu shows them (ports filled in).
    public func editLabels() async -> [String] {
        var labels: [String] = []
        for edit in self.game.scenario.edits { labels.append(await self.runtime.resolve(edit.label)) }
        return labels
    }

    /// Performs `move` for real and scores it.
    @discardableResult
    public func play(_ move: LabMove) async -> Step {
        guard self.game.allows(move) else {
            return Step(
                number: self.steps.count, move: move, title: move.title(in: self.game.scenario), output: "",
                verdict: "That move is not available now.", minutes: 0, totalMinutes: self.game.minutes, status: self.game.status)
        }
        var output = ""
        var succeeded = false
        switch move {
        case .readErrorLog: output = await self.runtime.readErrorLog()
        case .runDoctor: output = await self.runtime.runDoctor()
        case .checkConfig: output = await self.runtime.checkConfig()
        case .dashboard: output = await self.runtime.dashboard()
        case .restartUpstream: output = await self.runtime.restartUpstream()
        case .edit(let index): output = await self.runtime.edit(index)
        case .contactProvider: output = "You open a ticket with the hosting provider and wait for an answer."
        case .wait: output = "You wait."
        case .retryRequest:
            let result = await self.runtime.requestTranscript()
            output = result.text
            succeeded = result.succeeded
        case .giveUp: output = ""
        }
        let outcome = self.game.play(move, requestSucceeded: succeeded)
        let step = Step(
            number: self.steps.count + 1, move: move, title: await self.runtime.resolve(move.title(in: self.game.scenario)),
            output: output, verdict: await self.runtime.resolve(outcome.verdict), minutes: outcome.minutes,
            totalMinutes: self.game.minutes, status: outcome.status)
        self.steps.append(step)
        return step
    }

    /// The end screen with ports filled in.
    public func endScreen() async -> String {
        await self.runtime.resolve(self.game.endScreen())
    }

    /// Everything so far as plain text: the opening, every move, and the end screen once over.
    public func transcript() async -> String {
        var text = self.opening + "\n"
        for step in self.steps { text += "\n" + Self.render(step) + "\n" }
        if self.game.status != .playing { text += "\n" + (await self.endScreen()) + "\n" }
        return text
    }

    public static func render(_ step: Step) -> String {
        var text = "--- Move \(step.number): \(step.title)  (+\(step.minutes) min, \(step.totalMinutes) min so far) ---\n"
        if !step.output.isEmpty { text += step.output + "\n" }
        if !step.verdict.isEmpty { text += "» " + step.verdict.split(separator: "\n").joined(separator: " ") }
        return text
    }

    public func stop() async {
        await self.runtime.stop()
    }
}
